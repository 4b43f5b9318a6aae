"""run_classifier.py end to end: learning, result files, determinism, real checkpoints, bad input."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tasks.classification.model import BertClassifier
from testing import minilm_dir, tiny_config, write_topic_pairs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(flags, check=True):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "run_classifier.py"), *flags],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if check and done.returncode:
        raise AssertionError(f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}")
    return done


def results(path):
    return dict(line.split(" = ") for line in open(path).read().splitlines())


@pytest.fixture(scope="module")
def topic_task(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("topic")
    data = write_topic_pairs(tmp / "data")
    config = tmp / "config.json"
    tiny_config(vocab_size=30522, max_position_embeddings=64, hidden_size=32,
                num_attention_heads=4, intermediate_size=64, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0).to_json_file(str(config))
    return data, str(config)


def tiny_flags(topic_task, output_dir, **extra):
    data, config = topic_task
    flags = {"task_name": "MRPC", "data_dir": data, "vocab_file": os.path.join(minilm_dir(),
                                                                              "vocab.txt"),
             "bert_config_file": config, "max_seq_length": 24, "train_batch_size": 16,
             "learning_rate": 3e-3, "num_train_epochs": 6, "output_dir": output_dir,
             "iterations_per_loop": 75, "save_checkpoints_steps": 75,
             "adam_bias_correction": True, "deterministic": True,
             "do_train": True, "do_eval": True, "do_predict": True, "seed": 3}
    flags.update(extra)
    return [f"--{k}" if v is True else f"--{k}={v}" for k, v in flags.items() if v is not False]


def test_learns_a_pair_task_and_writes_the_original_files(topic_task, tmp_path):
    out = str(tmp_path / "run")
    run(tiny_flags(topic_task, out))
    found = results(os.path.join(out, "eval_results.txt"))
    assert set(found) == {"eval_accuracy", "eval_f1", "eval_loss", "global_step", "loss"}
    assert float(found["eval_accuracy"]) > 0.8  # chance is 0.5; neither text alone tells
    assert found["global_step"] == str(int(600 / 16 * 6))
    lines = open(os.path.join(out, "test_results.tsv")).read().splitlines()
    assert len(lines) == 40
    probs = np.array([[float(x) for x in line.split("\t")] for line in lines])
    assert probs.shape == (40, 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    # The test rows are predicted in order: compare with the model run on them here.
    model = BertClassifier.from_pretrained(os.path.join(out, "finetuned"), num_labels=2)
    from bert_tf.tokenization import BertTokenizer
    tokenizer = BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"))
    rows = [line.split("\t") for line in
            open(os.path.join(topic_task[0], "test.tsv")).read().splitlines()[1:]]
    inputs = tokenizer.encode([r[3] for r in rows], [r[4] for r in rows], max_seq_length=24)
    expected = tf.nn.softmax(model(inputs)["logits"]).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    # Google's names for the head.
    reader = tf.train.load_checkpoint(os.path.join(out, "finetuned", "bert_model.ckpt"))
    assert reader.get_variable_to_shape_map()["output_weights"] == [2, 32]
    # Killed after its first checkpoint and run again, the same command resumes there and
    # ends with exactly the same results (same seed, deterministic ops).
    again = str(tmp_path / "again")
    victim = subprocess.Popen([sys.executable, os.path.join(ROOT, "run_classifier.py"),
                               *tiny_flags(topic_task, again)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    deadline = time.time() + 300
    while not tf.train.latest_checkpoint(again) and time.time() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not os.path.exists(os.path.join(again, "eval_results.txt"))  # it died mid-way
    resumed = run(tiny_flags(topic_task, again))
    assert re.search(r"Resumed from \S+ at step (75|150)\b", resumed.stdout), resumed.stdout
    assert results(os.path.join(again, "eval_results.txt")) == found
    assert open(os.path.join(again, "test_results.tsv")).read() == "\n".join(lines) + "\n"


def test_regression_and_two_dev_sets(tmp_path):
    stsb = tmp_path / "STS-B"
    stsb.mkdir()
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
    rng = np.random.default_rng(1)
    for split in ("train", "dev"):
        with open(stsb / f"{split}.tsv", "w") as f:
            f.write(header + "\tscore\n")
            for i in range(24):
                f.write(f"{i}\tg\tf\t2012\t{i}\tnone\tnone\tA man plays.\tA man plays {i}."
                        f"\t{rng.uniform(0, 5):.3f}\n")
    config = tmp_path / "config.json"
    tiny_config(vocab_size=30522, max_position_embeddings=32).to_json_file(str(config))
    common = [f"--vocab_file={os.path.join(minilm_dir(), 'vocab.txt')}",
              f"--bert_config_file={config}", "--do_train", "--do_eval", "--max_seq_length=16",
              "--train_batch_size=8", "--num_train_epochs=1"]
    out = str(tmp_path / "stsb")
    run(["--task_name=STS-B", f"--data_dir={stsb}", f"--output_dir={out}", *common])
    assert {"eval_pearson", "eval_spearman", "eval_loss"} <= set(
        results(os.path.join(out, "eval_results.txt")))
    mnli = tmp_path / "MNLI"
    mnli.mkdir()
    labels = ["contradiction", "entailment", "neutral"]
    cols = "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2"
    for name in ("train", "dev_matched", "dev_mismatched"):
        with open(mnli / f"{name}.tsv", "w") as f:
            f.write(cols + "\tlabel1\tgold_label\n")
            for i in range(12):
                f.write(f"{i}\t1\t1n\tg\t(\t(\t(\t(\tpremise {i}\thypothesis\t{labels[i % 3]}"
                        f"\t{labels[i % 3]}\n")
    out = str(tmp_path / "mnli")
    run(["--task_name=MNLI", f"--data_dir={mnli}", f"--output_dir={out}", *common])
    assert {"eval_accuracy", "eval_mismatched_accuracy", "eval_mismatched_loss"} <= set(
        results(os.path.join(out, "eval_results.txt")))


def write_rte(directory, train_rows, dev_rows):
    directory.mkdir(exist_ok=True)
    for name, rows in (("train", train_rows), ("dev", dev_rows)):
        with open(directory / f"{name}.tsv", "w") as f:
            f.write("index\tsentence1\tsentence2\tlabel\n")
            f.write("".join("\t".join(map(str, r)) + "\n" for r in rows))


@pytest.mark.parametrize("train_rows,dev_rows,message", [
    ([(0, "a", "b", "entailment")], [(0, "a", "b", "maybe")],
     r"dev.tsv:2: label 'maybe' does not occur in the training data"),
    ([(0, "a", "b", "entailment"), (1, "only a")], [(0, "a", "b", "entailment")],
     r"train.tsv:3: malformed row: no column 2"),
    ([], [(0, "a", "b", "entailment")], r"train.tsv holds no examples"),
])
def test_bad_data_is_named_before_training(tmp_path, train_rows, dev_rows, message):
    write_rte(tmp_path / "RTE", train_rows, dev_rows)
    config = tmp_path / "config.json"
    tiny_config(vocab_size=30522).to_json_file(str(config))
    done = run(["--task_name=RTE", f"--data_dir={tmp_path / 'RTE'}",
                f"--vocab_file={os.path.join(minilm_dir(), 'vocab.txt')}",
                f"--bert_config_file={config}", "--do_train", "--do_eval",
                "--max_seq_length=8", f"--output_dir={tmp_path / 'out'}"], check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "run_classifier.py: error:" in done.stderr
    assert re.search(message, done.stderr), done.stderr[-2000:]
    assert not os.path.exists(tmp_path / "out" / "checkpoint")  # nothing was trained


def test_casing_that_contradicts_the_checkpoint_is_an_error(tmp_path):
    """As in google-research/bert: a cased tokenization of an uncased model loses points silently."""
    write_rte(tmp_path / "RTE", [(0, "A b", "C d", "entailment")] * 4,
              [(0, "A b", "C d", "entailment")])
    done = run(["--task_name=RTE", f"--data_dir={tmp_path / 'RTE'}",
                f"--init_checkpoint={minilm_dir()}", "--do_lower_case=false", "--do_train",
                f"--output_dir={tmp_path / 'out'}", "--max_seq_length=16"], check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "error: --do_lower_case=False but" in done.stderr and "is uncased" in done.stderr
    assert not os.path.exists(tmp_path / "out")
