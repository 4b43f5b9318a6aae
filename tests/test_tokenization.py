"""BertTokenizer against Hugging Face `tokenizers` (the reference WordPiece), and its errors."""

import json
import logging
import os
import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from bert_tf.tokenization import normalization as text_normalization
from bert_tf.tokenization import BertTokenizer, VocabError, truncated_pair_lengths
from bert_tf.tokenization.vocab_learning import count_words, learn_vocab
from testing import called_functions, minilm_dir
from tokenizer_corpus import parity_corpus

CORPUS = parity_corpus()


def reference_uncased():
    hf = Tokenizer.from_file(os.path.join(minilm_dir(), "tokenizer.json"))
    hf.no_padding()
    hf.no_truncation()
    return hf


def reference_for_vocab(tokens, lower_case):
    hf = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]",
                                    max_input_chars_per_word=100))
    hf.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                               strip_accents=None, lowercase=lower_case)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return hf


@pytest.fixture(scope="module")
def uncased():
    return BertTokenizer.from_pretrained(minilm_dir())


@pytest.fixture(scope="module")
def cased_vocab(tmp_path_factory):
    """A cased vocab learned from the corpus plus some English-like text."""
    path = tmp_path_factory.mktemp("cased") / "corpus.txt"
    filler = ["The Quick Brown Fox jumps over the Lazy Dog in New York and São Paulo.",
              "Transformers changed NLP; BERT was Pre-Trained on Wikipedia and BooksCorpus."]
    path.write_text("\n".join(CORPUS * 2 + filler * 50), encoding="utf-8")
    tokens = learn_vocab(count_words([str(path)], lower_case=False), vocab_size=1500)
    vocab_file = path.parent / "vocab.txt"
    vocab_file.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return str(vocab_file), tokens


def assert_same_as_reference(ours, hf, texts, check_offsets=True):
    ids, starts, ends = ours.tokenize_with_offsets(tf.constant(texts))
    mismatches = []
    for i, text in enumerate(texts):
        expected = hf.encode(text, add_special_tokens=False)
        got = ids[i].numpy().tolist()
        if got != expected.ids:
            mismatches.append((text, got, expected.ids))
        elif check_offsets:
            spans = list(zip(starts[i].numpy().tolist(), ends[i].numpy().tolist()))
            if spans != [tuple(o) for o in expected.offsets]:
                mismatches.append((text, spans, expected.offsets))
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, e.g. {mismatches[:3]}"


def test_corpus_is_varied():
    assert len(CORPUS) >= 300
    joined = "".join(CORPUS)
    assert {"Mn", "Cc", "Cf", "Co", "Zs", "Lo", "So", "Po"} <= {unicodedata.category(c) for c in joined}
    assert "" in CORPUS and any(len(t) >= 120 and " " not in t for t in CORPUS)


def literal_special_tokens(text):
    return any(t in text for t in ("[UNK]", "[CLS]", "[SEP]", "[MASK]", "[PAD]"))


def test_uncased_parity_with_hugging_face(uncased):
    assert uncased.do_lower_case  # from tokenizer_config.json
    assert_same_as_reference(uncased, reference_uncased(),
                             [t for t in CORPUS if not literal_special_tokens(t)])


def test_special_token_text_is_plain_text(uncased):
    """"[MASK]" typed in the input is three ordinary tokens, as in google-research/bert.

    (The shipped tokenizer.json instead matches such strings as special
    "added tokens" before normalizing; the WordPiece pipeline itself does not.)
    """
    texts = [t for t in CORPUS if literal_special_tokens(t)]
    assert len(texts) >= 3
    assert_same_as_reference(uncased, reference_for_vocab(uncased.vocab, lower_case=True), texts)
    assert uncased.mask_id not in uncased.tokenize("[MASK]").numpy()


