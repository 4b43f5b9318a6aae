"""GPT-2's byte-level pre-tokenization with core TensorFlow ops: the split into pieces, and bytes as characters.

GPT-2 (and RoBERTa after it) first splits text with the regular expression

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

then writes each piece's UTF-8 bytes as 256 printable characters, on which
BPE runs. TensorFlow's regular expressions (RE2) have no lookahead, so
`\\s+(?!\\S)` is rewritten without it (see PATTERN), and RE2's `\\s` is ASCII
only, so whitespace is spelled out as the Unicode White_Space property,
which is what Hugging Face `tokenizers` (Oniguruma) matches. The split is
one regex_replace that puts a byte no UTF-8 text holds (0xFF) between
pieces, and one split on it.
"""

# B=batch, K=pieces of a text

import tensorflow as tf

from bert_tf.tokenization.normalization import WHITESPACE

# Where a piece ends; 0xFF never occurs in UTF-8, so no text can contain it.
_CUT = b"\xff"

# Letters and digits of Unicode 16.0 that the Unicode tables of TensorFlow's RE2 (15.1) lack;
# Hugging Face `tokenizers` 0.23 (Oniguruma) has them. Found by comparing every code point.
_NEW_LETTERS = ((0x1C89, 0x1C8A), (0xA7CB, 0xA7CD), (0xA7DA, 0xA7DC), (0x105C0, 0x105F3),
                (0x10D4A, 0x10D65), (0x10D6F, 0x10D85), (0x10EC2, 0x10EC4), (0x11380, 0x11389),
                (0x1138B, 0x1138B), (0x1138E, 0x1138E), (0x11390, 0x113B5), (0x113B7, 0x113B7),
                (0x113D1, 0x113D1), (0x113D3, 0x113D3), (0x11BC0, 0x11BE0), (0x13460, 0x143FA),
                (0x16100, 0x1611D), (0x16D40, 0x16D6C), (0x18CFF, 0x18CFF), (0x1E5D0, 0x1E5ED),
                (0x1E5F0, 0x1E5F0), (0x2EBF0, 0x2EE5D))
_NEW_DIGITS = ((0x10D40, 0x10D49), (0x116D0, 0x116E3), (0x11BF0, 0x11BF9), (0x16130, 0x16139),
               (0x16D70, 0x16D79), (0x1CCF0, 0x1CCF9), (0x1E5F1, 0x1E5FA))


def _ranges(ranges):
    return "".join(f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in ranges)


_SPACE_SET = "".join(f"\\x{{{cp:x}}}" for cp in sorted(WHITESPACE))
_LETTER_SET = "\\p{L}" + _ranges(_NEW_LETTERS)
_DIGIT_SET = "\\p{N}" + _ranges(_NEW_DIGITS)
S = f"[{_SPACE_SET}]"  # \s
L = f"[{_LETTER_SET}]"  # \p{L}
N = f"[{_DIGIT_SET}]"  # \p{N}
O = f"[^{_SPACE_SET}{_LETTER_SET}{_DIGIT_SET}]"  # [^\s\p{L}\p{N}]

# GPT-2's pattern with `\s+(?!\S)` rewritten. Every alternative captures the pieces it
# matches in its own groups (the rewrite cuts after each group; empty ones vanish):
#   1. the pattern's alternatives up to ` ?[^\s\p{L}\p{N}]+`, as they are;
#   2. a run of spaces whose last character is " " before a non-space: the run but its last
#      character is one piece (`\s+(?!\S)`), and that " " starts the next one (` ?\p{L}+`...);
#   3. a run of spaces at the end of the text is one piece (`\s+(?!\S)`);
#   4. any other run of spaces is before a non-space, and does not end in " ": the run but
#      its last character (`\s+(?!\S)`), then that character alone (`\s+`).
# Alternatives 2 to 4 start where 1 fails: at the first character of a run of spaces.
PATTERN = (f"('s|'t|'re|'ve|'m|'ll|'d| ?{L}+| ?{N}+| ?{O}+)"
           f"|({S}*)( (?:{L}+|{N}+|{O}+))"
           f"|({S}+)\\z"
           f"|({S}*)({S})")
_REWRITE = _CUT.join(b"\\%d" % group for group in range(1, 7)) + _CUT


def split(texts):
    """GPT-2's pre-tokenization: `[B]` UTF-8 strings -> ragged `[B, (K)]` pieces.

    The pieces of a text, joined, are the text: each character is in exactly one.
    """
    cut = tf.strings.regex_replace(texts, PATTERN, _REWRITE)  # [B]
    pieces = tf.strings.split(cut, sep=_CUT)  # [B, (K)] with empty pieces between cuts
    return tf.ragged.boolean_mask(pieces, tf.strings.length(pieces) > 0)


def byte_alphabet():
    """The 256 characters GPT-2 writes bytes as: `byte_alphabet()[b]` is byte b.

    Printable Latin-1 bytes stand for themselves; the others (controls,
    space, DEL, no-break space, soft hyphen) take the characters from U+0100
    on, in byte order, so that every byte is one visible character.
    """
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)}
    alphabet, borrowed = [], 0
    for byte in range(256):
        if byte in printable:
            alphabet.append(chr(byte))
        else:
            alphabet.append(chr(256 + borrowed))
            borrowed += 1
    return alphabet
