"""SentencePieceTokenizer against the `sentencepiece` package, with ALBERT's normalization, and its errors.

A unigram model is learned with sentencepiece's own trainer from generated
sentences (ALBERT's trainer settings); the comparisons run on a held-out
corpus of awkward strings (tokenizer_corpus.parity_corpus) the model never saw.
The reference normalization is ALBERT's, written out from its definition on
whole strings (google-research/albert's and Hugging Face's preprocess_text).
"""

import unicodedata

import numpy as np
import pytest

import hub_layouts
import testing
from bert_tf.errors import MissingFileError
from bert_tf.tokenization.sentence_piece import SentencePieceError, SentencePieceTokenizer
from tokenizer_corpus import ACCENTED, WORDS, parity_corpus

HELD_OUT = parity_corpus(300, seed=7) + ["``quoted'' text", "a ``` b '''' c", "  two   spaces  "]


@pytest.fixture(scope="module")
def spiece(tmp_path_factory):
    def build(directory):
        corpus = testing.write_corpus(directory / "corpus.txt", documents=20, sentences=20)
        texts = [line.strip() for line in open(corpus, encoding="utf-8") if line.strip()]
        hub_layouts.write_spiece_model(directory, texts + ACCENTED + WORDS, vocab_size=400)

    return str(testing.built_once(tmp_path_factory, "spiece-model", build) / "spiece.model")


@pytest.fixture(scope="module")
def ours(spiece):
    return SentencePieceTokenizer.from_model_file(spiece)


def albert_preprocess(text, lower=True):
    """ALBERT's preprocess_text on a whole string (remove_space, quotes, no accents, lower)."""
    out = " ".join(text.strip().split()).replace("``", '"').replace("''", '"')
    out = "".join(c for c in unicodedata.normalize("NFKD", out) if not unicodedata.combining(c))
    return out.lower() if lower else out


def aligned(text):
    """ALBERT's normalization character by character: each source character's normalized form."""
    words = [i for i, c in enumerate(text) if not c.isspace()]
    forms, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            first = i == 0 or not text[i - 1].isspace()
            inside = words and words[0] < i < words[-1]
            forms.append(" " if first and inside else "")
        elif c in "`'" and text[i + 1:i + 2] == c:
            forms += ['"', ""]
            i += 2
            continue
        else:
            forms.append("".join(x for x in unicodedata.normalize("NFKD", c)
                                 if not unicodedata.combining(x)).lower())
        i += 1
    return forms


def reference(sp, text):
    """The `sentencepiece` package on ALBERT's normalized text: ids, and character spans in
    `text` carried back from its byte offsets."""
    proto = sp.encode(albert_preprocess(text), return_type="proto")
    forms = aligned(text)
    starts = np.cumsum([0] + [len(f.encode()) for f in forms])[:-1]

    def character(byte):
        return int(np.searchsorted(starts, byte, side="right") - 1)

    ids = [p.id for p in proto.pieces]
    spans = [(character(p.begin), character(p.end - 1) + 1) if p.end > p.begin else
             (character(p.begin), character(p.begin)) for p in proto.pieces]
    return ids, spans, "".join(forms)


