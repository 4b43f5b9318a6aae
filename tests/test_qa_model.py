"""The span head (checkpoints of both formats, loss, Keras-native use), and the served graph
against run_squad's numpy path."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import save_file

from bert_tf import checkpoints
from bert_tf.models.bert import BertEncoder
from bert_tf.tokenization import BertTokenizer
from tasks.question_answering import graph
from tasks.question_answering.features import make_features
from tasks.question_answering.model import BertSpanLabeler
from tasks.question_answering.postprocess import postprocess
from tasks.question_answering.squad import Example
from tasks.question_answering.objective import SpanObjective
from test_checkpoints_hf import hf_release
from test_qa_data import CONTEXTS, QUESTIONS, learned_bpe
from testing import BATCH, SEQ, minilm_dir, random_inputs, tiny_config


def test_config_round_trip_keras_file_and_mixed_precision(tmp_path):
    keras.utils.set_random_seed(2)
    config = tiny_config()
    model = BertSpanLabeler(config)
    inputs = random_inputs(config)
    expected = model(inputs)
    assert expected["start_logits"].shape == (BATCH, SEQ) and expected["end_logits"].dtype == tf.float32
    clone = BertSpanLabeler.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    path = str(tmp_path / "span.keras")
    model.save(path)
    for other in (clone, keras.saving.load_model(path)):
        for key in expected:
            np.testing.assert_array_equal(other(inputs)[key], expected[key])
    mixed = BertSpanLabeler(config, dtype="mixed_bfloat16")
    mixed.set_weights(model.get_weights())
    got = mixed(inputs)["start_logits"]
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got, expected["start_logits"], atol=0.1)


def test_hugging_face_and_google_squad_checkpoints_load_strictly(tmp_path):
    """BertForQuestionAnswering (no pooler, `qa_outputs`) in; Google's run_squad names out."""
    config = tiny_config()
    arrays = hf_release(tmp_path / "hf", config, prefix="bert.")
    for name in ("bert.pooler.dense.weight", "bert.pooler.dense.bias"):
        del arrays[name]  # Hugging Face's QA model has no pooler
    rng = np.random.default_rng(4)
    head = rng.standard_normal((2, config.hidden_size)).astype(np.float32)
    arrays["qa_outputs.weight"], arrays["qa_outputs.bias"] = head, np.array([0.5, -1.0],
                                                                            np.float32)
    save_file(arrays, str(tmp_path / "hf" / "model.safetensors"))

    model = BertSpanLabeler.from_pretrained(str(tmp_path / "hf"))
    np.testing.assert_array_equal(model.span.kernel.numpy(), head.T)
    encoder = BertEncoder.from_pretrained(str(tmp_path / "hf"))  # the pooler may be absent
    inputs = random_inputs(config)
    sequence = encoder(inputs)["sequence_output"].numpy()  # [B, T, H]
    out = model(inputs)
    np.testing.assert_allclose(out["start_logits"], sequence @ head[0] + 0.5, atol=1e-5)
    np.testing.assert_allclose(out["end_logits"], sequence @ head[1] - 1.0, atol=1e-5)

    prefix = model.save_pretrained(str(tmp_path / "google"))
    shapes = dict(tf.train.list_variables(prefix))
    assert shapes["cls/squad/output_weights"] == [2, config.hidden_size]
    assert shapes["cls/squad/output_bias"] == [2] and "bert/pooler/dense/kernel" in shapes
    again = BertSpanLabeler.from_pretrained(str(tmp_path / "google"))
    np.testing.assert_array_equal(again(inputs)["end_logits"], out["end_logits"])
    assert again.checkpoint_holds_head(checkpoints.resolve(str(tmp_path / "hf")))
    assert not again.checkpoint_holds_head(checkpoints.resolve(minilm_dir()))  # encoder only


