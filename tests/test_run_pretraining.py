"""run_pretraining.py as users run it: strategies, processes, crashes, records, flags."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import tensorflow as tf

from tasks.pretraining import records as pretraining_records
from tasks.pretraining import run as pretraining_run
from bert_tf.models.bert import BertPretrainer
from bert_tf.tokenization import BertTokenizer
from testing import minilm_dir, tiny_config, write_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ, PRED = 32, 5


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Masked and unmasked records, and tiny configs with and without dropout."""
    tmp = tmp_path_factory.mktemp("pretrain")
    corpus = write_corpus(tmp / "corpus.txt", documents=20, sentences=15)
    vocab = os.path.join(minilm_dir(), "vocab.txt")
    tokenizer = BertTokenizer(vocab)
    for name, mask in (("masked", True), ("plain", False)):
        options = pretraining_records.options_for(
            tokenizer, max_seq_length=SEQ, max_predictions_per_seq=PRED, dupe_factor=2,
            mask=mask)
        pretraining_records.create_pretraining_records(
            [corpus], [str(tmp / f"{name}-{i}.tfrecord") for i in range(2)], tokenizer, options,
            num_workers=0)
    config = tiny_config(vocab_size=tokenizer.vocab_size, max_position_embeddings=SEQ)
    config.to_json_file(str(tmp / "config.json"))
    config.replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).to_json_file(
        str(tmp / "config_no_dropout.json"))
    return types.SimpleNamespace(dir=tmp, vocab=vocab, masked=str(tmp / "masked-*.tfrecord"),
                                 plain=str(tmp / "plain-*.tfrecord"))


def args(data, output_dir, steps=6, config="config.json", **extra):
    flags = dict(input_file=data.masked, output_dir=output_dir,
                 bert_config_file=str(data.dir / config), do_train=True, train_batch_size=8,
                 max_seq_length=SEQ, max_predictions_per_seq=PRED, num_train_steps=steps,
                 num_warmup_steps=1, learning_rate=1e-3, save_checkpoints_steps=3,
                 iterations_per_loop=3, seed=7)
    flags.update(extra)
    out = []
    for key, value in flags.items():
        if value is True:
            out.append(f"--{key}")
        elif value is not False and value is not None:
            out.append(f"--{key}={value}")
    return out


def command(flag_list):
    return [sys.executable, os.path.join(ROOT, "run_pretraining.py"), *flag_list]


def run(flag_list, env=None, check=True):
    done = subprocess.run(command(flag_list), capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {})))
    if check and done.returncode:
        raise AssertionError(f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}")
    return done


def checksum(output):
    return [line.rsplit(" ", 1)[1] for line in output.splitlines()
            if "weights checksum" in line][0]


