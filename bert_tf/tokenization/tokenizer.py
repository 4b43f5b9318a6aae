"""BertTokenizer: BERT's WordPiece tokenization inside the TensorFlow graph."""

# B=batch, W=words, P=wordpieces, T=max_seq_length

import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from absl import logging

from bert_tf.errors import MissingFileError
from bert_tf.tokenization.base import TemplateTokenizer, shared_parts
from bert_tf.tokenization.core_wordpiece import CoreWordpiece
from bert_tf.tokenization.normalization import Normalizer
from bert_tf.tokenization.template import Template
from bert_tf.tokenization.vocab import (MAX_CHARS_PER_WORD, SPECIAL_TOKENS, check_vocab,
                                        keras_hub_tokenizer_config, keras_hub_vocab,
                                        load_vocab, read_tokenizer_config, resolve_casing,
                                        vocab_digest, vocab_is_cased)

_SUFFIX = "##"


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTokenizer(TemplateTokenizer):
    """WordPiece tokenizer matching BERT's reference tokenizer, as TensorFlow ops.

    `vocabulary` is a vocab.txt path or a list of tokens. `do_lower_case`
    lower-cases and strips accents (uncased models); `strip_accents` may
    override the second as in Hugging Face configs. `wordpiece` picks the
    WordPiece implementation: "text" (tensorflow-text's FastWordpieceTokenizer,
    a custom op) or "core" (core TensorFlow ops only, for exports that must
    load without tensorflow-text); both give the same ids.

    Calling the layer on `[B]` strings (and optionally `[B]` second segments)
    returns `encode(...)` with this layer's `max_seq_length`.
    """

    def __init__(self, vocabulary, do_lower_case=True, strip_accents=None, max_seq_length=128,
                 wordpiece="text", **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if isinstance(vocabulary, (str, os.PathLike)):
            self.vocab_file = os.fspath(vocabulary)
            tokens = load_vocab(vocabulary)
        else:
            self.vocab_file = None
            tokens = list(vocabulary)
            check_vocab(tokens)
        self.vocab = tokens
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = self.do_lower_case if strip_accents is None else bool(strip_accents)
        self.max_seq_length = int(max_seq_length)
        if max_seq_length < 2:
            raise ValueError(f"max_seq_length must be at least 2, got {max_seq_length}")
        self._token_to_id = {t: i for i, t in enumerate(tokens)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            self._token_to_id[t] for t in SPECIAL_TOKENS)
        self._warn_on_casing_mismatch()

        if wordpiece not in ("text", "core"):
            raise ValueError(f"wordpiece must be 'text' or 'core', got {wordpiece!r}")
        self.wordpiece = wordpiece
        # Tokenizers of the same vocabulary and options share their tables and traced graphs.
        self.graph_key = (type(self).__module__, type(self).__qualname__, wordpiece,
                          self.do_lower_case, self.strip_accents, vocab_digest(tokens))
        self._shared = shared_parts(self.graph_key, lambda: _build_parts(
            tokens, self.do_lower_case, self.strip_accents, wordpiece))
        self._normalizer, self._wordpiece, self._tokens, self._piece_chars = self._shared.parts
        self.template = Template.bert(self.cls_id, self.sep_id, self.pad_id)

    # ----------------------------------------------------------------- setup

    @classmethod
    def from_pretrained(cls, directory, do_lower_case=None, **kwargs):
        """Reads vocab.txt from a checkpoint directory, and its casing.

        Casing comes from `do_lower_case` if given, else the directory's
        tokenizer_config.json, else its name (Google's "uncased_L-12..."),
        else the vocabulary itself. A keras-hub preset's vocabulary
        (assets/tokenizer/vocabulary.txt) is read with its tokenizer.json's
        lowercase and strip_accents.
        """
        vocab_file = os.path.join(os.fspath(directory), "vocab.txt")
        stated = {}
        preset_vocab = keras_hub_vocab(directory)
        if not os.path.isfile(vocab_file) and preset_vocab and preset_vocab.endswith(".txt"):
            vocab_file, stated = preset_vocab, keras_hub_tokenizer_config(directory) or {}
        if not os.path.isfile(vocab_file):
            raise MissingFileError(f"{directory} has no vocab.txt")
        do_lower_case = resolve_casing(directory, vocab_file, do_lower_case)
        config = os.path.join(os.fspath(directory), "tokenizer_config.json")
        if "strip_accents" not in kwargs and os.path.isfile(config):
            stated = read_tokenizer_config(config)
        if "strip_accents" not in kwargs and isinstance(stated.get("strip_accents"), bool):
            kwargs["strip_accents"] = stated["strip_accents"]
        return cls(vocab_file, do_lower_case=do_lower_case, **kwargs)

    def _warn_on_casing_mismatch(self):
        cased = vocab_is_cased(self.vocab)
        if cased == self.do_lower_case:
            source = self.vocab_file or "the vocabulary"
            logging.warning(
                "do_lower_case=%s but %s looks %s: inputs will be tokenized %s and many words "
                "will not match the vocabulary. Pass do_lower_case=%s unless you are sure.",
                self.do_lower_case, source, "cased" if cased else "uncased",
                "lower-cased" if self.do_lower_case else "with their case",
                not self.do_lower_case)

    @property
    def tables(self):
        """What holds this tokenizer's lookup tables (for a tf.Module that saves it)."""
        return self._wordpiece

    # ------------------------------------------------------------- tokenizing

    def _pieces(self, words):
        """Word code points [B, (W), (C)] -> ragged wordpiece ids [B, (W), (P)]."""
        flat_words = words.values  # [W, (C)]
        strings = tf.strings.unicode_encode(flat_words, "UTF-8")  # [W]
        too_long = flat_words.row_lengths() > MAX_CHARS_PER_WORD
        # A too-long word becomes the text "[UNK]", which is one vocab entry.
        strings = tf.where(too_long, "[UNK]", strings)
        pieces = self._wordpiece.tokenize(strings)  # [W, (P)]
        return words.with_values(pieces)

    def tokenize(self, texts):
        """Wordpiece ids without special tokens: int32 ragged `[B, (P)]` (`[(P)]` for one string)."""
        return self.per_text(self._tokenize, texts)

    def _tokenize(self, texts):
        words, _ = self._normalizer.words(texts)
        return self._pieces(words).merge_dims(1, 2)

    def tokenize_words(self, words):
        """Wordpiece ids of pre-split words (for tagging), one row of pieces per word.

        `words` is a string `tf.RaggedTensor` `[B, (W)]`. Returns an int32
        `tf.RaggedTensor` `[B, (W), (P)]` where `result[b, w]` equals
        `self.tokenize(words[b, w])`,
        except that a word giving no piece at all (an empty string, only
        whitespace, control or zero-width characters) becomes one `[UNK]`: every
        word keeps a position, so labels and predictions stay aligned with words.
        """
        return pieces_of_words(words, self.tokenize, self.unk_id)

    def tokenize_with_offsets(self, texts):
        """Wordpiece ids and character offsets into the original texts.

        Returns (ids, starts, ends), each ragged `[B, (P)]`: piece p of text b
        came from `texts[b][starts[b, p]:ends[b, p]]` (indices count Unicode
        characters, as Python `str` does). Pieces of one character that
        normalization split (for example a Hangul syllable) share its span.
        """
        return self.per_text(self._tokenize_with_offsets, texts)

    def _tokenize_with_offsets(self, texts):
        words, sources = self._normalizer.words(texts)
        pieces = self._pieces(words)  # [B, (W), (P)]
        flat_pieces = pieces.values  # [W, (P)]
        ids = flat_pieces.values  # [P]
        word_of_piece = flat_pieces.value_rowids()  # [P]
        word_length = words.values.row_lengths()  # [W]
        length = tf.where(tf.equal(ids, self.unk_id), tf.gather(word_length, word_of_piece),
                          tf.gather(self._piece_chars, ids))  # [P] characters covered
        # Start of each piece inside its word: a cumulative sum restarted per word.
        total = tf.cumsum(length, exclusive=True)
        start_in_word = total - tf.gather(total, tf.gather(flat_pieces.row_starts(), word_of_piece))
        first = tf.gather(words.values.row_starts(), word_of_piece) + start_in_word
        source_chars = sources.values.values  # [C] source character of each normalized one
        starts = tf.gather(source_chars, first)
        ends = tf.gather(source_chars, first + tf.maximum(length, 1) - 1) + 1

        def like_ids(values):
            return pieces.with_flat_values(values).merge_dims(1, 2)

        return like_ids(ids), like_ids(starts), like_ids(ends)

    def detokenize(self, ids):
        """Ids back to text: pieces joined with spaces, "##" continuations glued on.

        `ids` is `[B, (P)]` (ragged or dense; [PAD] is dropped) or `[(P)]`.
        """
        ids = tf.convert_to_tensor(ids) if not isinstance(ids, tf.RaggedTensor) else ids
        scalar = ids.shape.rank == 1
        if scalar:
            ids = ids[None]
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.ragged.boolean_mask(ids, tf.not_equal(ids, self.pad_id))
        tokens = tf.gather(self._tokens, ids)
        text = tf.strings.regex_replace(tf.strings.reduce_join(tokens, axis=-1, separator=" "),
                                        " ##", "")
        return text[0] if scalar else text

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=self.vocab, do_lower_case=self.do_lower_case,
                      strip_accents=self.strip_accents, max_seq_length=self.max_seq_length,
                      wordpiece=self.wordpiece)
        return config


