"""--serving_xla on what the fresh-client checks (test_serving_precision.py) leave out: question
answering (windows in slices), the tagger (windows of words), the masked-token predictor (an open
masked-positions axis), the encoder's serve_ids, and float16 (the GPU path), answering
in-process, eagerly, as their plain modules do."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from bert_tf.models.bert import BertEncoder, BertPretrainer
from bert_tf.serving import encoder as encoder_serving
from bert_tf.serving import export
from bert_tf.serving import precision
from bert_tf.serving import xla as serving_xla
from bert_tf.tokenization import BertTokenizer
from tasks.classification import serving as classification_serving
from tasks.classification.model import BertClassifier
from tasks.pretraining import serving as pretraining_serving
from tasks.question_answering import serving as qa_serving
from tasks.question_answering.model import BertSpanLabeler
from tasks.tagging import serving as tagging_serving
from tasks.tagging.model import BertTagger
from testing import minilm_dir, tiny_config

MAX_SEQ = 45  # buckets 32 and 45
LONG = " ".join(f"Paragraph {i} says that the river is {i} miles long." for i in range(9))
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def case(name):
    """(model, kind, labels, constants, serving_default inputs) of one export kind."""
    keras.utils.set_random_seed(7)
    config = tiny_config(vocab_size=30522, max_position_embeddings=64, initializer_range=0.2)
    if name == "question_answering":
        return (BertSpanLabeler(config), qa_serving.QUESTION_ANSWERING, None,
                qa_serving.serving_constants(MAX_SEQ, 3, doc_stride=11, max_query_length=9),
                {"question": ["Who wrote it?", "How long is the river in paragraph 7?", ""],
                 "context": ["Ada wrote it in 1843.", LONG, ""]})
    if name == "encoder":
        return BertEncoder(config), encoder_serving.ENCODER, None, {}, {"text": ["A b c.", ""]}
    if name == "classifier float16":
        return (precision.with_precision(BertClassifier(config, 3), "float16"),
                classification_serving.CLASSIFIER, ["a", "b", "c"], {},
                {"text": ["A first example.", "", "Größe, naïve café"]})
    if name == "tagger":
        return (BertTagger(config, len(TAGS)), tagging_serving.TAGGER, TAGS,
                {"window_stride": None},
                {"text": ["Ada Lovelace lives in London .", " ".join(["word"] * 50), "", "x"]})
    return (BertPretrainer(config), pretraining_serving.PRETRAINER, None, {},
            {"text": ["the cat sat on the [MASK] .", "[MASK] and [MASK]", "no mask",
                      "long " * 60 + "[MASK]"]})


# The tagger's and the masked-token predictor's XLA modules are CI's (slow tier): `make test`
# keeps question answering (windows in slices, the longest path), the encoder's serve_ids and
# float16, and test_export's plain tagger and pretrainer exports answer the same signatures.
SLOW_KIND = pytest.mark.slow


@pytest.mark.parametrize("name", ["question_answering", pytest.param("tagger", marks=SLOW_KIND),
                                  pytest.param("pretrainer", marks=SLOW_KIND), "encoder",
                                  "classifier float16"])
def test_xla_module_answers_as_the_plain_one(name):
    model, kind, labels, constants, inputs = case(name)
    tokenizer = BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"), wordpiece="core")
    plain, compiled = (export.ServingModule(model, kind, tokenizer, MAX_SEQ, labels, xla=xla,
                                            **constants) for xla in (False, True))
    texts = [tf.constant(inputs[k]) for k in kind.text_inputs]
    rng = np.random.default_rng(0)
    ids = {"input_ids": tf.constant(rng.integers(1000, 30000, (3, 9)), tf.int32),
           "input_mask": tf.constant(np.arange(9)[None, :] < [[9], [4], [1]], tf.int32),
           "segment_ids": tf.zeros([3, 9], tf.int32)}
    if name == "pretrainer":  # masks at positions 2 and 3 of the first row
        ids["input_ids"] = tf.tensor_scatter_nd_update(ids["input_ids"], [[0, 2], [0, 3]],
                                                       [tokenizer.mask_id] * 2)
    for what, call in (("serving_default", lambda m: m.serve_strings(*texts)),
                       ("serve_ids", lambda m: m.serve_ids(**ids))):
        want, got = call(plain), call(compiled)
        assert set(got) == set(want), what
        for key, value in want.items():
            assert got[key].shape == value.shape, (what, key)
            if value.dtype.is_floating:
                np.testing.assert_allclose(got[key], value, rtol=0,
                                           atol=1e-3 if "float16" in name else 1e-5,
                                           err_msg=f"{what} {key}")
            else:
                np.testing.assert_array_equal(got[key], value, err_msg=f"{what} {key}")
    assert compiled.compiled_model.experimental_get_tracing_count() >= 1  # it did run


def saved_graph(path):
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    (meta_graph,) = proto.meta_graphs
    return meta_graph.graph_def


def tokenizer_op(op):
    return op.startswith(("String", "Regex", "Unicode", "Lookup")) or "HashTable" in op


def assert_compiles_the_model_only(xla_path, plain_path):
    """The XLA export's must-compile functions are the model's forward pass, without a
    tokenizer op (which runs in the signatures' functions); the plain export has none."""
    plain = saved_graph(plain_path).library.function
    compiled = saved_graph(xla_path).library.function
    assert not [f.signature.name for f in plain if f.attr[serving_xla.MUST_COMPILE].b]
    must = [f for f in compiled if f.attr[serving_xla.MUST_COMPILE].b]
    assert must, "no function of the XLA export carries _XlaMustCompile"
    for function in must:
        ops = {node.op for node in function.node_def}
        assert {"BatchMatMulV2", "MatMul", "Softmax"} <= ops, ops  # the model's forward pass
        assert not {op for op in ops if tokenizer_op(op)}, ops
    assert any(tokenizer_op(node.op) for f in compiled if not f.attr[serving_xla.MUST_COMPILE].b
               for node in f.node_def)


def assert_no_op_pinned(path, what):
    """TF Serving places an op without a device wherever it has a kernel: on a GPU when the
    server has one. Only TensorFlow's checkpoint save and restore functions (and the object
    graph constant they write) are placed, on the CPU, where checkpoint I/O runs anyway."""
    graph = saved_graph(path)
    saver = tuple(f.signature.name for f in graph.library.function
                  if f.signature.name.startswith(("__inference__traced_save_",
                                                  "__inference__traced_restore_")))
    assert len(saver) == 2, what
    placed = [(f.signature.name, node.name, node.device) for f in graph.library.function
              if f.signature.name not in saver for node in f.node_def if node.device]
    placed += [("graph", node.name, node.device) for node in graph.node
               if node.device and not (node.op == "Const"
                                       and node.attr["dtype"].type == types_pb2.DT_STRING)]
    assert not placed, (what, placed[:5])
    model_ops = [node for f in graph.library.function for node in f.node_def
                 if node.op in ("MatMul", "BatchMatMulV2")]
    assert model_ops and not [node.device for node in model_ops if node.device], what


def test_an_xla_export_compiles_the_model_only_and_pins_nothing(tmp_path):
    model, kind, labels, constants, _ = case("encoder")
    vocab = os.path.join(minilm_dir(), "vocab.txt")
    paths = {xla: export.export(model, kind, BertTokenizer(vocab, wordpiece="core"),
                                str(tmp_path / str(xla)), max_seq_length=MAX_SEQ,
                                vocab_file=vocab, version=1, xla=xla)
             for xla in (False, True)}
    assert_compiles_the_model_only(paths[True], paths[False])
    for xla, path in paths.items():
        assert_no_op_pinned(path, f"encoder, xla={xla}")
