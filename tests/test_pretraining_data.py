"""create_pretraining_data: the records' statistics, format compatibility, determinism, errors."""

import dataclasses
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tasks.pretraining import examples as pretraining_data
from tasks.pretraining import inputs as pretraining_inputs
from tasks.pretraining import records as pretraining_records
from tasks.pretraining import serving as pretraining_serving
from bert_tf.errors import UserError
from bert_tf.tokenization import BertTokenizer, BpeTokenizer
from hub_layouts import write_bpe_vocab
from in_process import run_checked, run_script
from testing import minilm_dir, write_corpus

SEQ, PRED = 64, 10

# google-research/bert's run_pretraining.py input spec, written out independently.
ORIGINAL_SPEC = {
    "input_ids": tf.io.FixedLenFeature([SEQ], tf.int64),
    "input_mask": tf.io.FixedLenFeature([SEQ], tf.int64),
    "segment_ids": tf.io.FixedLenFeature([SEQ], tf.int64),
    "masked_lm_positions": tf.io.FixedLenFeature([PRED], tf.int64),
    "masked_lm_ids": tf.io.FixedLenFeature([PRED], tf.int64),
    "masked_lm_weights": tf.io.FixedLenFeature([PRED], tf.float32),
    "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
}


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"))


def make_records(tmp_path, tokenizer, name="out", seed=7, workers=1, shards=2, **flags):
    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        write_corpus(corpus)
    flags = {"max_seq_length": SEQ, "max_predictions_per_seq": PRED, "dupe_factor": 3, **flags}
    options = pretraining_records.options_for(tokenizer, **flags)
    outputs = [str(tmp_path / f"{name}-{i}.tfrecord") for i in range(shards)]
    stats = pretraining_records.create_pretraining_records(
        [str(corpus)], outputs, tokenizer, options, random_seed=seed, num_workers=workers,
        chunk_tokens=6000)
    return outputs, stats


def read_all(files, spec=ORIGINAL_SPEC):
    records = tf.data.TFRecordDataset(files).batch(1 << 20)
    parsed = tf.io.parse_example(next(iter(records)), spec)
    return {k: v.numpy() for k, v in parsed.items()}


def originals(batch):
    """input_ids with the masked positions restored (an independent numpy version)."""
    ids = batch["input_ids"].copy()
    for row in range(len(ids)):
        real = batch["masked_lm_weights"][row] > 0
        ids[row, batch["masked_lm_positions"][row][real]] = batch["masked_lm_ids"][row][real]
    return ids


@pytest.fixture(scope="module")
def records(tmp_path_factory, tokenizer):
    tmp = tmp_path_factory.mktemp("records")
    files, stats = make_records(tmp, tokenizer)
    return tmp, files, stats, read_all(files)


