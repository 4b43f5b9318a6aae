"""SavedModel exports as TF Serving uses them: signatures, a fresh TensorFlow-only process,
the warmup file, REST and gRPC requests, and bad requests."""

import json
import os
import re
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from bert_tf.serving import encoder as encoder_serving
from bert_tf.serving import export
from tasks.classification import serving as classification_serving
from tasks.pretraining import serving as pretraining_serving
from bert_tf.models.bert import BertEncoder
from bert_tf.models.bert import BertPretrainer
from bert_tf.tokenization import BertTokenizer
from in_process import run_checked
from tasks.classification.model import BertClassifier
from testing import built_once, minilm_dir, tiny_config

MAX_SEQ = 24
LABELS = ["neg", "neutral", "pos"]
TEXTS = ["A plain English sentence.", "", "Größe, naïve café: 東京 🙂 Привет!",
         " ".join(["overlong"] * 200), "x"]
PAIRS = ["Its partner.", "Non-empty.", "", "short", " ".join(["y"] * 100)]
MASKED = ["the cat sat on the [MASK] .", "[MASK] and [MASK]", "no mask here", "",
          "long " * 60 + "[MASK]"]

# The client of the fresh-process checks: TensorFlow only, then tensorflow_text for the
# exports that use its ops. One process answers every request for every export, loading
# and calling as a model server would, with nothing of ours importable (the working
# directory is a temporary one and PYTHONPATH is unset): first the core exports, which
# must load and run without tensorflow_text, then the text ones.
FRESH_CLIENT = """
import json, sys
import tensorflow as tf

def plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value

def answer(requests):
    models, answers = {}, []
    for request in requests:
        if request["path"] not in models:
            models[request["path"]] = tf.saved_model.load(request["path"])
        signature = models[request["path"]].signatures[request["signature"]]
        specs = signature.structured_input_signature[1]
        # None stands for an empty batch: no rows (and no columns).
        inputs = {k: tf.zeros([0] * specs[k].shape.rank, specs[k].dtype) if v is None
                  else tf.constant(v, specs[k].dtype) for k, v in request["inputs"].items()}
        answers.append({k: plain(v.numpy().tolist()) for k, v in signature(**inputs).items()})
    return answers

requests = json.load(open(sys.argv[1], encoding="utf-8"))
result = {}
for ops in ("core", "text"):
    if ops == "text":
        import tensorflow_text  # registers the FastWordpiece ops the text exports use
    before = set(sys.modules)
    answers = answer(requests[ops])
    result[ops] = {
        "answers": answers,
        # What loading and running needed beyond the imports above (tensorflow itself
        # imports keras).
        "modules": sorted(m for m in set(sys.modules) - before
                          if m.split(".")[0] in ("bert_tf", "tasks", "keras", "keras_hub")),
        "tensorflow_text": "tensorflow_text" in sys.modules,
    }
result["ours_anywhere"] = sorted(m for m in sys.modules if m.split(".")[0] in ("bert_tf", "tasks"))
print(json.dumps(result))
"""

def vocab_file():
    return os.path.join(minilm_dir(), "vocab.txt")


def build(variant):
    keras.utils.set_random_seed(11)
    config = tiny_config(vocab_size=30522, max_position_embeddings=64, initializer_range=0.2)
    if variant == "pair_classifier":
        return BertClassifier(config, len(LABELS))
    if variant in ("regression", "pair_regression"):
        return BertClassifier(config, 1, regression=True)
    if variant == "encoder":
        return BertEncoder(config)
    return BertPretrainer(config)


KINDS = {kind.name: kind for kind in (
    classification_serving.PAIR_CLASSIFIER, classification_serving.REGRESSION,
    classification_serving.PAIR_REGRESSION, encoder_serving.ENCODER,
    pretraining_serving.PRETRAINER)}
