"""`windows.split` as TensorFlow ops, so a served model windows long sentences in its graph exactly as run_tagging.py does.

The windows (their starts, stops, and which window predicts each word) are
those of `tasks.tagging.windows.split` for the same pieces per word,
max_seq_length and stride: the same loop (the most words from a start that
fit; the next start `stride` pieces on, or further to reach a new word), run
for every sentence of the batch at once, and the same owner rule (most
context on the poorer side, the earliest window on ties). Core ops only.
"""

# B=sentences, N=words of the batch, K=windows, X=W + 1 cumulative piece counts per sentence

import tensorflow as tf

_FAR = tf.int64.max // 4  # pads cumulative counts: beyond any real count, safe to add a budget to


def split(pieces_per_word, max_seq_length, stride=None, special_tokens=2):
    """Windows over a batch of sentences, as tensors.

    `pieces_per_word` is a ragged int `[B, (W)]` of piece counts (each at
    least 1). Returns a dict of int64 tensors:

    - "sentence", "start", "stop": `[K]`, window k holds words
      [start, stop) of sentence `sentence` (windows in sentence order, then
      word order; a sentence without words has none);
    - "owner": `[N]`, for every word of the batch (in `pieces_per_word.values`
      order), the window that predicts it.

    Unlike `windows.split`, windows that own no word are kept (they cost a
    row, and change nothing). `special_tokens`: as there, the template's
    special tokens in a row.
    """
    budget = max_seq_length - special_tokens
    if budget < 1:
        raise ValueError(f"max_seq_length must be at least {special_tokens + 1}, got "
                         f"{max_seq_length}")
    stride = max(budget // 2, 1) if stride is None else int(stride)
    if not 1 <= stride <= budget:
        raise ValueError(f"stride must be between 1 and max_seq_length - {special_tokens} = "
                         f"{budget}, got {stride}")
    counts = tf.minimum(tf.cast(pieces_per_word, tf.int64), budget)  # [B, (W)]
    words = counts.row_lengths()  # [B]
    batch = tf.shape(words, out_type=tf.int64)[0]
    ends = tf.concat([tf.zeros([batch, 1], tf.int64), tf.cumsum(counts, axis=1)], axis=1)
    ends = ends.to_tensor(_FAR)  # [B, X] pieces before word w, padded far beyond
    ends = tf.concat([ends, tf.fill([batch, 1], tf.constant(_FAR, tf.int64))], axis=1)

    def at(index):  # ends[b, index[b]] -> [B]
        return tf.gather(ends, index[:, None], batch_dims=1)[:, 0]

    def last_word_within(limit, side):  # [B]: searchsorted(ends[b], limit[b], side)
        return tf.searchsorted(ends, limit[:, None], side=side, out_type=tf.int64)[:, 0]

    def step(start, active, found):
        stop = last_word_within(at(start) + budget, "right") - 1  # [B] most words that fit
        rows = tf.where(active)[:, 0]
        found = [tf.concat([found[0], rows], 0),
                 tf.concat([found[1], tf.gather(start, rows)], 0),
                 tf.concat([found[2], tf.gather(stop, rows)], 0)]
        active = active & (stop < words)
        by_stride = last_word_within(at(start) + stride, "right") - 1
        # The next window must reach word `stop`, or windows would repeat.
        to_reach = last_word_within(at(tf.minimum(stop + 1, words)) - budget, "left")
        following = tf.maximum(tf.maximum(by_stride, to_reach), start + 1)
        return tf.where(active, following, start), active, found

    empty = tf.zeros([0], tf.int64)
    _, _, (sentence, start, stop) = tf.while_loop(
        lambda start, active, found: tf.reduce_any(active), step,
        (tf.zeros([batch], tf.int64), words > 0, [empty, empty, empty]),
        shape_invariants=(tf.TensorShape([None]), tf.TensorShape([None]),
                          [tf.TensorShape([None])] * 3))
    # Windows were found round by round (every sentence's first, then second...): sort.
    longest = tf.reduce_max(tf.concat([words, [0]], 0))
    order = tf.argsort(sentence * (longest + 1) + start, stable=True)
    sentence, start, stop = (tf.gather(t, order) for t in (sentence, start, stop))

    # Every (window, word) pair; a word's owner is its window with the most context.
    word = tf.ragged.range(start, stop)  # [K, (W)]
    window = tf.cast(word.value_rowids(), tf.int64)
    word, pair_sentence = word.values, tf.gather(sentence, word.value_rowids())

    def ends_of(index):  # [pairs]: ends[sentence of the pair, index]
        return tf.gather_nd(ends, tf.stack([pair_sentence, index], axis=1))

    context = tf.minimum(ends_of(word) - ends_of(tf.gather(start, window)),
                         ends_of(tf.gather(stop, window)) - ends_of(word + 1))
    flat_word = tf.gather(counts.row_starts(), pair_sentence) + word  # into the batch's words
    num_words = tf.size(counts.values)
    best = tf.math.unsorted_segment_max(context, flat_word, num_words)
    candidate = tf.where(tf.equal(context, tf.gather(best, flat_word)), window,
                         tf.constant(tf.int64.max, tf.int64))
    owner = tf.math.unsorted_segment_min(candidate, flat_word, num_words)
    return {"sentence": sentence, "start": start, "stop": stop, "owner": owner}
