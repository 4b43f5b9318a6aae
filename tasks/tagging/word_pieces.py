"""Word-aligned WordPiece for tagging: each pre-split word's pieces, and which word every model position holds.

Tagging data comes already split into words, each with a label. The model
sees wordpieces, so the pipeline must know, for every piece, the word it came
from; the label goes on a word's first piece. Tokenizing each word on its own
with the tokenizer's own normalization and WordPiece keeps that mapping exact
(a word like "don't" still becomes the pieces "don", "'", "t" of that one
word). All functions are TensorFlow ops on ragged tensors and run inside
`tf.function` and `tf.data`.
"""

# B=batch (sentences), W=words per sentence, P=pieces per word, N=words in the batch,
# T=model positions per sentence (the template's start, pieces, its end), K=windows

import tensorflow as tf


def tokenize_words(tokenizer, words):
    """`tokenizer.tokenize_words(words)`: int32 `[B, (W), (P)]`, one row of pieces per word."""
    return tokenizer.tokenize_words(words)


def word_layout(tokenizer, word_pieces, max_seq_length=None):
    """The model's `[CLS] pieces... [SEP]` row of each sentence, and the word at each position.

    The row is `tokenizer.template`'s frame of one text (RoBERTa's:
    `<s> pieces... </s>`). `word_pieces` is int32 `[B, (W), (P)]` from
    `tokenize_words`. Returns a dict of ragged tensors:

    - "input_ids": int32 `[B, (T)]`: the template's start tokens, every
      word's pieces in order, its end tokens.
    - "word_index": int32 `[B, (T)]`: the index in its sentence of the word
      each position belongs to; -1 for the special tokens.
    - "first_piece": bool `[B, (T)]`: True at the first piece of each word,
      the position whose output predicts the word's label.
    - "word_start": int32 `[B, (W)]`: the position of each word's first piece
      (gather the encoder output there for one vector per word); -1 for a
      word that `max_seq_length` cut off.

    With `max_seq_length`, only the first `max_seq_length` less the
    template's special tokens (2 for BERT and RoBERTa) pieces are kept, so
    T <= max_seq_length. Long sentences should be split into windows first
    (`tasks.tagging.windows`); then this cut only shortens a single word
    longer than a whole window, which keeps its first piece. For padded
    tensors use `.to_tensor()` with `tokenizer.pad_id`, -1 and False.
    """
    template = tokenizer.template
    specials = template.special_count(pair=False)
    if max_seq_length is not None and max_seq_length - specials < 1:
        raise ValueError(f"max_seq_length must leave room for the {specials} special tokens and "
                         f"a piece, got {max_seq_length}")
    flat_pieces = word_pieces.values  # [N, (P)] every word of the batch
    # Index of each word inside its sentence, then copied to each of its pieces.
    sentence_of_word = word_pieces.value_rowids()  # [N]
    word_in_sentence = (tf.range(tf.shape(sentence_of_word, out_type=tf.int64)[0])
                        - tf.gather(word_pieces.row_starts(), sentence_of_word))  # [N]
    word_of_piece = flat_pieces.value_rowids()  # [sum P] index into N
    piece_word = tf.cast(tf.gather(word_in_sentence, word_of_piece), tf.int32)  # [sum P]
    piece_in_word = tf.ragged.range(flat_pieces.row_lengths()).flat_values  # [sum P]

    def per_sentence(values):  # [sum P] -> [B, (sum over the sentence's words of P)]
        return word_pieces.with_flat_values(values).merge_dims(1, 2)

    ids = per_sentence(flat_pieces.flat_values)
    word_index = per_sentence(piece_word)
    first_piece = per_sentence(tf.equal(piece_in_word, 0))
    if max_seq_length is not None:
        budget = max_seq_length - specials
        ids, word_index, first_piece = ids[:, :budget], word_index[:, :budget], first_piece[:, :budget]

    ids = template.frame(ids)
    word_index = template.frame(word_index, special=-1)
    first_piece = template.frame(first_piece, special=False)

    # Position of each word's first piece: the first pieces appear in word order,
    # so the k-th True of a row is word k; words past the cut get -1.
    positions = tf.ragged.range(tf.cast(ids.row_lengths(), tf.int32),
                                row_splits_dtype=tf.int64)  # [B, (T)]
    starts = tf.ragged.boolean_mask(positions, first_piece)  # [B, (W kept)]
    words = word_pieces.row_lengths()
    missing = words - starts.row_lengths()  # [B] words cut off
    filler = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(missing)], -1), missing)
    word_start = tf.concat([starts, filler], axis=1)  # [B, (W)]
    return {"input_ids": ids, "word_index": word_index, "first_piece": first_piece,
            "word_start": word_start}


def select_words(word_pieces, sentence, start, stop):
    """Words `[start, stop)` of the given sentences: the pieces of each window of `windows.split`.

    `word_pieces` is `[B, (W), (P)]`; `sentence`, `start` and `stop` are int
    vectors `[K]` (sentence index, first word, one past the last word).
    Returns `[K, (stop - start), (P)]`, the same dtype as `word_pieces`.
    """
    sentence = tf.cast(sentence, tf.int64)
    start = tf.cast(start, tf.int64)
    stop = tf.cast(stop, tf.int64)
    lengths = tf.gather(word_pieces.row_lengths(), sentence)  # [K]
    checks = [tf.debugging.assert_less_equal(stop, lengths, "a window ends past its sentence"),
              tf.debugging.assert_less_equal(start, stop, "a window starts after it ends"),
              tf.debugging.assert_non_negative(start, "a window starts before its sentence")]
    with tf.control_dependencies(checks):
        first = tf.gather(word_pieces.row_starts(), sentence)  # [K] batch index of word 0
    flat_word = tf.ragged.range(first + start, first + stop)  # [K, (W)] into the batch's words
    return tf.gather(word_pieces.values, flat_word)