def test_span_loss_matches_reference_and_ignores_padding():
    rng = np.random.default_rng(0)
    lengths = np.array([7, 3, 5, 2, 6])
    width = 7
    mask = (np.arange(width)[None] < lengths[:, None]).astype(np.int32)
    starts = np.array([3, 0, 4, 1, 2], np.int32)
    ends = np.array([5, 2, 4, 1, 2], np.int32)
    logits = {side: rng.standard_normal((5, width)).astype(np.float32) for side in ("start", "end")}

    def reference(side, labels):
        total = 0.0
        for row, length in enumerate(lengths):
            values = logits[side][row, :length].astype(np.float64)
            total += np.log(np.exp(values).sum()) - values[labels[row]]
        return total

    objective = SpanObjective()
    batch = {"input_ids": mask, "input_mask": mask, "start_positions": starts,
             "end_positions": ends}
    outputs = {f"{side}_logits": tf.constant(value) for side, value in logits.items()}
    sums = objective.sums(batch, outputs)
    expected = (reference("start", starts) + reference("end", ends)) / 2
    np.testing.assert_allclose(sums["loss_sum"], expected, rtol=1e-5)
    assert float(sums["windows"]) == 5 == float(objective.counts(batch)["windows"])
    # Three more padding columns holding large logits change nothing.
    padded = {key: tf.pad(value, [[0, 0], [0, 3]], constant_values=50.0)
              for key, value in outputs.items()}
    wide = dict(batch, input_ids=np.pad(mask, [[0, 0], [0, 3]]),
                input_mask=np.pad(mask, [[0, 0], [0, 3]]))
    for key, value in objective.sums(wide, padded).items():
        np.testing.assert_allclose(value, sums[key], rtol=1e-6, err_msg=key)


# ------------------------------------------------------------------- the served graph

LONG = " ".join(f"w{i} café Zu\u0308rich" for i in range(40))  # many windows, dropped accents
GRAPH_CONTEXTS = list(CONTEXTS) + [LONG, "x", "\u200b\u00ad", ""]  # no pieces, no characters
GRAPH_QUESTIONS = [QUESTIONS[i % len(QUESTIONS)] for i in range(len(GRAPH_CONTEXTS) - 1)] + [""]


@pytest.fixture(scope="module")
def random_span_model():
    keras.utils.set_random_seed(1)
    # A wide initialization spreads the logits, so that ties (rounding-sensitive) do not occur.
    config = tiny_config(vocab_size=30522, max_position_embeddings=40, initializer_range=0.5)
    tokenizer = BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"), wordpiece="core")
    return BertSpanLabeler(config), tokenizer


@pytest.fixture(scope="module")
def random_bpe_span_model(tmp_path_factory):
    """The same head over ids of a byte-level BPE: RoBERTa's template, all segment ids 0."""
    tokenizer, _ = learned_bpe(str(tmp_path_factory.mktemp("bpe")))
    keras.utils.set_random_seed(1)
    config = tiny_config(vocab_size=tokenizer.vocab_size, max_position_embeddings=40,
                         initializer_range=0.5)
    return BertSpanLabeler(config), tokenizer


@pytest.mark.parametrize("version_2,n_best_size,threshold", [
    (False, 20, 0.0), (True, 1, "median")])
def test_graph_answers_equal_run_squad_predictions(random_span_model, version_2, n_best_size,
                                                  threshold):
    """graph.answer_questions = make_features + the Keras model + postprocess (eagerly here)."""
    check_graph_equals_run_squad(*random_span_model, version_2, n_best_size, threshold)


def test_graph_answers_equal_run_squad_predictions_in_robertas_template(random_bpe_span_model):
    """As above with a BpeTokenizer: windows `<s> q </s></s> c </s>` and trimmed offsets
    built in the graph equal make_features', and so do the answers (SQuAD 2.0's too)."""
    model, tokenizer = random_bpe_span_model
    windows = check_graph_equals_run_squad(model, tokenizer, True, 20, "median")
    s, e = tokenizer.cls_id, tokenizer.sep_id
    questions = [tokenizer.tokenize(q).numpy()[:6].tolist() for q in GRAPH_QUESTIONS]
    for n, example in enumerate(windows["example"].numpy()):
        q = questions[example]
        ids = windows["input_ids"][n, :windows["length"][n]].numpy().tolist()
        assert ids[:len(q) + 3] == [s, *q, e, e] and ids[-1] == e
    assert not windows["segment_ids"].numpy().any()


