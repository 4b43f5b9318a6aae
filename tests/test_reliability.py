"""Bad input and faults: one-line errors naming the file, line or flag; run directories that
cannot be corrupted; writers that never leave half a file under its final name."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data import files
from bert_tf.errors import DataError, UserError
from bert_tf.training import run_directory
from bert_tf.training.run import FlagError
from tasks.classification import run as classifier_run
from tasks.classification.data import get_processor
from testing import minilm_dir, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(minilm_dir(), "vocab.txt")


def script(name, *flags):
    """Runs one of the scripts; (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, name), *flags],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    return done.returncode, done.stdout, done.stderr


def assert_one_line_error(name, code, stderr, pattern):
    import re

    assert code != 0 and "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith(f"{name}: error: ")]
    assert len(errors) == 1 and re.search(pattern, errors[0]), stderr[-2000:]


def read_all(processor, data_dir, split):
    return [(e.text_a, e.text_b, e.label) for e in processor.read(str(data_dir), split)]


def snapshot(directory):
    """{relative path: bytes} of every file below a directory."""
    found = {}
    for parent, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(parent, name)
            if name != run_directory.LOCK_NAME:
                found[os.path.relpath(path, directory)] = open(path, "rb").read()
    return found


# ------------------------------------------------------------------ data files


def test_a_non_utf8_byte_is_reported_at_its_own_line(tmp_path):
    rows = [b"index\tsentence1\tsentence2\tlabel"] + [
        f"{i}\tfirst {i}\tsecond {i}\tentailment".encode() for i in range(1, 400)]
    for bad_line in (2, 300):
        lines = list(rows)
        lines[bad_line - 1] = lines[bad_line - 1].replace(b"first", b"fi\xffrst")
        (tmp_path / "train.tsv").write_bytes(b"\n".join(lines) + b"\n")
        with pytest.raises(DataError, match=rf"train.tsv:{bad_line}: not valid UTF-8"):
            read_all(get_processor("RTE"), tmp_path, "train")


def test_byte_order_marks_are_accepted(tmp_path):
    (tmp_path / "train.csv").write_text("\ufefftext,label\nA good film.,pos\nA bad one.,neg\n",
                                        encoding="utf-8")
    assert read_all(get_processor("custom"), tmp_path, "train") == [
        ("A good film.", None, "pos"), ("A bad one.", None, "neg")]
    from bert_tf.tokenization import load_vocab

    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes(b"\xef\xbb\xbf" + open(VOCAB, "rb").read())
    assert load_vocab(str(vocab))[:5] == ["[PAD]", "[unused0]", "[unused1]", "[unused2]",
                                          "[unused3]"]


@pytest.mark.parametrize("name,content,pattern", [
    ("train.csv", "text,label,text\na,x,b\n", r"train.csv:1: column\(s\) \['text'\] appear more "
                                              "than once"),
    ("train.jsonl", '{"text": "fine", "label": "a"}\n{"text": null, "label": "b"}\n',
     r"train.jsonl:2: 'text' is null, not a string"),
    ("train.csv", "text,label\nfine,a\nalso fine,\n", r"train.csv:3: empty label"),
    ("train.csv", "text,label\nfine,a,extra\n", r"train.csv:2: malformed row: 3 field\(s\)"),
])
def test_malformed_custom_files(tmp_path, name, content, pattern):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=pattern):
        read_all(get_processor("custom"), tmp_path, "train")


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_regression_targets_must_be_finite(tmp_path, value):
    (tmp_path / "train.csv").write_text(f"text,score\na,1.5\nb,{value}\n")
    processor = get_processor("custom", label_column="score", regression=True)
    with pytest.raises(DataError, match=rf"train.csv:3: label '{value}' is not a finite number"):
        classifier_run.scan(processor, str(tmp_path), "train", regression=True)


# ----------------------------------------------------------------------- flags