def _build_parts(tokens, lower_case, strip_accents, wordpiece):
    """What a BertTokenizer's ops read: normalizer, wordpiece tables, tokens, piece lengths."""
    if wordpiece == "text":
        pieces = tf_text.FastWordpieceTokenizer(
            vocab=tokens, suffix_indicator=_SUFFIX, unknown_token="[UNK]",
            max_bytes_per_word=4 * MAX_CHARS_PER_WORD + 4, no_pretokenization=True,
            token_out_type=tf.int32)
    else:
        pieces = CoreWordpiece(tokens)
    # Characters each piece covers in its word, for offsets ([UNK] covers the word).
    piece_chars = tf.constant(
        [len(t[len(_SUFFIX):]) if t.startswith(_SUFFIX) else len(t) for t in tokens], tf.int64)
    return Normalizer(lower_case, strip_accents), pieces, tf.constant(tokens), piece_chars


def pieces_of_words(words, tokenize, unk_id):
    """`tokenize` of each word of a string RaggedTensor `[B, (W)]`: `[B, (W), (P)]`, never empty.

    A word that `tokenize` gives no piece becomes one `unk_id`, so that every
    word keeps a position.
    """
    if (not isinstance(words, tf.RaggedTensor) or words.shape.rank != 2
            or words.ragged_rank != 1):
        raise TypeError(f"words must be a string RaggedTensor [B, (W)], got {words!r}")
    if words.dtype != tf.string:
        raise TypeError(f"words must be strings, got {words.dtype.name}")
    flat_words = words.values  # [N]
    pieces = tokenize(flat_words)  # [N, (P)], one call for the whole batch
    # Append [UNK] to every word, then keep max(pieces, 1) of each: the [UNK]
    # survives only where the word had nothing else.
    unk = tf.fill([tf.shape(flat_words)[0], 1], tf.constant(unk_id, pieces.dtype))  # [N, 1]
    with_unk = tf.concat([pieces, tf.RaggedTensor.from_tensor(
        unk, row_splits_dtype=pieces.row_splits.dtype)], axis=1)
    keep = tf.maximum(pieces.row_lengths(), 1)  # [N]
    position = tf.ragged.range(with_unk.row_lengths(), dtype=keep.dtype)  # [N, (P + 1)]
    fixed = tf.ragged.boolean_mask(with_unk, position < keep[:, None])  # [N, (P)], none empty
    # with_values needs both levels to index rows with the same integer type.
    return words.with_row_splits_dtype(fixed.row_splits.dtype).with_values(fixed)
