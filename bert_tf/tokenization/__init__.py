"""BERT's WordPiece tokenization in the TensorFlow graph, input templates, vocabularies, and vocab
learning."""

from bert_tf.tokenization.template import Template, truncated_pair_lengths
from bert_tf.tokenization.tokenizer import BertTokenizer
from bert_tf.tokenization.vocab import (MAX_CHARS_PER_WORD, SPECIAL_TOKENS, VocabError,
                                        casing_from_directory, check_vocab, load_vocab,
                                        read_tokenizer_config, resolve_casing, vocab_is_cased)

__all__ = ["BertTokenizer", "MAX_CHARS_PER_WORD", "SPECIAL_TOKENS", "Template", "VocabError",
           "casing_from_directory", "check_vocab", "load_vocab", "read_tokenizer_config",
           "resolve_casing", "truncated_pair_lengths", "vocab_is_cased"]