def classifier_settings(tmp_path, **changes):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for split in ("train", "dev"):
        if (data / f"{split}.csv").exists():
            continue
        (data / f"{split}.csv").write_text(
            "text,label\n" + "".join(f"sentence {i} is {'good' if i % 2 else 'bad'},"
                                     f"{'yes' if i % 2 else 'no'}\n" for i in range(24)))
    config = tmp_path / "config.json"
    tiny_config(vocab_size=30522, max_position_embeddings=32).to_json_file(str(config))
    values = dict(task_name="custom", data_dir=str(data), vocab_file=VOCAB,
                  bert_config_file=str(config), output_dir=str(tmp_path / "run"), do_train=True,
                  do_eval=True, max_seq_length=16, train_batch_size=8, eval_batch_size=8,
                  num_train_epochs=1.0, iterations_per_loop=3, save_checkpoints_steps=3,
                  log=lambda line: None)
    values.update(changes)
    return classifier_run.ClassifierSettings(**values)


@pytest.mark.parametrize("changes,message", [
    (dict(train_batch_size=0), "--train_batch_size must be a positive integer, got 0"),
    (dict(iterations_per_loop=0), "--iterations_per_loop must be a positive integer, got 0"),
    (dict(iterations_per_loop=-4), "--iterations_per_loop must be a positive integer, got -4"),
    (dict(save_checkpoints_steps=0), "--save_checkpoints_steps must be a positive integer"),
    (dict(gradient_accumulation_steps=0), "--gradient_accumulation_steps must be a positive"),
    (dict(num_train_epochs=-1.0), "--num_train_epochs must be positive, got -1.0"),
    (dict(learning_rate=-1.0), "--learning_rate must be positive, got -1.0"),
    (dict(warmup_proportion=1.0), r"--warmup_proportion must be in \[0, 1\)"),
    (dict(eval_batch_size=0), "--eval_batch_size must be a positive integer, got 0"),
    (dict(max_seq_length=64), "--max_seq_length=64 exceeds the model's max_position_embeddings 32"),
    (dict(do_train=False, do_eval=False), "nothing to do"),
])
def test_nonsense_flags_are_refused_before_anything_is_built(tmp_path, changes, message):
    with pytest.raises(FlagError, match=message):
        classifier_run.ClassifierRun.checked(classifier_settings(tmp_path, **changes))
    assert not os.path.exists(tmp_path / "run")


def test_export_version_must_be_positive(tmp_path):
    from tasks import export as export_run

    with pytest.raises(UserError, match="--export_version must be a positive integer, got 0"):
        export_run.run(export_run.ExportSettings(checkpoint=str(tmp_path), export_version=0,
                                                 export_dir=str(tmp_path / "out")))