def exported_weights(output_dir):
    reader = tf.train.load_checkpoint(os.path.join(output_dir, "pretrained", "bert_model.ckpt"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_train_eval_export(data, tmp_path):
    out = str(tmp_path / "run")
    done = run(args(data, out, do_eval=True, vocab_file=data.vocab, max_eval_steps=3))
    assert "step 6/6" in done.stdout and "ETA" in done.stdout
    results = dict(line.split(" = ") for line in
                   open(os.path.join(out, "eval_results.txt")).read().splitlines())
    assert set(results) == {"global_step", "loss", "masked_lm_accuracy", "masked_lm_loss",
                            "next_sentence_accuracy", "next_sentence_loss"}
    assert results["global_step"] == "6"
    assert float(results["loss"]) == pytest.approx(
        float(results["masked_lm_loss"]) + float(results["next_sentence_loss"]))
    assert sorted(f for f in os.listdir(out) if f.endswith(".index")) == ["ckpt-3.index",
                                                                          "ckpt-6.index"]
    # The Google-format export loads, and continues training from it works.
    exported = os.path.join(out, "pretrained")
    assert os.path.exists(os.path.join(exported, "vocab.txt"))
    BertPretrainer.from_pretrained(exported)
    again = run(args(data, str(tmp_path / "again"), steps=3, init_checkpoint=exported))
    assert "Initialized from google checkpoint" in again.stdout
    ours = run(args(data, str(tmp_path / "ours"), steps=3, init_checkpoint=out))
    assert "Initialized from bert_tf checkpoint" in ours.stdout


def test_mirrored_over_two_devices_equals_one_device(data, tmp_path):
    results = {}
    for name, extra in (("one", {}), ("mirrored", dict(distribution_strategy="mirrored",
                                                        num_cpu_devices=2))):
        run(args(data, str(tmp_path / name), config="config_no_dropout.json", **extra))
        results[name] = exported_weights(str(tmp_path / name))
    assert results["one"].keys() == results["mirrored"].keys()
    for key, value in results["one"].items():
        np.testing.assert_allclose(results["mirrored"][key], value, atol=2e-6, err_msg=key)
    # Training moved the weights between the checkpoints of steps 3 and 6 (so the
    # equality above is not that of two untouched models).
    name = "model/mlm_transform/_kernel/.ATTRIBUTES/VARIABLE_VALUE"
    at = {step: tf.train.load_checkpoint(str(tmp_path / "one" / f"ckpt-{step}")).get_tensor(name)
          for step in (3, 6)}
    assert np.abs(at[6] - at[3]).max() > 1e-4


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start_workers(data, output_dir, steps, **extra):
    cluster = {"worker": [f"localhost:{free_port()}", f"localhost:{free_port()}"]}
    processes = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(
            command(args(data, output_dir, steps=steps,
                         distribution_strategy="multi_worker_mirrored", **extra)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=config)))
    return processes


def finish(processes, timeout=300):
    outputs = []
    for p in processes:
        out, _ = p.communicate(timeout=timeout)
        outputs.append((p.returncode, out))
    return outputs


def test_two_worker_multi_worker_mirrored(data, tmp_path):
    out = str(tmp_path / "cluster")
    (rc0, log0), (rc1, log1) = finish(start_workers(data, out, steps=6))
    assert rc0 == 0 and rc1 == 0, log0[-2000:] + log1[-2000:]
    assert checksum(log0) == checksum(log1)  # both workers hold the same weights
    assert "step 6/6" in log0 and "step 6/6" not in log1  # only the chief reports
    assert "ckpt-6.index" in os.listdir(out)
    assert not [f for f in os.listdir(out) if f.startswith(".worker")]  # scratch cleaned up


def wait_for_checkpoint(directory, step, timeout=300):
    """Until checkpoint `step` is complete: its files written and the state file naming it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        latest = tf.train.latest_checkpoint(directory)
        if latest and int(latest.rsplit("-", 1)[1]) >= step:
            return
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint {step} in {directory} after {timeout} s")


def test_kill_and_resume_matches_an_uninterrupted_run(data, tmp_path):
    flags = dict(steps=9, deterministic=True)
    straight = run(args(data, str(tmp_path / "straight"), **flags))
    out = str(tmp_path / "killed")
    victim = subprocess.Popen(command(args(data, out, **flags)), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    wait_for_checkpoint(out, 3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert "ckpt-9.index" not in os.listdir(out)  # it really died before the end
    resumed = run(args(data, out, **flags))
    assert resumed.stdout.count("Resumed from") == 1  # restored once, not again to train
    assert checksum(resumed.stdout) == checksum(straight.stdout)


@pytest.mark.slow
def test_cluster_survives_a_worker_death(data, tmp_path):
    """A dead worker stops the cluster; restarting every worker resumes from the checkpoint."""
    flags = dict(steps=60, save_checkpoints_steps=3, deterministic=True)
    (rc0, straight), _ = finish(start_workers(data, str(tmp_path / "straight"), **flags))
    assert rc0 == 0, straight[-2000:]
    out = str(tmp_path / "broken")
    processes = start_workers(data, out, **flags)
    wait_for_checkpoint(out, 6)
    processes[1].send_signal(signal.SIGKILL)
    (rc0, log0), _ = finish(processes)
    assert rc0 != 0 and "Start the same command again on every worker" in log0
    (rc0, log0), (rc1, log1) = finish(start_workers(data, out, **flags))
    assert rc0 == 0 and rc1 == 0 and "Resumed from" in log0
    assert checksum(log0) == checksum(log1) == checksum(straight)


def test_records_written_to_the_original_spec_train(data, tmp_path):
    """Records written by an independent writer to google-research/bert's spec: the run's
    evaluation equals the loss computed here from those records with the exported model."""
    rng = np.random.default_rng(0)
    path = str(tmp_path / "theirs.tfrecord")
    examples = []
    with tf.io.TFRecordWriter(path) as writer:
        for _ in range(16):
            ids = rng.integers(1000, 30000, SEQ)
            ids[0], ids[SEQ // 2], ids[-1] = 101, 102, 102
            length = int(rng.integers(SEQ // 2 + 2, SEQ + 1))
            mask = (np.arange(SEQ) < length).astype(int)
            ids = ids * mask
            feature = {
                "input_ids": ids, "input_mask": mask,
                "segment_ids": ((np.arange(SEQ) > SEQ // 2) * mask).astype(int),
                "masked_lm_positions": np.sort(rng.choice(np.arange(1, SEQ // 2), PRED, False)),
                "masked_lm_ids": rng.integers(1000, 30000, PRED),
                "next_sentence_labels": rng.integers(0, 2, 1)}
            weights = (np.arange(PRED) < rng.integers(2, PRED + 1)).astype(np.float32)
            examples.append(dict(feature, masked_lm_weights=weights))
            feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                       for k, v in feature.items()}
            feature["masked_lm_weights"] = tf.train.Feature(
                float_list=tf.train.FloatList(value=weights))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())
    out = str(tmp_path / "run")
    run(args(data, out, steps=3, input_file=path, do_eval=True, eval_batch_size=16,
             max_eval_steps=1))
    found = dict(line.split(" = ") for line in
                 open(os.path.join(out, "eval_results.txt")).read().splitlines())
    model = BertPretrainer.from_pretrained(os.path.join(out, "pretrained"))
    batch = {k: np.stack([e[k] for e in examples]).astype(
        np.float32 if k == "masked_lm_weights" else np.int32) for k in examples[0]}
    logits = model(batch)["mlm_logits"].numpy().astype(np.float64)
    log_probs = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    picked = np.take_along_axis(log_probs, batch["masked_lm_ids"][..., None], -1)[..., 0]
    weights = batch["masked_lm_weights"]
    expected = -(picked * weights).sum() / weights.sum()
    assert float(found["masked_lm_loss"]) == pytest.approx(expected, abs=1e-4)


def in_process(data, tmp_path, name, steps=4, **changes):
    """run_pretraining's run in this process (no interpreter start-up); the exported weights."""
    flags = dict(input_file=data.masked, output_dir=str(tmp_path / name),
                 bert_config_file=str(data.dir / "config_no_dropout.json"), do_train=True,
                 train_batch_size=8, max_seq_length=SEQ, max_predictions_per_seq=PRED,
                 num_train_steps=steps, num_warmup_steps=1, learning_rate=1e-3,
                 save_checkpoints_steps=steps, iterations_per_loop=steps, seed=7,
                 log=lambda line: None)
    flags.update(changes)
    pretraining_run.run(pretraining_run.PretrainingSettings(**flags))
    return exported_weights(str(tmp_path / name))


@pytest.fixture(scope="module")
def float32_run(data, tmp_path_factory):
    """(initial weights, weights after the float32 run) of the in-process runs."""
    tmp = tmp_path_factory.mktemp("float32")
    initial = in_process(data, tmp, "initial", steps=1, learning_rate=1e-9)
    return initial, in_process(data, tmp, "float32")


def distance(a, b):
    """Euclidean distance between two sets of weights (all variables as one vector)."""
    return float(np.sqrt(sum(np.sum((a[k].astype(np.float64) - b[k]) ** 2) for k in a)))


# Distance to the float32 run's weights as a fraction of how far that run moved them,
# measured on an AMX machine (2026-12-02): XLA 6e-7, bfloat16 0.003, float16 0.0013,
# accumulation 1.5e-7. The bounds leave 30x or more for other CPUs.
@pytest.mark.parametrize("changes,fraction", [
    (dict(jit_compile=True), 1e-4),  # float32 fused differently
    (dict(mixed_precision="mixed_bfloat16"), 0.1),  # bfloat16 compute, float32 weights
    (dict(mixed_precision="mixed_float16"), 0.1),  # and dynamic loss scaling
    (dict(gradient_accumulation_steps=2), 1e-4),  # two micro-batches per step
])
def test_variants_train_like_the_float32_run(data, tmp_path, float32_run, changes, fraction):
    """Each variant ends close to the float32 run, compared with how far training moved."""
    initial, float32 = float32_run
    movement = distance(float32, initial)
    assert movement > 1e-2  # four steps at 1e-3 moved the weights
    variant = in_process(data, tmp_path, "variant", **changes)
    assert distance(variant, float32) < fraction * movement


def test_dynamic_masking_from_unmasked_records(data, tmp_path):
    """Masks drawn on the fly from unmasked records: training moves the weights, and the
    held-out masked-LM loss is evaluated on freshly masked positions."""
    done = run(args(data, str(tmp_path / "run"), steps=3, input_file=data.plain,
                    dynamic_masking=True, do_whole_word_mask=True, vocab_file=data.vocab,
                    do_eval=True, max_eval_steps=2))
    assert "step 3/3" in done.stdout
    found = dict(line.split(" = ") for line in
                 open(tmp_path / "run" / "eval_results.txt").read().splitlines())
    # A model that has seen three batches is near uniform over 30522 tokens: ln(30522) = 10.3.
    assert 5.0 < float(found["masked_lm_loss"]) < 11.0