def test_cased_parity_with_hugging_face(cased_vocab):
    vocab_file, tokens = cased_vocab
    ours = BertTokenizer(vocab_file, do_lower_case=False)
    hf = reference_for_vocab(tokens, lower_case=False)
    assert_same_as_reference(ours, hf, CORPUS)
    # The vocab is really cased, and the test really exercises pieces and [UNK].
    ids = ours.tokenize(CORPUS).flat_values.numpy()
    assert len(set(ids)) > 200 and (ids == ours.unk_id).sum() > 0
    assert any(t.startswith("##") for t in ours.vocab) and any(t.isupper() for t in ours.vocab)


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_core_ops_wordpiece_gives_the_same_ids(uncased, cased_vocab, casing):
    """The core-TensorFlow WordPiece (for exports without tensorflow-text) equals the fast one."""
    if casing == "uncased":
        text_backend = uncased
        core = BertTokenizer(uncased.vocab, do_lower_case=True, wordpiece="core")
    else:
        text_backend = BertTokenizer(cased_vocab[0], do_lower_case=False)
        core = BertTokenizer(cased_vocab[0], do_lower_case=False, wordpiece="core")
    expected = text_backend.tokenize_with_offsets(tf.constant(CORPUS))
    got = tf.function(core.tokenize_with_offsets)(tf.constant(CORPUS))
    for a, b in zip(expected, got):
        assert a.to_list() == b.to_list()
    assert (expected[0].flat_values.numpy() == core.unk_id).sum() > 0  # [UNK] paths exercised


def test_traced_once_per_vocabulary_and_options(uncased):
    """Inside a tf.function a tokenizer calls graphs traced once per process for its
    vocabulary and options (each trace of a script's input pipeline or an export used to
    build its thousands of ops again): a second tokenizer of the same content calls the same
    graph; another vocabulary, casing, WordPiece implementation or length gets its own."""
    texts = tf.constant(["Größe Café, DÉJÀ vu!", "The Quick Brown Fox", ""])
    pairs = tf.constant(["naïve RÉSUMÉ", "", "Wikipedia and BooksCorpus"])
    swapped = list(uncased.vocab)  # another vocabulary: two words trade ids
    a, b = swapped.index("quick"), swapped.index("fox")
    swapped[a], swapped[b] = swapped[b], swapped[a]
    same = BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"))
    others = [BertTokenizer(swapped), BertTokenizer(uncased.vocab, wordpiece="core"),
              BertTokenizer(uncased.vocab, do_lower_case=False)]
    assert same.graph_key == uncased.graph_key
    assert len({uncased.graph_key, *(other.graph_key for other in others)}) == 4
    called = [called_functions(tf.function(lambda a, b: tokenizer.encode(a, b, length)),
                               texts, pairs)
              for tokenizer, length in [(uncased, 16), (same, 16), (others[0], 16), (uncased, 7)]]
    assert called[0] == called[1] and len(called[0]) == 1
    assert len(set.union(called[0], called[2], called[3])) == 3
    # A graph of its own answers for its own content (the scripts' and exports' tests check
    # the graphs' answers against eager ones at length; these really differ).
    got = tf.function(lambda a, b: others[0].encode(a, b, 16))(texts, pairs)["input_ids"]
    np.testing.assert_array_equal(got, others[0].encode(texts, pairs, 16)["input_ids"])
    assert got.numpy().tolist() != uncased.encode(texts, pairs, 16)["input_ids"].numpy().tolist()


def test_known_traps_of_the_stock_tokenizer(uncased):
    """Where tensorflow-text's own BertTokenizer differs from the reference; we must not."""
    traps = ["Straße", "ﬁnancial", "ＡＢＣ", "ΟΔΟΣ ς", "a\ue000b", "x\u1680y", "é" * 60,
             "a\x07b", "\u200b"]
    assert_same_as_reference(uncased, reference_uncased(), traps)


def test_cjk_normalizes_to_cjk_only():
    """Equivalence the normalizer relies on (see text_normalization.ALONE)."""
    for lower in (True, False):
        for cp in range(0x2E80, 0x30000):
            out = text_normalization.normalize_char(cp, lower, lower)
            assert all(text_normalization.is_cjk(ord(c)) == text_normalization.is_cjk(cp)
                       for c in out.strip()), hex(cp)


def test_offsets_point_into_the_original(uncased):
    text = "Héllo, naïve Wörld! 東京 unaffable"
    ids, starts, ends = uncased.tokenize_with_offsets(text)
    spans = [text[s:e] for s, e in zip(starts.numpy(), ends.numpy())]
    assert spans == ["Héllo", ",", "naïve", "Wörld", "!", "東", "京", "una", "ffa", "ble"]
    assert uncased.convert_ids_to_tokens(ids).numpy().tolist()[-3:] == [b"una", b"##ffa", b"##ble"]


def test_detokenize(uncased):
    ids = uncased.tokenize(["Hello, unaffable world!", "x"])
    np.testing.assert_array_equal(uncased.detokenize(ids).numpy(),
                                  [b"hello , unaffable world !", b"x"])
    dense = uncased.encode(["unaffable"], max_seq_length=9)["input_ids"]
    assert uncased.detokenize(dense).numpy()[0] == b"[CLS] unaffable [SEP]"


