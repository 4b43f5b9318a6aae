"""The tagger: its head's checkpoint names, its loss (in Keras too), windows in the graph, and
the served graph against the host pipeline of run_tagging.py; bad input named before anything
is built."""

import json
import os
import random

import keras
import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import save_file

from bert_tf.errors import USER_ERRORS
from bert_tf.serving import export
from bert_tf.tokenization import BertTokenizer
from tasks.tagging import features, metrics, schemes, serving, window_ops, windows
from tasks.tagging.model import BertTagger
from tasks.tagging.run import TaggerRun, TaggerSettings
from tasks.tagging.objective import TaggingObjective
from test_checkpoints_hf import hf_release
from testing import minilm_dir, random_inputs, tiny_config

LABELS = ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]


def vocab_file():
    return os.path.join(minilm_dir(), "vocab.txt")


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(vocab_file(), wordpiece="core")


def tagger(seed=7, **overrides):
    keras.utils.set_random_seed(seed)
    values = dict(vocab_size=30522, max_position_embeddings=64, initializer_range=0.5,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    values.update(overrides)
    return BertTagger(tiny_config(**values), len(LABELS))


def sentences_of(seed, count, lengths):
    """Sentences of words that BERT's basic tokenizer keeps whole; some have several pieces."""
    rng = random.Random(seed)
    words = [w.strip() for w in open(vocab_file(), encoding="utf-8")][3000:3400]
    words = [w for w in words if w.isalpha() and w.isascii()]
    glued = [rng.choice(words) + rng.choice(words) for _ in range(40)]  # several pieces each
    words += [",", ".", "Größe", "naïve", "東"]
    return [[rng.choice(words if rng.random() < 0.7 else glued) for _ in range(rng.choice(lengths))]
            for _ in range(count)]


def host_logits(model, tokenizer, sentences, max_seq_length, stride=None):
    """run_tagging.py's pipeline without the Trainer: rows per window, the model, stitching."""
    encoded = features.SentenceEncoder(tokenizer, max_seq_length, stride)(sentences)
    ids = encoded.examples.sequences["input_ids"]
    logits = model({"input_ids": ids.to_tensor(0), "input_mask": tf.ones_like(ids).to_tensor(0),
                    "segment_ids": tf.zeros_like(ids).to_tensor(0)})["logits"].numpy()
    return encoded, features.word_logits(encoded, logits)


# ------------------------------------------------------------------- model


def test_head_names_in_both_formats_and_no_pooler(tmp_path):
    """A BertForTokenClassification checkpoint (no pooler) loads strictly; Google's format
    stores the head as output_weights [labels, hidden]; both round trips give equal logits."""
    config = tiny_config()
    arrays = hf_release(tmp_path / "hf", config, prefix="bert.")
    del arrays["bert.pooler.dense.weight"], arrays["bert.pooler.dense.bias"]
    head = np.random.default_rng(3).standard_normal((len(LABELS), 12)).astype(np.float32)
    arrays["classifier.weight"], arrays["classifier.bias"] = head, np.arange(5, dtype=np.float32)
    save_file(arrays, str(tmp_path / "hf" / "model.safetensors"))
    model = BertTagger.from_pretrained(str(tmp_path / "hf"), len(LABELS))
    np.testing.assert_array_equal(model.classifier.kernel.numpy(), head.T)
    assert not [v.path for v in model.trainable_variables if "pooler" in v.path]
    inputs = random_inputs(config)
    expected = model(inputs)["logits"].numpy()
    assert expected.shape == (5, 7, len(LABELS))
    model.save_pretrained(str(tmp_path / "google"))
    shapes = tf.train.load_checkpoint(str(tmp_path / "google" / "bert_model.ckpt")
                                      ).get_variable_to_shape_map()
    assert shapes["output_weights"] == [len(LABELS), 12] and shapes["output_bias"] == [5]
    assert not [name for name in shapes if "pooler" in name]
    again = BertTagger.from_pretrained(str(tmp_path / "google"), len(LABELS))
    np.testing.assert_allclose(again(inputs)["logits"].numpy(), expected, atol=1e-6)
    # A Google release of the encoder alone (pooler included): the head starts fresh.
    model.encoder.save_pretrained(str(tmp_path / "encoder"))
    fresh = BertTagger.from_pretrained(str(tmp_path / "encoder"), 3)
    np.testing.assert_array_equal(fresh.encoder.embeddings.word_embeddings.numpy(),
                                  model.encoder.embeddings.word_embeddings.numpy())
    # The config round trip: the same config, and the same logits with the same weights.
    clone = BertTagger.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.config == model.config and clone.num_labels == len(LABELS)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone(inputs)["logits"].numpy(), expected)