def test_ids_and_offsets_equal_the_sentencepiece_package_on_held_out_text(spiece, ours):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=spiece)
    assert ours.vocab == [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    assert (ours.pad_id, ours.unk_id, ours.cls_id, ours.sep_id, ours.mask_id) == (0, 1, 2, 3, 4)
    ids, starts, ends = ours.tokenize_with_offsets(HELD_OUT)
    plain = ours.tokenize(HELD_OUT)
    final_sigma = 0
    for i, text in enumerate(HELD_OUT):
        expected_ids, spans, normalized = reference(sp, text)
        if normalized != albert_preprocess(text):
            # Python lower-cases a final capital sigma from its context: the one difference.
            assert "Σ" in text
            final_sigma += 1
            continue
        assert ids[i].numpy().tolist() == expected_ids, repr(text)
        assert plain[i].numpy().tolist() == expected_ids, repr(text)
        got = list(zip(starts[i].numpy().tolist(), ends[i].numpy().tolist()))
        assert got == spans, repr(text)
    assert final_sigma < len(HELD_OUT) // 20 and len(HELD_OUT) > 450
    # Spans point into the source text: a lower-cased accented word is found where it was.
    ids, starts, ends = ours.tokenize_with_offsets("Crème  Brûlée")
    covered = "".join("Crème  Brûlée"[s:e] for s, e in zip(starts.numpy(), ends.numpy()))
    assert covered.replace(" ", "") == "CrèmeBrûlée"


def test_template_is_albert_s_and_casing_follows_the_config(spiece, ours, tmp_path):
    out = ours.encode(["The quick fox."], ["Hello WORLD"], max_seq_length=40)
    a, b = (ours.tokenize(t).numpy().tolist() for t in ("The quick fox.", "Hello WORLD"))
    n = len(a) + len(b) + 3
    assert out["input_ids"].numpy()[0, :n].tolist() == [2, *a, 3, *b, 3]
    assert out["segment_ids"].numpy()[0, :n].tolist() == [0] * (len(a) + 2) + [1] * (len(b) + 1)
    assert out["input_mask"].numpy()[0].tolist() == [1] * n + [0] * (40 - n)
    assert out["input_ids"].numpy()[0, n:].tolist() == [ours.pad_id] * (40 - n)
    # Control symbols in text are text.
    assert ours.cls_id not in ours.tokenize("[CLS] [MASK]").numpy()
    cased = SentencePieceTokenizer(spiece, do_lower_case=False)
    assert ours.tokenize("HELLO").numpy().tolist() == ours.tokenize("hello").numpy().tolist()
    assert cased.tokenize("HELLO").numpy().tolist() != cased.tokenize("hello").numpy().tolist()
    # Pieces back to (normalized) text; words one by one for tagging.
    assert ours.detokenize(ours.tokenize("Quick brown fox")).numpy().decode() == "quick brown fox"
    import tensorflow as tf
    words = tf.ragged.constant([["Quick", "", "fox"]])
    pieces = ours.tokenize_words(words)
    assert pieces[0, 1].numpy().tolist() == [ours.unk_id]
    assert pieces[0, 2].numpy().tolist() == ours.tokenize("fox").numpy().tolist()


def test_tokenizers_of_one_model_and_options_share_their_graphs(spiece, ours):
    """As BertTokenizer's (test_tokenization): inside a tf.function, a second tokenizer of the
    same model and options calls the graph the first one traced; another casing or
    accent option gets its own, which answers for its own options."""
    import tensorflow as tf

    texts = tf.constant(["Hello  WORLD, ``again''", " Crème Brûlée ", ""])
    same = SentencePieceTokenizer(open(spiece, "rb").read())
    others = [SentencePieceTokenizer(spiece, do_lower_case=False),
              SentencePieceTokenizer(spiece, keep_accents=True)]
    assert same.graph_key == ours.graph_key
    assert len({ours.graph_key, *(other.graph_key for other in others)}) == 3
    called = [testing.called_functions(tf.function(lambda a: tokenizer.encode(a, None, 24)),
                                       texts) for tokenizer in (ours, same, *others)]
    assert called[0] == called[1] and len(called[0]) == 1
    assert len(set.union(called[0], called[2], called[3])) == 3
    for other in others:
        got = tf.function(lambda a: other.encode(a, None, 24))(texts)["input_ids"]
        np.testing.assert_array_equal(got, other.encode(texts, None, 24)["input_ids"])
        assert got.numpy().tolist() != ours.encode(texts, None, 24)["input_ids"].numpy().tolist()
    offsets = tf.function(others[0].tokenize_with_offsets)(texts)
    for graph, eager in zip(offsets, others[0].tokenize_with_offsets(texts)):
        assert graph.to_list() == eager.to_list()


def test_a_tokenizer_outlives_a_new_random_seed(spiece, ours):
    """tf.random.set_seed clears TensorFlow's kernel cache, which held tensorflow-text's
    model resource: every SentencePiece tokenizer made before a run's
    `keras.utils.set_random_seed` failed afterwards ("Resource ... does not exist")."""
    import tensorflow as tf

    texts = ["Hello WORLD, ``again''", "Crème Brûlée"]
    before = ours.tokenize(texts).to_list()
    try:
        tf.random.set_seed(1)
        assert ours.tokenize(texts).to_list() == before
        assert SentencePieceTokenizer(spiece).tokenize(texts).to_list() == before
    finally:
        tf.random.set_seed(None)


def test_the_model_is_tensorflow_text_s_with_its_default_settings(spiece, ours):
    """`_Model` sets tensorflow-text's attributes itself (its constructor would load the
    model a second time): the same names and values as tensorflow-text's own defaults."""
    import tensorflow_text as tf_text

    theirs = vars(tf_text.SentencepieceTokenizer(model=open(spiece, "rb").read()))
    mine = vars(ours.tables)
    assert set(mine) == set(theirs)
    settings = [name for name in theirs if not name.startswith("_")]
    assert len(settings) == 7 and all(mine[name] == theirs[name] for name in settings), settings


def test_config_round_trip_and_file_errors(spiece, ours, tmp_path):
    clone = SentencePieceTokenizer.from_config(ours.get_config())
    assert clone.vocab == ours.vocab and clone.do_lower_case
    text = ["Zürich ``naïve'' café"]
    assert clone.tokenize(text).to_list() == ours.tokenize(text).to_list()
    with pytest.raises(MissingFileError, match="has no spiece.model"):
        SentencePieceTokenizer.from_pretrained(tmp_path)
    bad = tmp_path / "spiece.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(SentencePieceError, match=r"spiece.model is not a SentencePiece model"):
        SentencePieceTokenizer(str(bad))
    import io

    import sentencepiece as spm  # a model without ALBERT's control symbols

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["a b c d e f g h"] * 50),
                                   model_writer=model, vocab_size=12, minloglevel=2)
    plain = tmp_path / "plain.model"
    plain.write_bytes(model.getvalue())
    with pytest.raises(SentencePieceError, match=r"lacks the special token\(s\) \['<pad>', "
                                                 r"'\[CLS\]', '\[SEP\]', '\[MASK\]'\]"):
        SentencePieceTokenizer(str(plain))
    with pytest.raises(ValueError, match="ops must be 'text'"):
        SentencePieceTokenizer(spiece, ops="core")