# --------------------------------------------------------------- run directory


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished classifier run (train + eval) and a snapshot of its directory."""
    tmp = tmp_path_factory.mktemp("finished")
    settings = classifier_settings(tmp)
    classifier_run.run(settings)
    return tmp, snapshot(settings.output_dir)


@pytest.mark.parametrize("edit,message", [
    # The same number of labels, one renamed: the old head would serve shifted names.
    (lambda text: text.replace(",yes", ",maybe"),
     r'label_list.txt holds \["no", "yes"\] but this run has \["maybe", "no"\]'),
    # A label added: the old head has the wrong size.
    (lambda text: text + "sentence 99 is odd,perhaps\n", r"label_list.txt holds"),
])
def test_a_rerun_that_does_not_match_the_finished_run_changes_nothing(finished_run, edit,
                                                                      message, tmp_path):
    tmp, before = finished_run
    originals = {split: (tmp / "data" / f"{split}.csv").read_text() for split in ("train", "dev")}
    for split, text in originals.items():
        (tmp / "data" / f"{split}.csv").write_text(edit(text))
    try:
        with pytest.raises(run_directory.RunDirectoryError, match=message):
            classifier_run.run(classifier_settings(tmp))
    finally:
        for split, text in originals.items():
            (tmp / "data" / f"{split}.csv").write_text(text)
    assert snapshot(tmp / "run") == before


def test_other_differences_are_named_too(finished_run):
    tmp, before = finished_run
    with pytest.raises(run_directory.RunDirectoryError, match="max_seq_length is 16 in the "
                       "directory but 24 for this run"):
        classifier_run.run(classifier_settings(tmp, max_seq_length=24))
    other = tiny_config(vocab_size=30522, max_position_embeddings=32, hidden_size=24)
    other.to_json_file(str(tmp / "other.json"))
    with pytest.raises(run_directory.RunDirectoryError, match="bert_config.json: hidden_size is "
                       "12 in the directory but 24"):
        classifier_run.run(classifier_settings(tmp, bert_config_file=str(tmp / "other.json")))
    assert snapshot(tmp / "run") == before
    # Another seed would shuffle, initialize and drop out otherwise: not the same run.
    with pytest.raises(run_directory.RunDirectoryError, match="run.json: seed is 12345 in the "
                       "directory but 7 for this run"):
        classifier_run.run(classifier_settings(tmp, seed=7))
    assert snapshot(tmp / "run") == before
    # A directory written before run.json recorded the seed is not compared on it.
    info = json.loads(before["run.json"])
    del info["seed"]
    assert run_directory._differences("run.json", json.dumps(info).encode(),
                                      before["run.json"]) == []
    # The same flags again: nothing to train, evaluation rewritten with the same numbers.
    classifier_run.run(classifier_settings(tmp))
    after = snapshot(tmp / "run")
    assert after.keys() == before.keys()
    assert after["eval_results.txt"] == before["eval_results.txt"]


def test_one_run_at_a_time(tmp_path):
    first = run_directory.RunLock(str(tmp_path)).acquire()
    with pytest.raises(run_directory.RunDirectoryError,
                       match=rf"is in use by another run \(pid {os.getpid()} on "):
        run_directory.RunLock(str(tmp_path)).acquire()
    first.release()  # as a killed process's lock is dropped by the kernel
    run_directory.RunLock(str(tmp_path)).acquire().release()


# --------------------------------------------------------------------- writers


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "label_list.txt"
    files.write_text(path, "a\nb\n")
    with pytest.raises(RuntimeError):
        with files.atomic_write(path) as f:
            f.write("half")
            raise RuntimeError("disk full")
    assert path.read_text() == "a\nb\n" and os.listdir(tmp_path) == ["label_list.txt"]
    with pytest.raises(RuntimeError):
        with files.atomic_directory(tmp_path / "finetuned") as staging:
            (tmp_path / staging / "bert_config.json").write_text("{")
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == ["label_list.txt"]


def test_create_pretraining_data_killed_mid_write_leaves_no_output(tmp_path):
    from testing import write_corpus

    corpus = write_corpus(tmp_path / "corpus.txt", documents=300, sentences=30)
    outputs = [tmp_path / "out" / f"train-{i}.tfrecord" for i in range(2)]
    victim = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "create_pretraining_data.py"),
         f"--input_file={corpus}", f"--output_file={','.join(map(str, outputs))}",
         f"--vocab_file={VOCAB}", "--max_seq_length=32", "--max_predictions_per_seq=5",
         "--dupe_factor=20", "--num_workers=0", "--chunk_tokens=2000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    deadline = time.time() + 120
    while time.time() < deadline:  # until records are being written (to temporary names)
        partial = [name for name in os.listdir(tmp_path / "out")] if (
            tmp_path / "out").exists() else []
        if any(os.path.getsize(tmp_path / "out" / name) > 0 for name in partial):
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not any(path.exists() for path in outputs)
    left = [name for name in os.listdir(tmp_path / "out") if ".tmp-" in name]
    assert left  # the killed writer's hidden temporary files
    # A rerun removes what the killed process left, then writes its files.
    from in_process import run_script
    small = write_corpus(tmp_path / "small.txt", documents=6, sentences=5)
    done = run_script("create_pretraining_data.py", f"--input_file={small}",
                      f"--output_file={','.join(map(str, outputs))}", f"--vocab_file={VOCAB}",
                      "--max_seq_length=32", "--max_predictions_per_seq=5", "--num_workers=0")
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / "out")) == ["train-0.tfrecord", "train-1.tfrecord"]


def test_temporaries_of_processes_that_no_longer_run_are_removed(tmp_path, caplog):
    import socket

    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    stale = [f".vocab.txt.tmp-{host}-{dead.pid}-0123abcd",
             f".vocab.txt.incomplete-{host}-{dead.pid}-89abcdef"]
    kept = [f".vocab.txt.tmp-{host}-{os.getpid()}-0123abcd",  # this process: still writing
            f".vocab.txt.tmp-otherhost-{dead.pid}-0123abcd",  # another machine's
            f".other.txt.tmp-{host}-{dead.pid}-0123abcd",  # another file's
            "notes.txt"]
    (tmp_path / stale[0]).write_text("half a vocab")
    (tmp_path / stale[1]).mkdir()
    (tmp_path / stale[1] / "part").write_text("x")
    for name in kept:
        (tmp_path / name).write_text("x")
    files.write_text(tmp_path / "vocab.txt", "[PAD]\n")
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["vocab.txt"])
    assert f"removed {tmp_path / stale[0]}, left by process {dead.pid}, which no longer runs" \
        in caplog.text


# ------------------------------------------------------- records and checkpoints


def write_records(path, count, seq=16, pred=3, vocab=30522, ids_above=None):
    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for index in range(count):
            ids = rng.integers(1000, 2000, seq)
            if index == ids_above:
                ids[3] = vocab + 5
            feature = {"input_ids": ids, "input_mask": np.ones(seq, int),
                       "segment_ids": np.zeros(seq, int),
                       "masked_lm_positions": np.arange(1, pred + 1),
                       "masked_lm_ids": rng.integers(1000, 2000, pred),
                       "next_sentence_labels": [0]}
            feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                       for k, v in feature.items()}
            feature["masked_lm_weights"] = tf.train.Feature(
                float_list=tf.train.FloatList(value=[1.0] * pred))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())


def pretraining_settings(tmp_path, input_file, **changes):
    from tasks.pretraining import run as pretraining_run

    config = tmp_path / "config.json"
    tiny_config(vocab_size=30522, max_position_embeddings=16).to_json_file(str(config))
    values = dict(input_file=str(input_file), output_dir=str(tmp_path / "run"),
                  bert_config_file=str(config), do_train=True, train_batch_size=4,
                  eval_batch_size=4, max_seq_length=16, max_predictions_per_seq=3,
                  num_train_steps=30, num_warmup_steps=1, save_checkpoints_steps=10,
                  iterations_per_loop=5, log=lambda line: None)
    values.update(changes)
    return pretraining_run.PretrainingSettings(**values)


def test_a_truncated_record_file_is_named_when_training_reaches_it(tmp_path):
    from tasks.pretraining import inputs, run as pretraining_run

    path = tmp_path / "records.tfrecord"
    write_records(path, 40)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * 0.61)])  # cut in the middle of a record
    with pytest.raises(inputs.RecordError, match=r"records.tfrecord: truncated or corrupted "
                       r"after record \d+"):
        pretraining_run.run(pretraining_settings(tmp_path, path))


def test_out_of_vocab_ids_in_a_record_are_named_under_do_eval(tmp_path):
    from tasks.pretraining import inputs, run as pretraining_run

    path = tmp_path / "records.tfrecord"
    write_records(path, 12, ids_above=7)
    with pytest.raises(inputs.RecordError, match=r"records.tfrecord: record 7: input_ids holds "
                       r"30527, outside the model's range \[0, 30522\)"):
        pretraining_run.run(pretraining_settings(tmp_path, path, do_train=False, do_eval=True))


def test_a_record_that_is_not_a_protobuf(tmp_path):
    from tasks.pretraining import inputs

    path = str(tmp_path / "junk.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(b"\xff\xfe not a protobuf \x80\x81")
    with pytest.raises(inputs.RecordError, match="junk.tfrecord: record 0 is not a "
                       "tf.train.Example"):
        inputs.check_records([path], 16, 3)
    with pytest.raises(inputs.RecordError, match=r"junk.tfrecord: record 0"):
        inputs.find_bad_record([path], inputs.feature_spec(16, 3))


def test_truncated_checkpoint_files_are_named(tmp_path):
    from safetensors.numpy import save_file

    from bert_tf.checkpoints import CheckpointMismatchError
    from bert_tf.models.bert import BertEncoder

    encoder = BertEncoder(tiny_config())
    encoder.save_pretrained(str(tmp_path / "google"))
    data = tmp_path / "google" / "bert_model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises((UserError, CheckpointMismatchError), match="bert_model.ckpt"):
        BertEncoder.from_pretrained(str(tmp_path / "google"))
    os.makedirs(tmp_path / "hf")
    save_file({"embeddings.word_embeddings.weight": np.zeros((53, 12), np.float32)},
              str(tmp_path / "hf" / "model.safetensors"))
    (tmp_path / "hf" / "config.json").write_text(json.dumps(dict(
        tiny_config().to_dict(), hidden_act="gelu", model_type="bert")))
    weights = tmp_path / "hf" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(UserError, match="model.safetensors"):
        BertEncoder.from_pretrained(str(tmp_path / "hf"), strict=False)


# ------------------------------------------------------------------- the scripts


def test_scripts_print_one_line_errors(tmp_path):
    """A script's bad input ends in `name: error: ...` naming the problem, no traceback,
    and nothing written, as a process of its own: run_classifier.py, the quickest to start,
    shows scripts.run_or_exit's real stderr and exit status. Every other script's errors go
    through the same main() and run_or_exit in this process (test_main_exits_with_one_line
    below, for one script of each kind, and the tests of each script)."""
    code, _, err = script("run_classifier.py", "--task_name=custom", f"--data_dir={tmp_path}",
                          f"--vocab_file={VOCAB}", f"--output_dir={tmp_path / 'run'}",
                          "--bert_config_file=/nowhere/config.json", "--do_train",
                          "--iterations_per_loop=0")
    assert code == 1
    assert_one_line_error("run_classifier.py", code, err,
                          "--iterations_per_loop must be a positive integer, got 0")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name,flags,message", [
    ("build_vocab.py", ["--input_file={bad}", "--vocab_size=100", "--output_file={out}"],
     r".*bad.txt:2: not valid UTF-8"),
    ("run_tagging.py", ["--output_dir={out}", "--do_predict"], "--do_predict needs --predict_file"),
    ("export_model.py", ["--checkpoint={tmp}", "--export_dir={out}", "--export_version=0"],
     "--export_version must be a positive integer, got 0"),
    ("create_pretraining_data.py", ["--input_file={bad}", "--output_file={out}",
                                    "--vocab_file={vocab}", "--max_seq_length=3"],
     "--max_seq_length must be at least 5, got 3"),
    ("extract_features.py", ["--input_file={bad}", "--output_file={out}",
                             "--init_checkpoint={minilm}", "--layers=-1,x"],
     "--layers='-1,x' is not .*"),
])
def test_main_exits_with_one_line(tmp_path, name, flags, message):
    import re

    from in_process import run_script

    (tmp_path / "bad.txt").write_bytes(b"A line.\nAnother \xff line.\n")
    done = run_script(name, *(f.format(out=tmp_path / "out", tmp=tmp_path,
                                       bad=tmp_path / "bad.txt", vocab=VOCAB,
                                       minilm=minilm_dir()) for f in flags))
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert re.fullmatch(f"{re.escape(name)}: error: {message}", line), line
    assert not os.path.exists(tmp_path / "out")


def test_mirrored_evaluation_with_a_partial_last_batch(finished_run, tmp_path):
    """24 dev rows in per-replica batches of 5 leave the last step one batch for two
    replicas: the other replica gets an empty one. The results equal one device's."""
    import shutil

    tmp, before = finished_run
    shutil.copytree(tmp / "run", tmp_path / "run")
    settings = classifier_settings(tmp, output_dir=str(tmp_path / "run"), do_train=False,
                                   distribution_strategy="mirrored", eval_batch_size=10)
    job = classifier_run.ClassifierRun(settings)
    assert job.replicas == 2
    results = job.evaluate()
    job.close()
    expected = dict(line.split(" = ") for line in
                    before["eval_results.txt"].decode().splitlines())
    assert results["eval_accuracy"] == float(expected["eval_accuracy"])
    assert abs(results["eval_loss"] - float(expected["eval_loss"])) < 1e-5