def check_graph_equals_run_squad(model, tokenizer, version_2, n_best_size, threshold):
    """Runs the comparison; returns the graph's windows."""
    max_seq_length, doc_stride, max_query_length, max_answer_length = 23, 5, 6, 4
    examples = [Example(f"q{i}", q, c, (), False, "t")
                for i, (q, c) in enumerate(zip(GRAPH_QUESTIONS, GRAPH_CONTEXTS))]
    f = make_features(examples, tokenizer, max_seq_length, doc_stride, max_query_length)
    width = max(map(len, f.input_ids))

    def pad(rows):
        return np.array([np.pad(r, (0, width - len(r))) for r in rows])

    out = model({"input_ids": pad(f.input_ids), "segment_ids": pad(f.segment_ids),
                 "input_mask": pad([np.ones_like(r) for r in f.input_ids])})
    logits = out["start_logits"].numpy(), out["end_logits"].numpy()
    if threshold == "median":  # half the questions answered, half not
        odds = postprocess(examples, f, *logits, n_best_size, max_answer_length, True).null_odds
        threshold = float(np.median([v for v in odds.values() if np.isfinite(v)]))
    expected = postprocess(examples, f, *logits, n_best_size, max_answer_length, version_2,
                           threshold)

    questions, contexts = tf.constant(GRAPH_QUESTIONS), tf.constant(GRAPH_CONTEXTS)
    windows = graph.make_windows(tokenizer, questions, contexts, max_seq_length, doc_stride,
                                 max_query_length)
    assert windows["input_ids"].shape[0] == len(f) > 16  # the model runs in several slices
    for n in range(len(f)):
        length = len(f.input_ids[n])
        assert windows["length"][n] == length
        for key, value in (("input_ids", f.input_ids), ("segment_ids", f.segment_ids),
                           ("char_start", f.char_start), ("char_end", f.char_end),
                           ("is_max_context", f.is_max_context)):
            np.testing.assert_array_equal(windows[key][n, :length], value[n], err_msg=key)
    got = graph.answer_questions(model, tokenizer, questions, contexts, max_seq_length,
                                 doc_stride, max_query_length, n_best_size, max_answer_length,
                                 version_2, threshold, windows_per_call=16)
    assert got["truncated"].numpy().tolist() == [len(tokenizer.tokenize(q)) > max_query_length
                                                 for q in GRAPH_QUESTIONS]
    answered = 0
    for i, example in enumerate(examples):
        text = expected.answers[example.qas_id]
        span = expected.char_spans[example.qas_id]
        assert got["answer"][i].numpy().decode() == ("" if text == "empty" else text), i
        assert (got["start"][i], got["end"][i]) == span
        if version_2:
            assert bool(got["has_answer"][i]) == bool(text)
        best = expected.nbest[example.qas_id][0]
        if text and text != "empty" and best["text"] == text:
            np.testing.assert_allclose(got["score"][i], best["start_logit"] + best["end_logit"],
                                       rtol=1e-5)
        answered += bool(text) and text != "empty"
    assert 0 < answered < len(examples)  # the comparison covered spans and no-answers
    # An empty batch.
    none = graph.answer_questions(model, tokenizer, tf.constant([], tf.string),
                                  tf.constant([], tf.string), max_seq_length, doc_stride,
                                  max_query_length, n_best_size, max_answer_length, version_2)
    assert none["answer"].shape == (0,) and none["score"].shape == (0,)
    return windows


# ------------------------------------------------------------------- Keras-native use

def test_keras_loss_is_the_training_loops_span_loss():
    """compile()'s default loss is SpanObjective's: the mean of the start and end
    cross-entropies over each window's real tokens, whatever the padding holds."""
    keras.utils.set_random_seed(3)
    config = tiny_config(initializer_range=0.5)
    model = BertSpanLabeler(config)
    inputs = random_inputs(config)  # rows padded differently
    lengths = inputs["input_mask"].sum(1)
    labels = {"start_positions": (lengths - 1).astype(np.int32),
              "end_positions": np.minimum(1, lengths - 1).astype(np.int32)}
    model.compile()
    got = model.evaluate(inputs, labels, batch_size=BATCH, return_dict=True, verbose=0)
    out = model(inputs)
    total, hits = 0.0, {"start": 0, "end": 0}
    for row, length in enumerate(lengths):
        for side in ("start", "end"):
            values = out[f"{side}_logits"].numpy()[row, :length].astype(np.float64)
            label = labels[f"{side}_positions"][row]
            total += (np.log(np.exp(values).sum()) - values[label]) / 2
            hits[side] += int(values.argmax() == label)
    assert got["loss"] == pytest.approx(total / BATCH, rel=1e-5)
    assert got["start_accuracy"] == pytest.approx(hits["start"] / BATCH)
    assert got["end_accuracy"] == pytest.approx(hits["end"] / BATCH)


