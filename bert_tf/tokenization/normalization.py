"""BERT's basic tokenizer as lookup tables over code points, run with core TensorFlow ops.

The reference basic tokenizer (google-research/bert, Hugging Face `tokenizers`)
works character by character: it drops control characters, turns every
whitespace character into a space, makes each CJK ideograph a word, and,
for uncased models, decomposes (NFD), drops non-spacing marks and
lower-cases. Every one of those steps is a function of one code point, so
this module precomputes, once per casing, what each of the 1,114,112 code
points becomes and stores it as two-level lookup tables (a few hundred KB).
The graph then only decodes UTF-8, gathers, and splits on spaces and
punctuation, which keeps character offsets back into the original text.

Definitions follow Hugging Face `tokenizers` (BertNormalizer and
BertPreTokenizer): "control" is Unicode category Cc, Cf, Co or Cs except tab,
newline and carriage return; "whitespace" is the Unicode White_Space
property; "punctuation" is any ASCII non-alphanumeric symbol or category P*;
lower-casing is per character (no final-sigma rule).
"""

# N=input code points, M=output code points

import functools
import unicodedata

import numpy as np
import tensorflow as tf

MAX_CODE_POINT = 0x10FFFF
_BLOCK = 256

# The Unicode White_Space property.
WHITESPACE = frozenset([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029,
                        0x202F, 0x205F, 0x3000, *range(0x2000, 0x200B)])

# Code point ranges BERT treats as CJK ideographs (each becomes its own word).
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))

# Character classes after normalization, used to split words. ALONE characters
# (punctuation and CJK ideographs) are words by themselves. Putting CJK here
# rather than padding it with spaces, as the reference does before
# normalizing, is equivalent: NFD maps CJK ideographs to CJK ideographs and
# nothing else to them (checked in the tests).
OTHER, ALONE, SPACE = 0, 1, 2


def is_control(cp: int) -> bool:
    if cp in (0x09, 0x0A, 0x0D):
        return False
    return unicodedata.category(chr(cp)) in ("Cc", "Cf", "Co", "Cs")


def is_punctuation(cp: int) -> bool:
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(chr(cp)).startswith("P")


def is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def normalize_char(cp: int, lower_case: bool, strip_accents: bool) -> str:
    """What one code point becomes in the reference basic tokenizer."""
    if cp == 0 or cp == 0xFFFD or is_control(cp):
        return ""
    if cp in WHITESPACE:
        return " "
    text = chr(cp)
    if strip_accents:
        text = "".join(c for c in unicodedata.normalize("NFD", text)
                       if unicodedata.category(c) != "Mn")
    if lower_case:
        text = "".join(c.lower() for c in text)
    return text


def _two_level(dense: np.ndarray):
    """Splits a dense table into (block index per 256 code points, unique blocks)."""
    blocks = dense.reshape(-1, _BLOCK)
    unique, inverse = np.unique(blocks, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int32), unique.reshape(-1)


def _assigned_code_points():
    """Code points whose properties need a look: everything but the empty planes 4 to 13."""
    return [*range(0, 0x40000), *range(0xE0000, MAX_CODE_POINT + 1)]


@functools.lru_cache(maxsize=None)
def class_table():
    """Two-level table: code point -> OTHER, ALONE or SPACE."""
    dense = np.zeros(MAX_CODE_POINT + 1, np.int8)
    for lo, hi in CJK_RANGES:
        dense[lo:hi + 1] = ALONE
    for cp in _assigned_code_points():
        if cp in WHITESPACE:
            dense[cp] = SPACE
        elif is_punctuation(cp):
            dense[cp] = ALONE
    return _two_level(dense)


@functools.lru_cache(maxsize=None)
def mapping_table(lower_case: bool, strip_accents: bool):
    """Tables for code point -> normalized code points.

    Returns (index_blocks, index_values, replacement_starts, replacement_lengths,
    replacement_values): a two-level table giving 0 for code points that stay
    themselves and k + 1 for those replaced by replacement k, whose code
    points are replacement_values[starts[k]:starts[k] + lengths[k]].
    """
    dense = np.zeros(MAX_CODE_POINT + 1, np.int32)
    replacements = {}
    starts, lengths, values = [], [], []
    for cp in _assigned_code_points():
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates cannot come out of UTF-8 decoding
        out = normalize_char(cp, lower_case, strip_accents)
        if out == chr(cp):
            continue
        k = replacements.get(out)
        if k is None:
            k = replacements[out] = len(starts)
            starts.append(len(values))
            lengths.append(len(out))
            values.extend(ord(c) for c in out)
        dense[cp] = k + 1
    blocks, block_values = _two_level(dense)
    return (blocks, block_values, np.asarray(starts, np.int32), np.asarray(lengths, np.int32),
            np.asarray(values, np.int32))