@pytest.mark.parametrize("where,message", [
    ("file", "--output_dir={out} is a file, not a directory"),
    ("proc", "--output_dir=/proc/bert_tf_run cannot be created or written: "),
])
def test_an_output_dir_that_cannot_be_a_directory_is_named(tmp_path, where, message):
    out = tmp_path / "taken"
    out.write_text("my notes\n")
    target = str(out) if where == "file" else "/proc/bert_tf_run"
    with pytest.raises(UserError, match=re.escape(message.format(out=out))):
        classifier_run.run(classifier_settings(tmp_path, output_dir=target))
    assert out.read_text() == "my notes\n"  # nothing lost


@pytest.mark.parametrize("name,flags,message", [
    ("build_vocab.py", ["--input_file={text}", "--vocab_size=100", "--output_file={tmp}"],
     "--output_file={tmp} is a directory; give the path of a file in it"),
    ("build_vocab.py", ["--input_file={text}", "--vocab_size=100",
                        "--output_file={tmp}/missing/vocab.txt"],
     "--output_file={tmp}/missing/vocab.txt: the directory {tmp}/missing does not exist"),
    ("extract_features.py", ["--input_file={text}", "--output_file={tmp}",
                             "--init_checkpoint={tmp}/nowhere"],
     "--output_file={tmp} is a directory; give the path of a file in it"),
    ("create_pretraining_data.py", ["--input_file={text}", "--output_file={tmp}/a.tfrecord,{tmp}",
                                    f"--vocab_file={VOCAB}"],
     "--output_file={tmp} is a directory; give the path of a file in it"),
])
def test_an_output_file_that_cannot_be_written_is_named_before_any_work(tmp_path, name, flags,
                                                                        message):
    from in_process import run_script

    (tmp_path / "text.txt").write_text("One sentence.\nAnother one.\n")
    values = dict(tmp=tmp_path, text=tmp_path / "text.txt")
    done = run_script(name, *(f.format(**values) for f in flags))
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line == f"{name}: error: {message.format(**values)}", line
    assert sorted(os.listdir(tmp_path)) == ["text.txt"]