def test_keras_fit_evaluate_predict_on_raw_strings(tmp_path):
    """compile() with the defaults, then fit on (question, context) strings through the
    tokenizer layer, the answer's token found in the pipeline: it learns to point at it."""
    keras.utils.set_random_seed(5)
    config = tiny_config(vocab_size=30522, max_position_embeddings=24, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0, initializer_range=0.2)
    model = BertSpanLabeler(config)
    tokenizer = BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"), max_seq_length=20)
    rng = np.random.default_rng(0)
    colors = ["red", "blue", "green", "yellow", "black", "white"]
    filler = ["the", "small", "house", "near", "river", "we", "saw", "old", "car", "door"]
    contexts, answers = [], []
    for _ in range(48):
        words = list(rng.choice(filler, int(rng.integers(3, 12))))
        answers.append(colors[len(contexts) % len(colors)])
        words.insert(int(rng.integers(0, len(words) + 1)), answers[-1])
        contexts.append(" ".join(words))

    def encode(question, context, answer):
        features = tokenizer(question, context)
        answer_id = tokenizer.tokenize(answer).to_tensor()[:, 0]  # [B]: one piece each
        position = tf.argmax(tf.cast(tf.equal(features["input_ids"], answer_id[:, None]),
                                     tf.int32), axis=-1, output_type=tf.int32)
        return features, {"start_positions": position, "end_positions": position}

    # The tokenizer runs in the pipeline once, on evaluate's first pass; fit, the second
    # evaluate and predict read its cached features (each new iterator over the tokenizer's
    # map cost seconds, the steps milliseconds).
    data = (tf.data.Dataset.from_tensor_slices((["what color ?"] * 48, contexts, answers))
            .batch(12).map(encode).cache())
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(data, return_dict=True, verbose=0)
    # One iterator over the repeated set: a new one per epoch costs more than the steps.
    model.fit(data.repeat(), epochs=1, steps_per_epoch=16, verbose=0)
    after = model.evaluate(data, return_dict=True, verbose=0)
    assert after["loss"] < 0.5 * before["loss"]
    # Measured: loss 2.68 -> 0.27, start and end accuracy 0.08 -> 1.0.
    assert after["start_accuracy"] >= 0.8 and after["end_accuracy"] >= 0.8
    predicted = model.predict(data, verbose=0)
    assert predicted["start_logits"].shape == (48, 20)


@pytest.mark.parametrize("windows, slices", [(1, [1]), (3, [4]), (16, [16]), (17, [16, 16])])
def test_a_request_runs_the_model_on_the_windows_it_has(random_span_model, windows, slices):
    """The served graph runs the model on slices of a power of two at or above the request's
    windows, up to windows_per_call: one short context costs one window (it cost
    windows_per_call, mostly padding, before: 220 ms instead of 12 for all-MiniLM-L6-v2)."""
    span_model, _ = random_span_model
    seen = []

    def model(part, training=False):
        seen.append(int(tf.shape(part["input_ids"])[0]))
        return span_model(part, training=training)

    rng = np.random.default_rng(windows)
    inputs = {"input_ids": rng.integers(1, 99, (windows, 9)).astype(np.int32),
              "input_mask": np.ones((windows, 9), np.int32),
              "segment_ids": np.zeros((windows, 9), np.int32)}
    start, end = graph.span_logits(model, {k: tf.constant(v) for k, v in inputs.items()},
                                   windows_per_call=16)
    assert seen == slices
    whole = span_model(inputs)
    np.testing.assert_allclose(start, whole["start_logits"], atol=1e-5)
    np.testing.assert_allclose(end, whole["end_logits"], atol=1e-5)