def test_sizes_and_layout(records, tokenizer):
    _, _, stats, r = records
    assert stats.documents == 50 and stats.examples == len(r["input_ids"]) > 500
    ids, mask, seg = originals(r), r["input_mask"], r["segment_ids"]
    lengths = mask.sum(1)
    assert (mask == (np.arange(SEQ) < lengths[:, None])).all()  # mask is a prefix of ones
    assert (ids[mask == 0] == 0).all() and (seg[mask == 0] == 0).all()
    assert (ids[:, 0] == tokenizer.cls_id).all()
    for row in range(len(ids)):
        real = ids[row, :lengths[row]]
        seps = np.flatnonzero(real == tokenizer.sep_id)
        assert len(seps) == 2 and seps[1] == lengths[row] - 1 and seps[0] >= 2
        assert (real == tokenizer.cls_id).sum() == 1
        expected_seg = (np.arange(lengths[row]) > seps[0]).astype(int)
        np.testing.assert_array_equal(seg[row, :lengths[row]], expected_seg)
    # Most examples fill the length; short_seq_prob makes some shorter.
    assert np.mean(lengths >= SEQ - 4) > 0.6 and np.mean(lengths < SEQ // 2) > 0.02


def test_masked_counts_follow_the_rule(records, tokenizer):
    _, _, _, r = records
    lengths = r["input_mask"].sum(1)
    expected = np.minimum(PRED, np.maximum(1, np.round(lengths * 0.15)))
    np.testing.assert_array_equal(r["masked_lm_weights"].sum(1), expected)
    weights = r["masked_lm_weights"] > 0
    # Positions sorted, distinct, inside the example, padding zero.
    pos = r["masked_lm_positions"]
    assert (pos[~weights] == 0).all() and (r["masked_lm_ids"][~weights] == 0).all()
    for row in range(len(pos)):
        p = pos[row][weights[row]]
        assert (np.diff(p) > 0).all() and (p < lengths[row]).all() and (p > 0).all()


def test_no_special_token_is_masked(records, tokenizer):
    _, _, _, r = records
    labels = r["masked_lm_ids"][r["masked_lm_weights"] > 0]
    assert not np.isin(labels, [tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id]).any()


def test_80_10_10(records, tokenizer):
    _, _, _, r = records
    weights = r["masked_lm_weights"] > 0
    shown = np.take_along_axis(r["input_ids"], r["masked_lm_positions"], 1)[weights]
    labels = r["masked_lm_ids"][weights]
    n = len(labels)
    assert n > 8000
    as_mask = np.mean(shown == tokenizer.mask_id)
    kept = np.mean(shown == labels)
    random = 1 - as_mask - kept
    tolerance = 4 * np.sqrt(0.25 / n)  # four standard deviations, at most
    assert abs(as_mask - 0.8) < tolerance and abs(kept - 0.1) < tolerance
    assert abs(random - 0.1) < tolerance
    # Random replacements are spread over the vocabulary.
    replaced = shown[(shown != tokenizer.mask_id) & (shown != labels)]
    assert len(np.unique(replaced)) > 0.9 * len(replaced)
    # Unmasked positions are untouched: the records' ids equal the originals there.
    ids, orig = r["input_ids"], originals(r)
    unmasked = np.ones_like(ids, bool)
    for row in range(len(ids)):
        unmasked[row, r["masked_lm_positions"][row][weights[row]]] = False
    np.testing.assert_array_equal(ids[unmasked], orig[unmasked])


def test_next_sentence_balance(records, tokenizer):
    _, _, _, r = records
    labels = r["next_sentence_labels"][:, 0]
    assert set(np.unique(labels)) == {0, 1}
    # Half random, plus the forced-random single-segment chunks at document ends.
    assert 0.45 < labels.mean() < 0.6, labels.mean()


def test_next_sentences_come_from_the_right_document(records, tokenizer):
    """For label 0, B comes after A in the same document; for label 1, from another one."""
    tmp, _, _, r = records
    documents = open(tmp / "corpus.txt", encoding="utf-8").read().split("\n\n")
    documents = [d for d in documents if d.strip()]
    texts = [" " + t + " " for t in tokenizer.detokenize(
        tokenizer.tokenize(documents)).numpy().astype(str)]

    def where(piece_ids):  # (document, offset) of the first place a piece of text occurs
        words = " ".join(tokenizer.vocab[i] for i in piece_ids).replace(" ##", "")
        found = [(d, t.find(f" {words} ")) for d, t in enumerate(texts) if f" {words} " in t]
        return found[0] if len(found) == 1 else None

    ids, lengths = originals(r), r["input_mask"].sum(1)
    checked = {0: [], 1: []}
    for row in range(len(ids)):
        real = ids[row, :lengths[row]]
        sep = np.flatnonzero(real == tokenizer.sep_id)[0]
        a, b = real[1:sep], real[sep + 1:-1]
        # Four pieces from the middle of each segment (not cut by the random trimming).
        if len(a) < 8 or len(b) < 8:
            continue
        pa, pb = where(a[len(a) // 2:len(a) // 2 + 4]), where(b[len(b) // 2:len(b) // 2 + 4])
        if pa and pb:
            label = r["next_sentence_labels"][row, 0]
            checked[label].append(pa[0] == pb[0] and (label == 1 or pa[1] < pb[1]))
    assert len(checked[0]) > 40 and len(checked[1]) > 40
    assert all(checked[0])  # true continuations: same document, B after A
    assert np.mean(checked[1]) < 0.1  # random ones: another document (rarely the same by chance)


def test_whole_word_masking_takes_whole_words(tmp_path, tokenizer):
    files, _ = make_records(tmp_path, tokenizer, name="wwm", do_whole_word_mask=True)
    r = read_all(files)
    ids, weights = originals(r), r["masked_lm_weights"] > 0
    continuation = np.array([t.startswith("##") for t in tokenizer.vocab])
    pieces = 0
    for row in range(len(ids)):
        masked = np.zeros(SEQ, bool)
        masked[r["masked_lm_positions"][row][weights[row]]] = True
        cont = continuation[ids[row]] & (r["input_mask"][row] > 0)
        pieces += cont[masked].sum()
        # A masked continuation piece has its predecessor masked, and vice versa.
        for p in np.flatnonzero(cont[1:]) + 1:
            if ids[row, p - 1] not in (tokenizer.sep_id, tokenizer.cls_id):
                assert masked[p] == masked[p - 1], (row, p)
    assert pieces > 200  # the test saw many multi-piece words
    budget = np.minimum(PRED, np.maximum(1, np.round(r["input_mask"].sum(1) * 0.15)))
    assert (weights.sum(1) <= budget).all() and weights.sum() > 0.9 * budget.sum()


def test_same_seed_same_bytes_any_worker_count(records, tmp_path, tokenizer):
    tmp, files, _, _ = records
    again, _ = make_records(tmp, tokenizer, name="again", workers=2)
    for a, b in zip(files, again):
        assert open(a, "rb").read() == open(b, "rb").read()
    other, _ = make_records(tmp, tokenizer, name="other", seed=8)
    assert open(files[0], "rb").read() != open(other[0], "rb").read()


def test_records_from_an_independent_writer_feed_our_pipeline(tmp_path):
    """Records written with tf.train.Example the way google-research/bert does."""
    rng = np.random.default_rng(3)
    path = str(tmp_path / "theirs.tfrecord")
    written = []
    with tf.io.TFRecordWriter(path) as writer:
        for _ in range(10):
            values = {
                "input_ids": rng.integers(0, 30522, SEQ), "input_mask": np.ones(SEQ, int),
                "segment_ids": rng.integers(0, 2, SEQ), "masked_lm_positions": rng.integers(1, SEQ, PRED),
                "masked_lm_ids": rng.integers(0, 30522, PRED), "masked_lm_weights": rng.random(PRED),
                "next_sentence_labels": rng.integers(0, 2, 1)}
            feature = {k: tf.train.Feature(float_list=tf.train.FloatList(value=v))
                       if k == "masked_lm_weights" else
                       tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                       for k, v in values.items()}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())
            written.append(values)
    batch = next(iter(pretraining_inputs.pretraining_dataset([path], 10, SEQ, PRED,
                                                              is_training=False)))
    for key in ORIGINAL_SPEC:
        expected = np.stack([w[key] for w in written]).astype(batch[key].dtype.as_numpy_dtype)
        np.testing.assert_allclose(batch[key].numpy(), expected, rtol=1e-7)
        assert batch[key].dtype == (tf.float32 if key == "masked_lm_weights" else tf.int32)


def test_our_records_parse_with_the_original_spec_as_examples(records):
    _, files, _, r = records
    example = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(files[0]))).numpy())
    kinds = {k: f.WhichOneof("kind") for k, f in example.features.feature.items()}
    assert kinds == {k: "float_list" if k == "masked_lm_weights" else "int64_list"
                     for k in ORIGINAL_SPEC}
    assert len(r["input_ids"]) > 0


