"""BpeTokenizer against Hugging Face `tokenizers` (the reference byte-level BPE), and its errors.

A small byte-level BPE is learned with `tokenizers` from a generated corpus and
saved both as vocab.json + merges.txt and as tokenizer.json; the comparisons run
on a corpus generated with another seed.
"""

import json
import os
import random
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from bert_tf.errors import MissingFileError, UserError
from bert_tf.tokenization import BpeTokenizer, BpeVocabError, Template, truncated_pair_lengths
from bert_tf.tokenization import byte_level
from testing import called_functions
from tokenizer_corpus import bpe_corpus, fuzz_texts

TRAIN = bpe_corpus(600, seed=1)
HELD_OUT = bpe_corpus(300, seed=2) + fuzz_texts(1500, seed=3)
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0-3 as RoBERTa's; <mask> comes last


def _with_plain_specials(texts):
    """Texts without a special token's spelling (the reference would match it as that token)."""
    return [t for t in texts if not any(s in t for s in SPECIALS + ["<mask>"])]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A learned byte-level BPE saved as vocab.json + merges.txt (`files`) and tokenizer.json (`json`)."""
    hf = Tokenizer(models.BPE(unk_token="<unk>"))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    hf.train_from_iterator(TRAIN, trainer)
    hf.add_special_tokens(["<mask>"])
    files = tmp_path_factory.mktemp("bpe_files")
    hf.model.save(str(files))  # merges.txt with its #version header, vocab.json without <mask>
    vocab = hf.get_vocab(with_added_tokens=True)
    (files / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    only_json = tmp_path_factory.mktemp("bpe_json")
    hf.save(str(only_json / "tokenizer.json"))
    return {"files": files, "json": only_json, "vocab": vocab}


def reference(trained, add_prefix_space=False, unk_token="<unk>"):
    """The reference pipeline: ByteLevel pre-tokenizer (offsets untrimmed) + BPE, no added tokens."""
    files = trained["files"]
    hf = Tokenizer(models.BPE.from_file(str(files / "vocab.json"), str(files / "merges.txt"),
                                        unk_token=unk_token))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space,
                                                trim_offsets=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    return hf


@pytest.fixture(scope="module")
def ours(trained):
    return BpeTokenizer.from_pretrained(trained["files"])


@pytest.fixture(scope="module")
def ours_prefixed(trained):
    return BpeTokenizer.from_pretrained(trained["files"], add_prefix_space=True)


def assert_same_as_reference(tokenizer, hf, texts):
    """Ids and offsets equal the reference's; run as a graph, as in training and exports."""
    graph = tf.function(tokenizer.tokenize_with_offsets,
                        input_signature=[tf.TensorSpec([None], tf.string)])
    ids, starts, ends = graph(tf.constant(texts))
    expected = hf.encode_batch(texts, add_special_tokens=False)
    mismatches = []
    for i, (text, e) in enumerate(zip(texts, expected)):
        spans = list(zip(starts[i].numpy().tolist(), ends[i].numpy().tolist()))
        if ids[i].numpy().tolist() != e.ids or spans != [tuple(o) for o in e.offsets]:
            mismatches.append((text, ids[i].numpy().tolist(), e.ids, spans, e.offsets))
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, e.g. {mismatches[:2]}"
    return ids, starts, ends


