"""The Quick start's main job as the slowest CPU of our machine kind runs it: every stage learns,
and a stage that does not ends the demo with a one-line reason."""

import contextlib
import os
import random
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras.src.backend.common import global_state
from keras.src.random import seed_generator
from keras.src.utils import rng_utils

import quickstart  # defines its absl flags; no test imports another script's
from bert_tf.models.bert import BertPretrainer
from in_process import run_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def process_state_kept():
    """Puts back what a run in this process leaves behind for the worker's later tests:
    every random seed (the runs call keras.utils.set_random_seed), sys.path (quickstart's
    main() puts its folder first) and Keras' global dtype policy (no run sets it: checked).
    in_process.run_script puts back absl's verbosity and op determinism itself."""
    from tensorflow.python.eager import context
    from tensorflow.python.framework import ops

    path, policy = list(sys.path), keras.config.dtype_policy()
    states = random.getstate(), np.random.get_state()
    eager, graph_seed = context.context(), ops.get_default_graph().seed
    # set_seed replaces the Random (made only once a seed is set), never mutates it
    seed, rng = eager._seed, getattr(eager, "_rng", None)
    keras_seeds = {name: global_state.get_global_attribute(name)
                   for name in (rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR)}
    try:
        yield
    finally:
        changed_policy = keras.config.dtype_policy().name != policy.name
        sys.path[:] = path
        random.setstate(states[0])
        np.random.set_state(states[1])
        eager._seed = seed
        if rng is None:
            eager.__dict__.pop("_rng", None)
        else:
            eager._rng = rng
        ops.get_default_graph().seed = graph_seed
        for name, value in keras_seeds.items():
            global_state.set_global_attribute(name, value)
        keras.config.set_dtype_policy(policy)
        assert not changed_policy, "the demo changed Keras' global dtype policy"


@pytest.mark.heavy
def test_the_floor_sizes_learn_at_every_stage(tmp_path):
    """What `make demo` does on a 2-core Zen 3 (float32, the floor sizes), on any machine.

    Run in this process (quickstart.py's flags and main(), as the scripts' tests run theirs);
    its serving check still asks a fresh TensorFlow-only process. The real process's exit
    status and one-line failure are checked below through quickstart.main."""
    out = tmp_path / "qs"
    with process_state_kept():
        done = run_script("quickstart.py", f"--output_dir={out}", "--work=floor",
                          "--mixed_precision=float32")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for stage in ("1/6 corpus", "2/6 vocab", "3/6 records", "4/6 pretrain", "5/6 fine-tune",
                  "6/6 serve"):
        assert stage in done.stdout
    assert (f"{quickstart.PRETRAIN_STEPS[0]} steps of {quickstart.BATCH} x "
            f"{quickstart.SEQ_LENGTH} tokens, float32") in done.stdout
    before, after, guess = map(float, re.search(
        r"masked-LM accuracy: ([0-9.]+) before, ([0-9.]+) after pretraining \(always guessing "
        r"the most frequent token: ([0-9.]+)", done.stdout).groups())
    # Measured at these sizes (float32, seeds 1-3): 0.094-0.099 after, the constant guess
    # 0.049-0.054 (0.045 above it); a model that learned only word frequencies sits at the
    # guess.
    assert before < 0.01 and 0.04 < guess < 0.065 and after > guess + 0.025
    accuracy, majority = map(float, re.search(
        r"Held-out accuracy: ([0-9.]+) \(majority class ([0-9.]+)\)", done.stdout).groups())
    # Measured 0.586-0.621 (seeds 1-3); the bar is the majority class + 0.15.
    assert majority == 0.25 and accuracy >= majority + 0.15
    served = done.stdout.split("imports only TensorFlow (label, probability, text):")[1]
    answers = [line.split() for line in served.splitlines()[1:len(quickstart.QUESTIONS) + 1]]
    assert all(answer[0] in quickstart.LIBRARIES for answer in answers)
    assert "(modules of bert_tf loaded there: [])" in served
    assert "every stage learned" in done.stdout
    model = BertPretrainer.from_pretrained(str(out / "pretrain" / "pretrained"))
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (2, 128)
    assert (out / "classifier" / "finetuned" / "bert_model.ckpt.index").exists()