def test_training_pipeline_batches(records):
    _, files, _, r = records
    data = pretraining_inputs.pretraining_dataset(files, 16, SEQ, PRED, seed=5)
    seen = [b for b in data.take(int(len(r["input_ids"]) / 16) + 5)]  # repeats past one epoch
    assert all(b["input_ids"].shape == (16, SEQ) for b in seen)
    assert seen[0]["next_sentence_labels"].shape == (16, 1)


def test_dynamic_masking(records, tmp_path, tokenizer):
    tmp, files, _, r = records
    unmasked, _ = make_records(tmp, tokenizer, name="plain", mask=False)
    spec = {k: v for k, v in ORIGINAL_SPEC.items() if k in pretraining_data.UNMASKED_FEATURES}
    plain = read_all(unmasked, spec)
    # Masking comes after building the examples: the same seed gives the same text.
    np.testing.assert_array_equal(plain["input_ids"], originals(r))
    options = pretraining_inputs.MaskingOptions.from_tokenizer(tokenizer)
    n = len(plain["input_ids"])
    data = pretraining_inputs.pretraining_dataset(unmasked, n, SEQ, PRED, is_training=False,
                                                  masking=options, seed=1)
    first, second = [b for b in data.repeat(2)]
    assert not np.array_equal(first["masked_lm_positions"], second["masked_lm_positions"])
    def rows(a):  # the pipeline interleaves the two files: compare as sets of rows
        return a[np.lexsort(a.T[::-1])]

    for batch in (first, second):
        batch = {k: v.numpy() for k, v in batch.items()}
        np.testing.assert_array_equal(rows(originals(batch)), rows(plain["input_ids"]))
        lengths = batch["input_mask"].sum(1)
        expected = np.minimum(PRED, np.maximum(1, np.round(lengths * 0.15)))
        np.testing.assert_array_equal(batch["masked_lm_weights"].sum(1), expected)
        labels = batch["masked_lm_ids"][batch["masked_lm_weights"] > 0]
        assert not np.isin(labels, [tokenizer.cls_id, tokenizer.sep_id]).any()
    shown = np.take_along_axis(first["input_ids"].numpy(), first["masked_lm_positions"].numpy(), 1)
    weights = first["masked_lm_weights"].numpy() > 0
    assert abs(np.mean(shown[weights] == tokenizer.mask_id) - 0.8) < 0.03
    # Masked records can be re-masked too: their originals are restored first.
    remasked = next(iter(pretraining_inputs.pretraining_dataset(
        files, n, SEQ, PRED, is_training=False, masking=options, seed=2)))
    np.testing.assert_array_equal(rows(originals({k: v.numpy() for k, v in remasked.items()})),
                                  rows(plain["input_ids"]))