def test_a_vocab_larger_than_the_models_vocab_size_is_refused_before_training(tmp_path):
    config = tmp_path / "small.json"
    tiny_config(vocab_size=500, max_position_embeddings=32).to_json_file(str(config))
    with pytest.raises(UserError, match=re.escape(
            f"the vocab {VOCAB} has 30522 tokens but --bert_config_file={config} says "
            "vocab_size 500: ids from 500 on would have no embedding")):
        classifier_run.run(classifier_settings(tmp_path, bert_config_file=str(config)))
    assert not os.path.exists(tmp_path / "run")


def test_export_model_names_labels_and_kinds_that_do_not_fit_the_run(finished_run, tmp_path):
    from bert_tf.checkpoints import CheckpointMismatchError
    from bert_tf.serving.export import ExportError
    from tasks import export as export_run
    from tasks.classification.model import BertClassifier

    tmp, _ = finished_run
    run = str(tmp / "run")

    def export(**flags):
        export_run.run(export_run.ExportSettings(checkpoint=run, export_dir=str(tmp_path / "x"),
                                                 **flags))

    with pytest.raises(ExportError, match=re.escape(
            f"--labels names 3 label(s) but the classifier at {run} was trained on 2 (no, yes, "
            "its label_list.txt): leave --labels out, or give as many")):
        export(task="classifier", labels="a,b,c")
    with pytest.raises(ExportError, match=re.escape(
            f"{run} is a classifier run (its run.json): export it with --task=classifier, not "
            "--task=regression")):
        export(task="regression")
    assert not os.path.exists(tmp_path / "x")
    # A head of another size, asked for directly: one line naming the variable and shapes.
    with pytest.raises(CheckpointMismatchError) as raised:
        BertClassifier.from_pretrained(run, num_labels=3)
    (line,) = str(raised.value).splitlines()
    assert line.startswith(f"{run}/ckpt-") and "does not fit the model" in line
    assert "shape" in line