def test_loss_counts_only_labelled_positions():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 7, 5)).astype(np.float32)
    labels = np.full((3, 7), -1, np.int32)
    labels[0, [1, 2, 5]], labels[1, [1]], labels[2, [3, 4]] = [0, 4, 2], [1], [3, 3]
    objective = TaggingObjective()
    sums = {k: float(v)
            for k, v in objective.sums({"label_ids": labels}, {"logits": logits}).items()}
    mask = labels >= 0
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -log_probs[mask, labels[mask]].sum()
    assert sums["words"] == 6 == float(objective.counts({"label_ids": labels})["words"])
    assert abs(sums["loss_sum"] - expected) < 1e-4
    assert sums["correct"] == (logits.argmax(-1)[mask] == labels[mask]).sum()


def test_keras_loss_and_accuracy_count_labelled_positions_only():
    """compile()'s default loss and accuracy are TaggingObjective's: positions labelled -1
    (later pieces, [CLS], [SEP], padding) count nowhere."""
    model = tagger(seed=2)
    inputs = random_inputs(model.config)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, len(LABELS), inputs["input_ids"].shape).astype(np.int32)
    labels[rng.random(labels.shape) < 0.4] = -1
    labels[inputs["input_mask"] == 0] = -1
    model.compile()
    got = model.evaluate(inputs, labels, batch_size=len(labels), return_dict=True, verbose=0)
    logits = model(inputs)["logits"].numpy().astype(np.float64)
    mask = labels >= 0
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert got["loss"] == pytest.approx(-log_probs[mask, labels[mask]].mean(), rel=1e-5)
    assert got["accuracy"] == pytest.approx((logits.argmax(-1)[mask] == labels[mask]).mean())


def test_keras_fit_on_two_replicas_equals_one_device():
    """As in the training loop, the Keras loss is normalized by the labelled words of the
    global batch: replicas holding different numbers of them take the one-device step."""
    model = tagger(seed=1)
    inputs = random_inputs(model.config, batch=6)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(LABELS), inputs["input_ids"].shape).astype(np.int32)
    labels[rng.random(labels.shape) < 0.5] = -1
    labels[inputs["input_mask"] == 0] = -1
    start = model.get_weights()
    # No collective ops: every MirroredStrategy of a process numbers its collectives from the
    # same keys and TensorFlow keeps the first shape it saw per key, so collectives here would
    # break the mirrored Trainer tests that run later in the same process.
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    with strategy.scope():
        mirrored = tagger(seed=1)
        mirrored.compile(optimizer=keras.optimizers.SGD(0.5))
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    mirrored.set_weights(start)
    for each in (model, mirrored):
        each.fit(inputs, labels, batch_size=6, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(model.classifier.kernel.numpy(), tagger(seed=1).classifier.kernel)


def test_keras_fit_evaluate_predict_on_raw_strings():
    """compile() with the defaults, then fit on raw sentences through the tokenizer layer,
    each word labelled at its first piece in the pipeline (-1 elsewhere): it learns the tags."""
    keras.utils.set_random_seed(5)
    model = tagger(seed=5, max_position_embeddings=24, initializer_range=0.2)
    tokenizer = BertTokenizer(vocab_file(), max_seq_length=20)
    kinds = {"red": 1, "blue": 1, "green": 1, "black": 1, "cat": 2, "dog": 2, "fox": 2, "cow": 2}
    filler = ["the", "small", "house", "near", "saw", "old", "a", "with", "kingfisher",
              "unwrapped"]  # the last two have several pieces
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(list(kinds) + filler, int(rng.integers(3, 9))))
             for _ in range(48)]
    # A piece's label by its id: the kind of word it starts, -1 for a word's later pieces.
    vocab = tokenizer.vocab
    ids = [i for i, piece in enumerate(vocab) if piece.startswith("##")]
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(ids + [vocab.index(w) for w in kinds], tf.int32),
        tf.constant([-1] * len(ids) + list(kinds.values()), tf.int32)), default_value=0)

    def encode(text):
        features = tokenizer(text)
        ids = features["input_ids"]
        special = (ids == tokenizer.cls_id) | (ids == tokenizer.sep_id) | (ids == tokenizer.pad_id)
        return features, tf.where(special, -1, table.lookup(ids))

    # The tokenizer runs in the pipeline once, on evaluate's first pass; fit, the second
    # evaluate and predict read its cached features (each new iterator over the tokenizer's
    # map cost seconds, the steps milliseconds).
    data = tf.data.Dataset.from_tensor_slices(texts).batch(12).map(encode).cache()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(data, return_dict=True, verbose=0)
    # One iterator over the repeated set: a new one per epoch costs more than the steps.
    model.fit(data.repeat(), epochs=1, steps_per_epoch=16, verbose=0)
    after = model.evaluate(data, return_dict=True, verbose=0)
    # Measured: loss 1.58 -> 0.29, accuracy 0.30 -> 1.0 (about half the words are O).
    assert after["loss"] < 0.5 * before["loss"] and after["accuracy"] >= 0.9
    predicted = model.predict(data, verbose=0)["logits"]
    assert predicted.shape == (48, 20, len(LABELS))