def test_encode_dynamic_padding_and_truncation_flag(uncased):
    out = uncased.encode(["a b", "one two three four five"], max_seq_length=5,
                         pad_to_max_length=False, return_truncated=True)
    assert out["input_ids"].shape == (2, 5)
    np.testing.assert_array_equal(out["truncated"], [False, True])
    short = uncased.encode(["a", "b c"], max_seq_length=50, pad_to_max_length=False,
                           return_truncated=True)
    assert short["input_ids"].shape == (2, 4) and not short["truncated"].numpy().any()
    pair = uncased.encode(["a b c"], ["d e"], max_seq_length=7, return_truncated=True)
    assert pair["truncated"].numpy()[0]  # 5 tokens + 3 specials > 7


def test_encode_layout_and_padding(uncased):
    out = uncased.encode(["a b c", "hello"], ["d e", "world wide web"], max_seq_length=11)
    cls, sep = uncased.cls_id, uncased.sep_id
    a, b, c, d, e = (uncased.token_to_id(t) for t in "abcde")
    np.testing.assert_array_equal(out["input_ids"][0], [cls, a, b, c, sep, d, e, sep, 0, 0, 0])
    np.testing.assert_array_equal(out["segment_ids"][0], [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(out["input_mask"][0], [1] * 8 + [0] * 3)
    assert all(v.dtype == tf.int32 and v.shape == (2, 11) for v in out.values())
    single = uncased.encode("hello world", max_seq_length=3)  # room for one token
    np.testing.assert_array_equal(single["input_ids"], [[cls, uncased.token_to_id("hello"), sep]])


def test_pair_truncation_matches_the_original_loop():
    def original(la, lb, budget):  # google-research/bert's _truncate_seq_pair, on lengths
        while la + lb > budget:
            if la > lb:
                la -= 1
            else:
                lb -= 1
        return la, lb

    cases = [(la, lb, m) for la in range(0, 13) for lb in range(0, 13) for m in range(1, 15)]
    la, lb, m = (np.array(x) for x in zip(*cases))
    keep_a, keep_b = truncated_pair_lengths(la, lb, m)
    expected = np.array([original(*c) for c in cases])
    np.testing.assert_array_equal(np.stack([keep_a, keep_b], 1), expected)


def test_layer_in_a_model_and_config_round_trip(uncased):
    layer = BertTokenizer(uncased.vocab, do_lower_case=True, max_seq_length=9)
    clone = BertTokenizer.from_config(layer.get_config())
    assert clone.max_seq_length == 9 and clone.vocab == uncased.vocab
    texts = tf.constant(["Hello there", "a b"])
    fn = tf.function(lambda t: clone(t), input_signature=[tf.TensorSpec([None], tf.string)])
    got = fn(texts)
    for key, value in layer(texts).items():
        np.testing.assert_array_equal(got[key], value)
    text_in = keras.Input(shape=(), dtype="string")
    model = keras.Model(text_in, clone(text_in))
    np.testing.assert_array_equal(model(texts)["input_ids"], got["input_ids"])


def test_non_utf8_input_names_the_example(uncased):
    texts = tf.constant([b"fine", b"also fine", b"bad \xff\xfe here", "fine \ufffd".encode()])
    with pytest.raises(ValueError, match=r"not valid UTF-8 in example\(s\) at index \[2\]"):
        uncased.tokenize(texts)
    graph = tf.function(uncased.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not valid UTF-8 in example\(s\) at index\] \[2\]"):
        graph(texts)
    assert graph(texts[3:]).shape[0] == 1  # a real U+FFFD is fine


def test_vocab_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        BertTokenizer(str(tmp_path / "nope.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(VocabError, match="empty.txt is empty"):
        BertTokenizer(str(empty))
    partial = tmp_path / "partial.txt"
    partial.write_text("[PAD]\n[UNK]\n[CLS]\nhello\n")
    with pytest.raises(VocabError, match=r"partial.txt lacks .*\[SEP\].*\[MASK\]"):
        BertTokenizer(str(partial))
    dup = tmp_path / "dup.txt"
    dup.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhi\nhi\n")
    with pytest.raises(VocabError, match=r"dup.txt:7: token 'hi' repeats line 6"):
        BertTokenizer(str(dup))
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"[PAD]\n[UNK]\n\xff\n")
    with pytest.raises(VocabError, match=r"bin.txt:3: not UTF-8"):
        BertTokenizer(str(binary))


def test_casing_mismatch_warns(cased_vocab, caplog):
    vocab_file, _ = cased_vocab
    with caplog.at_level(logging.WARNING):
        BertTokenizer(vocab_file, do_lower_case=True)
    assert "do_lower_case=True" in caplog.text and "looks cased" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"), do_lower_case=False)
    assert "looks uncased" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        BertTokenizer(vocab_file, do_lower_case=False)
    assert "looks" not in caplog.text


def test_casing_from_directory(cased_vocab, tmp_path):
    vocab_file, tokens = cased_vocab
    for name, config, expected in [("cased_L-2_H-128_A-2", None, False),
                                   ("uncased_L-2_H-128_A-2", None, True),
                                   ("mine", {"do_lower_case": True}, True),
                                   ("plain", None, False)]:  # plain: from the cased vocab
        directory = tmp_path / name
        directory.mkdir()
        (directory / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
        if config:
            (directory / "tokenizer_config.json").write_text(json.dumps(config))
        assert BertTokenizer.from_pretrained(str(directory)).do_lower_case is expected, name


def test_vocab_learning_guesses_the_threshold_from_the_word_counts(tmp_path, monkeypatch):
    """The learner's threshold is guessed from how many words are seen that often, then from
    the line through two tries: a vocabulary within 5% of the size asked for, in fewer
    whole-learner tries than halving the logarithm of the range took (halving the range
    itself took 10 to 15)."""
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as lib

    rng = np.random.default_rng(3)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    # Zipf-like word frequencies, as in text: a few words very common, most rare.
    words = ["".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(3000)]
    counts = {w: int(20000 / (rank + 1)) + 1 for rank, w in enumerate(dict.fromkeys(words))}
    tries = []
    learn = lib.learn_with_thresh
    monkeypatch.setattr(lib, "learn_with_thresh",
                        lambda *args: tries.append(args[1]) or learn(*args))
    for size in (400, 1200):
        tries.clear()
        vocab = learn_vocab(counts, size)
        assert 0.95 * size <= len(vocab) <= size, (size, len(vocab), tries)
        assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        # Measured 5 and 4 (halving the logarithm of the range: 6 and 5); the Quick start's
        # 8,192 tokens from 3 MB of docstrings, lower thresholds where a guess lands closer: 2
        # (was 5).
        assert len(tries) <= 6, tries


def test_vocab_learning_ends_where_trying_every_threshold_in_order_ends(monkeypatch):
    """The guessed search gives what trying every threshold from 1 up gives: the first
    vocabulary that fits, when it is within the slack (or nothing larger was seen), else the
    one of the threshold before it cut to the size; the last cut when none fits. Sizes on
    both sides of the slack, one where several thresholds are within it (the lowest's wins),
    one above the largest vocabulary and one below the smallest."""
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as lib

    rng = np.random.default_rng(5)
    letters = list("abcdefghijklmnop")
    words = ["".join(rng.choice(letters, rng.integers(2, 8))) for _ in range(1500)]
    zipf = {w: int(120 / (rank + 1) ** 0.8) + 1 for rank, w in enumerate(dict.fromkeys(words))}
    tiny = {"abc": 5, "bcd": 4, "cab": 2, "dd": 1}  # every vocabulary over 9 tokens
    learn, learned, inputs = lib.learn_with_thresh, {}, {}

    def remembered(words, thresh, params):  # each corpus' vocabulary of a threshold, once
        inputs[len(words)] = (words, params)  # the learner's inputs, as learn_vocab made them
        if (len(words), thresh) not in learned:
            learned[len(words), thresh] = learn(words, thresh, params)
        return learned[len(words), thresh]

    monkeypatch.setattr(lib, "learn_with_thresh", remembered)

    def in_order(counts, size, slack):
        words, params = inputs[len(counts)]
        before = None
        for thresh in range(1, max(counts.values()) + 1):
            vocab = remembered(words, thresh, params)
            if len(vocab) <= size:
                if before is None or size - len(vocab) <= slack * size:
                    return vocab
                return before[:size]
            before = vocab
        return before[:size]

    for counts, size, slack in [(zipf, 2000, 0.05), (zipf, 1000, 0.05), (zipf, 600, 0.05),
                                (zipf, 380, 0.05), (zipf, 380, 0.0), (zipf, 100, 0.3),
                                (zipf, 60, 0.05), (tiny, 9, 0.05)]:
        found = learn_vocab(counts, size, slack_ratio=slack)
        assert found == in_order(counts, size, slack), (size, slack, len(found))
