"""WordPiece (greedy longest-match-first) with core TensorFlow ops only.

tensorflow-text's FastWordpieceTokenizer is a custom op: a SavedModel that
uses it loads only where tensorflow-text is installed, which many TF Serving
builds are not. This implementation uses a lookup table, string slicing and
a while loop, so an export built on it runs on any TensorFlow runtime. It
gives the same ids as FastWordpieceTokenizer (tested on the tokenizer
parity corpus).
"""

# W=words, K=longest piece in characters, A=words still being split, N=candidate pieces

import tensorflow as tf

SUFFIX = "##"


def merge_rows(mask, when_true, when_false):
    """A ragged `[W, (P)]` whose rows come from `when_true` where `mask`, else `when_false`.

    `when_true` and `when_false` hold the rows of their side in order.
    """
    rows = tf.range(tf.size(mask, out_type=tf.int64))
    true_rows = tf.boolean_mask(rows, mask)
    false_rows = tf.boolean_mask(rows, ~mask)
    lengths = tf.scatter_nd(true_rows[:, None], when_true.row_lengths(), tf.shape(rows, tf.int64))
    lengths += tf.scatter_nd(false_rows[:, None], when_false.row_lengths(),
                             tf.shape(rows, tf.int64))
    values = tf.concat([when_true.values, when_false.values], 0)
    value_rows = tf.concat([tf.gather(true_rows, when_true.value_rowids()),
                            tf.gather(false_rows, when_false.value_rowids())], 0)
    order = tf.argsort(value_rows, stable=True)  # each row's values keep their order
    return tf.RaggedTensor.from_row_lengths(tf.gather(values, order), lengths)


class CoreWordpiece(tf.Module):
    """Tokenizes words (already normalized and split) into wordpiece ids.

    A word that cannot be covered by vocabulary pieces becomes one [UNK],
    as in the reference.
    """

    def __init__(self, vocab, unknown_token="[UNK]", name=None):
        super().__init__(name=name)
        self.unk_id = vocab.index(unknown_token)
        # The longest piece, in characters, bounds the candidates tried at each step.
        self.max_chars = max(len(t[len(SUFFIX):] if t.startswith(SUFFIX) else t) for t in vocab)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(vocab),
                                                tf.range(len(vocab), dtype=tf.int64)),
            default_value=-1)

    def tokenize(self, words):
        """Words `[W]` (UTF-8 strings) -> int32 ragged `[W, (P)]` wordpiece ids."""
        words = tf.convert_to_tensor(words, tf.string)
        # Most words are vocabulary entries themselves: one lookup settles them.
        whole = tf.cast(self.table.lookup(words), tf.int32)  # [W]
        known = whole >= 0
        split = self._split(tf.boolean_mask(words, ~known))
        return merge_rows(known, tf.RaggedTensor.from_tensor(tf.boolean_mask(whole, known)[:, None]),
                          split)

    def _split(self, words):
        """Greedy longest-match-first over words that are not vocabulary entries.

        Each step tries, for every word still being split, the pieces of
        length 1..min(K, characters left) at its position, and takes the
        longest one in the vocabulary. Finished words drop out of the work.
        """
        count = tf.size(words)
        lengths = tf.strings.length(words, unit="UTF8_CHAR")  # [W]
        k = self.max_chars

        def step(start, unknown, emitted):
            active = tf.where((start < lengths) & ~unknown)[:, 0]  # [A]
            at = tf.gather(start, active)
            tries = tf.minimum(tf.gather(lengths, active) - at, k)  # [A]
            sizes = tf.ragged.range(1, tries + 1)  # [A, (N)]
            rows = sizes.value_rowids()
            positions = tf.gather(at, rows)
            pieces = tf.strings.substr(tf.gather(tf.gather(words, active), rows), positions,
                                       sizes.flat_values, unit="UTF8_CHAR")
            pieces = tf.where(positions > 0, SUFFIX + pieces, pieces)
            ids = tf.cast(self.table.lookup(pieces), tf.int32)  # -1 if absent
            longest = tf.math.unsorted_segment_max(tf.where(ids >= 0, sizes.flat_values, 0),
                                                   rows, tf.size(active))  # [A], 0 = none
            found = longest > 0
            piece = tf.gather(ids, tf.cast(sizes.row_starts(), tf.int32) + tf.maximum(longest - 1, 0))
            where = active[:, None]
            emitted = emitted.write(emitted.size(), tf.tensor_scatter_nd_update(
                tf.fill([count], -1), where, tf.where(found, piece, -1)))
            start = tf.tensor_scatter_nd_add(start, where, longest)
            unknown = tf.tensor_scatter_nd_update(unknown, where, ~found)
            return start, unknown, emitted

        def not_done(start, unknown, emitted):
            return tf.reduce_any((start < lengths) & ~unknown)

        start = tf.zeros_like(lengths)
        unknown = tf.zeros_like(lengths, dtype=tf.bool)
        emitted = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None])
        _, unknown, emitted = tf.while_loop(not_done, step, (start, unknown, emitted))
        stacked = tf.cond(emitted.size() > 0, emitted.stack,
                          lambda: tf.zeros([0, count], tf.int32))  # no word to split
        pieces = tf.transpose(tf.reshape(stacked, [emitted.size(), count]))
        pieces = tf.RaggedTensor.from_tensor(pieces)  # [W, steps], -1 where nothing came
        pieces = tf.ragged.boolean_mask(pieces, pieces >= 0)
        # An uncoverable word is one [UNK], whatever pieces it had before failing.
        unk = tf.RaggedTensor.from_tensor(tf.fill([tf.reduce_sum(tf.cast(unknown, tf.int32)), 1],
                                                  self.unk_id))
        return merge_rows(unknown, unk, tf.ragged.boolean_mask(pieces, ~unknown))