# ------------------------------------------------------------------ windows


def owners_by_window_ops(pieces_per_word, max_seq_length, stride):
    ragged = tf.RaggedTensor.from_row_lengths(
        tf.constant([c for counts in pieces_per_word for c in counts], tf.int64),
        tf.constant([len(counts) for counts in pieces_per_word], tf.int64))
    found = {k: v.numpy() for k, v in window_ops.split(ragged, max_seq_length, stride).items()}
    return [(found["sentence"][k], found["start"][k], found["stop"][k]) for k in found["owner"]]


def owners_by_windows(pieces_per_word, max_seq_length, stride):
    owners = [None] * sum(len(counts) for counts in pieces_per_word)
    offsets = np.concatenate([[0], np.cumsum([len(counts) for counts in pieces_per_word])])
    for w in windows.split(pieces_per_word, max_seq_length, stride):
        for word in range(w.owned_start, w.owned_stop):
            owners[offsets[w.sentence] + word] = (w.sentence, w.start, w.stop)
    return owners


def test_windows_in_the_graph_equal_windows_split():
    rng = random.Random(4)
    sentences = [[rng.choice([1, 1, 2, 3, 9]) for _ in range(rng.choice([0, 1, 5, 23, 61]))]
                 for _ in range(23)]
    for max_seq_length in (3, 7, 13):
        for stride in sorted({1, (max_seq_length - 2) // 2 or 1, max_seq_length - 2}):
            assert (owners_by_window_ops(sentences, max_seq_length, stride)
                    == owners_by_windows(sentences, max_seq_length, stride))
    counts = np.random.default_rng(11).integers(1, 5, size=1000)
    counts[[0, 417, 418, 999]] = [50, 36, 35, 71]  # words longer than a window, or exactly one
    assert owners_by_window_ops([counts.tolist()], 37, 11) == owners_by_windows(
        [counts.tolist()], 37, 11)
    assert owners_by_window_ops([[], []], 7, None) == [] == owners_by_window_ops([], 7, None)


def test_windows_leave_room_for_the_templates_special_tokens():
    """A template of more special tokens per row (special_tokens) leaves fewer pieces to a
    window: the windows of max_seq_length m and s special tokens are those of m - s + 2 and 2."""
    rng = random.Random(5)
    sentences = [[rng.choice([1, 1, 2, 3, 9]) for _ in range(rng.choice([0, 1, 5, 23]))]
                 for _ in range(11)]
    ragged = tf.RaggedTensor.from_row_lengths(
        tf.constant([c for counts in sentences for c in counts], tf.int64),
        tf.constant([len(counts) for counts in sentences], tf.int64))
    for max_seq_length, special_tokens, stride in ((9, 4, 2), (13, 3, None), (6, 5, 1)):
        narrower = max_seq_length - special_tokens + 2
        assert windows.split(sentences, max_seq_length, stride, special_tokens) == (
            windows.split(sentences, narrower, stride))
        got = window_ops.split(ragged, max_seq_length, stride, special_tokens)
        expected = window_ops.split(ragged, narrower, stride)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    with pytest.raises(ValueError, match="at least 5"):
        windows.split(sentences, 4, special_tokens=4)
    with pytest.raises(ValueError, match="max_seq_length - 4 = 2"):
        window_ops.split(ragged, 6, 3, special_tokens=4)


def test_stitched_predictions_equal_one_long_enough_row(tokenizer):
    """With a model whose output at a position depends only on its token (no position
    embeddings, attention values zeroed), every window must give each word the logits its first
    piece gets when the whole sentence is one row: any misplaced piece or word shows."""
    model = tagger()
    named = model.named_weights()
    for path, variable in named.items():
        if path == "embeddings/position_embeddings" or path.endswith("attention/value/kernel"):
            variable.assign(tf.zeros_like(variable))
    sentences = sentences_of(1, 9, [1, 4, 12, 20])
    windowed, by_windows = host_logits(model, tokenizer, sentences, 11, stride=4)
    whole, by_row = host_logits(model, tokenizer, sentences, 64)
    assert len(whole.windows) == len(sentences) - sum(not s for s in sentences)  # all fit
    assert len(windowed.windows) > 2 * len(whole.windows)
    for a, b in zip(by_windows, by_row):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # Words of one sentence do get different answers: the comparison can fail.
    assert len({row.argmax() for rows in by_row for row in rows}) > 1


# ------------------------------------------------------------------ serving


def test_read_tags_equal_repair_and_conlleval_entities():
    rng = random.Random(9)
    labels = ["O", "B-GEO-POL", "B-PER", "I-GEO-POL", "I-PER"]
    sentences = [[rng.randrange(len(labels)) for _ in range(rng.choice([0, 1, 3, 8]))]
                 for _ in range(60)]
    flat = tf.constant([i for s in sentences for i in s], tf.int32)
    within = tf.constant([w for s in sentences for w in range(len(s))], tf.int64)
    tags, kinds, first, last = (t.numpy() for t in serving.read_tags(labels, flat, within))
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])])
    found = [(k.decode(), f, l + 1) for k, f, l in zip(kinds, first, last)]
    expected = []
    for sentence, offset in zip(sentences, offsets):
        repaired = schemes.repair_iob2([labels[i] for i in sentence])
        assert [t.decode() for t in tags[offset:offset + len(sentence)]] == repaired
        expected += [(k, offset + s, offset + e) for k, s, e in metrics.entities(repaired)]
    assert found == expected and len(expected) > 30
    with pytest.raises(export.ExportError, match="'S-PER' is not an IOB2 tag"):
        serving.label_parts(["O", "S-PER"])


