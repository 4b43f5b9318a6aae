"""--serving_xla on what the fresh-client checks (test_serving_precision.py) leave out: question
answering (windows in slices), the tagger (windows of words), the masked-token predictor (an open
masked-positions axis), the encoder's serve_ids, and float16 (the GPU path), answering
in-process, eagerly, as their plain modules do."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.models.bert import BertEncoder, BertPretrainer
from bert_tf.serving import encoder as encoder_serving
from bert_tf.serving import export
from bert_tf.serving import precision
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


@pytest.mark.parametrize("name", ["question_answering", "tagger", "pretrainer", "encoder",
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