def test_tokenizers_of_one_content_share_their_graphs(trained, ours, ours_prefixed):
    """As BertTokenizer's (test_tokenization): inside a tf.function, a second tokenizer of the
    same vocabulary and merges calls the graph the first one traced; add_prefix_space or
    another merge list is another content, whose graph answers for it."""
    texts = tf.constant(["Hello world, again", "  spaced  out", ""])
    pairs = tf.constant(["a second text", "", "x"])
    same = BpeTokenizer.from_vocab_file(trained["json"] / "tokenizer.json")
    fewer = BpeTokenizer(trained["vocab"], ours.merges[:len(ours.merges) // 3])
    assert same.graph_key == ours.graph_key
    assert len({ours.graph_key, ours_prefixed.graph_key, fewer.graph_key}) == 3
    called = [called_functions(tf.function(lambda a, b: tokenizer.encode(a, b, 16)), texts,
                               pairs) for tokenizer in (ours, same, fewer)]
    assert called[0] == called[1] and len(called[0]) == 1
    assert len(set.union(called[0], called[2])) == 2
    got = tf.function(lambda a, b: fewer.encode(a, b, 16))(texts, pairs)["input_ids"]
    np.testing.assert_array_equal(got, fewer.encode(texts, pairs, 16)["input_ids"])
    assert got.numpy().tolist() != ours.encode(texts, pairs, 16)["input_ids"].numpy().tolist()


def test_special_tokens_and_vocab(ours, trained):
    assert (ours.cls_id, ours.pad_id, ours.sep_id, ours.unk_id) == (0, 1, 2, 3)
    assert ours.mask_id == ours.vocab_size - 1 == trained["vocab"]["<mask>"]
    assert ours.vocab_size == len(trained["vocab"]) and ours.vocab[ours.mask_id] == "<mask>"
    assert ours.token_to_id("Ġ") == trained["vocab"]["Ġ"] and ours.id_to_token(2) == "</s>"
    assert len(ours.merges) > 500  # a real merge list: the parity tests exercise it


def test_pre_tokenization_matches_hugging_face():
    """GPT-2's regex, lookahead emulated: the pieces of every text, runs of white space included."""
    hf = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    texts = HELD_OUT + fuzz_texts(3000, seed=4, max_length=20)
    pieces = byte_level.split(tf.constant(texts)).to_list()
    alphabet = byte_level.byte_alphabet()
    mismatches = []
    for text, got in zip(texts, pieces):
        got = ["".join(alphabet[b] for b in piece) for piece in got]
        expected = [piece for piece, _ in hf.pre_tokenize_str(text)]
        if got != expected:
            mismatches.append((text, got, expected))
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, e.g. {mismatches[:3]}"


def test_character_classes_match_hugging_face():
    """Letters, digits and white space as Oniguruma's Unicode tables say, for every code point
    of the planes in use (0-3, 14) and a sample of the rest."""
    rng = random.Random(0)
    code_points = [cp for cp in [*range(0x40000), *range(0xE0000, 0xE1000)]
                   if not 0xD800 <= cp <= 0xDFFF]
    code_points += rng.sample(range(0x40000, 0x110000), 2000)
    probes = [f"a{c}1{c}!{c}  {c}" for c in map(chr, code_points)]
    hf = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    expected = [[end - start for _, (start, end) in hf.pre_tokenize_str(p)] for p in probes]
    got = tf.strings.length(byte_level.split(tf.constant(probes)), unit="UTF8_CHAR").to_list()
    differ = [hex(cp) for cp, g, e in zip(code_points, got, expected) if g != e]
    assert not differ, f"{len(differ)} code points split differently: {differ[:20]}"


@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_ids_and_offsets_match_hugging_face(trained, ours, ours_prefixed, add_prefix_space):
    tokenizer = ours_prefixed if add_prefix_space else ours
    hf = reference(trained, add_prefix_space)
    ids, starts, ends = assert_same_as_reference(tokenizer, hf, HELD_OUT)
    # The comparison covers merges, long words, and characters whose bytes went to several
    # tokens: each of those tokens spans the whole character, as in the reference.
    flat = ids.flat_values.numpy()
    assert len(set(flat)) > 300 and len(HELD_OUT) > 1500
    assert max(len(t) for t in HELD_OUT) >= 1500
    spans = np.stack([starts.flat_values.numpy(), ends.flat_values.numpy()], 1)
    same_row = ids.value_rowids().numpy()[1:] == ids.value_rowids().numpy()[:-1]
    shared = same_row & (spans[1:] == spans[:-1]).all(1) & (spans[1:, 1] - spans[1:, 0] == 1)
    assert shared.sum() > 20


def test_tokenizer_json_gives_the_same_ids(trained, ours):
    from_json = BpeTokenizer.from_pretrained(trained["json"])
    assert from_json.vocab == ours.vocab and from_json.merges == ours.merges
    assert not from_json.add_prefix_space  # as its ByteLevel pre-tokenizer says
    texts = HELD_OUT[:300]
    assert from_json.tokenize(texts).to_list() == ours.tokenize(texts).to_list()
    # Merges written as "left right" strings (older tokenizer.json files) read the same.
    config = json.loads((trained["json"] / "tokenizer.json").read_text(encoding="utf-8"))
    config["model"]["merges"] = [" ".join(m) for m in config["model"]["merges"]]
    config["pre_tokenizer"]["add_prefix_space"] = True
    older = trained["json"].parent / "bpe_json_strings"
    older.mkdir(exist_ok=True)
    (older / "tokenizer.json").write_text(json.dumps(config), encoding="utf-8")
    strings = BpeTokenizer.from_pretrained(older)
    assert strings.merges == ours.merges and strings.add_prefix_space


def test_whole_tokenizer_json_matches_on_plain_text(trained, ours):
    """Hugging Face's own tokenizer.json, special tokens and all, on texts that spell none."""
    hf = Tokenizer.from_file(str(trained["json"] / "tokenizer.json"))
    texts = _with_plain_specials(HELD_OUT)
    expected = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    assert ours.tokenize(texts).to_list() == expected


def test_special_token_text_is_plain_text(ours):
    """"<mask>" typed in the input is ordinary text, as BertTokenizer reads "[MASK]"."""
    ids = ours.tokenize("a <mask> b </s>").numpy().tolist()
    assert ours.mask_id not in ids and ours.sep_id not in ids
    assert ours.detokenize(ids).numpy().decode() == "a <mask> b </s>"


def test_a_merge_list_out_of_order_merges_as_the_reference(trained):
    """Merges shuffled so that many rank below the merges making their parts: one merge per
    word and step, lowest (rank, position) first, is the reference's order exactly."""
    files = trained["files"]
    merges = [tuple(line.split(" ")) for line in
              (files / "merges.txt").read_text(encoding="utf-8").splitlines()[1:]]
    random.Random(7).shuffle(merges)
    shuffled = BpeTokenizer(trained["vocab"], merges)
    assert not shuffled._bpe.all_at_once
    hf = Tokenizer(models.BPE(trained["vocab"], merges, unk_token="<unk>"))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False)
    assert_same_as_reference(shuffled, hf, HELD_OUT[:600])
    # Where merging every occurrence at once differs: (ab, a) ranks before (a, b).
    vocab = {t: i for i, t in enumerate(SPECIALS + ["<mask>", "a", "b", "ab", "aba"])}
    tricky = BpeTokenizer(vocab, [("ab", "a"), ("a", "b")])
    hf = Tokenizer(models.BPE(vocab, [("ab", "a"), ("a", "b")], unk_token="<unk>"))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False)
    assert_same_as_reference(tricky, hf, ["abab", "ababab", "aab", "abba"])
    assert tricky.convert_ids_to_tokens(tricky.tokenize("abab")).numpy().tolist() == [b"aba", b"b"]


