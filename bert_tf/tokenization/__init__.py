"""Tokenization in the TensorFlow graph: BERT's WordPiece, RoBERTa's byte-level BPE, their input
templates, vocabularies, and vocab learning."""

from bert_tf.tokenization.bpe import BpeTokenizer
from bert_tf.tokenization.bpe_vocab import BpeVocabError
from bert_tf.tokenization.template import Template, truncated_pair_lengths
from bert_tf.tokenization.tokenizer import BertTokenizer
from bert_tf.tokenization.vocab import (MAX_CHARS_PER_WORD, SPECIAL_TOKENS, VocabError,
                                        casing_from_directory, check_vocab, load_vocab,
                                        read_tokenizer_config, resolve_casing, vocab_is_cased)

__all__ = ["BertTokenizer", "BpeTokenizer", "BpeVocabError", "MAX_CHARS_PER_WORD",
           "SPECIAL_TOKENS", "Template", "VocabError", "casing_from_directory", "check_vocab",
           "load_vocab", "read_tokenizer_config", "resolve_casing", "truncated_pair_lengths",
           "vocab_is_cased"]
