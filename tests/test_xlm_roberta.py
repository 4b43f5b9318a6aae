"""XLM-RoBERTa: RoBERTa's encoder under model_type xlm-roberta, its SentencePiece tokenizer with
fairseq's ids, against the `sentencepiece` package, keras-hub's XLMRobertaTokenizer and
XLMRobertaBackbone, and the float64 reference."""

import numpy as np
import pytest
import tensorflow as tf

import hub_layouts
import keras_hub
import testing
from bert_tf import TransformerEncoder, checkpoints
from bert_tf.models.bert.release import resolve_model_files
from bert_tf.models.xlm_roberta import XLMRobertaEncoder
from bert_tf.tokenization.sentence_piece import XlmRobertaTokenizer
from test_families import padded_inputs, read_arrays, reference_forward
from tokenizer_corpus import ACCENTED, CJK, WORDS, parity_corpus


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    def build(directory):
        corpus = testing.write_corpus(directory / "corpus.txt", documents=20, sentences=20)
        texts = [line.strip() for line in open(corpus, encoding="utf-8") if line.strip()]
        hub_layouts.write_xlm_roberta_spm(directory, texts + ACCENTED + WORDS + CJK, 300)
        # 298 pieces past the model's first three, fairseq's four specials and <mask>.
        hub_layouts.write_xlm_roberta(directory, lm_head=True, vocab_size=302)

    return str(testing.built_once(tmp_path_factory, "xlm-roberta", build))


def test_ids_and_offsets_are_fairseq_s_over_the_sentencepiece_package(release):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=f"{release}/sentencepiece.bpe.model")
    ours = resolve_model_files(release).tokenizer(16)
    assert isinstance(ours, XlmRobertaTokenizer) and ours.vocab_size == 302
    assert ours.vocab[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and ours.vocab[-1] == "<mask>"
    texts = parity_corpus(200, seed=9)
    ids, starts, ends = ours.tokenize_with_offsets(texts)
    keras_hub_ids = keras_hub.models.XLMRobertaTokenizer(
        proto=f"{release}/sentencepiece.bpe.model")(texts)
    for i, text in enumerate(texts):
        proto = sp.encode(text, return_type="proto")
        expected = [3 if p.id == 0 else p.id + 1 for p in proto.pieces]  # fairseq's offset
        assert ids[i].numpy().tolist() == expected, repr(text)
        assert list(np.asarray(keras_hub_ids[i]).reshape(-1)) == expected, repr(text)
        # Byte offsets of the package -> characters of the text.
        chars = np.cumsum([0] + [len(c.encode()) for c in text])
        spans = [(int(np.searchsorted(chars, p.begin, side="right") - 1),
                  int(np.searchsorted(chars, p.end - 1, side="right")) if p.end > p.begin
                  else int(np.searchsorted(chars, p.begin, side="right") - 1))
                 for p in proto.pieces]
        assert list(zip(starts[i].numpy().tolist(), ends[i].numpy().tolist())) == spans, text
    # RoBERTa's template: <s> a </s></s> b </s>, segment ids 0, padded with <pad> (1).
    a, b = (ours.tokenize(t).numpy().tolist() for t in ("Hello", "World"))
    out = ours.encode(["Hello"], ["World"])
    n = len(a) + len(b) + 4
    assert out["input_ids"].numpy()[0].tolist() == [0, *a, 2, 2, *b, 2] + [1] * (16 - n)
    assert not out["segment_ids"].numpy().any()
    assert ours.detokenize(ours.tokenize("Zürich café")).numpy().decode() == "Zürich café"


def test_release_loads_strictly_and_matches_the_reference_and_keras_hub(release, tmp_path):
    encoder = TransformerEncoder.from_pretrained(release)
    assert type(encoder) is XLMRobertaEncoder and encoder.config.family == "xlm-roberta"
    ids, mask = padded_inputs(1, 302, seed=5)
    ours = encoder({"input_ids": ids, "input_mask": mask})["sequence_output"].numpy()
    expected = reference_forward(read_arrays(release), "roberta", ids, mask, 2, 3)
    real = mask[..., None] > 0
    np.testing.assert_allclose(np.where(real, ours, 0), np.where(real, expected, 0), atol=2e-5)
    # keras-hub reads the same directory (its converter folds the token-type row into the
    # positions) to the same outputs.
    theirs = keras_hub.models.XLMRobertaBackbone.from_preset(release)(
        {"token_ids": ids, "padding_mask": mask})
    diff = float(np.abs(np.where(real, ours, 0) - np.where(real, theirs, 0)).max())
    print("keras-hub XLMRobertaBackbone on the same directory, max abs diff:", diff)
    assert diff <= 1e-5
    # Ours saved as a keras-hub preset (with its tokenizer): XLMRobertaBackbone and
    # XLMRobertaTokenizer read it to our outputs and ids.
    tokenizer = XlmRobertaTokenizer.from_pretrained(release)
    checkpoints.save_preset(encoder, tokenizer, str(tmp_path / "preset"))
    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path / "preset"))
    assert type(backbone) is keras_hub.models.XLMRobertaBackbone
    theirs = backbone({"token_ids": ids, "padding_mask": mask})
    assert float(np.abs(np.where(real, ours, 0) - np.where(real, theirs, 0)).max()) <= 1e-5
    texts = ["Zürich café", "東京Tokyo2020 naïve"]
    theirs = keras_hub.models.Tokenizer.from_preset(str(tmp_path / "preset"))(texts)
    assert [list(np.asarray(t).reshape(-1)) for t in theirs] == tokenizer.tokenize(
        tf.constant(texts)).to_list()
    assert type(TransformerEncoder.from_pretrained(str(tmp_path / "preset"))) is XLMRobertaEncoder