def test_bytes_missing_from_the_vocab_are_unk():
    """A vocabulary without some bytes' characters: each such byte is one <unk>, as the
    reference with unk_token="<unk>" (and no fusing) gives."""
    alphabet = byte_level.byte_alphabet()
    tokens = SPECIALS + ["<mask>"] + [alphabet[b] for b in range(ord("a"), ord("z") + 1)]
    tokens += [alphabet[ord(" ")], "Ġt", "he", "Ġthe"]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]
    ours = BpeTokenizer(vocab, merges)
    hf = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>"))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False)
    ids, _, _ = assert_same_as_reference(ours, hf, ["the café 東京 the", "A1 the", "🙂", "he he"])
    assert (ids.flat_values.numpy() == ours.unk_id).sum() > 10


@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_tokenize_words_matches_pretokenized_input(trained, ours, ours_prefixed,
                                                   add_prefix_space):
    """Each word on its own (a prefix space before each word with add_prefix_space), as
    `tokenizers` does with is_pretokenized=True; a word without tokens is one <unk>."""
    tokenizer = ours_prefixed if add_prefix_space else ours
    hf = reference(trained, add_prefix_space)
    sentences = [t.split() for t in HELD_OUT[:250]]
    sentences += [["", "x", " y", "\t", "don't", "🙂"], [" ", "  z"], [""], []]
    got = tokenizer.tokenize_words(tf.ragged.constant(sentences, dtype=tf.string)).to_list()
    for words, pieces in zip(sentences, got):
        encoding = hf.encode(words, is_pretokenized=True, add_special_tokens=False)
        expected = [[] for _ in words]
        for token_id, word in zip(encoding.ids, encoding.word_ids):
            expected[word].append(token_id)
        expected = [p or [tokenizer.unk_id] for p in expected]
        assert pieces == expected, words