def test_served_graph_equals_the_run_pipeline(tokenizer):
    """serving_default and serve_words of the export module, in-process, on long sentences:
    the same words, tags and probabilities as run_tagging.py's windows and stitching."""
    model = tagger(seed=5)
    module = export.ServingModule(model, serving.TAGGER, tokenizer, 13, LABELS, window_stride=3)
    sentences = sentences_of(2, 6, [2, 9, 30]) + [[]]
    texts = ["  ".join(s) if i % 2 else " ".join(s) for i, s in enumerate(sentences)]
    out = {k: v.numpy() for k, v in module.serve_strings(tf.constant(texts)).items()}
    _, expected = host_logits(model, tokenizer, sentences, 13, stride=3)
    longest = max(map(len, sentences))
    serve_words = module.kind.extra_signatures(module)["serve_words"]
    by_words = serve_words(
        words=tf.constant([s + ["pad"] * (longest - len(s)) for s in sentences]),
        num_words=tf.constant([len(s) for s in sentences], tf.int32))
    by_words = {k: v.numpy() for k, v in by_words.items()}
    assert set(by_words) == set(out) - {"word_start", "word_end", "entity_start", "entity_end"}
    for b, (words, text, logits) in enumerate(zip(sentences, texts, expected)):
        n = len(words)
        assert out["num_words"][b] == n == by_words["num_words"][b]
        assert [w.decode() for w in out["words"][b, :n]] == words
        tags = schemes.repair_iob2([LABELS[i] for i in logits.argmax(-1)])
        assert [t.decode() for t in out["tags"][b, :n]] == tags
        assert (out["tags"][b, n:] == b"").all()
        probabilities = np.exp(logits - logits.max(-1, keepdims=True))
        np.testing.assert_allclose(out["tag_probability"][b, :n],
                                   (probabilities / probabilities.sum(-1, keepdims=True)).max(-1),
                                   atol=1e-5)
        spans = zip(out["word_start"][b, :n], out["word_end"][b, :n])
        assert [text[s:e] for s, e in spans] == words
        entities = metrics.entities(tags)
        e = len(entities)
        assert out["num_entities"][b] == e == by_words["num_entities"][b]
        assert [(k.decode(), s, t) for k, s, t in zip(out["entity_type"][b, :e],
                                                      out["entity_word_start"][b, :e],
                                                      out["entity_word_end"][b, :e])] == entities
        for key in ("tags", "entity_type", "entity_word_start", "entity_word_end"):
            np.testing.assert_array_equal(by_words[key][b, :e if "entity" in key else n],
                                          out[key][b, :e if "entity" in key else n])
        for k, (_, s, t) in enumerate(entities):
            start, end = out["entity_start"][b, k], out["entity_end"][b, k]
            assert out["entity_text"][b, k].decode() == text[start:end]
            assert text[start:end].split() == words[s:t]
            assert by_words["entity_text"][b, k].decode() == " ".join(words[s:t])
        assert (out["entity_start"][b, e:] == -1).all() and (out["entity_text"][b, e:] == b"").all()
    assert sum(out["num_entities"]) > 5
    empty = module.serve_strings(tf.constant([], tf.string))
    assert empty["tags"].shape[0] == 0 and empty["entity_text"].shape[0] == 0
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_words must have one count"):
        serve_words(
            words=tf.constant([["a", "b"]]), num_words=tf.constant([3], tf.int32))