def _lookup(table, code_points):
    blocks, values = table
    block = tf.gather(blocks, code_points // _BLOCK)
    return tf.gather(values, block * _BLOCK + code_points % _BLOCK)


def decode_utf8(texts):
    """Validated UTF-8 decoding: ragged int32 code points [B, (N)].

    Bytes that are not UTF-8 are an error naming the example indices: a
    ValueError when run eagerly, an InvalidArgumentError in a graph.
    """
    replaced = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
    ignored = tf.strings.unicode_decode(texts, "UTF-8", errors="ignore")
    bad = tf.not_equal(replaced.row_lengths(), ignored.row_lengths())
    message = "input is not valid UTF-8 in example(s) at index"
    if tf.executing_eagerly():
        indices = np.flatnonzero(bad.numpy())
        if indices.size:
            first = texts.numpy()[indices[0]][:60]
            raise ValueError(f"{message} {indices[:20].tolist()} (the first: {first!r})")
        return replaced
    check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)),
                                [message, tf.where(bad)[:, 0]], summarize=20)
    with tf.control_dependencies([check]):
        return tf.identity(replaced)


class Normalizer:
    """Turns UTF-8 strings into words (code points) with their source character positions.

    Only core TensorFlow ops are used, so the result exports to any
    TensorFlow runtime.
    """

    def __init__(self, lower_case: bool, strip_accents: bool):
        blocks, block_values, starts, lengths, values = mapping_table(lower_case, strip_accents)
        self._map = (tf.constant(blocks), tf.constant(block_values))
        self._starts = tf.constant(starts)
        self._lengths = tf.constant(lengths)
        # A trailing 0 keeps gathers in range when there are no replacements.
        self._values = tf.constant(np.append(values, 0).astype(np.int32))
        cblocks, cvalues = class_table()
        self._class = (tf.constant(cblocks), tf.constant(cvalues.astype(np.int32)))

    def decode(self, texts):
        return decode_utf8(texts)

    def words(self, texts):
        """Normalizes and splits `texts` ([B] strings) into words.

        Returns (words, sources): `words` is int32 code points [B, (W), (C)];
        `sources` has the same shape and gives, for each normalized code
        point, the index of the character of the original text it came from.
        """
        code_points = self.decode(texts)  # [B, (N)]
        flat = code_points.values  # [N]
        row_of = code_points.value_rowids()  # [N]
        char_index = tf.range(tf.size(flat, out_type=tf.int64)) - tf.gather(
            code_points.row_starts(), row_of)  # [N] position in its own text

        # Each input code point becomes `count` output code points.
        replacement = _lookup(self._map, flat) - 1  # [N], -1 = unchanged
        replaced = replacement >= 0
        safe = tf.maximum(replacement, 0)
        count = tf.where(replaced, tf.gather(self._lengths, safe), 1)  # [N]
        source = tf.repeat(tf.range(tf.size(flat)), count)  # [M] input index of each output
        first = tf.cumsum(count, exclusive=True)  # [N]
        within = tf.range(tf.size(source)) - tf.gather(first, source)  # [M]
        out = tf.where(
            tf.gather(replaced, source),
            tf.gather(self._values, tf.gather(tf.gather(self._starts, safe), source) + within),
            tf.gather(flat, source))  # [M]
        out_row = tf.gather(row_of, source)  # [M]

        # Words: maximal runs of OTHER characters; each ALONE character by itself.
        kind = _lookup(self._class, out)  # [M]
        space, punct = tf.equal(kind, SPACE), tf.equal(kind, ALONE)
        new_row = tf.concat([[True], tf.not_equal(out_row[1:], out_row[:-1])], 0)[:tf.size(out)]
        after_break = tf.concat([[True], space[:-1] | punct[:-1]], 0)[:tf.size(out)]
        starts_word = tf.logical_not(space) & (new_row | after_break | punct)
        keep = tf.where(tf.logical_not(space))[:, 0]  # [K] output positions inside words
        word_index = tf.cumsum(tf.cast(starts_word, tf.int64)) - 1  # [M]
        word_of = tf.gather(word_index, keep)  # [K]
        num_words = tf.reduce_sum(tf.cast(starts_word, tf.int64))
        word_rows = tf.boolean_mask(out_row, starts_word)  # [W] text of each word

        def nest(values):
            inner = tf.RaggedTensor.from_value_rowids(values, word_of, nrows=num_words)
            return tf.RaggedTensor.from_value_rowids(inner, word_rows,
                                                     nrows=code_points.nrows())

        words = nest(tf.gather(out, keep))
        sources = nest(tf.gather(tf.gather(char_index, source), keep))
        return words, sources

    def split(self, texts):
        """Normalized words as UTF-8 strings: ragged [B, (W)]."""
        words, _ = self.words(texts)
        return tf.RaggedTensor.from_row_splits(
            tf.strings.unicode_encode(words.values, "UTF-8"), words.row_splits)