@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_encode_matches_roberta_processing(trained, ours, ours_prefixed, add_prefix_space):
    tokenizer = ours_prefixed if add_prefix_space else ours
    hf = reference(trained, add_prefix_space)
    hf.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False,
                                                     add_prefix_space=add_prefix_space)
    texts = [t for t in HELD_OUT[:400] if len(t) < 200]
    pairs = texts[::-1]
    single = tokenizer.encode_ragged(texts, max_seq_length=512)
    pair = tokenizer.encode_ragged(texts, pairs, max_seq_length=512)
    assert not single["truncated"].numpy().any() and not pair["truncated"].numpy().any()
    for got, encodings in [(single, hf.encode_batch(texts)),
                           (pair, hf.encode_batch(list(zip(texts, pairs))))]:
        assert got["input_ids"].to_list() == [e.ids for e in encodings]
        assert got["segment_ids"].to_list() == [e.type_ids for e in encodings]  # all 0


def test_encode_layout_padding_and_pair_truncation(ours):
    a, b = "one two three four five six", "seven eight nine"
    ids_a, ids_b = ours.tokenize(a).numpy().tolist(), ours.tokenize(b).numpy().tolist()
    s, e = ours.cls_id, ours.sep_id
    for max_seq_length in (5, 9, 12, 40):
        out = ours.encode([a], [b], max_seq_length=max_seq_length, return_truncated=True)
        keep_a, keep_b = (int(k[0]) for k in truncated_pair_lengths(
            [len(ids_a)], [len(ids_b)], max_seq_length - 4))
        expected = [s] + ids_a[:keep_a] + [e, e] + ids_b[:keep_b] + [e]
        padding = max_seq_length - len(expected)
        np.testing.assert_array_equal(out["input_ids"][0], expected + [ours.pad_id] * padding)
        np.testing.assert_array_equal(out["input_mask"][0], [1] * len(expected) + [0] * padding)
        np.testing.assert_array_equal(out["segment_ids"][0], [0] * max_seq_length)
        assert out["truncated"].numpy()[0] == (len(ids_a) + len(ids_b) > max_seq_length - 4)
    single = ours.encode([a, "x"], max_seq_length=4, pad_to_max_length=False,
                         return_truncated=True)
    np.testing.assert_array_equal(single["input_ids"],
                                  [[s] + ids_a[:2] + [e], [s, ours.token_to_id("x"), e, 1]])
    np.testing.assert_array_equal(single["truncated"], [True, False])
    with pytest.raises(ValueError, match="max_seq_length 4 leaves no room"):
        ours.encode([a], [b], max_seq_length=4)


def test_templates():
    bert, roberta = Template.bert(101, 102, 0), Template.roberta(0, 2, 1)
    assert (bert.special_count(False), bert.special_count(True)) == (2, 3)
    assert (roberta.special_count(False), roberta.special_count(True)) == (2, 4)
    a, b = tf.ragged.constant([[7, 8], []]), tf.ragged.constant([[9], [5, 6]])
    out = bert.encode_ragged(a, b, 10)
    assert out["input_ids"].to_list() == [[101, 7, 8, 102, 9, 102], [101, 102, 5, 6, 102]]
    assert out["segment_ids"].to_list() == [[0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 1]]
    out = roberta.encode_ragged(a, b, 10)
    assert out["input_ids"].to_list() == [[0, 7, 8, 2, 2, 9, 2], [0, 2, 2, 5, 6, 2]]
    assert out["segment_ids"].to_list() == [[0] * 7, [0] * 6]
    padded = roberta.pad(roberta.encode_ragged(a, None, 10), 6)
    np.testing.assert_array_equal(padded["input_ids"], [[0, 7, 8, 2, 1, 1], [0, 2, 1, 1, 1, 1]])


