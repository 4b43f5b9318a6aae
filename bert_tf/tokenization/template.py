"""Where the special tokens go around one text or a pair: BERT's and RoBERTa's input templates."""

# B=batch, P=pieces of a segment, T=max_seq_length

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Template:
    """Model inputs from the token ids of one or two segments.

    One text is `start a end`; a pair is `start a middle b end`. Positions
    up to and including `middle` are segment 0, the rest segment
    `second_segment_id`.
    """

    start: tuple  # ids before the first segment: [CLS] (BERT), <s> (RoBERTa)
    middle: tuple  # ids between the two segments of a pair: [SEP], or </s> </s>
    end: tuple  # ids after the last segment: [SEP], </s>
    pad_id: int  # fills the positions after the text
    second_segment_id: int  # 1 (BERT); 0 where a model has no token types (RoBERTa)

    @classmethod
    def bert(cls, cls_id, sep_id, pad_id):
        """`[CLS] a [SEP]` and `[CLS] a [SEP] b [SEP]`, the second segment's ids 1."""
        return cls((cls_id,), (sep_id,), (sep_id,), pad_id, 1)

    @classmethod
    def roberta(cls, cls_id, sep_id, pad_id):
        """`<s> a </s>` and `<s> a </s></s> b </s>`, every segment id 0."""
        return cls((cls_id,), (sep_id, sep_id), (sep_id,), pad_id, 0)

    def special_count(self, pair):
        """How many special tokens one text (pair=False) or a pair takes."""
        return len(self.start) + len(self.end) + (len(self.middle) if pair else 0)

    def encode_ragged(self, a, b, max_seq_length):
        """Model inputs from int32 ragged `[B, (P)]` ids of first segments `a` and second ones `b`.

        `b` is None for single texts. Pairs that do not fit are truncated as
        google-research/bert does (see truncated_pair_lengths). Returns int32
        ragged `[B, (T)]` "input_ids" and "segment_ids", and bool `[B]`
        "truncated" (an example lost tokens).
        """
        budget = max_seq_length - self.special_count(b is not None)
        if budget < 1:
            raise ValueError(f"max_seq_length {max_seq_length} leaves no room for tokens")
        if b is None:
            segments = [a[:, :budget]]
            truncated = a.row_lengths() > budget
        else:
            keep_a, keep_b = truncated_pair_lengths(a.row_lengths(), b.row_lengths(), budget)
            segments = [_keep_first(a, keep_a), _keep_first(b, keep_b)]
            truncated = a.row_lengths() + b.row_lengths() > budget
        batch = a.nrows()

        def fill(ids):
            return tf.tile(tf.constant([ids], tf.int32), [batch, 1])  # [B, len(ids)]

        def segment(ids, index):
            return tf.zeros_like(ids) + index

        pieces = [fill(self.start), segments[0]]
        segment_ids = [segment(pieces[0], 0), segment(segments[0], 0)]
        if b is not None:
            second = self.second_segment_id
            pieces += [fill(self.middle), segments[1]]
            segment_ids += [segment(pieces[2], 0), segment(segments[1], second)]
        else:
            second = 0
        pieces.append(fill(self.end))
        segment_ids.append(segment(pieces[-1], second))
        return {"input_ids": tf.concat(pieces, axis=1),
                "segment_ids": tf.concat(segment_ids, axis=1), "truncated": truncated}

    def pad(self, ragged, max_seq_length=None, return_truncated=False):
        """encode_ragged's output padded to `[B, T]` (T = max_seq_length, or the longest if None).

        Returns int32 `input_ids` (padded with pad_id), `input_mask` and
        `segment_ids`, and with `return_truncated` the bool `[B]` "truncated".
        """
        ids = ragged["input_ids"]
        shape = None if max_seq_length is None else [None, max_seq_length]
        features = {
            "input_ids": ids.to_tensor(self.pad_id, shape=shape),
            "input_mask": tf.ones_like(ids).to_tensor(0, shape=shape),
            "segment_ids": ragged["segment_ids"].to_tensor(0, shape=shape),
        }
        if return_truncated:
            features["truncated"] = ragged["truncated"]
        return features


def truncated_pair_lengths(length_a, length_b, budget):
    """Lengths google-research/bert's `_truncate_seq_pair` leaves for two segments.

    It removes one token at a time from the longer segment (the second on
    ties) until both fit in `budget`; in closed form the second keeps
    min(b, max(budget // 2, budget - a)) and the first the rest.
    """
    length_a = tf.cast(length_a, tf.int64)
    length_b = tf.cast(length_b, tf.int64)
    budget = tf.cast(budget, tf.int64)
    keep_b = tf.minimum(length_b, tf.maximum(budget // 2, budget - length_a))
    keep_a = tf.minimum(length_a, budget - keep_b)
    return keep_a, keep_b


def _keep_first(ragged, lengths):
    positions = tf.ragged.range(ragged.row_lengths())
    return tf.ragged.boolean_mask(ragged, positions < tf.expand_dims(lengths, 1))
