"""The Quick start's main job, shrunk: every stage runs, pretraining and fine-tuning learn."""

import os
import re
import subprocess
import sys

import pytest

from bert_tf.models.bert import BertPretrainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quickstart_small(tmp_path):
    out = tmp_path / "qs"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "quickstart.py"), f"--output_dir={out}",
         "--corpus_mb=0.3", "--vocab_size=2000", "--pretrain_steps=40",
         "--sentences_per_library=100", "--finetune_epochs=1"],
        capture_output=True, text=True, timeout=900,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for stage in ("1/6 corpus", "2/6 vocab", "3/6 records", "4/6 pretrain", "5/6 fine-tune",
                  "6/6 serve"):
        assert stage in done.stdout
    before, after, loss_before, loss_after = map(float, re.search(
        r"masked-LM accuracy: ([0-9.]+) before, ([0-9.]+) after pretraining "
        r"\(loss ([0-9.]+) -> ([0-9.]+)\)", done.stdout).groups())
    # Measured with these flags: accuracy 0.0000 -> 0.048, loss 7.59 -> 6.17 (Intel AMX,
    # bfloat16). The bounds leave room for other CPUs: an untrained model sits near
    # ln(1933) = 7.6, and 40 steps at 1e-3 dropped it by 1.4.
    assert before < 0.01 and after > 0.01
    assert loss_after < loss_before - 0.8
    model = BertPretrainer.from_pretrained(str(out / "pretrain" / "pretrained"))
    assert model.config.num_hidden_layers == 4
    assert (out / "pretrain" / "pretrained" / "vocab.txt").exists()
    accuracy, majority = map(float, re.search(
        r"Held-out accuracy: ([0-9.]+) \(majority class ([0-9.]+)\)", done.stdout).groups())
    # One short epoch from a 40-step model does not learn the task (the default demo, sized
    # to its time budget, does: 0.53 against 0.25 in the README); that fine-tuning learns is
    # asserted in test_run_classifier.py. Here: the stage ran and reported.
    assert 0 <= accuracy <= 1 and majority == 0.25
    assert (out / "classifier" / "finetuned" / "bert_model.ckpt.index").exists()
    # The served export answered every question, in a process without bert_tf.
    served = done.stdout.split("Predictions of the loaded export")[1].splitlines()[1:]
    assert len([line for line in served if line.split()[:1] and line.split()[0] in
                ("python", "keras", "numpy", "scipy")]) == 5
    assert "(modules of bert_tf loaded: [] )" in done.stdout


def test_the_work_is_sized_to_the_time_budget():
    """The default run times 20 steps and sizes the work to --minutes (the test above gives
    both sizes, so it skips that timing run)."""
    import quickstart  # defines its absl flags; no test imports another script's

    fast = quickstart.plan_work(360, 30, pretrain_examples_per_second=400)
    slow = quickstart.plan_work(360, 30, pretrain_examples_per_second=5)
    assert fast == (600, 1500)  # capped: more adds little
    assert slow[0] == 100 and slow[1] == 300  # floored: fewer would not show learning
    middle = quickstart.plan_work(360, 30, pretrain_examples_per_second=60)
    # 0.6 of the (360 - 30 - 45) s left at 60 examples/s, in steps of 64.
    assert middle[0] == int(0.6 * 285 * 60 / 64)
    assert quickstart.plan_work(600, 30, 60)[0] > middle[0]  # a larger budget, more work
