"""BpeTokenizer: RoBERTa's byte-level BPE (GPT-2's) inside the TensorFlow graph, with core ops only."""

# B=batch, K=pieces (pre-tokens) of a text, P=tokens, U=distinct pieces of a batch, T=max_seq_length

import os

import keras
import tensorflow as tf

from bert_tf.errors import MissingFileError
from bert_tf.tokenization import byte_level
from bert_tf.tokenization.bpe_vocab import (SPECIAL_TOKENS, as_pairs, check_vocab,
                                            load_merges_txt, load_tokenizer_json,
                                            load_vocab_json, merge_ids)
from bert_tf.tokenization.core_bpe import CoreBpe
from bert_tf.tokenization.normalization import decode_utf8
from bert_tf.tokenization.template import Template
from bert_tf.tokenization.vocab import (keras_hub_tokenizer_config, keras_hub_vocab,
                                        read_tokenizer_config, vocab_digest)
from bert_tf.tokenization.base import TemplateTokenizer, shared_parts
from bert_tf.tokenization.tokenizer import pieces_of_words


@keras.saving.register_keras_serializable(package="bert_tf")
class BpeTokenizer(TemplateTokenizer):
    """Byte-level BPE tokenizer matching RoBERTa's (Hugging Face `tokenizers`), as TensorFlow ops.

    `vocabulary` is a vocab.json path or a dict of token -> id (ids 0 to
    n - 1); `merges` a merges.txt path or a list of (left, right) pairs (or
    "left right" strings) by rank. `add_prefix_space` puts a space before a
    text that does not start with one, so that its first word is tokenized
    as any other. `ops` is "core": core TensorFlow ops only, so an export
    loads on any TensorFlow runtime (without tensorflow-text).

    Text that spells a special token ("<mask>") is plain text, as in
    BertTokenizer. Calling the layer on `[B]` strings (and optionally `[B]`
    second segments) returns `encode(...)` with this layer's `max_seq_length`.
    """

    def __init__(self, vocabulary, merges, add_prefix_space=False, max_seq_length=128, ops="core",
                 **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if ops != "core":
            raise ValueError(f"ops must be 'core', got {ops!r}")
        if isinstance(vocabulary, (str, os.PathLike)):
            self.vocab_file = os.fspath(vocabulary)
            tokens = load_vocab_json(vocabulary)
        else:
            self.vocab_file = None
            tokens = check_vocab(dict(vocabulary))
        if isinstance(merges, (str, os.PathLike)):
            self.merges_file = os.fspath(merges)
            pairs, lines = load_merges_txt(merges)
            merge_table = merge_ids(tokens, pairs, self.merges_file, lines)
        else:
            self.merges_file = None
            pairs = as_pairs(merges)
            merge_table = merge_ids(tokens, pairs)
        self.vocab = tokens
        self.merges = pairs
        self.add_prefix_space = bool(add_prefix_space)
        self.max_seq_length = int(max_seq_length)
        if max_seq_length < 3:
            raise ValueError(f"max_seq_length must be at least 3, got {max_seq_length}")
        self.ops = ops
        self._token_to_id = {t: i for i, t in enumerate(tokens)}
        for attribute, token in SPECIAL_TOKENS.items():
            setattr(self, attribute, self._token_to_id[token])
        self.template = Template.roberta(self.cls_id, self.sep_id, self.pad_id)

        # Tokenizers of the same vocabulary, merges and options share their tables and graphs.
        self.graph_key = (type(self).__module__, type(self).__qualname__, self.add_prefix_space,
                          vocab_digest(tokens),
                          vocab_digest(str(i) for merge in merge_table for i in merge))
        self._shared = shared_parts(self.graph_key, lambda: (
            CoreBpe(tokens, merge_table, self.unk_id), tf.constant(tokens),
            tf.constant([_token_bytes(t) for t in tokens])))
        self._bpe, self._tokens, self._token_bytes = self._shared.parts

    # ----------------------------------------------------------------- setup

    @classmethod
    def from_pretrained(cls, directory, add_prefix_space=None, **kwargs):
        """Reads vocab.json and merges.txt from a checkpoint directory, else its tokenizer.json
        (or a keras-hub preset's assets/tokenizer/vocabulary.json and merges.txt).

        add_prefix_space is as given, else as the directory's
        tokenizer_config.json says, else as tokenizer.json's ByteLevel
        pre-tokenizer (or the keras-hub preset's tokenizer.json) says when that
        file is read, else False.
        """
        directory = os.fspath(directory)
        preset = keras_hub_tokenizer_config(directory)
        preset_vocab = keras_hub_vocab(directory)
        if preset is not None and preset_vocab and preset_vocab.endswith(".json"):
            if add_prefix_space is None and isinstance(preset.get("add_prefix_space"), bool):
                add_prefix_space = preset["add_prefix_space"]
            return cls.from_vocab_file(preset_vocab, add_prefix_space, **kwargs)
        for name in ("vocab.json", "tokenizer.json"):
            path = os.path.join(directory, name)
            if os.path.isfile(path) and (name != "vocab.json" or os.path.isfile(
                    os.path.join(directory, "merges.txt"))):
                return cls.from_vocab_file(path, add_prefix_space, **kwargs)
        raise MissingFileError(f"{directory} has neither vocab.json and merges.txt nor "
                               "tokenizer.json")

    @classmethod
    def from_vocab_file(cls, vocab_file, add_prefix_space=None, **kwargs):
        """From a vocab.json (merges.txt beside it) or a tokenizer.json; add_prefix_space as in
        from_pretrained."""
        vocab_file = os.fspath(vocab_file)
        directory = os.path.dirname(vocab_file) or "."
        config = os.path.join(directory, "tokenizer_config.json")
        if add_prefix_space is None and os.path.isfile(config):
            stated = read_tokenizer_config(config).get("add_prefix_space")
            add_prefix_space = stated if isinstance(stated, bool) else None
        if os.path.basename(vocab_file) == "tokenizer.json":
            tokens, pairs, stated = load_tokenizer_json(vocab_file)
            if add_prefix_space is None:
                add_prefix_space = bool(stated)
            return cls({t: i for i, t in enumerate(tokens)}, pairs,
                       add_prefix_space=add_prefix_space, **kwargs)
        merges_file = os.path.join(directory, "merges.txt")
        if not os.path.isfile(merges_file):
            raise MissingFileError(f"{vocab_file} has no merges.txt beside it (a byte-level BPE "
                                   "needs both)")
        return cls(vocab_file, merges_file, add_prefix_space=bool(add_prefix_space), **kwargs)

    # Byte-level BPE reads text as it is: nothing is lower-cased or stripped of accents.
    do_lower_case = False
    strip_accents = False

    @property
    def tables(self):
        """What holds this tokenizer's lookup tables (for a tf.Module that saves it)."""
        return self._bpe

    # ------------------------------------------------------------- tokenizing

    def _prefixed(self, texts):
        """Checks `[B]` texts are UTF-8; with add_prefix_space, puts " " before those not starting with one.

        Returns the texts and a bool `[B]`: which got the space.
        """
        code_points = decode_utf8(texts)  # validates; raises naming the examples
        with tf.control_dependencies([code_points.flat_values]):
            texts = tf.identity(texts)
        if not self.add_prefix_space:
            return texts, tf.zeros(tf.shape(texts), tf.bool)
        prefixed = (tf.strings.length(texts) > 0) & tf.not_equal(tf.strings.substr(texts, 0, 1),
                                                                  " ")
        return tf.where(prefixed, " " + texts, texts), prefixed

    def _pieces(self, texts):
        """`[B]` texts -> (ids, bytes per token), each int32 ragged `[B, (K), (P)]`."""
        pieces = byte_level.split(texts)  # [B, (K)]
        # BPE is a function of the piece: work on each distinct piece once.
        distinct, index = tf.unique(pieces.flat_values)  # [U], [K]
        ids, lengths = self._bpe.tokenize(distinct)  # [U, (P)]
        return pieces.with_values(tf.gather(ids, index)), pieces.with_values(tf.gather(lengths, index))

    def tokenize(self, texts):
        """BPE ids without special tokens: int32 ragged `[B, (P)]` (`[(P)]` for one string)."""
        return self.per_text(self._tokenize, texts)

    def _tokenize(self, texts):
        ids, _ = self._pieces(self._prefixed(texts)[0])
        return ids.merge_dims(1, 2)

    def tokenize_words(self, words):
        """BPE ids of pre-split words (for tagging), one row of tokens per word.

        `words` is a string `tf.RaggedTensor` `[B, (W)]`. Returns an int32
        `tf.RaggedTensor` `[B, (W), (P)]` where `result[b, w]` equals
        `self.tokenize(words[b, w])`: each word on its own, with the prefix
        space if add_prefix_space (as Hugging Face `tokenizers` does with
        `is_pretokenized=True`), except that a word giving no token (an
        empty string) becomes one `<unk>`: every word keeps a position, so
        labels and predictions stay aligned with words.
        """
        return pieces_of_words(words, self.tokenize, self.unk_id)

    def tokenize_with_offsets(self, texts):
        """BPE ids and character offsets into the original texts.

        Returns (ids, starts, ends), each ragged `[B, (P)]`: token p of text b
        came from `texts[b][starts[b, p]:ends[b, p]]` (indices count Unicode
        characters, as Python `str` does). A token's span includes the space
        it starts with. Several tokens holding bytes of one character each
        span that whole character; the prefix space of add_prefix_space
        belongs to the first character. These are Hugging Face `tokenizers`'
        offsets with `trim_offsets=False`.
        """
        return self.per_text(self._tokenize_with_offsets, texts)

    def _tokenize_with_offsets(self, texts):
        texts, prefixed = self._prefixed(texts)
        ids, lengths = self._pieces(texts)
        ids, lengths = ids.merge_dims(1, 2), lengths.merge_dims(1, 2)  # [B, (P)]
        # Tokens cover their text's bytes in order, and the texts follow one another: a token's
        # byte in the batch's concatenated texts is the sum of the lengths before it.
        length = tf.cast(lengths.flat_values, tf.int64)  # [P]
        first_byte = tf.cumsum(length, exclusive=True)  # [P]
        last_byte = first_byte + length - 1
        _, char_bytes = tf.strings.unicode_decode_with_offsets(texts, "UTF-8")  # [B, (C)]
        text_start = tf.cumsum(tf.cast(tf.strings.length(texts), tf.int64), exclusive=True)  # [B]
        char_start = tf.gather(text_start, char_bytes.value_rowids()) + char_bytes.flat_values  # [C]

        def character(byte):  # of each byte in the batch: its character's index in its text
            index = tf.searchsorted(char_start, byte, side="right", out_type=tf.int64) - 1
            return index - tf.gather(char_bytes.row_starts(), ids.value_rowids())

        starts = character(first_byte)
        ends = character(last_byte) + 1
        # The prefix space is not in the text: it belongs to the first character.
        shift = tf.cast(tf.gather(prefixed, ids.value_rowids()), tf.int64)  # [P]
        starts = tf.maximum(starts - shift, 0)
        ends = tf.maximum(ends - shift, 1)
        return ids, ids.with_flat_values(starts), ids.with_flat_values(ends)

    def detokenize(self, ids):
        """Ids back to text: the tokens' bytes joined and read as UTF-8.

        `ids` is `[B, (P)]` (ragged or dense; <pad> is dropped) or `[(P)]`.
        Bytes that do not form UTF-8 (a character cut between tokens)
        become U+FFFD. Special tokens stay as their text ("<s>").
        """
        ids = tf.convert_to_tensor(ids) if not isinstance(ids, tf.RaggedTensor) else ids
        scalar = ids.shape.rank == 1
        if scalar:
            ids = ids[None]
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.ragged.boolean_mask(ids, tf.not_equal(ids, self.pad_id))
        data = tf.strings.reduce_join(tf.gather(self._token_bytes, ids), axis=-1)  # [B]
        text = tf.strings.unicode_transcode(data, "UTF-8", "UTF-8", errors="replace",
                                            replacement_char=0xFFFD)
        return text[0] if scalar else text

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=dict(self._token_to_id), merges=[list(p) for p in self.merges],
                      add_prefix_space=self.add_prefix_space, max_seq_length=self.max_seq_length,
                      ops=self.ops)
        return config


def _token_bytes(token):
    """The bytes a token stands for, as Hugging Face's ByteLevel decoder reads it.

    A token of byte-alphabet characters is those bytes; any other token
    (one added by hand) is its own UTF-8 text.
    """
    byte_of = _BYTE_OF_CHARACTER
    if all(c in byte_of for c in token):
        return bytes(byte_of[c] for c in token)
    return token.encode("utf-8")


_BYTE_OF_CHARACTER = {c: b for b, c in enumerate(byte_level.byte_alphabet())}