EXPORTS = [("pair_classifier", "core"), ("pair_classifier", "text"), ("regression", "core"),
           ("pair_regression", "core"), ("encoder", "core"), ("encoder", "text"),
           ("pretrainer", "core")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{(variant, ops): (Keras model, export path)}: the exports are written once per test run
    (whichever worker gets here first); `build` is seeded, so every worker's models have
    the exported weights."""
    def write(directory):
        for variant, ops in EXPORTS:
            export.export(build(variant), KINDS[variant], BertTokenizer(vocab_file(), wordpiece=ops),
                          str(directory / variant / ops), max_seq_length=MAX_SEQ,
                          labels=LABELS if "classifier" in variant else None,
                          vocab_file=vocab_file(), version=3)

    directory = built_once(tmp_path_factory, "test_export", write)
    models = {variant: build(variant) for variant in dict(EXPORTS)}
    return {(variant, ops): (models[variant], str(directory / variant / ops / "3"))
            for variant, ops in EXPORTS}


def text_inputs(variant):
    if variant == "pretrainer":
        return {"text": MASKED}
    if variant in ("pair_classifier", "pair_regression"):
        return {"text": TEXTS, "text_pair": PAIRS}
    return {"text": TEXTS}


def id_inputs(variant):
    """serve_ids' inputs for the texts of text_inputs, encoded here by our tokenizer."""
    inputs = text_inputs(variant)
    features = BertTokenizer(vocab_file()).encode(inputs["text"], inputs.get("text_pair"),
                                                  MAX_SEQ, pad_to_max_length=False)
    return {k: v.numpy().tolist() for k, v in features.items()}


def expected_outputs(variant, model, inputs):
    """The Keras model on our tokenizer's encoding, computed here independently of the export."""
    tokenizer = BertTokenizer(vocab_file())
    if variant == "pretrainer":
        rows = []
        for text in inputs["text"]:
            ids = []
            for i, part in enumerate(text.split("[MASK]")):
                ids += ([tokenizer.mask_id] if i else []) + tokenizer.tokenize(part).numpy().tolist()
            rows.append([tokenizer.cls_id] + ids[:MAX_SEQ - 2] + [tokenizer.sep_id])
        length = max(map(len, rows))
        ids = np.array([r + [0] * (length - len(r)) for r in rows], np.int32)
        features = {"input_ids": ids, "input_mask": (ids > 0).astype(np.int32),
                    "segment_ids": np.zeros_like(ids)}
        positions = [np.flatnonzero(r == tokenizer.mask_id) for r in ids]
        masks = max(len(p) for p in positions)
        dense = np.array([list(p) + [0] * (masks - len(p)) for p in positions], np.int32)
        logits = model(dict(features, masked_lm_positions=dense))["mlm_logits"].numpy()
        probs = tf.nn.softmax(logits).numpy()
        valid = np.array([[j < len(p) for j in range(masks)] for p in positions])
        return {"mask_positions": np.where(valid, dense, -1),
                "predicted_ids": np.where(valid, probs.argmax(-1), -1),
                "probabilities": np.where(valid, probs.max(-1), 0.0)}
    features = tokenizer.encode(inputs["text"], inputs.get("text_pair"), MAX_SEQ,
                                pad_to_max_length=False, return_truncated=True)
    truncated = features.pop("truncated").numpy()
    out = model(features)
    if variant == "pair_classifier":
        result = {"probabilities": tf.nn.softmax(out["logits"]).numpy()}
    elif variant in ("regression", "pair_regression"):
        result = {"score": out["score"].numpy()}
    else:
        seq = out["sequence_output"].numpy()
        mask = features["input_mask"].numpy()[..., None]
        result = {"pooled_output": out["pooled_output"].numpy(), "sequence_output": seq,
                  "embedding": (seq * mask).sum(1) / mask.sum(1)}
    result["truncated"] = truncated
    return result


# ------------------------------------------------------------------ signatures


def signature_table(path):
    """{signature: {"inputs"/"outputs": {name: (dtype, shape)}}} from saved_model.pb: the
    SignatureDefs saved_model_cli and TF Serving read (shape None: unknown rank)."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    (meta_graph,) = proto.meta_graphs
    assert list(meta_graph.meta_info_def.tags) == ["serve"]
    return {name: {kind: {key: (types_pb2.DataType.Name(info.dtype),
                                None if info.tensor_shape.unknown_rank
                                else tuple(d.size for d in info.tensor_shape.dim))
                          for key, info in getattr(signature, kind).items()}
                   for kind in ("inputs", "outputs")}
            for name, signature in meta_graph.signature_def.items()}


def parse_saved_model_cli(shown):
    """The same table read from `saved_model_cli show --all`'s text."""
    assert "MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:" in shown
    table = {}
    for name, block in re.findall(r"signature_def\['([^']+)'\]:\n(.*?)\n  Method name is", shown,
                                  re.S):
        table[name] = {"inputs": {}, "outputs": {}}
        for kind, key, dtype, shape in re.findall(
                r"(inputs|outputs)\['([^']+)'\] tensor_info:\n +dtype: (\w+)\n +shape: (.+)\n",
                block):
            table[name][kind][key] = (dtype, None if shape == "unknown_rank" else tuple(
                int(d) for d in shape.strip("()").split(",") if d.strip()))
    return table


# The variant's outputs in both serving_default and serve_ids: (dtype, shape).
VARIANT_OUTPUTS = {
    "pair_classifier": {"probabilities": ("DT_FLOAT", (-1, 3)), "label": ("DT_STRING", (-1,))},
    "regression": {"score": ("DT_FLOAT", (-1,))},
    "pair_regression": {"score": ("DT_FLOAT", (-1,))},
    "encoder": {"pooled_output": ("DT_FLOAT", (-1, 12)), "embedding": ("DT_FLOAT", (-1, 12)),
                "sequence_output": ("DT_FLOAT", (-1, -1, 12))},
    "pretrainer": {"predicted_tokens": ("DT_STRING", (-1, -1)),
                   "mask_positions": ("DT_INT32", (-1, -1))},
}


@pytest.mark.heavy
def test_layout_and_signatures(exported):
    """Every export's files and SignatureDefs; saved_model_cli, run once, reads the same."""
    for (variant, ops), (_, path) in exported.items():
        assert os.path.basename(path) == "3"
        assert {"saved_model.pb", "variables", "assets", "assets.extra"} <= set(os.listdir(path))
        assert open(os.path.join(path, "assets", "vocab.txt")).read() == open(vocab_file()).read()
        table = signature_table(path)
        default, ids = table["serving_default"], table["serve_ids"]
        assert default["inputs"] == {name: ("DT_STRING", (-1,)) for name in text_inputs(variant)}
        assert ids["inputs"] == {name: ("DT_INT32", (-1, -1))
                                 for name in ("input_ids", "input_mask", "segment_ids")}, variant
        assert default["outputs"]["truncated"] == ("DT_BOOL", (-1,))
        for name, spec in VARIANT_OUTPUTS[variant].items():
            assert default["outputs"][name] == ids["outputs"][name] == spec, (variant, ops, name)
    # The real command line, on the export with tensorflow-text ops in its graph.
    path = exported[("pair_classifier", "text")][1]
    shown = subprocess.run([os.path.join(os.path.dirname(sys.executable), "saved_model_cli"),
                            "show", "--dir", path, "--all"], capture_output=True, text=True,
                           check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")).stdout
    assert parse_saved_model_cli(shown) == signature_table(path)


# ------------------------------------------------------- a fresh TensorFlow process


def test_no_model_op_is_pinned_to_a_device(exported):
    """So that TF Serving places the model on a GPU when it has one."""
    from test_serving_xla import assert_no_op_pinned

    for (variant, ops), (_, path) in exported.items():
        assert_no_op_pinned(path, f"{variant} {ops}")


def warmup_requests(path):
    """The export's warmup file, as TF Serving replays it: (signature, {input: values})."""
    found = []
    for record in tf.data.TFRecordDataset(
            os.path.join(path, "assets.extra", "tf_serving_warmup_requests")):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        found.append((request.model_spec.signature_name,
                      {k: [x.decode() for x in tf.make_ndarray(v).tolist()]
                       for k, v in request.inputs.items()}))
    return found


def fresh_requests(exported, ops):
    """Every request the fresh client makes of the exports with these tokenizer ops."""
    requests = []
    for (variant, kind), (_, path) in exported.items():
        if kind != ops:
            continue
        ask = [("text", "serving_default", text_inputs(variant)),
               ("empty text", "serving_default", {k: None for k in text_inputs(variant)})]
        if variant != "pretrainer":
            ask += [("ids", "serve_ids", id_inputs(variant)),
                    ("empty ids", "serve_ids",
                     {k: None for k in ("input_ids", "input_mask", "segment_ids")})]
        ask += [(f"warmup {i}", signature, inputs)
                for i, (signature, inputs) in enumerate(warmup_requests(path))]
        if variant == "encoder":  # REST's row format with bare values: one input
            ask.append(("rest bare", "serving_default",
                        rest_rows_to_columns({"instances": TEXTS}, ["text"])))
        requests += [dict(export=(variant, kind), what=what, path=path, signature=signature,
                          inputs=inputs) for what, signature, inputs in ask]
    return requests


@pytest.fixture(scope="module")
def fresh(exported, tmp_path_factory):
    """{(variant, ops): {what: outputs}} from one fresh process (once per test run), and what
    it had imported when it was done with the core exports and with the text ones."""
    def ask(directory):
        (directory / "client.py").write_text(FRESH_CLIENT)
        requests = {ops: fresh_requests(exported, ops) for ops in ("core", "text")}
        (directory / "requests.json").write_text(json.dumps(requests), encoding="utf-8")
        done = subprocess.run([sys.executable, str(directory / "client.py"),
                               str(directory / "requests.json")], cwd=str(directory),
                              capture_output=True, text=True, timeout=300,
                              env={"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert done.returncode == 0, done.stderr[-3000:]
        (directory / "answers.json").write_text(done.stdout.strip().splitlines()[-1],
                                                encoding="utf-8")

    directory = built_once(tmp_path_factory, "test_export-fresh", ask)
    requests = json.loads((directory / "requests.json").read_text(encoding="utf-8"))
    got = json.loads((directory / "answers.json").read_text(encoding="utf-8"))
    answers, imported = {}, {"ours_anywhere": got["ours_anywhere"]}
    for ops in ("core", "text"):
        imported[ops] = {k: got[ops][k] for k in ("modules", "tensorflow_text")}
        for request, answer in zip(requests[ops], got[ops]["answers"], strict=True):
            answers.setdefault(tuple(request["export"]), {})[request["what"]] = answer
    return answers, imported


def test_fresh_process_imports_tensorflow_only(fresh):
    _, imported = fresh
    for ops in ("core", "text"):
        assert imported[ops]["modules"] == [], ops  # no bert_tf, and no more of keras
    assert imported["ours_anywhere"] == []
    # The core exports loaded and ran before tensorflow_text was imported.
    assert imported["core"]["tensorflow_text"] is False
    assert imported["text"]["tensorflow_text"] is True


def test_fresh_tensorflow_process_matches_the_keras_model(exported, fresh):
    answers, _ = fresh
    assert set(answers) == set(EXPORTS)
    for (variant, ops), (model, _) in exported.items():
        got = answers[(variant, ops)]["text"]
        expected = expected_outputs(variant, model, text_inputs(variant))
        for key, value in expected.items():
            np.testing.assert_allclose(np.array(got[key], dtype=np.asarray(value).dtype), value,
                                       atol=1e-5, err_msg=f"{variant} {ops} {key}")
        if variant == "pair_classifier":
            assert got["label"] == [LABELS[i] for i in expected["probabilities"].argmax(1)]
            assert got["truncated"] == [False, False, False, True, True]
        if variant == "pretrainer":
            assert len(got["predicted_tokens"][1]) == 2 and got["predicted_tokens"][2] == ["", ""]
            continue
        # serve_ids answers the same for the same ids.
        by_ids = answers[(variant, ops)]["ids"]
        assert set(by_ids) == set(got) - {"truncated"}, (variant, ops)
        for key in expected:
            if key != "truncated":
                np.testing.assert_allclose(by_ids[key], got[key], atol=1e-6,
                                           err_msg=f"{variant} {ops} {key}")


def test_an_empty_batch_gives_empty_outputs(fresh):
    answers, _ = fresh
    for export_key, got in answers.items():
        whats = ["empty text"] + (["empty ids"] if export_key[0] != "pretrainer" else [])
        for what in whats:
            assert got[what] and all(value == [] for value in got[what].values()), (
                export_key, what, got[what])
            assert set(got[what]) == set(got[what.replace("empty ", "")])


def test_warmup_requests_replay(exported, fresh):
    answers, _ = fresh
    for key, (_, path) in exported.items():
        requests = warmup_requests(path)
        assert requests, key
        for i, (signature, inputs) in enumerate(requests):
            assert signature == "serving_default"
            assert len(answers[key][f"warmup {i}"]["truncated"]) == len(inputs["text"]) > 0


# ------------------------------------------------------------- in this process


@pytest.fixture(scope="module")
def loaded(exported):
    """The core pair classifier loaded here, for what needs TF Serving's protos or the
    exceptions a signature raises."""
    return tf.saved_model.load(exported[("pair_classifier", "core")][1])


def rest_rows_to_columns(body, names):
    """TF Serving's REST "instances" (row) format: a list of objects, or of bare values
    when the signature has one input; each input stacked along the batch."""
    instances = body["instances"]
    if not isinstance(instances[0], dict):
        assert len(names) == 1
        instances = [{names[0]: value} for value in instances]
    return {name: [row[name] for row in instances] for name in names}


def rest_to_tensors(body, signature):
    specs = signature.structured_input_signature[1]
    return {name: tf.constant(values, dtype=specs[name].dtype)
            for name, values in rest_rows_to_columns(body, list(specs)).items()}


def grpc_to_tensors(request):
    return {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}


def test_rest_and_grpc_requests_for_each_signature(loaded, fresh):
    model = loaded
    body = json.loads(json.dumps({"instances": [{"text": t, "text_pair": p}
                                                for t, p in zip(TEXTS, PAIRS)]}))
    direct = model.signatures["serving_default"](text=tf.constant(TEXTS),
                                                  text_pair=tf.constant(PAIRS))
    rest = model.signatures["serving_default"](
        **rest_to_tensors(body, model.signatures["serving_default"]))
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(
        name="bert", signature_name="serving_default"))
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(TEXTS))
    request.inputs["text_pair"].CopyFrom(tf.make_tensor_proto(PAIRS))
    grpc = model.signatures[request.model_spec.signature_name](**grpc_to_tensors(
        predict_pb2.PredictRequest.FromString(request.SerializeToString())))
    for answer in (rest, grpc):
        np.testing.assert_array_equal(answer["probabilities"], direct["probabilities"])
    # serve_ids over REST and gRPC.
    features = BertTokenizer(vocab_file()).encode(TEXTS, PAIRS, MAX_SEQ)
    ids_body = {"instances": [{k: v.numpy()[i].tolist() for k, v in features.items()}
                              for i in range(len(TEXTS))]}
    by_rest = model.signatures["serve_ids"](**rest_to_tensors(ids_body,
                                                             model.signatures["serve_ids"]))
    ids_request = predict_pb2.PredictRequest()
    for name, value in features.items():
        ids_request.inputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    by_grpc = model.signatures["serve_ids"](**grpc_to_tensors(ids_request))
    np.testing.assert_allclose(by_rest["probabilities"], by_grpc["probabilities"], atol=1e-6)
    # A single-input signature accepts bare values in "instances" (asked of the fresh
    # process, which has the encoder loaded).
    answers, _ = fresh
    bare, text = (answers[("encoder", "core")][what] for what in ("rest bare", "text"))
    assert np.array(bare["embedding"]).shape == (len(TEXTS), 12)
    assert bare == text


def test_bad_requests_fail_cleanly(loaded):
    model = loaded
    serve = model.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError,  # wrong dtype; `text` is input #0
                       match=r"input #0\(zero-based\) was expected to be a string tensor but "
                             r"is a int32 tensor"):
        serve(text=tf.constant([1, 2]), text_pair=tf.constant(["a", "b"]))
    with pytest.raises(TypeError):
        serve(text=tf.constant(["a"]))  # missing key
    shape_error = "is not compatible with expected shape"
    with pytest.raises(tf.errors.InvalidArgumentError, match=shape_error):  # wrong rank
        serve(text=tf.constant([["a", "b"]]), text_pair=tf.constant(["a"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=shape_error):
        serve(text=tf.constant(["a"]), text_pair=tf.constant("b"))
    with pytest.raises(tf.errors.InvalidArgumentError, match=shape_error):
        model.signatures["serve_ids"](input_ids=tf.ones([2], tf.int32),
                                      input_mask=tf.ones([2], tf.int32),
                                      segment_ids=tf.zeros([2], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="must have the same shape"):
        model.signatures["serve_ids"](input_ids=tf.ones([2, 3], tf.int32),
                                      input_mask=tf.ones([2, 4], tf.int32),
                                      segment_ids=tf.zeros([2, 3], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError,  # float ids; `input_ids` is input #0
                       match=r"input #0\(zero-based\) was expected to be a int32 tensor but is "
                             r"a float tensor"):
        model.signatures["serve_ids"](input_ids=tf.constant([[1.5]]),
                                      input_mask=tf.constant([[1]]),
                                      segment_ids=tf.constant([[0]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings"):
        ids = tf.ones([1, 100], tf.int32)  # longer than the model's positions
        model.signatures["serve_ids"](input_ids=ids, input_mask=ids, segment_ids=ids * 0)
    # A row without a real token is no tokenized text: refused, naming the row.
    for ids, mask in ((tf.ones([2, 3], tf.int32), tf.constant([[1, 1, 0], [0, 0, 0]])),
                      (tf.ones([2, 0], tf.int32), tf.ones([2, 0], tf.int32))):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="needs at least one real token"):
            model.signatures["serve_ids"](input_ids=ids, input_mask=mask,
                                          segment_ids=ids * 0)
    # The process and the model still work.
    ok = serve(text=tf.constant(["fine"]), text_pair=tf.constant(["also fine"]))
    assert ok["probabilities"].shape == (1, 3)


def tree(directory):
    """{relative path: file bytes, or None for a directory} of everything below a directory."""
    found = {}
    for parent, names, file_names in os.walk(directory):
        for name in names:
            found[os.path.relpath(os.path.join(parent, name), directory)] = None
        for name in file_names:
            path = os.path.join(parent, name)
            found[os.path.relpath(path, directory)] = open(path, "rb").read()
    return found


def test_existing_versions_are_never_overwritten(exported, tmp_path, monkeypatch):
    model, path = exported[("regression", "core")]
    before = tree(os.path.dirname(path))
    assert "3/saved_model.pb" in before
    with pytest.raises(export.ExportError, match="/3 exists already"):
        export.export(model, KINDS["regression"], BertTokenizer(vocab_file(), wordpiece="core"),
                      os.path.dirname(path), max_seq_length=MAX_SEQ, version=3)
    assert tree(os.path.dirname(path)) == before  # version 3 untouched, nothing beside it
    # Two exports racing for one version: the one that finishes second loses cleanly,
    # and leaves no half-written directory behind.
    write_warmup = export.write_warmup

    def other_export_finishes_first(directory, *args):
        os.makedirs(tmp_path / "race" / "5" / "variables")
        (tmp_path / "race" / "5" / "saved_model.pb").write_bytes(b"the other export's")
        return write_warmup(directory, *args)

    monkeypatch.setattr(export, "write_warmup", other_export_finishes_first)
    with pytest.raises(export.ExportError, match="/5 exists already"):
        export.export(model, KINDS["regression"], BertTokenizer(vocab_file(), wordpiece="core"),
                      str(tmp_path / "race"), max_seq_length=MAX_SEQ, version=5)
    # Only the other export's version, as it wrote it; no staging directory left.
    assert tree(tmp_path / "race") == {"5": None, "5/variables": None,
                                       "5/saved_model.pb": b"the other export's"}
    with pytest.raises(export.ExportError, match="label list"):
        export.export(build("pair_classifier"), KINDS["pair_classifier"], BertTokenizer(vocab_file()),
                      str(tmp_path), version=1)


# ------------------------------------------------------------------ the scripts


def test_run_classifier_export_dir_and_export_model(tmp_path):
    from testing import write_topic_pairs

    data = write_topic_pairs(tmp_path / "data", train=64, dev=16, test=4)
    config = tmp_path / "config.json"
    tiny_config(vocab_size=30522, max_position_embeddings=64).to_json_file(str(config))
    run_dir, serving = tmp_path / "run", tmp_path / "serving"
    out = run_checked("run_classifier.py", "--task_name=MRPC", f"--data_dir={data}",
                      f"--vocab_file={vocab_file()}", f"--bert_config_file={config}",
                      "--do_train", "--max_seq_length=24", "--train_batch_size=16",
                      "--num_train_epochs=1", f"--output_dir={run_dir}",
                      f"--export_dir={serving}").stdout
    assert f"{serving}/4" in out  # version = the global step (64 / 16 x 1)
    assert os.listdir(serving) == ["4"]
    loaded_model = tf.saved_model.load(str(serving / "4"))
    answer = loaded_model.signatures["serving_default"](text=tf.constant(["a b"]),
                                                        text_pair=tf.constant(["c"]))
    # The served label is the most probable class's name, and the probabilities are the
    # fine-tuned model's on the same pair.
    labels = open(run_dir / "label_list.txt").read().split()
    probabilities = answer["probabilities"].numpy()[0]
    assert answer["label"].numpy()[0].decode() == labels[int(probabilities.argmax())]
    finetuned = BertClassifier.from_pretrained(str(run_dir / "finetuned"), num_labels=2)
    features = BertTokenizer(vocab_file()).encode(["a b"], ["c"], 24)
    np.testing.assert_allclose(probabilities, tf.nn.softmax(finetuned(features)["logits"])[0],
                               atol=1e-5)
    # export_model.py from the run directory, with the other tokenizer backend.
    out = run_checked("export_model.py", f"--checkpoint={run_dir}", "--task=classifier",
                      "--text_pair", f"--export_dir={tmp_path / 'again'}",
                      "--tokenizer_ops=text", "--export_version=7").stdout
    assert "(text tokenizer ops)" in out
    import tensorflow_text  # noqa: F401
    again = tf.saved_model.load(str(tmp_path / "again" / "7"))
    other = again.signatures["serving_default"](text=tf.constant(["a b"]),
                                                text_pair=tf.constant(["c"]))
    np.testing.assert_allclose(other["probabilities"], answer["probabilities"], atol=1e-6)
    # The pretrainer from a Google-format release (the encoder's export_model.py path is
    # the MiniLM test's, from a Hugging Face one), into an export directory that holds a
    # version already: a new version named by the time, the old one untouched.
    for variant in ("pretrainer",):
        model = build(variant)
        model.save_pretrained(str(tmp_path / variant), vocab_file=vocab_file())
        serving_dir = tmp_path / "serving_" / variant
        os.makedirs(serving_dir / "1")
        (serving_dir / "1" / "saved_model.pb").write_bytes(b"an older export")
        started = int(time.time())
        run_checked("export_model.py", f"--checkpoint={tmp_path / variant}", f"--task={variant}",
                    f"--export_dir={serving_dir}", "--max_seq_length=32")
        versions = sorted(os.listdir(serving_dir), key=int)
        assert len(versions) == 2 and versions[0] == "1", versions
        assert started <= int(versions[1]) <= time.time()
        assert tree(serving_dir / "1") == {"saved_model.pb": b"an older export"}
        outputs = signature_table(str(serving_dir / versions[1]))["serving_default"]["outputs"]
        for name, spec in VARIANT_OUTPUTS[variant].items():
            assert outputs[name] == spec, (variant, name)


def test_extract_features_matches_the_encoder(tmp_path):
    lines = ["A man is eating food.", "Hello there ||| General Kenobi", "Größe 東京"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_checked("extract_features.py", f"--input_file={tmp_path / 'in.txt'}",
                f"--output_file={tmp_path / 'out.jsonl'}", f"--init_checkpoint={minilm_dir()}",
                "--layers=-1,-3", "--batch_size=2")
    records = [json.loads(line) for line in open(tmp_path / "out.jsonl", encoding="utf-8")]
    assert [r["linex_index"] for r in records] == [0, 1, 2]
    encoder = BertEncoder.from_pretrained(minilm_dir())
    tokenizer = BertTokenizer.from_pretrained(minilm_dir())
    features = tokenizer.encode(["Hello there"], ["General Kenobi"], pad_to_max_length=False)
    tokens = [f["token"] for f in records[1]["features"]]
    assert tokens == ["[CLS]", "hello", "there", "[SEP]", "general", "ken", "##ob", "##i", "[SEP]"]
    hidden = encoder(features)["encoder_outputs"]
    for feature_index, feature in enumerate(records[1]["features"]):
        assert [layer["index"] for layer in feature["layers"]] == [-1, -3]
        np.testing.assert_allclose(feature["layers"][1]["values"],
                                   hidden[-3].numpy()[0, feature_index], atol=2e-6)


def test_released_minilm_served_from_raw_text_gives_the_published_similarity(tmp_path):
    """export_model.py on the real all-MiniLM-L6-v2 directory, used as a server would."""
    run_checked("export_model.py", f"--checkpoint={minilm_dir()}", "--task=encoder",
                f"--export_dir={tmp_path / 'minilm'}", "--export_version=1")
    served = tf.saved_model.load(str(tmp_path / "minilm" / "1"))
    out = served.signatures["serving_default"](
        text=tf.constant(["A man is eating food.", "A man is eating a piece of bread."]))
    a, b = out["embedding"].numpy()
    assert abs(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) - 0.7553) < 5e-4
    assert out["sequence_output"].shape[-1] == 384 and not out["truncated"].numpy().any()