def test_dynamic_whole_word_masking(records, tokenizer):
    _, files, _, r = records
    options = pretraining_inputs.MaskingOptions.from_tokenizer(tokenizer, whole_word=True)
    batch = next(iter(pretraining_inputs.pretraining_dataset(
        files, 256, SEQ, PRED, is_training=False, masking=options, seed=3)))
    batch = {k: v.numpy() for k, v in batch.items()}
    ids = originals(batch)
    continuation = np.array([t.startswith("##") for t in tokenizer.vocab])
    budget = np.minimum(PRED, np.maximum(1, np.round(batch["input_mask"].sum(1) * 0.15)))
    weights = batch["masked_lm_weights"] > 0
    assert (weights.sum(1) <= budget).all() and weights.sum() > 0.8 * budget.sum()
    for row in range(len(ids)):
        masked = np.zeros(SEQ, bool)
        masked[batch["masked_lm_positions"][row][weights[row]]] = True
        for p in np.flatnonzero(continuation[ids[row, 1:]]) + 1:
            if ids[row, p - 1] not in (tokenizer.sep_id, tokenizer.cls_id):
                assert masked[p] == masked[p - 1]


def test_check_records_names_file_and_feature(records, tmp_path):
    _, files, _, _ = records
    with pytest.raises(pretraining_inputs.RecordError,
                       match=r"out-0.tfrecord: record 0: feature 'input_ids' is int64_list of "
                             r"length 64, expected int64_list of length 128"):
        pretraining_inputs.pretraining_dataset(files, 4, 128, PRED)
    with pytest.raises(FileNotFoundError, match="missing.tfrecord"):
        pretraining_inputs.pretraining_dataset([str(tmp_path / "missing.tfrecord")], 4, SEQ, PRED)


