"""SavedModel exports as TF Serving uses them: signatures, a fresh TensorFlow-only process,
the warmup file, REST and gRPC requests, and bad requests."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from bert_tf.serving import encoder as encoder_serving
from bert_tf.serving import export
from tasks.classification import serving as classification_serving
from tasks.pretraining import serving as pretraining_serving
from bert_tf.models.bert import BertEncoder
from bert_tf.models.bert import BertPretrainer
from bert_tf.tokenization import BertTokenizer
from tasks.classification.model import BertClassifier
from testing import minilm_dir, tiny_config

MAX_SEQ = 24
LABELS = ["neg", "neutral", "pos"]
TEXTS = ["A plain English sentence.", "", "Größe, naïve café: 東京 🙂 Привет!",
         " ".join(["overlong"] * 200), "x"]
PAIRS = ["Its partner.", "Non-empty.", "", "short", " ".join(["y"] * 100)]
MASKED = ["the cat sat on the [MASK] .", "[MASK] and [MASK]", "no mask here", "",
          "long " * 60 + "[MASK]"]

# The client of the fresh-process test: TensorFlow only (and tensorflow_text if asked).
FRESH_CLIENT = """
import json, sys
import tensorflow as tf
if sys.argv[3] == "text":
    import tensorflow_text  # registers the FastWordpiece ops the export uses
inputs = json.load(open(sys.argv[2]))
before = set(sys.modules)
model = tf.saved_model.load(sys.argv[1])
outputs = model.signatures[inputs.pop("signature")](**{k: tf.constant(v) for k, v in inputs.items()})
result = {k: v.numpy().tolist() for k, v in outputs.items()}
result = {k: [x.decode() if isinstance(x, bytes) else x for x in v] if k in ("label",) else v
          for k, v in result.items()}
if "predicted_tokens" in result:
    result["predicted_tokens"] = [[t.decode() for t in row] for row in result["predicted_tokens"]]
# What loading and running needed beyond `import tensorflow` (which itself imports keras).
result["modules"] = sorted(m for m in set(sys.modules) - before
                           if m.split(".")[0] in ("bert_tf", "tasks", "keras", "keras_hub"))
result["ours_anywhere"] = sorted(m for m in sys.modules if m.split(".")[0] in ("bert_tf", "tasks"))
print(json.dumps(result))
"""


def vocab_file():
    return os.path.join(minilm_dir(), "vocab.txt")


def build(kind):
    keras.utils.set_random_seed(11)
    config = tiny_config(vocab_size=30522, max_position_embeddings=64, initializer_range=0.2)
    if kind == "pair_classifier":
        return BertClassifier(config, len(LABELS))
    if kind in ("regression", "pair_regression"):
        return BertClassifier(config, 1, regression=True)
    if kind == "encoder":
        return BertEncoder(config)
    return BertPretrainer(config)


KINDS = {kind.name: kind for kind in (
    classification_serving.PAIR_CLASSIFIER, classification_serving.REGRESSION,
    classification_serving.PAIR_REGRESSION, encoder_serving.ENCODER,
    pretraining_serving.PRETRAINER)}
VARIANTS = [("pair_classifier", "core"), ("pair_classifier", "text"), ("regression", "core"),
           ("pair_regression", "core"), ("encoder", "core"), ("encoder", "text"),
           ("pretrainer", "core")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = {}
    for kind, ops in VARIANTS:
        model = build(kind)
        tokenizer = BertTokenizer(vocab_file(), wordpiece=ops)
        path = export.export(model, KINDS[kind], tokenizer,
                             str(tmp_path_factory.mktemp(kind) / ops), max_seq_length=MAX_SEQ,
                             labels=LABELS if "classifier" in kind else None,
                             vocab_file=vocab_file(), version=3)
        out[(kind, ops)] = (model, path)
    return out


def text_inputs(kind):
    if kind == "pretrainer":
        return {"text": MASKED}
    if kind in ("pair_classifier", "pair_regression"):
        return {"text": TEXTS, "text_pair": PAIRS}
    return {"text": TEXTS}


def expected_outputs(kind, model, inputs):
    """The Keras model on our tokenizer's encoding, computed here independently of the export."""
    tokenizer = BertTokenizer(vocab_file())
    if kind == "pretrainer":
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
    if kind == "pair_classifier":
        result = {"probabilities": tf.nn.softmax(out["logits"]).numpy()}
    elif kind in ("regression", "pair_regression"):
        result = {"score": out["score"].numpy()}
    else:
        seq = out["sequence_output"].numpy()
        mask = features["input_mask"].numpy()[..., None]
        result = {"pooled_output": out["pooled_output"].numpy(), "sequence_output": seq,
                  "embedding": (seq * mask).sum(1) / mask.sum(1)}
    result["truncated"] = truncated
    return result