def test_template_layouts_agree():
    """The ragged, one-example numpy and fixed-width row forms of both templates give the same
    frames and segment ids, and segment_starts / length point at the segments."""
    rng = np.random.default_rng(7)
    lengths_a, lengths_b = rng.integers(0, 5, 9), rng.integers(0, 5, 9)
    a = [rng.integers(10, 99, n).astype(np.int32) for n in lengths_a]
    b = [rng.integers(10, 99, n).astype(np.int32) for n in lengths_b]
    ragged_a, ragged_b = (tf.ragged.constant([x.tolist() for x in xs], tf.int32, ragged_rank=1)
                          for xs in (a, b))
    for template in (Template.bert(101, 102, 0), Template.roberta(0, 2, 1)):
        for pair in (False, True):
            second = ragged_b if pair else None
            ids = template.frame(ragged_a, second).to_list()
            segments = template.segment_ids(ragged_a, second).to_list()
            flags = template.frame(tf.ones_like(ragged_a, tf.bool),
                                   tf.ones_like(ragged_b, tf.bool) if pair else None,
                                   special=False).to_list()
            width = 16
            special, row_segments = template.layout_rows(
                lengths_a, lengths_b if pair else None, width)
            for i in range(len(a)):
                one = template.frame_array(a[i], b[i] if pair else None)
                assert ids[i] == one.tolist() and one.dtype == np.int32
                length = template.length(len(a[i]), len(b[i]) if pair else None)
                assert len(one) == length <= width
                one_segments = template.segment_id_array(len(a[i]), len(b[i]) if pair else None)
                assert segments[i] == one_segments.tolist() == row_segments[i][:length].tolist()
                assert not row_segments[i][length:].any()
                a_at, b_at = template.segment_starts(len(a[i]))
                assert one[a_at:a_at + len(a[i])].tolist() == a[i].tolist()
                if pair:
                    assert one[b_at:b_at + len(b[i])].tolist() == b[i].tolist()
                is_special = ~np.array(flags[i])
                assert (special[i][:length][is_special] == one[is_special]).all()
                assert (special[i][:length][~is_special] == -1).all()
                assert (special[i][length:] == -1).all()
                assert set(one[is_special]) <= set(template.special_ids)
                assert is_special.sum() == template.special_count(pair)


def test_detokenize_round_trips_and_matches_the_decoder(trained, ours):
    texts = HELD_OUT[:500]
    assert ours.detokenize(ours.tokenize(texts)).numpy().tolist() == [t.encode() for t in texts]
    # Dense input with padding, and special tokens kept as their text.
    dense = ours.encode(["Héllo 🙂"], max_seq_length=16)["input_ids"]
    assert ours.detokenize(dense).numpy()[0].decode() == "<s>Héllo 🙂</s>"
    # Every token alone and random pairs: bytes of a cut character become U+FFFD as in the
    # reference's decoder.
    hf = reference(trained)
    rng = random.Random(1)
    sequences = [[i] for i in range(ours.vocab_size) if i != ours.pad_id]
    sequences += [rng.sample(range(5, ours.vocab_size), 2) for _ in range(500)]
    got = ours.detokenize(tf.ragged.constant(sequences)).numpy().tolist()
    expected = [hf.decode(s, skip_special_tokens=False).encode() for s in sequences]
    differ = [(s, g, e) for s, g, e in zip(sequences, got, expected) if g != e]
    assert not differ, differ[:5]
    assert any("\ufffd" in e.decode() for e in expected)


def test_empty_inputs(ours):
    assert ours.tokenize("").numpy().tolist() == []
    assert ours.tokenize(["", ""]).to_list() == [[], []]
    assert ours.tokenize(tf.constant([], tf.string)).to_list() == []
    ids, starts, ends = ours.tokenize_with_offsets(["", "a"])
    assert ids.row_lengths().numpy().tolist() == [0, 1] and ends.to_list() == [[], [1]]
    assert ours.encode_ragged([""])["input_ids"].to_list() == [[ours.cls_id, ours.sep_id]]