@pytest.mark.parametrize("check,args,reason", [
    (quickstart.check_pretraining, (0.0003, 0.058, 0.049),
     "pretraining did not learn: held-out masked-LM accuracy 0.0580 (before 0.0003) is not "
     "0.02 above always guessing the most frequent token (0.0490)"),
    (quickstart.check_finetuning, (0.25, 0.25),
     "fine-tuning ended at the majority class: held-out accuracy 0.250 against 0.250"),
    (quickstart.check_served, ({"labels": ["python"] * 5, "probabilities": [[0.26, 0.25, 0.25,
                                                                            0.24]] * 5,
                                "ours": []},),
     "the served model gives every sentence the same answer (python"),
    (quickstart.check_served, ({"labels": ["python"] * 5, "probabilities": [[1, 0, 0, 0]] * 5,
                                "ours": ["bert_tf"]},),
     "the serving client loaded bert_tf modules"),
])
def test_a_stage_that_did_not_learn_ends_the_demo_with_one_line(check, args, reason, monkeypatch):
    with pytest.raises(quickstart.DemoFailed, match=re.escape(reason)):
        check(*args)

    def fail(started):
        check(*args)

    monkeypatch.setattr(quickstart, "demo", fail)
    with pytest.raises(SystemExit) as exited:
        quickstart.main([])
    message = str(exited.value.code)
    assert message.startswith("quickstart.py: the demo failed: " + reason)
    assert "\n" not in message  # sys.exit(str) prints it and exits with status 1


def test_the_script_as_a_process_parses_its_flags(tmp_path):
    """`python quickstart.py` (app.run, what the in-process floor run above skips): a bad flag
    ends it with status 1 before TensorFlow is imported or anything is written (0.1 s)."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "quickstart.py"), "--work=bogus",
                           f"--output_dir={tmp_path / 'qs'}"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "--work=bogus" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "qs").exists()


def test_learning_checks_pass_what_the_floor_sizes_reach():
    quickstart.check_pretraining(0.0, 0.110, 0.049)
    quickstart.check_finetuning(0.52, 0.25)
    quickstart.check_served({"labels": ["numpy", "python", "keras", "scipy", "python"],
                             "probabilities": [[0.1, 0.2, 0.6, 0.1], [0.8, 0.1, 0.05, 0.05],
                                               [0.2, 0.5, 0.2, 0.1], [0.1, 0.1, 0.3, 0.5],
                                               [0.4, 0.2, 0.2, 0.2]], "ours": []})


def test_the_work_is_sized_to_the_time_budget():
    """The default run times 20 steps and sizes the work to --minutes; never below the floors
    (what the slowest CPU gets, and what the test above runs), never above the caps."""
    floor = (quickstart.PRETRAIN_STEPS[0], quickstart.SENTENCES_PER_LIBRARY[0])
    cap = (quickstart.PRETRAIN_STEPS[1], quickstart.SENTENCES_PER_LIBRARY[1])
    assert quickstart.plan_work(360, 30, pretrain_examples_per_second=50) == floor
    assert quickstart.plan_work(360, 30, pretrain_examples_per_second=5000) == cap
    middle = quickstart.plan_work(360, 30, pretrain_examples_per_second=200)
    left = 360 - 30 - quickstart.RESERVED_EXAMPLES / 200
    finetune_speed = quickstart.FINETUNE_SPEEDUP * 200
    per_library = int((1 - quickstart.PRETRAIN_SHARE) * left * finetune_speed / 4 / 4)
    assert middle == (int((left - per_library * 4 * 4 / finetune_speed) * 200 / quickstart.BATCH),
                      per_library)
    assert floor[0] < middle[0] < cap[0] and floor[1] < middle[1] < cap[1]
    larger = quickstart.plan_work(600, 30, 200)
    assert larger[0] > middle[0] and larger[1] >= middle[1]  # a larger budget, more work
    # Fine-tuning at its cap leaves the rest of the time to pretraining.
    capped = quickstart.plan_work(360, 30, 450)
    assert capped[1] == cap[1] and capped[0] > middle[0]
