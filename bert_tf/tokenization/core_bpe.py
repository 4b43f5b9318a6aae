"""Byte-pair encoding of pre-tokenized words (GPT-2's BPE) with core TensorFlow ops only.

A word starts as one symbol per UTF-8 byte (the vocabulary id of the
byte's character in GPT-2's alphabet) and merges adjacent pairs by rank,
lowest first, until no adjacent pair is in the merge list. Every word of a
batch is worked on at once in a tf.while_loop: each step looks all adjacent
pairs up in one hash table keyed by the two ids, merges in each word, and
sets aside the words left without a mergeable pair.

Hugging Face `tokenizers` merges one pair at a time, the lowest (rank,
position) first. Merging, in one step, every occurrence of a word's lowest
ranked pair from left to right (GPT-2's own order) gives the same result
whenever no merge ranks below a merge that makes one of its two parts: a
merge never then creates a pair that ranks below the one being merged.
Merge lists learned by a BPE trainer are like that; for any other list
this falls back to one merge per word per step, which is the reference's
order exactly.
"""

# U=words, S=symbols of all words being merged, P=tokens of a word, V=vocabulary size

import tensorflow as tf

from bert_tf.tokenization.byte_level import byte_alphabet

_NO_RANK = tf.int64.max


def merges_are_ordered(merges):
    """Whether every merge ranks above each merge that makes one of its parts.

    `merges` holds (left id, right id, merged id) by rank; a pair listed
    twice takes its later rank.
    """
    ranks = {(left, right): (rank, merged) for rank, (left, right, merged) in enumerate(merges)}
    last_made = {}
    for rank, merged in ranks.values():
        last_made[merged] = max(last_made.get(merged, -1), rank)
    return all(last_made.get(left, -1) < rank and last_made.get(right, -1) < rank
               for (left, right), (rank, _) in ranks.items())


class CoreBpe(tf.Module):
    """Tokenizes byte strings into BPE token ids, with each token's length in bytes.

    `vocab` lists the tokens by id; `merges` holds (left id, right id, merged
    id) by rank (a pair listed twice takes its later rank, as in the
    reference). A byte whose character is not in the vocabulary becomes
    `unk_id`.
    """

    def __init__(self, vocab, merges, unk_id, name=None):
        super().__init__(name=name)
        token_to_id = {t: i for i, t in enumerate(vocab)}
        self.vocab_size = len(vocab)
        self._byte_ids = tf.constant([token_to_id.get(c, unk_id) for c in byte_alphabet()],
                                     tf.int32)
        ranks = {(left, right): rank for rank, (left, right, _) in enumerate(merges)}
        keys = [left * self.vocab_size + right for left, right in ranks]
        self._ranks = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.int64),
                                                tf.constant(list(ranks.values()), tf.int64)),
            default_value=-1)
        # A trailing 0 keeps gathers in range where nothing merges.
        self._merged = tf.constant([merged for _, _, merged in merges] + [0], tf.int32)
        self._no_merge = len(merges)
        self.all_at_once = merges_are_ordered(merges)

    def tokenize(self, words):
        """Words `[U]` (UTF-8 strings) -> (int32 ragged `[U, (P)]` ids, int32 `[U, (P)]` bytes per token)."""
        words = tf.convert_to_tensor(words, tf.string)
        count = tf.size(words, out_type=tf.int64)
        byte_strings = tf.strings.bytes_split(words)  # [U, (Y)]
        byte_values = tf.reshape(tf.io.decode_raw(byte_strings.flat_values, tf.uint8), [-1])
        ids = tf.gather(self._byte_ids, tf.cast(byte_values, tf.int32))  # [S]
        lengths = tf.ones_like(ids)  # [S] bytes per symbol
        word = byte_strings.value_rowids()  # [S]

        def step(ids, lengths, word, out_ids, out_lengths, out_word):
            size = tf.size(ids, out_type=tf.int64)
            left_word = word[:-1]  # [S - 1] word of each adjacent pair
            keys = tf.cast(ids[:-1], tf.int64) * self.vocab_size + tf.cast(ids[1:], tf.int64)
            rank = self._ranks.lookup(keys)
            rank = tf.where(tf.equal(left_word, word[1:]) & (rank >= 0), rank, _NO_RANK)
            best = tf.math.unsorted_segment_min(rank, left_word, count)  # [U]
            # A word without a mergeable pair is finished: set it aside.
            done = tf.equal(tf.gather(best, word), _NO_RANK)  # [S]
            out_ids = out_ids.write(out_ids.size(), tf.boolean_mask(ids, done))
            out_lengths = out_lengths.write(out_lengths.size(), tf.boolean_mask(lengths, done))
            out_word = out_word.write(out_word.size(), tf.boolean_mask(word, done))

            candidate = (rank < _NO_RANK) & tf.equal(rank, tf.gather(best, left_word))  # [S - 1]
            position = tf.range(size - 1)
            if self.all_at_once:
                # Occurrences of a pair overlap only as (x, x) runs: take every other from the left.
                others = tf.concat([[-1], tf.where(~candidate)[:, 0]], 0)  # -1: none yet
                run_start = tf.gather(others, tf.cumsum(tf.cast(~candidate, tf.int64))) + 1
                merge = candidate & tf.equal((position - run_start) % 2, 0)
            else:
                first = tf.math.unsorted_segment_min(
                    tf.where(candidate, position, size), left_word, count)
                merge = candidate & tf.equal(position, tf.gather(first, left_word))
            merged = tf.gather(self._merged, tf.where(merge, rank, self._no_merge))  # [S - 1]
            new_ids = tf.concat([tf.where(merge, merged, ids[:-1]), ids[-1:]], 0)
            new_lengths = tf.concat([lengths[:-1] + tf.where(merge, lengths[1:], 0),
                                     lengths[-1:]], 0)
            keep = tf.concat([[True], ~merge], 0)[:size] & ~done
            return (tf.boolean_mask(new_ids, keep), tf.boolean_mask(new_lengths, keep),
                    tf.boolean_mask(word, keep), out_ids, out_lengths, out_word)

        def not_done(ids, *_):
            return tf.size(ids) > 0

        def arrays(dtype):
            return tf.TensorArray(dtype, size=0, dynamic_size=True, infer_shape=False,
                                  element_shape=[None]).write(0, tf.zeros([0], dtype))

        state = (ids, lengths, word, arrays(tf.int32), arrays(tf.int32), arrays(tf.int64))
        flat = tf.TensorShape([None])
        _, _, _, out_ids, out_lengths, out_word = tf.while_loop(
            not_done, step, state,
            shape_invariants=(flat, flat, flat, tf.TensorShape(None), tf.TensorShape(None),
                              tf.TensorShape(None)))
        # Each word was set aside whole, in one step: a stable sort by word restores the order.
        word = out_word.concat()
        order = tf.argsort(word, stable=True)
        rows = tf.gather(word, order)

        def nest(values):
            return tf.RaggedTensor.from_value_rowids(tf.gather(values.concat(), order), rows,
                                                     nrows=count)

        return nest(out_ids), nest(out_lengths)
