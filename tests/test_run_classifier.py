"""run_classifier.py end to end: learning, result files, determinism, real checkpoints, bad input."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from bert_tf.tokenization import BertTokenizer
from in_process import run_checked, run_script
from tasks.classification.model import BertClassifier
from testing import built_once, minilm_dir, tiny_config, write_topic_pairs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(flags, check=True):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "run_classifier.py"), *flags],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if check and done.returncode:
        raise AssertionError(f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}")
    return done


def run_here(flags):
    """run_classifier.py with these flags in this process (see in_process.py); `run` starts a
    process of its own."""
    return run_checked("run_classifier.py", *flags)


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


@pytest.fixture(scope="module")
def pair_run(topic_task, tmp_path_factory):
    """The topic-pair task fine-tuned with tiny_flags' defaults, once per test run: what
    test_learns_a_pair_task reads, and the uninterrupted run the killed one must equal."""
    return built_once(tmp_path_factory, "classifier-pair-run",
                      lambda directory: run_here(tiny_flags(topic_task, str(directory / "run"))))


def test_learns_a_pair_task_and_writes_the_original_files(topic_task, pair_run):
    out = str(pair_run / "run")
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
    tokenizer = BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"))
    rows = [line.split("\t") for line in
            open(os.path.join(topic_task[0], "test.tsv")).read().splitlines()[1:]]
    inputs = tokenizer.encode([r[3] for r in rows], [r[4] for r in rows], max_seq_length=24)
    expected = tf.nn.softmax(model(inputs)["logits"]).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    # Google's names for the head.
    reader = tf.train.load_checkpoint(os.path.join(out, "finetuned", "bert_model.ckpt"))
    assert reader.get_variable_to_shape_map()["output_weights"] == [2, 32]


def test_killed_and_run_again_ends_as_an_uninterrupted_run(topic_task, pair_run, tmp_path):
    """The fine-tuning loop SIGKILLed after its first checkpoint (step 75 of 225): the same
    command again resumes there and ends with exactly the results of the uninterrupted run
    (pair_run: same flags, same seed, deterministic ops). The victim is a process of its
    own; the resumed run is in this one."""
    straight = str(pair_run / "run")
    again = str(tmp_path / "again")
    victim = subprocess.Popen([sys.executable, os.path.join(ROOT, "run_classifier.py"),
                               *tiny_flags(topic_task, again)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    deadline = time.time() + 300
    while not tf.train.latest_checkpoint(again) and time.time() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not os.path.exists(os.path.join(again, "eval_results.txt"))  # it died mid-way
    resumed = run_here(tiny_flags(topic_task, again))
    assert re.search(r"Resumed from \S+ at step (75|150)\b", resumed.stdout), resumed.stdout
    assert results(os.path.join(again, "eval_results.txt")) == results(
        os.path.join(straight, "eval_results.txt"))
    assert results(os.path.join(straight, "eval_results.txt"))["global_step"] == "225"
    for name in ("test_results.tsv", "finetuned/bert_model.ckpt.index",
                 "finetuned/bert_model.ckpt.data-00000-of-00001"):
        assert open(os.path.join(again, name), "rb").read() == open(
            os.path.join(straight, name), "rb").read(), name


def encoded(rows, max_seq_length=16):
    """Our tokenizer's features of (text_a, text_b) rows."""
    tokenizer = BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"))
    return tokenizer.encode([a for a, _ in rows], [b for _, b in rows],
                            max_seq_length=max_seq_length)