def test_a_record_that_is_not_a_protobuf_is_named_when_training_reaches_it(tmp_path):
    """The 21st record is junk bytes (not UTF-8 either): training stops with the file and
    record named, not a UnicodeDecodeError from the op error's own message."""
    from tasks.pretraining import inputs, run as pretraining_run

    good = tmp_path / "good.tfrecord"
    write_records(good, 40)
    path = str(tmp_path / "records.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for index, record in enumerate(tf.data.TFRecordDataset(str(good))):
            writer.write(b"\xff\xfe not a protobuf \x80\x81" if index == 20 else
                         record.numpy())
    with pytest.raises(inputs.RecordError, match=r"records.tfrecord: record 20 is not a "
                       "tf.train.Example"):
        pretraining_run.run(pretraining_settings(tmp_path, path))


def test_a_head_no_run_trained_is_not_used_without_asking(finished_run, tmp_path):
    from bert_tf.models.bert import BertEncoder
    from tasks import export as export_run

    tmp, before = finished_run
    expected = dict(line.split(" = ") for line in
                    before["eval_results.txt"].decode().splitlines())
    # Evaluation alone from the run's fine-tuned release: the head comes with it. (A custom
    # task's labels come from training data, or from an output_dir's label_list.txt.)
    for name in ("eval", "no", "yes"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "label_list.txt").write_bytes(before["label_list.txt"])
    lines = []
    classifier_run.run(classifier_settings(
        tmp, output_dir=str(tmp_path / "eval"), do_train=False, bert_config_file=None,
        vocab_file=None, init_checkpoint=str(tmp / "run" / "finetuned"), log=lines.append))
    assert any("Initialized the model, head included" in line for line in lines)
    found = dict(line.split(" = ") for line in
                 open(tmp_path / "eval" / "eval_results.txt").read().splitlines())
    assert found["eval_accuracy"] == expected["eval_accuracy"]
    # From an encoder-only release: refused, unless asked for.
    encoder_only = str(tmp_path / "encoder")
    BertEncoder(tiny_config(vocab_size=30522, max_position_embeddings=32)).save_pretrained(
        encoder_only, vocab_file=VOCAB)
    settings = dict(do_train=False, bert_config_file=None, vocab_file=None,
                    init_checkpoint=encoder_only)
    with pytest.raises(UserError, match=re.escape(
            f"--init_checkpoint={encoder_only} holds no BertClassifier head and --do_train is "
            "off: --do_eval/--do_predict would use a head no run has trained")):
        classifier_run.run(classifier_settings(tmp, output_dir=str(tmp_path / "no"), **settings))
    classifier_run.run(classifier_settings(tmp, output_dir=str(tmp_path / "yes"),
                                           allow_untrained_head=True, **settings))
    assert (tmp_path / "yes" / "eval_results.txt").exists()
    # export_model.py alike, --labels given or not.
    export = dict(checkpoint=encoder_only, task="classifier", labels="no,yes",
                  export_dir=str(tmp_path / "serving"))
    with pytest.raises(UserError, match=re.escape(
            f"{encoder_only} holds no BertClassifier head: it was never trained for this task")):
        export_run.run(export_run.ExportSettings(**export))
    assert not os.path.exists(tmp_path / "serving")
    export_run.run(export_run.ExportSettings(allow_untrained_head=True, **export))
    assert os.listdir(tmp_path / "serving")


def _disk_full(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(
        None, None, "/data/run/ckpt-20_temp/part-00000-of-00001.data-00000-of-00001.tempstate1; "
        "No space left on device")


def test_a_full_disk_while_saving_a_checkpoint_loses_nothing(tmp_path, monkeypatch):
    """The second save finds the disk full (simulated): one line saying where, the partial
    checkpoint removed, the first checkpoint intact; run again, it resumes and finishes."""
    from tasks.pretraining import run as pretraining_run

    path = tmp_path / "records.tfrecord"
    write_records(path, 40)
    save = tf.train.CheckpointManager.save
    calls = []

    def save_then_fill_the_disk(manager, checkpoint_number=None, **kwargs):
        calls.append(checkpoint_number)
        if len(calls) == 2:
            os.makedirs(os.path.join(manager.directory, f"ckpt-{checkpoint_number}_temp"))
            _disk_full()
        return save(manager, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save_then_fill_the_disk)
    out = tmp_path / "run"
    with pytest.raises(UserError, match=re.escape(
            f"out of disk space saving the checkpoint of step 20 in {out} (/data/run/ckpt-20_temp"
            "/part-00000-of-00001.data-00000-of-00001.tempstate1; No space left on device); its "
            f"partial files were removed; the last complete checkpoint, {out}/ckpt-10, is intact: "
            "run the same command again to resume from it once space is free")):
        pretraining_run.run(pretraining_settings(tmp_path, path))
    assert not [name for name in os.listdir(out) if "_temp" in name]
    monkeypatch.setattr(tf.train.CheckpointManager, "save", save)
    # A save killed half-way leaves a temporary directory: the next run removes it.
    os.makedirs(out / "ckpt-20_temp")
    lines = []
    pretraining_run.run(pretraining_settings(tmp_path, path, log=lines.append))
    text = "\n".join(lines)
    assert f"Removed {out}/ckpt-20_temp, a checkpoint an earlier run could not finish" in text
    assert f"Resumed from {out}/ckpt-10 at step 10" in text
    assert tf.train.latest_checkpoint(str(out)).endswith("ckpt-30")


def test_a_full_disk_while_writing_records_leaves_nothing(tmp_path, monkeypatch):
    from testing import write_corpus

    from bert_tf.tokenization import BertTokenizer
    from tasks.pretraining import records

    class FillingWriter(tf.io.TFRecordWriter):
        written = 0

        def write(self, record):
            FillingWriter.written += 1
            if FillingWriter.written > 5:
                _disk_full()
            super().write(record)

    monkeypatch.setattr(records.tf.io, "TFRecordWriter", FillingWriter)
    corpus = write_corpus(tmp_path / "corpus.txt", documents=10, sentences=10)
    outputs = [str(tmp_path / "out" / f"train-{i}.tfrecord") for i in range(2)]
    tokenizer = BertTokenizer(VOCAB)
    options = records.options_for(tokenizer, max_seq_length=32, max_predictions_per_seq=5)
    with pytest.raises(UserError, match=re.escape(
            f"out of disk space writing {', '.join(outputs)} (/data/run/ckpt-20_temp/part-00000-"
            "of-00001.data-00000-of-00001.tempstate1; No space left on device): nothing was "
            "written under those names and the partial temporary files are removed")):
        records.create_pretraining_records([corpus], outputs, tokenizer, options, num_workers=0)
    assert os.listdir(tmp_path / "out") == []
