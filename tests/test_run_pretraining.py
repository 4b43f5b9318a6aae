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
    moved = 0.0
    for key, value in results["one"].items():
        np.testing.assert_allclose(results["mirrored"][key], value, atol=2e-6, err_msg=key)
        moved = max(moved, float(np.abs(value).max()))
    assert moved > 0


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
    rng = np.random.default_rng(0)
    path = str(tmp_path / "theirs.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for _ in range(20):
            ids = rng.integers(1000, 30000, SEQ)
            ids[0], ids[SEQ // 2], ids[-1] = 101, 102, 102
            feature = {
                "input_ids": ids, "input_mask": np.ones(SEQ, int),
                "segment_ids": (np.arange(SEQ) > SEQ // 2).astype(int),
                "masked_lm_positions": np.sort(rng.choice(np.arange(1, SEQ // 2), PRED, False)),
                "masked_lm_ids": rng.integers(1000, 30000, PRED),
                "next_sentence_labels": rng.integers(0, 2, 1)}
            feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                       for k, v in feature.items()}
            feature["masked_lm_weights"] = tf.train.Feature(
                float_list=tf.train.FloatList(value=[1.0] * PRED))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())
    done = run(args(data, str(tmp_path / "run"), steps=3, input_file=path))
    assert "step 3/3" in done.stdout


def test_dynamic_masking_from_unmasked_records(data, tmp_path):
    done = run(args(data, str(tmp_path / "run"), steps=3, input_file=data.plain,
                    dynamic_masking=True, do_whole_word_mask=True, vocab_file=data.vocab))
    assert "step 3/3" in done.stdout


@pytest.mark.parametrize("policy,jit", [("mixed_bfloat16", False), ("mixed_float16", False),
                                        ("float32", True)])
def test_precision_and_xla_variants_train(data, tmp_path, policy, jit):
    done = run(args(data, str(tmp_path / "run"), steps=3, mixed_precision=policy,
                    jit_compile=jit))
    line = [x for x in done.stdout.splitlines() if x.startswith("step 3/3")][0]
    assert "nan" not in line.lower()


def settings_for(data, tmp_path, **changes):
    flags = dict(input_file=data.masked, eval_input_file=None, output_dir=str(tmp_path),
                 bert_config_file=str(data.dir / "config.json"), init_checkpoint=None,
                 do_train=True, do_eval=False, train_batch_size=8, eval_batch_size=8,
                 max_seq_length=SEQ, max_predictions_per_seq=PRED, num_train_steps=10,
                 num_warmup_steps=1, save_checkpoints_steps=5, iterations_per_loop=5,
                 gradient_accumulation_steps=1, dynamic_masking=False, do_whole_word_mask=False,
                 vocab_file=None)
    flags.update(changes)
    return pretraining_run.PretrainingSettings(**flags)


@pytest.mark.parametrize("changes,replicas,message", [
    (dict(max_seq_length=64), 1, "--max_seq_length=64 exceeds the model's max_position_embeddings 32"),
    (dict(train_batch_size=9), 2, r"--train_batch_size=9 is not divisible by 2 replica\(s\)"),
    (dict(gradient_accumulation_steps=3), 1, r"--train_batch_size=8 is not divisible by 1 replica\(s\) x 3 accumulation"),
    (dict(do_train=False), 1, "nothing to do"),
    (dict(num_warmup_steps=11), 1, r"--num_warmup_steps=11 must be in \[0, --num_train_steps=10\]"),
    (dict(num_train_steps=0), 1, "--num_train_steps must be positive, got 0"),
    (dict(learning_rate=-1.0), 1, "--learning_rate must be positive, got -1.0"),
    (dict(iterations_per_loop=-2), 1, "--iterations_per_loop must be a positive integer, got -2"),
    (dict(save_checkpoints_steps=0), 1, "--save_checkpoints_steps must be a positive integer"),
    (dict(gradient_accumulation_steps=0), 1, "--gradient_accumulation_steps must be a positive integer"),
    (dict(train_batch_size=0), 1, "--train_batch_size must be a positive integer, got 0"),
    (dict(input_file="/nowhere/*.tfrecord"), 1, "--input_file: no input file matches /nowhere"),
    (dict(input_file="PLAIN"), 1, "unmasked records: pass --dynamic_masking"),
    (dict(dynamic_masking=True), 1, "--dynamic_masking needs --vocab_file"),
    (dict(max_predictions_per_seq=7), 1, "feature 'masked_lm_positions' is int64_list of length 5, expected int64_list of length 7"),
])
def test_bad_flags(data, tmp_path, changes, replicas, message):
    if changes.get("input_file") == "PLAIN":
        changes["input_file"] = data.plain
    settings = settings_for(data, tmp_path, **changes)
    with pytest.raises(pretraining_run.FlagError, match=message):
        pretraining_run.PretrainingRun.checked(settings, replicas)
    assert not os.path.exists(tmp_path / "bert_config.json")  # nothing was written


def test_script_reports_bad_input_without_traceback(data, tmp_path):
    done = run(args(data, str(tmp_path / "run"), max_seq_length=64), check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "run_pretraining.py: error: --max_seq_length=64 exceeds" in done.stderr
    bad_config = tmp_path / "bad.json"
    bad_config.write_text(json.dumps({"vocab_size": 10}))
    done = run(args(data, str(tmp_path / "run"), bert_config_file=str(bad_config)), check=False)
    assert "error:" in done.stderr and "bad.json" in done.stderr and "missing" in done.stderr