def test_regression_and_two_dev_sets(tmp_path):
    """STS-B's correlations and MNLI's two dev sets, each recomputed here (scipy, numpy)
    from the fine-tuned model's predictions."""
    stsb = tmp_path / "STS-B"
    stsb.mkdir()
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
    rng = np.random.default_rng(1)
    dev_rows = []
    for split in ("train", "dev"):
        with open(stsb / f"{split}.tsv", "w") as f:
            f.write(header + "\tscore\n")
            for i in range(24):
                score = float(f"{rng.uniform(0, 5):.3f}")
                f.write(f"{i}\tg\tf\t2012\t{i}\tnone\tnone\tA man plays.\tA man plays {i}."
                        f"\t{score:.3f}\n")
                if split == "dev":
                    dev_rows.append(("A man plays.", f"A man plays {i}.", score))
    # The dev rows again as the test set: test_results.tsv holds the scores evaluation saw.
    with open(stsb / "test.tsv", "w") as f:
        f.write(header + "\n" + "".join(f"{i}\tg\tf\t2012\t{i}\tnone\tnone\t{a}\t{b}\n"
                                        for i, (a, b, _) in enumerate(dev_rows)))
    config = tmp_path / "config.json"
    # Weights large enough that the logits of different inputs stand apart (the metrics
    # of the two MNLI dev sets then differ).
    tiny_config(vocab_size=30522, max_position_embeddings=32,
                initializer_range=0.5).to_json_file(str(config))
    common = [f"--vocab_file={os.path.join(minilm_dir(), 'vocab.txt')}",
              f"--bert_config_file={config}", "--do_train", "--do_eval", "--max_seq_length=16",
              "--train_batch_size=8", "--num_train_epochs=1"]
    out = str(tmp_path / "stsb")
    run_here(["--task_name=STS-B", f"--data_dir={stsb}", f"--output_dir={out}", "--do_predict",
              *common])
    found = results(os.path.join(out, "eval_results.txt"))
    assert set(found) == {"eval_pearson", "eval_spearman", "eval_loss", "global_step", "loss"}
    scores = np.loadtxt(os.path.join(out, "test_results.tsv"), dtype=np.float64)
    model = BertClassifier.from_pretrained(os.path.join(out, "finetuned"), num_labels=1,
                                           regression=True)
    np.testing.assert_allclose(scores, model(encoded([(a, b) for a, b, _ in dev_rows]))["score"],
                               atol=1e-5)  # the fine-tuned model's scores, in order
    targets = np.array([t for _, _, t in dev_rows])
    assert np.std(scores) > 0  # the correlations below are defined
    assert float(found["eval_pearson"]) == pytest.approx(
        scipy.stats.pearsonr(scores, targets)[0], abs=1e-6)
    assert float(found["eval_spearman"]) == pytest.approx(
        scipy.stats.spearmanr(scores, targets)[0], abs=1e-6)
    assert float(found["eval_loss"]) == pytest.approx(np.mean((scores - targets) ** 2), rel=1e-5)
    mnli = tmp_path / "MNLI"
    mnli.mkdir()
    labels = ["contradiction", "entailment", "neutral"]
    cols = "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2"
    dev = {}
    for name, shift in (("train", 0), ("dev_matched", 0), ("dev_mismatched", 1)):
        rows = [(f"premise {i}", "hypothesis" if shift == 0 else f"other {i}",
                 labels[(i + shift) % 3]) for i in range(12 - 3 * shift)]
        dev[name] = rows
        with open(mnli / f"{name}.tsv", "w") as f:
            f.write(cols + "\tlabel1\tgold_label\n")
            for i, (a, b, label) in enumerate(rows):
                f.write(f"{i}\t1\t1n\tg\t(\t(\t(\t(\t{a}\t{b}\t{label}\t{label}\n")
    out = str(tmp_path / "mnli")
    run_here(["--task_name=MNLI", f"--data_dir={mnli}", f"--output_dir={out}", *common])
    found = results(os.path.join(out, "eval_results.txt"))
    assert set(found) == {"eval_accuracy", "eval_loss", "eval_mismatched_accuracy",
                          "eval_mismatched_loss", "global_step", "loss"}
    assert open(os.path.join(out, "label_list.txt")).read().split() == labels
    model = BertClassifier.from_pretrained(os.path.join(out, "finetuned"), num_labels=3)
    expected = {}
    for name, prefix in (("dev_matched", "eval_"), ("dev_mismatched", "eval_mismatched_")):
        logits = model(encoded([(a, b) for a, b, _ in dev[name]]))["logits"].numpy()
        log_probs = logits.astype(np.float64) - np.logaddexp.reduce(logits, axis=1,
                                                                     keepdims=True)
        gold = np.array([labels.index(label) for _, _, label in dev[name]])
        expected[prefix + "accuracy"] = np.mean(log_probs.argmax(1) == gold)
        expected[prefix + "loss"] = -np.mean(log_probs[np.arange(len(gold)), gold])
    # The two sets' losses differ by 100x the tolerance below (0.0023 measured): each
    # result is its own set's.
    assert abs(expected["eval_loss"] - expected["eval_mismatched_loss"]) > 1e-3
    for key, value in expected.items():
        assert float(found[key]) == pytest.approx(value, rel=1e-5), key


def write_rte(directory, train_rows, dev_rows):
    directory.mkdir(exist_ok=True)
    for name, rows in (("train", train_rows), ("dev", dev_rows)):
        with open(directory / f"{name}.tsv", "w") as f:
            f.write("index\tsentence1\tsentence2\tlabel\n")
            f.write("".join("\t".join(map(str, r)) + "\n" for r in rows))


# The script's main() in this process: the message it exits with, as one line (the same
# as a process of its own, checked by test_reliability.py::test_scripts_print_one_line_errors).
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
    done = run_script("run_classifier.py", "--task_name=RTE", f"--data_dir={tmp_path / 'RTE'}",
                      f"--vocab_file={os.path.join(minilm_dir(), 'vocab.txt')}",
                      f"--bert_config_file={config}", "--do_train", "--do_eval",
                      "--max_seq_length=8", f"--output_dir={tmp_path / 'out'}")
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("run_classifier.py: error: ") and re.search(message, line), line
    assert not os.path.exists(tmp_path / "out")  # nothing was written, let alone trained


def test_casing_that_contradicts_the_checkpoint_is_an_error(tmp_path):
    """As in google-research/bert: a cased tokenization of an uncased model loses points silently."""
    write_rte(tmp_path / "RTE", [(0, "A b", "C d", "entailment")] * 4,
              [(0, "A b", "C d", "entailment")])
    done = run_script("run_classifier.py", "--task_name=RTE", f"--data_dir={tmp_path / 'RTE'}",
                      f"--init_checkpoint={minilm_dir()}", "--do_lower_case=false", "--do_train",
                      f"--output_dir={tmp_path / 'out'}", "--max_seq_length=16")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("run_classifier.py: error: --do_lower_case=False but"), line
    assert "is uncased" in line
    assert not os.path.exists(tmp_path / "out")