def test_bad_record_inside_a_file_is_named(records, tmp_path):
    _, files, _, _ = records
    bad = str(tmp_path / "bad.tfrecord")
    good = list(tf.data.TFRecordDataset(files[0]).take(3).as_numpy_iterator())
    wrong = tf.train.Example(features=tf.train.Features(feature={
        "input_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 2, 3]))}))
    with tf.io.TFRecordWriter(bad) as writer:
        for record in good + [wrong.SerializeToString()]:
            writer.write(record)
    data = pretraining_inputs.pretraining_dataset([bad], 4, SEQ, PRED, is_training=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"bad.tfrecord:record 3.*input_ids"):
        list(data)
    spec = pretraining_inputs.feature_spec(SEQ, PRED)
    with pytest.raises(pretraining_inputs.RecordError, match=r"bad.tfrecord: record 3: .*input_ids"):
        pretraining_inputs.find_bad_record([files[0], bad], spec)


def test_corrupt_file_is_named(records, tmp_path):
    _, files, _, _ = records
    data = bytearray(open(files[1], "rb").read())
    data[len(data) // 2] ^= 0xFF
    corrupt = tmp_path / "corrupt.tfrecord"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(tf.errors.DataLossError):
        list(pretraining_inputs.pretraining_dataset([str(corrupt)], 4, SEQ, PRED, is_training=False))
    spec = pretraining_inputs.feature_spec(SEQ, PRED)
    with pytest.raises(pretraining_inputs.RecordError, match=r"corrupt.tfrecord: truncated or corrupted after"):
        pretraining_inputs.find_bad_record([files[0], str(corrupt)], spec)


def test_bad_text_input(tmp_path, tokenizer):
    text = tmp_path / "corpus.txt"
    text.write_bytes(b"A fine line.\nAnother one.\n\nbroken \xff line\n")
    options = pretraining_records.options_for(tokenizer, max_seq_length=SEQ)
    with pytest.raises(ValueError, match=r"corpus.txt:4: line is not valid UTF-8"):
        pretraining_records.create_pretraining_records([str(text)], [str(tmp_path / "o")],
                                                       tokenizer, options, num_workers=1)
    text.write_text("\n\n  \n")
    with pytest.raises(ValueError, match="no text in"):
        pretraining_records.create_pretraining_records([str(text)], [str(tmp_path / "o")],
                                                       tokenizer, options, num_workers=1)


def test_scripts_from_text_to_vocab_to_records(tmp_path):
    """The README's path: build_vocab.py, then create_pretraining_data.py with that vocab
    (their main()s in this process; the second spawns two worker processes)."""
    corpus = write_corpus(tmp_path / "corpus.txt", documents=10, sentences=20)
    vocab = tmp_path / "vocab.txt"
    run_checked("build_vocab.py", f"--input_file={corpus}", "--vocab_size=800",
                f"--output_file={vocab}")
    tokens = vocab.read_text(encoding="utf-8").split("\n")[:-1]
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and 600 < len(tokens) <= 800
    out = tmp_path / "train.tfrecord"
    done = run_checked("create_pretraining_data.py", f"--input_file={corpus}",
                       f"--output_file={out}", f"--vocab_file={vocab}", "--max_seq_length=32",
                       "--max_predictions_per_seq=5", "--dupe_factor=2", "--num_workers=2",
                       "--chunk_tokens=500")
    assert "examples" in done.stdout
    spec = {k: tf.io.FixedLenFeature([v.shape[0] if k not in ("input_ids", "input_mask", "segment_ids")
                                      else 32], v.dtype) for k, v in ORIGINAL_SPEC.items()}
    spec["masked_lm_positions"] = spec["masked_lm_ids"] = tf.io.FixedLenFeature([5], tf.int64)
    spec["masked_lm_weights"] = tf.io.FixedLenFeature([5], tf.float32)
    parsed = read_all([str(out)], spec)
    assert len(parsed["input_ids"]) > 50
    assert (parsed["input_ids"][:, 0] == 2).all()  # [CLS] is id 2 in the learned vocab


# ------------------------------------------------------------ RoBERTa's template (BPE)


@pytest.fixture(scope="module")
def bpe_records(tmp_path_factory):
    """Records written with a byte-level BPE learned from the corpus: RoBERTa's template."""
    tmp = tmp_path_factory.mktemp("bpe_records")
    write_corpus(tmp / "corpus.txt")
    lines = (tmp / "corpus.txt").read_text(encoding="utf-8").splitlines()
    write_bpe_vocab(str(tmp / "bpe"), [line for line in lines if line.strip()], 300)
    tokenizer = BpeTokenizer.from_pretrained(str(tmp / "bpe"))
    files, _ = make_records(tmp, tokenizer, workers=0, shards=1, dupe_factor=1)
    return tokenizer, files, read_all(files)


def special_positions(ids, length, tokenizer):
    """Where `<s> A </s></s> B </s>` puts its special tokens in one example, checking it."""
    real = ids[:length]
    ends = np.flatnonzero(real == tokenizer.sep_id)
    assert real[0] == tokenizer.cls_id and (real == tokenizer.cls_id).sum() == 1
    assert len(ends) == 3 and ends[1] == ends[0] + 1 and ends[2] == length - 1
    assert ends[0] >= 2 and ends[2] - ends[1] >= 2  # neither segment empty
    return np.concatenate([[0], ends])


def test_roberta_template_records(bpe_records):
    """google-research/bert's features laid out `<s> A </s></s> B </s>`, padded with <pad>,
    segment ids 0; no special token and no padding is ever masked."""
    tokenizer, _, r = bpe_records
    ids, mask = originals(r), r["input_mask"]
    lengths = mask.sum(1)
    assert len(ids) > 200
    assert (mask == (np.arange(SEQ) < lengths[:, None])).all()
    assert (ids[mask == 0] == tokenizer.pad_id).all() and not r["segment_ids"].any()
    weights = r["masked_lm_weights"] > 0
    expected = np.minimum(PRED, np.maximum(1, np.round(lengths * 0.15)))
    np.testing.assert_array_equal(weights.sum(1), expected)
    for row in range(len(ids)):
        specials = special_positions(ids[row], lengths[row], tokenizer)
        masked = r["masked_lm_positions"][row][weights[row]]
        assert not np.isin(masked, specials).any() and (masked < lengths[row]).all()
    labels = r["masked_lm_ids"][weights]
    assert not np.isin(labels, tokenizer.template.special_ids + (tokenizer.pad_id,)).any()
    assert np.mean(lengths >= SEQ - 5) > 0.6  # pairs fill the length less the 4 special tokens


def test_roberta_template_dynamic_masking(bpe_records):
    """In-graph masking excludes every id of the template, and unmasking restores the text."""
    tokenizer, files, r = bpe_records
    options = pretraining_inputs.MaskingOptions.from_tokenizer(tokenizer)
    assert set(options.special_ids) == {tokenizer.cls_id, tokenizer.sep_id}
    batch = next(iter(pretraining_inputs.pretraining_dataset(
        files, len(r["input_ids"]), SEQ, PRED, is_training=False, masking=options, seed=4)))
    batch = {k: v.numpy() for k, v in batch.items()}
    ids = originals(batch)
    np.testing.assert_array_equal(ids, originals(r))
    weights = batch["masked_lm_weights"] > 0
    lengths = batch["input_mask"].sum(1)
    for row in range(len(weights)):
        specials = special_positions(ids[row], lengths[row], tokenizer)
        assert not np.isin(batch["masked_lm_positions"][row][weights[row]], specials).any()
    assert weights.sum() > 1000


def test_roberta_options_need_room_and_stay_free_of_tensorflow(bpe_records):
    """A pair takes 4 special tokens, so the shortest example is 6; Options (its template
    included) unpickles in a process that loads no TensorFlow, as the record workers do."""
    tokenizer, _, _ = bpe_records
    with pytest.raises(UserError, match="--max_seq_length must be at least 6, got 5"):
        pretraining_records.options_for(tokenizer, max_seq_length=5)
    options = pretraining_records.options_for(tokenizer, max_seq_length=6)
    code = ("import pickle, sys; options = pickle.load(sys.stdin.buffer); "
            "print(options.template.special_ids, sorted(m for m in sys.modules "
            "if m.split('.')[0] == 'tensorflow'))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(options), cwd=root,
                          capture_output=True, check=True)
    assert done.stdout.decode().split() == ["(0,", "2)", "[]"]


def test_roberta_template_frames_masked_text_for_serving(bpe_records):
    """The pretrainer export's text: `<s> ... </s>`, each literal <mask> (the tokenizer's mask
    token; [MASK] is plain text) the mask id, taking the whitespace before it as Hugging Face's
    RoBERTa <mask> does, cut to max_seq_length, padded with <pad>."""
    tokenizer, _, _ = bpe_records
    module = type("Module", (), {"tokenizer": tokenizer, "max_seq_length": 12})()
    texts = ["the  <mask> of", "", "<mask>", "the first of the many words in it" * 2,
             "a [MASK]"]
    got = pretraining_serving._encode_masked(module, tf.constant(texts))
    s, e, m, pad = tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id, tokenizer.pad_id

    def pieces(text):
        return tokenizer.tokenize(text).numpy().tolist()

    rows = [[s, *pieces("the"), m, *pieces(" of"), e], [s, e], [s, m, e],
            [s, *pieces(texts[3])[:10], e], [s, *pieces("a [MASK]"), e]]
    width = max(map(len, rows))
    assert got["input_ids"].numpy().tolist() == [r + [pad] * (width - len(r)) for r in rows]
    assert got["input_mask"].numpy().tolist() == [[1] * len(r) + [0] * (width - len(r))
                                                  for r in rows]
    assert not got["segment_ids"].numpy().any()
    assert got["truncated"].numpy().tolist() == [False, False, False, True, False]


# ------------------------------------------------------------ RoBERTa's full sentences


def test_full_sentence_blocks_pack_whole_sentences_across_documents():
    """Blocks of at most 8 tokens (6 between <s> and </s>): sentences whole and in order, a
    </s> between two documents inside a block, a sentence longer than a block run on from
    the block being filled; unmasked blocks written once, masked ones dupe_factor times."""
    from bert_tf.tokenization.template import Template

    s, e, pad = 0, 2, 1
    documents = [[np.array([10, 11, 12]), np.array([13, 14])],
                 [np.arange(20, 29)],  # 9 tokens: longer than a block
                 [np.array([30]), np.array([31, 32])],
                 [np.arange(40, 47)]]  # 7 tokens, starting after 31 32 </s>
    chunk = pretraining_data.Chunk.from_documents(documents)
    options = pretraining_data.Options(max_seq_length=8, template=Template.roberta(s, e, pad),
                                       full_sentences=True, vocab_size=60, mask_id=59,
                                       mask=False, dupe_factor=3)
    cuts = pretraining_data.full_sentence_cuts(chunk, options)
    tokens, lengths = pretraining_data.assemble_full_sentences(chunk, cuts, options)
    assert tokens.tolist() == [[s, 10, 11, 12, 13, 14, e, pad],
                               [s, 20, 21, 22, 23, 24, 25, e],
                               [s, 26, 27, 28, e, 30, e, pad],
                               [s, 31, 32, e, 40, 41, 42, e],
                               [s, 43, 44, 45, 46, e, pad, pad]]
    assert lengths.tolist() == [7, 8, 7, 8, 6]
    parse = {k: v for k, v in ORIGINAL_SPEC.items() if k != "next_sentence_labels"}
    parse = {k: tf.io.FixedLenFeature([8 if v.shape[0] == SEQ else 3], v.dtype)
             for k, v in parse.items()}
    written = pretraining_data.process_chunk(chunk, 5, options)
    rows = tf.io.parse_example(written, {k: parse[k] for k in pretraining_data.UNMASKED_FEATURES
                                         if k in parse})
    assert sorted(rows["input_ids"].numpy().tolist()) == sorted(tokens.tolist())
    assert not rows["segment_ids"].numpy().any()
    masked = dataclasses.replace(options, mask=True, max_predictions_per_seq=3)
    rows = tf.io.parse_example(pretraining_data.process_chunk(chunk, 5, masked), parse)
    assert len(rows["input_ids"]) == 15  # three copies, each masked its own way
    labels = rows["masked_lm_ids"].numpy()[rows["masked_lm_weights"].numpy() > 0]
    assert len(labels) == 3 * 5 and not np.isin(labels, [s, e, pad]).any()  # one per block


@pytest.fixture(scope="module")
def full_sentences(tmp_path_factory):
    """create_pretraining_data.py on a RoBERTa directory's BPE: full sentences by default."""
    tmp = tmp_path_factory.mktemp("full_sentences")
    corpus = write_corpus(tmp / "corpus.txt", documents=12, sentences=4)
    lines = (tmp / "corpus.txt").read_text(encoding="utf-8").splitlines()
    write_bpe_vocab(str(tmp / "bpe"), [line for line in lines if line.strip()], 300)
    out = tmp / "full.tfrecord"
    run_checked("create_pretraining_data.py", f"--input_file={corpus}", f"--output_file={out}",
                f"--vocab_file={tmp / 'bpe'}", f"--max_seq_length={FULL}", "--num_workers=0")
    tokenizer = BpeTokenizer.from_pretrained(str(tmp / "bpe"))
    return tmp, tokenizer, lines, str(out)


FULL = 37  # --max_seq_length of the full-sentence records


def test_roberta_full_sentence_records(full_sentences):
    """`<s> sentences </s>` padded with <pad>, segment ids 0, no next_sentence_labels, unmasked:
    every token of the corpus once, in blocks that fill the length but whole sentences allow,
    with a </s> where a block crosses into the next document."""
    tmp, tokenizer, lines, path = full_sentences
    first = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(path))).numpy())
    assert sorted(first.features.feature) == ["input_ids", "input_mask", "segment_ids"]
    r = read_all([path], {k: tf.io.FixedLenFeature([FULL], tf.int64)
                          for k in ("input_ids", "input_mask", "segment_ids")})
    ids, lengths = r["input_ids"], r["input_mask"].sum(1)
    s, e, pad = tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id
    assert (r["input_mask"] == (np.arange(FULL) < lengths[:, None])).all()
    assert not r["segment_ids"].any() and (ids[r["input_mask"] == 0] == pad).all()
    assert (ids[:, 0] == s).all() and (ids[np.arange(len(ids)), lengths - 1] == e).all()
    inner = ids[:, 1:][np.arange(1, FULL)[None, :] < lengths[:, None] - 1]
    assert not (inner == s).any()
    separators = (inner == e).sum()
    documents = sum(1 for i, line in enumerate(lines) if line.strip() and (
        i == 0 or not lines[i - 1].strip()))
    assert documents == 12 and 1 <= separators <= documents - 1  # packing crosses documents
    words = tokenizer.tokenize([line for line in lines if line.strip()]).flat_values.numpy()
    np.testing.assert_array_equal(np.sort(inner[inner != e]), np.sort(words))
    assert lengths.max() == FULL and lengths.mean() > 0.85 * FULL  # measured: 0.947 (76 blocks)


def test_roberta_full_sentences_mask_dynamically_and_flags_fail_fast(full_sentences, tmp_path):
    """In-graph masking of full-sentence records never masks <s> or a </s> (the separators
    included); flags that have no meaning for them are one-line errors."""
    tmp, tokenizer, _, path = full_sentences
    assert pretraining_inputs.inspect_records([path], FULL, 5) == pretraining_inputs.RecordLayout(
        masked=False, next_sentence=False)
    options = pretraining_inputs.MaskingOptions.from_tokenizer(tokenizer)
    batch = next(iter(pretraining_inputs.pretraining_dataset(
        [path], 64, FULL, 5, is_training=False, masking=options, seed=4)))
    assert "next_sentence_labels" not in batch
    labels = batch["masked_lm_ids"].numpy()[batch["masked_lm_weights"].numpy() > 0]
    assert len(labels) > 200 and not np.isin(labels, [tokenizer.cls_id, tokenizer.sep_id]).any()
    common = (f"--input_file={tmp / 'corpus.txt'}", f"--output_file={tmp_path / 'x'}",
              f"--vocab_file={tmp / 'bpe' / 'vocab.json'}")
    for flag, message in (
            ("--do_lower_case", "--do_lower_case does not apply to the byte-level BPE"),
            ("--do_whole_word_mask", "--do_whole_word_mask needs a WordPiece vocab.txt"),
            ("--short_seq_prob=0.2", "--short_seq_prob applies to sentence pairs"),
            ("--dupe_factor=5", "--dupe_factor applies to masks drawn here")):
        done = run_script("create_pretraining_data.py", *common, flag)
        assert done.returncode == 1 and message in done.stderr, (flag, done.stderr)
    assert not os.path.exists(tmp_path / "x")