def test_non_utf8_input_names_the_example(ours):
    texts = tf.constant([b"fine", b"bad \xff here", "fine \ufffd".encode()])
    with pytest.raises(ValueError, match=r"not valid UTF-8 in example\(s\) at index \[1\]"):
        ours.tokenize(texts)
    graph = tf.function(ours.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not valid UTF-8"):
        graph(texts)


def test_file_errors(trained, tmp_path):
    with pytest.raises(MissingFileError, match=str(tmp_path)):
        BpeTokenizer.from_pretrained(tmp_path)
    files = trained["files"]
    vocab = (files / "vocab.json").read_text(encoding="utf-8")
    lines = (files / "merges.txt").read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "vocab.json").write_text(vocab, encoding="utf-8")
    cases = [
        (lines[:2] + ["a b c"] + lines[2:], r"broken/merges.txt:3: expected two tokens"),
        (lines[:3] + ["Ġ zzzz"] + lines[3:], r"broken/merges.txt:4: 'zzzz' of the merge"),
        (lines[:1] + ["", "a b"], r"broken/merges.txt:2: expected two tokens"),
    ]
    for merges, message in cases:
        (broken / "merges.txt").write_text("\n".join(merges) + "\n", encoding="utf-8")
        with pytest.raises(BpeVocabError, match=message):
            BpeTokenizer.from_pretrained(broken)
    (broken / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    without_mask = {k: v for k, v in trained["vocab"].items() if k != "<mask>"}
    (broken / "vocab.json").write_text(json.dumps(without_mask), encoding="utf-8")
    with pytest.raises(BpeVocabError, match=r"broken/vocab.json lacks .*<mask>"):
        BpeTokenizer.from_pretrained(broken)
    (broken / "vocab.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BpeVocabError, match=r"broken/vocab.json: not valid JSON"):
        BpeTokenizer.from_pretrained(broken)
    config = json.loads((trained["json"] / "tokenizer.json").read_text(encoding="utf-8"))
    config["normalizer"] = {"type": "NFC"}
    only_json = tmp_path / "only_json"
    only_json.mkdir()
    (only_json / "tokenizer.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(UserError, match=r"only_json/tokenizer.json: normalizer 'NFC'"):
        BpeTokenizer.from_pretrained(only_json)
    with pytest.raises(BpeVocabError, match=r"merges\[1\]: 'zzzz' of the merge"):
        BpeTokenizer(trained["vocab"], [lines[1].split(" "), ("Ġ", "zzzz")])


def test_layer_in_a_model_and_config_round_trip(ours):
    layer = BpeTokenizer(ours.vocab_file, ours.merges_file, add_prefix_space=True,
                         max_seq_length=9)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is BpeTokenizer
    assert clone.max_seq_length == 9 and clone.add_prefix_space and clone.vocab == ours.vocab
    assert clone.merges == ours.merges
    texts = tf.constant(["Hello there", "a b"])
    fn = tf.function(lambda t: clone(t), input_signature=[tf.TensorSpec([None], tf.string)])
    got = fn(texts)
    for key, value in layer(texts).items():
        np.testing.assert_array_equal(got[key], value)
    text_in = keras.Input(shape=(), dtype="string")
    model = keras.Model(text_in, clone(text_in))
    np.testing.assert_array_equal(model(texts)["input_ids"], got["input_ids"])


# Loads the export with TensorFlow alone: no bert_tf importable (another working
# directory, PYTHONPATH unset) and tensorflow_text never imported.
FRESH_CLIENT = """
import json, sys
import tensorflow as tf
module = tf.saved_model.load(sys.argv[1])
texts = json.load(open(sys.argv[2], encoding="utf-8"))
single = module.encode(tf.constant(texts))
pair = module.encode_pair(tf.constant(texts), tf.constant(texts[::-1]))
print(json.dumps({"single": single["input_ids"].numpy().tolist(),
                  "pair": pair["input_ids"].numpy().tolist(),
                  "modules": sorted(m for m in sys.modules
                                    if m.split(".")[0] in ("bert_tf", "tensorflow_text"))}))
"""


@pytest.mark.slow  # make test: RoBERTa's export in test_family_scripts' fresh client
def test_saved_model_loads_with_stock_tensorflow(ours, tmp_path):
    texts = _with_plain_specials(HELD_OUT[:60]) + ["don't   stop\t\n", "東京 🙂"]

    class Export(tf.Module):
        def __init__(self, tokenizer):
            super().__init__()
            self.tokenizer = tokenizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def encode(self, texts):
            return self.tokenizer.encode(texts, max_seq_length=48)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2)
        def encode_pair(self, texts, pairs):
            return self.tokenizer.encode(texts, pairs, max_seq_length=48)

    tf.saved_model.save(Export(ours), str(tmp_path / "export"))
    (tmp_path / "client.py").write_text(FRESH_CLIENT)
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    done = subprocess.run([sys.executable, "client.py", str(tmp_path / "export"), "texts.json"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                          env={"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["modules"] == []
    assert got["single"] == ours.encode(texts, max_seq_length=48)["input_ids"].numpy().tolist()
    assert got["pair"] == ours.encode(texts, texts[::-1],
                                      max_seq_length=48)["input_ids"].numpy().tolist()