def test_layout_and_signatures_per_saved_model_cli(exported):
    for (kind, ops), (_, path) in exported.items():
        assert os.path.basename(path) == "3"
        assert {"saved_model.pb", "variables", "assets", "assets.extra"} <= set(os.listdir(path))
        assert open(os.path.join(path, "assets", "vocab.txt")).read() == open(vocab_file()).read()
        shown = subprocess.run([os.path.join(os.path.dirname(sys.executable), "saved_model_cli"),
                                "show", "--dir", path, "--all"], capture_output=True, text=True,
                               check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")).stdout
        default = shown.split("signature_def['serving_default']")[1]
        ids = shown.split("signature_def['serve_ids']")[1].split("signature_def[")[0]
        assert "inputs['text'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in default
        assert ("inputs['text_pair']" in default) == kind.startswith("pair_")
        for name in ("input_ids", "input_mask", "segment_ids"):
            assert f"inputs['{name}'] tensor_info:\n        dtype: DT_INT32\n        shape: (-1, -1)" in ids
        assert "outputs['truncated'] tensor_info:\n        dtype: DT_BOOL\n        shape: (-1)" in default
        outputs = {
            "pair_classifier": ["outputs['probabilities'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 3)",
                                "outputs['label'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)"],
            "regression": ["outputs['score'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1)"],
            "encoder": ["outputs['pooled_output'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 12)",
                        "outputs['embedding'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 12)",
                        "outputs['sequence_output'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, -1, 12)"],
            "pretrainer": ["outputs['predicted_tokens'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1, -1)",
                           "outputs['mask_positions'] tensor_info:\n        dtype: DT_INT32\n        shape: (-1, -1)"],
        }[kind.removeprefix("pair_") if kind == "pair_regression" else kind]
        for output in outputs:
            assert output in default and output in ids.replace("truncated", ""), (kind, output)


def fresh_process(path, ops, inputs, tmp_path):
    script = tmp_path / "client.py"
    script.write_text(FRESH_CLIENT)
    request = tmp_path / "inputs.json"
    request.write_text(json.dumps(inputs))
    done = subprocess.run([sys.executable, str(script), path, str(request), ops],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                          env={"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind,ops", VARIANTS)
def test_fresh_tensorflow_process_matches_the_keras_model(exported, tmp_path, kind, ops):
    model, path = exported[(kind, ops)]
    inputs = text_inputs(kind)
    got = fresh_process(path, ops, dict(inputs, signature="serving_default"), tmp_path)
    assert got.pop("modules") == []  # loading needed no bert_tf, and no more of keras
    assert got.pop("ours_anywhere") == []
    expected = expected_outputs(kind, model, inputs)
    for key, value in expected.items():
        np.testing.assert_allclose(np.array(got[key], dtype=np.asarray(value).dtype), value,
                                   atol=1e-5, err_msg=key)
    if kind == "pair_classifier":
        assert got["label"] == [LABELS[i] for i in expected["probabilities"].argmax(1)]
        assert got["truncated"] == [False, False, False, True, True]
    if kind == "pretrainer":
        assert len(got["predicted_tokens"][1]) == 2 and got["predicted_tokens"][2] == ["", ""]
    # serve_ids answers the same for the same ids.
    if kind != "pretrainer":
        tokenizer = BertTokenizer(vocab_file())
        features = tokenizer.encode(inputs["text"], inputs.get("text_pair"), MAX_SEQ,
                                    pad_to_max_length=False)
        by_ids = fresh_process(path, ops, dict({k: v.numpy().tolist() for k, v in
                                                features.items()}, signature="serve_ids"),
                               tmp_path)
        for key in expected:
            if key != "truncated":
                np.testing.assert_allclose(by_ids[key], got[key], atol=1e-6)


def loaded(exported, kind, ops="core"):
    return tf.saved_model.load(exported[(kind, ops)][1])


def test_warmup_requests_replay(exported):
    for (kind, ops), (_, path) in exported.items():
        if ops == "text":
            import tensorflow_text  # noqa: F401
        model = tf.saved_model.load(path)
        records = list(tf.data.TFRecordDataset(
            os.path.join(path, "assets.extra", "tf_serving_warmup_requests")))
        assert records
        for record in records:
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            request = log.predict_log.request
            assert request.model_spec.signature_name == "serving_default"
            outputs = model.signatures["serving_default"](
                **{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
            assert outputs["truncated"].shape[0] == len(tf.make_ndarray(request.inputs["text"]))


def rest_to_tensors(body, signature):
    """TF Serving's REST "instances" (row) format: a list of objects, or of bare values
    when the signature has one input; each input stacked along the batch."""
    names = list(signature.structured_input_signature[1])
    instances = body["instances"]
    if not isinstance(instances[0], dict):
        assert len(names) == 1
        instances = [{names[0]: value} for value in instances]
    return {name: tf.constant([row[name] for row in instances],
                              dtype=signature.structured_input_signature[1][name].dtype)
            for name in names}


def grpc_to_tensors(request):
    return {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}


def test_rest_and_grpc_requests_for_each_signature(exported):
    model = loaded(exported, "pair_classifier")
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
    # A single-input signature accepts bare values in "instances".
    encoder = loaded(exported, "encoder")
    bare = encoder.signatures["serving_default"](
        **rest_to_tensors({"instances": TEXTS}, encoder.signatures["serving_default"]))
    assert bare["embedding"].shape == (len(TEXTS), 12)


def test_bad_requests_fail_cleanly(exported):
    model = loaded(exported, "pair_classifier")
    serve = model.signatures["serving_default"]
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        serve(text=tf.constant([1, 2]), text_pair=tf.constant(["a", "b"]))  # wrong dtype
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
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        model.signatures["serve_ids"](input_ids=tf.constant([[1.5]]),
                                      input_mask=tf.constant([[1]]),
                                      segment_ids=tf.constant([[0]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings"):
        ids = tf.ones([1, 100], tf.int32)  # longer than the model's positions
        model.signatures["serve_ids"](input_ids=ids, input_mask=ids, segment_ids=ids * 0)
    # The process and the model still work.
    ok = serve(text=tf.constant(["fine"]), text_pair=tf.constant(["also fine"]))
    assert ok["probabilities"].shape == (1, 3)


@pytest.mark.parametrize("kind", ["pair_classifier", "encoder", "pretrainer"])
def test_an_empty_batch_gives_empty_outputs(exported, kind):
    model = loaded(exported, kind)
    inputs = {name: tf.constant([], tf.string) for name in text_inputs(kind)}
    outputs = model.signatures["serving_default"](**inputs)
    assert outputs and all(value.shape[0] == 0 for value in outputs.values())
    empty = tf.zeros([0, 0], tf.int32)
    if kind != "pretrainer":
        by_ids = model.signatures["serve_ids"](input_ids=empty, input_mask=empty,
                                               segment_ids=empty)
        assert all(value.shape[0] == 0 for value in by_ids.values())


def test_existing_versions_are_never_overwritten(exported, tmp_path, monkeypatch):
    model, path = exported[("regression", "core")]
    with pytest.raises(export.ExportError, match="exists already"):
        export.export(model, KINDS["regression"], BertTokenizer(vocab_file(), wordpiece="core"),
                      os.path.dirname(path), max_seq_length=MAX_SEQ, version=3)
    # Two exports racing for one version: the one that finishes second loses cleanly,
    # and leaves no half-written directory behind.
    write_warmup = export.write_warmup

    def other_export_finishes_first(directory, *args):
        os.makedirs(tmp_path / "race" / "5" / "variables")
        return write_warmup(directory, *args)

    monkeypatch.setattr(export, "write_warmup", other_export_finishes_first)
    with pytest.raises(export.ExportError, match="exists already"):
        export.export(model, KINDS["regression"], BertTokenizer(vocab_file(), wordpiece="core"),
                      str(tmp_path / "race"), max_seq_length=MAX_SEQ, version=5)
    assert os.listdir(tmp_path / "race") == ["5"]
    with pytest.raises(export.ExportError, match="label list"):
        export.export(build("pair_classifier"), KINDS["pair_classifier"], BertTokenizer(vocab_file()),
                      str(tmp_path), version=1)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script(name, *flags):
    done = subprocess.run([sys.executable, os.path.join(ROOT, name), *flags], capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_run_classifier_export_dir_and_export_model(tmp_path):
    from testing import write_topic_pairs

    data = write_topic_pairs(tmp_path / "data", train=64, dev=16, test=4)
    config = tmp_path / "config.json"
    tiny_config(vocab_size=30522, max_position_embeddings=64).to_json_file(str(config))
    run_dir, serving = tmp_path / "run", tmp_path / "serving"
    out = script("run_classifier.py", "--task_name=MRPC", f"--data_dir={data}",
                 f"--vocab_file={vocab_file()}", f"--bert_config_file={config}", "--do_train",
                 "--max_seq_length=24", "--train_batch_size=16", "--num_train_epochs=1",
                 f"--output_dir={run_dir}", f"--export_dir={serving}")
    assert f"{serving}/4" in out  # version = the global step (64 / 16 x 1)
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
    out = script("export_model.py", f"--checkpoint={run_dir}", "--task=classifier",
                 "--text_pair", f"--export_dir={tmp_path / 'again'}", "--tokenizer_ops=text",
                 "--export_version=7")
    assert "(text tokenizer ops)" in out
    import tensorflow_text  # noqa: F401
    again = tf.saved_model.load(str(tmp_path / "again" / "7"))
    other = again.signatures["serving_default"](text=tf.constant(["a b"]),
                                                text_pair=tf.constant(["c"]))
    np.testing.assert_allclose(other["probabilities"], answer["probabilities"], atol=1e-6)
    # Exports of the other tasks, from release directories.
    for task in ("encoder", "pretrainer"):
        model = build(task)
        model.save_pretrained(str(tmp_path / task), vocab_file=vocab_file())
        script("export_model.py", f"--checkpoint={tmp_path / task}", f"--task={task}",
               f"--export_dir={tmp_path / 'serving_' / task}", "--max_seq_length=32")
        assert len(os.listdir(tmp_path / "serving_" / task)) == 1


def test_extract_features_matches_the_encoder(tmp_path):
    lines = ["A man is eating food.", "Hello there ||| General Kenobi", "Größe 東京"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    script("extract_features.py", f"--input_file={tmp_path / 'in.txt'}",
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
    script("export_model.py", f"--checkpoint={minilm_dir()}", "--task=encoder",
           f"--export_dir={tmp_path / 'minilm'}", "--export_version=1")
    served = tf.saved_model.load(str(tmp_path / "minilm" / "1"))
    out = served.signatures["serving_default"](
        text=tf.constant(["A man is eating food.", "A man is eating a piece of bread."]))
    a, b = out["embedding"].numpy()
    assert abs(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) - 0.7553) < 5e-4
    assert out["sequence_output"].shape[-1] == 384 and not out["truncated"].numpy().any()