# ---------------------------------------------------------------- bad input


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


BAD_INPUT = [
    ({"train": "EU NNP B-ORG\nrejects VBZ O\n\nPeter NNP\n"}, {},
     r"train.txt:4: 2 column\(s\), but the first word line \(.*train.txt:1\) has 3"),
    ({"train": "EU B-ORG\nrejects O\nGerman I-MISC\n"}, {},
     r"train.txt:3: tag 'I-MISC' starts an entity after 'O', which IOB2 does not allow .*"
     r"read it as IOB1"),
    ({"train": "EU B-ORG\nrejects O\n", "dev": "Peter B-PER\n"}, {"do_eval": True},
     r"dev.txt:1: tag 'B-PER' never appears in the training data \(its labels: O B-ORG I-ORG\)"),
    ({"train": ""}, {}, r"train.txt: empty file"),
    ({"train": "-DOCSTART- -X- O\n\n"}, {}, r"train.txt: no sentences, only -DOCSTART- lines"),
    ({"train": "a O\nb O\n"}, {}, r"train.txt: only the tag 'O': nothing to learn"),
    ({"train": "a O\n"}, {"tag_scheme": "bilou"}, r"--tag_scheme: unknown tag scheme 'bilou'"),
    ({"train": "a O\n"}, {"window_stride": 15},
     r"--window_stride must be between 1 and --max_seq_length - 2 = 14, got 15"),
    ({}, {"do_predict": True}, r"--do_predict needs --predict_file"),
]


@pytest.mark.parametrize("files, flags, message", BAD_INPUT)
def test_bad_input_is_one_line_before_anything_is_built(tmp_path, files, flags, message):
    config = tmp_path / "config.json"
    tiny_config(vocab_size=30522, max_position_embeddings=16).to_json_file(str(config))
    settings = TaggerSettings(vocab_file=vocab_file(), bert_config_file=str(config),
                              max_seq_length=16, output_dir=str(tmp_path / "out"),
                              do_train="train" in files)
    for split, flag in (("train", "train_file"), ("dev", "eval_file")):
        if split in files:
            setattr(settings, flag, write(tmp_path / f"{split}.txt", files[split]))
    for name, value in flags.items():
        setattr(settings, name, value)
    if not settings.do_train and not flags:
        settings.do_eval = True
    with pytest.raises(USER_ERRORS) as error:  # what run_tagging.py prints as one line
        TaggerRun.checked(settings)
    assert "\n" not in str(error.value)
    import re
    assert re.search(message, str(error.value)), str(error.value)
    assert not os.path.exists(tmp_path / "out")


def test_evaluating_needs_a_trained_model(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "label_list.txt").write_text("O\nB-X\nI-X\n")
    config = tmp_path / "config.json"
    tiny_config(vocab_size=30522, max_position_embeddings=16).to_json_file(str(config))
    settings = TaggerSettings(vocab_file=vocab_file(), bert_config_file=str(config),
                              max_seq_length=16, output_dir=str(run), do_eval=True,
                              eval_file=write(tmp_path / "dev.jsonl", json.dumps(
                                  {"tokens": ["a", "b"], "tags": ["B-X", "I-X"]}) + "\n"))
    with pytest.raises(USER_ERRORS, match="nothing to evaluate or predict with"):
        TaggerRun.checked(settings)
