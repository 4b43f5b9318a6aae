"""--serving_precision and --serving_xla: exports that compute in bfloat16 or float16 answer as the
float32 export does, within measured bounds, and XLA-compiled ones within float32 noise, with the
same signatures, in a fresh TensorFlow-only process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from bert_tf.errors import UserError
from bert_tf.serving import precision
from bert_tf.serving import xla as serving_xla
from in_process import run_checked, run_script
from small_data import write_opinion_csv
from tasks import export as export_run
from test_export import signature_table
from test_serving_xla import assert_compiles_the_model_only, assert_no_op_pinned
from testing import built_once, minilm_dir, tiny_config

# Bounds, with headroom over what was measured (docs/export-and-serving.md gives the
# measurements): bfloat16 is native on some CPUs of this machine kind and emulated, with
# another rounding, on others.
MIN_COSINE = 0.999  # MiniLM's sentence embeddings, bfloat16 against float32
MAX_PROBABILITY_DIFF = {"bfloat16": 0.01, "float16": 0.001}  # the classifier's
MIN_ARGMAX_AGREEMENT = {"bfloat16": 0.9, "float16": 0.95}
# An XLA export against the plain float32 one: the same computation, fused and ordered by XLA.
# Measured: MiniLM's sequence_output at most 1.2e-4 apart (values up to about 5, 128 tokens;
# each float32 export is about 1e-4 from a float64 pass), embeddings 1.4e-6; the tiny
# classifier's probabilities 6e-8.
MAX_XLA_DIFF = 3e-4

SENTENCES = [
    "A man is eating food.", "A man is eating a piece of bread.", "The film was wonderful.",
    "What a tedious trip that was!", "", "x", "Größe, naïve café: 東京 🙂 Привет!",
    "Our hotel last week turned out dreadful.", "The quick brown fox jumps over the lazy dog.",
    "I thought the concert was fine overall.", "Honestly, a lousy meal, and the staff agreed.",
    "Stocks fell sharply on Monday after the central bank raised interest rates.",
    "How do I reset my password?", "Paris is the capital of France.",
    "The service was terrible but the food was excellent.", "1234 5678 90",
    " ".join(["overlong"] * 200), "She sells sea shells by the sea shore.",
    "The concert was splendid.", "A boring book, honestly.",
]

# Short enough for a request shorter than every export's max_seq_length (an XLA export pads
# it to its bucket); SENTENCES as a whole reach max_seq_length (the overlong one).
SHORT = SENTENCES[:5]

# Loads every export and answers serving_default for SENTENCES, then for SHORT ("short "
# before the path), as a model server would: with nothing of ours importable (cwd a
# temporary directory, PYTHONPATH unset).
FRESH_CLIENT = """
import json, sys
import tensorflow as tf

result = {}
for path in json.loads(sys.argv[1]):
    signature = tf.saved_model.load(path).signatures["serving_default"]
    for key, texts in ((path, json.loads(sys.argv[2])), ("short " + path, json.loads(sys.argv[3]))):
        outputs = signature(text=tf.constant(texts))
        result[key] = {k: {"dtype": v.dtype.name, "value": v.numpy().tolist()}
                       for k, v in outputs.items() if v.dtype != tf.string}
result["ours_anywhere"] = sorted(m for m in sys.modules if m.split(".")[0] in ("bert_tf", "tasks"))
print(json.dumps(result))
"""


def only_version(directory):
    (version,) = os.listdir(directory)
    return os.path.join(directory, version)


def write_tiny_config(path):
    # Odd sizes, MiniLM's vocabulary; initializer_range 0.2 spreads the logits of a few steps'
    # training, so that the classes are not ties that any rounding flips.
    config = tiny_config(vocab_size=30522, max_position_embeddings=64, hidden_size=36,
                         initializer_range=0.2)
    path.write_text(json.dumps(config.to_dict()))
    return path


def precision_and_xla(name):
    """"float16-xla" -> ("float16", True): an export's name in these tests."""
    precision, _, xla = name.partition("-")
    return precision, xla == "xla"


def export_flags(name):
    precision, xla = precision_and_xla(name)
    return [f"--serving_precision={precision}", *(["--serving_xla"] if xla else [])]


def export_encoders(directory):
    """MiniLM's encoder, as released, in float32 and bfloat16, and float32 XLA-compiled."""
    logs = {}
    for name in ("float32", "bfloat16", "float32-xla"):
        done = run_checked("export_model.py", f"--checkpoint={minilm_dir()}", "--task=encoder",
                           f"--export_dir={directory / name}", "--export_version=1",
                           *export_flags(name))
        logs[name] = done.stdout + done.stderr
    (directory / "logs.json").write_text(json.dumps(logs))


