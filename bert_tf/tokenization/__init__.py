"""Tokenization in the TensorFlow graph: BERT's WordPiece, RoBERTa's byte-level BPE, ALBERT's
SentencePiece, their input templates, vocabularies, and vocab learning.

Names are imported on first use, as in the bert_tf package: a worker process
that unpickles a Template (tasks.pretraining.examples) loads numpy alone.
"""

import importlib

_EXPORTS = {
    "BpeTokenizer": "bert_tf.tokenization.bpe",
    "BpeVocabError": "bert_tf.tokenization.bpe_vocab",
    "Template": "bert_tf.tokenization.template",
    "truncated_pair_lengths": "bert_tf.tokenization.template",
    "BertTokenizer": "bert_tf.tokenization.tokenizer",
    "SentencePieceError": "bert_tf.tokenization.sentence_piece",
    "SentencePieceTokenizer": "bert_tf.tokenization.sentence_piece",
    "XlmRobertaTokenizer": "bert_tf.tokenization.sentence_piece",
    "MAX_CHARS_PER_WORD": "bert_tf.tokenization.vocab",
    "SPECIAL_TOKENS": "bert_tf.tokenization.vocab",
    "VocabError": "bert_tf.tokenization.vocab",
    "casing_from_directory": "bert_tf.tokenization.vocab",
    "check_vocab": "bert_tf.tokenization.vocab",
    "load_vocab": "bert_tf.tokenization.vocab",
    "read_tokenizer_config": "bert_tf.tokenization.vocab",
    "resolve_casing": "bert_tf.tokenization.vocab",
    "vocab_is_cased": "bert_tf.tokenization.vocab",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bert_tf.tokenization' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