def export_classifiers(directory):
    """A tiny classifier fine-tuned for a few steps, exported by the training script in
    bfloat16, then by export_model.py in float32 and float16, plain and XLA-compiled."""
    logs = {}
    data = write_opinion_csv(directory / "data", train=48, dev=8)
    done = run_checked("run_classifier.py", "--task_name=custom", f"--data_dir={data}",
                       "--text_a_column=review", "--label_column=sentiment",
                       f"--vocab_file={os.path.join(minilm_dir(), 'vocab.txt')}",
                       f"--bert_config_file={write_tiny_config(directory / 'config.json')}",
                       "--do_train", "--max_seq_length=24", "--train_batch_size=8",
                       "--num_train_epochs=1", "--learning_rate=1e-3",
                       f"--output_dir={directory / 'run'}",
                       f"--export_dir={directory / 'bfloat16'}", "--serving_precision=bfloat16")
    logs["bfloat16"] = done.stdout + done.stderr
    for name in ("float32", "float16", "float32-xla"):
        done = run_checked("export_model.py", f"--checkpoint={directory / 'run'}",
                           "--task=classifier", *export_flags(name),
                           f"--export_dir={directory / name}")
        logs[name] = done.stdout + done.stderr
    (directory / "logs.json").write_text(json.dumps(logs))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{"paths": {"encoder float32", ...: path}, "logs": {same keys: the script's output},
    "answers": {path: {output: {"dtype", "value"}}} from the fresh process}."""
    # Each set is built once per test run; two workers that reach this together build one
    # set each, in parallel, rather than one building both while the other waits.
    sets = [("encoder", export_encoders), ("classifier", export_classifiers)]
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        sets.reverse()
    found = {"paths": {}, "logs": {}}
    for task, build in sets:
        directory = built_once(tmp_path_factory, f"test_serving_precision-{task}", build)
        for name, log in json.loads((directory / "logs.json").read_text()).items():
            found["paths"][f"{task} {name}"] = only_version(directory / name)
            found["logs"][f"{task} {name}"] = log

    def ask(directory):
        (directory / "client.py").write_text(FRESH_CLIENT)
        done = subprocess.run([sys.executable, str(directory / "client.py"),
                               json.dumps(sorted(found["paths"].values())),
                               json.dumps(SENTENCES), json.dumps(SHORT)],
                              cwd=str(directory), capture_output=True, text=True, timeout=300,
                              env={"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert done.returncode == 0, done.stderr[-3000:]
        (directory / "answers.json").write_text(done.stdout.splitlines()[-1])

    directory = built_once(tmp_path_factory, "test_serving_precision-fresh", ask)
    found["answers"] = json.loads((directory / "answers.json").read_text())
    return found


def outputs(exports, what, short=False):
    """{output: float32 array} of one export's serving_default, from the fresh process, for
    SENTENCES (or SHORT)."""
    answer = exports["answers"][("short " if short else "") + exports["paths"][what]]
    assert {v["dtype"] for v in answer.values()} <= {"float32", "bool"}, what
    return {k: np.asarray(v["value"]) for k, v in answer.items()}


def cosines(a, b):
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.mark.slow
def test_fresh_process_imports_nothing_of_ours(exports):
    assert exports["answers"]["ours_anywhere"] == []


@pytest.mark.slow
def test_encoder_embeddings_match_float32(exports):
    reference = outputs(exports, "encoder float32")
    reduced = outputs(exports, "encoder bfloat16")
    found = cosines(reference["embedding"], reduced["embedding"])
    assert found.min() >= MIN_COSINE, found
    assert not np.array_equal(reference["embedding"], reduced["embedding"])  # it is reduced
    np.testing.assert_array_equal(reference["truncated"], reduced["truncated"])


@pytest.mark.parametrize("name", ["bfloat16", "float16"])
@pytest.mark.slow
def test_fine_tuned_classifier_probabilities_match_float32(exports, name):
    reference = outputs(exports, "classifier float32")["probabilities"]
    reduced = outputs(exports, f"classifier {name}")["probabilities"]
    assert np.abs(reference - reduced).max() <= MAX_PROBABILITY_DIFF[name]
    assert not np.array_equal(reference, reduced)
    agreement = (reference.argmax(-1) == reduced.argmax(-1)).mean()
    assert agreement >= MIN_ARGMAX_AGREEMENT[name], agreement


@pytest.mark.slow
def test_signatures_are_those_of_float32_and_the_precision_is_recorded(exports):
    paths = exports["paths"]
    for what, path in paths.items():
        task, name = what.split()
        name, xla = precision_and_xla(name)
        assert signature_table(path) == signature_table(paths[f"{task} float32"]), what
        record = os.path.join(path, precision.RECORD)
        if name == "float32":
            assert not os.path.exists(record)  # the export as it was before the flag
        else:
            assert open(record).read() == f"{name} (Keras policy {precision.POLICIES[name]})\n"
        record = os.path.join(path, serving_xla.RECORD)
        if xla:
            assert open(record).read() == (
                "model function XLA-compiled (jit_compile); sequence length padded to a "
                f"multiple of 32, at most {128 if task == 'encoder' else 24}\n"), what
        else:
            assert not os.path.exists(record), what
    logs = exports["logs"]
    assert "Exported encoder (core tokenizer ops, bfloat16) to" in logs["encoder bfloat16"]
    assert "Exported encoder (core tokenizer ops) to" in logs["encoder float32"]
    assert "Exported classifier (core tokenizer ops, bfloat16) to" in logs["classifier bfloat16"]
    assert "Exported classifier (core tokenizer ops, float16) to" in logs["classifier float16"]
    assert "Exported encoder (core tokenizer ops, XLA) to" in logs["encoder float32-xla"]
    assert "Exported classifier (core tokenizer ops, XLA) to" in logs["classifier float32-xla"]


@pytest.mark.parametrize("what", ["encoder float32", "classifier float32"])
@pytest.mark.parametrize("short", [False, True], ids=["max_seq_length", "short"])
@pytest.mark.slow
def test_xla_export_answers_as_the_plain_one(exports, what, short):
    """At max_seq_length, and on requests that the XLA export pads to their bucket and cuts
    back (float16 with XLA: test_serving_xla.py)."""
    plain, compiled = outputs(exports, what, short), outputs(exports, f"{what}-xla", short)
    assert {k: v.shape for k, v in compiled.items()} == {k: v.shape for k, v in plain.items()}
    if what.startswith("encoder"):
        width = plain["sequence_output"].shape[1]
        assert width < 32 if short else width == 128  # padded to 32, cut back / no padding
    for name, value in plain.items():
        np.testing.assert_allclose(compiled[name], value, rtol=0, atol=MAX_XLA_DIFF,
                                   err_msg=name)


# Every script that exports (their exports: test_run_squad.py, test_run_tagging.py,
# test_run_pretraining.py and the exports fixture above).
EXPORTING_SCRIPTS = ["export_model.py", "run_classifier.py", "run_squad.py", "run_tagging.py",
                     "run_pretraining.py"]


@pytest.mark.parametrize("script", EXPORTING_SCRIPTS)
def test_bad_precision_is_a_one_line_flag_error(script, tmp_path):
    with pytest.raises(flags.IllegalFlagValueError) as raised:
        run_script(script, f"--checkpoint={tmp_path}", f"--output_dir={tmp_path}",
                   "--serving_precision=int8")
    message = str(raised.value)
    assert "\n" not in message and "--serving_precision=int8" in message, message
    assert "float32|bfloat16|float16" in message, message


def test_bad_precision_from_settings_is_a_one_line_error(tmp_path):
    settings = export_run.ExportSettings(checkpoint=minilm_dir(), task="encoder",
                                         export_dir=str(tmp_path), serving_precision="half",
                                         log=lambda line: None)
    with pytest.raises(UserError, match=r"^--serving_precision must be one of float32, "
                                        r"bfloat16, float16, got 'half'$"):
        export_run.run(settings)
    assert os.listdir(tmp_path) == []


def test_xla_bucket_lengths():
    found = {(t, cap): int(serving_xla.bucket_length(tf.constant(t), cap))
             for t, cap in ((1, 128), (2, 128), (32, 128), (33, 128), (97, 128), (128, 128),
                            (130, 128), (7, 24), (24, 24), (40, 24))}
    assert found == {(1, 128): 32, (2, 128): 32, (32, 128): 32, (33, 128): 64, (97, 128): 128,
                     (128, 128): 128, (130, 128): 130, (7, 24): 24, (24, 24): 24, (40, 24): 40}


@pytest.mark.parametrize("what", ["encoder float32", "classifier float32"])
@pytest.mark.slow
def test_xla_export_must_compile_the_model_and_nothing_else(exports, what):
    """make test checks one XLA encoder export (test_serving_xla.py)."""
    assert_compiles_the_model_only(exports["paths"][f"{what}-xla"], exports["paths"][what])


@pytest.mark.slow
def test_exports_pin_no_model_op_to_a_cpu(exports):
    """make test checks test_export.py's exports and one XLA export (test_serving_xla.py)."""
    for what, path in exports["paths"].items():
        assert_no_op_pinned(path, what)


@pytest.mark.parametrize("script", EXPORTING_SCRIPTS)
def test_bad_xla_flag_is_a_one_line_flag_error(script, tmp_path):
    with pytest.raises(flags.IllegalFlagValueError) as raised:
        run_script(script, f"--checkpoint={tmp_path}", f"--output_dir={tmp_path}",
                   "--serving_xla=sometimes")
    message = str(raised.value)
    assert "\n" not in message and "--serving_xla=sometimes" in message, message


def test_bad_xla_from_settings_is_a_one_line_error(tmp_path):
    settings = export_run.ExportSettings(checkpoint=minilm_dir(), task="encoder",
                                         export_dir=str(tmp_path), serving_xla="yes",
                                         log=lambda line: None)
    with pytest.raises(UserError, match=r"^--serving_xla must be true or false, got 'yes'$"):
        export_run.run(settings)
    assert os.listdir(tmp_path) == []
