"""Where the special tokens go around one text or a pair: BERT's and RoBERTa's input templates.

Every task lays out its model inputs with these methods, so that one place
defines the layout. The module imports TensorFlow only inside the methods that
build ops: the numpy methods serve worker processes that load numpy alone
(tasks.pretraining.examples).
"""

# B=batch, N=rows, P=pieces of a segment, T=max_seq_length (or the row's length)

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Template:
    """Model inputs from the token ids of one or two segments.

    One text is `start a end`; a pair is `start a middle b end`. Positions
    up to and including `middle` are segment 0, the rest segment
    `second_segment_id` (a single text is all segment 0).

    The layout comes in three forms: `frame` and `segment_ids` for ragged
    batches in the graph (and `encode_ragged` with truncation), `frame_array`
    and `segment_id_array` for one numpy example, and `layout_rows` for
    fixed-width numpy rows; `segment_starts` and `length` give positions.
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

    # -------------------------------------------------------------- positions

    def special_count(self, pair):
        """How many special tokens one text (pair=False) or a pair takes."""
        return len(self.start) + len(self.end) + (len(self.middle) if pair else 0)

    @property
    def special_ids(self):
        """Every id the template places, sorted and distinct (what masking leaves alone)."""
        return tuple(sorted(set(self.start + self.middle + self.end)))

    def segment_starts(self, length_a):
        """Positions of the first segment's first token and of the second's, for a first
        segment of `length_a` tokens (an int, a numpy array or a tensor: elementwise)."""
        return len(self.start), len(self.start) + length_a + len(self.middle)

    def length(self, length_a, length_b=None):
        """Tokens of the framed text (or pair): the segments' lengths and the special tokens."""
        if length_b is None:
            return length_a + self.special_count(False)
        return length_a + length_b + self.special_count(True)

    def _parts(self, a, b, special=None):
        """[start, a, end] or [start, a, middle, b, end]; `special` in place of every id."""
        def ids(part):
            return part if special is None else (special,) * len(part)

        if b is None:
            return [ids(self.start), a, ids(self.end)]
        return [ids(self.start), a, ids(self.middle), b, ids(self.end)]

    # ------------------------------------------------------------------ numpy

    def frame_array(self, a, b=None, special=None):
        """One example: numpy `[T]` of `start a end` or `start a middle b end`, a's dtype.

        `a`, `b`: numpy `[P]` of one segment each (b None for one text). With
        `special`, every special position holds that value instead of the
        template's ids: lay out values per token (offsets, flags) the same way.
        """
        a = np.asarray(a)
        return np.concatenate([np.asarray(part, a.dtype) for part in self._parts(a, b, special)])

    def segment_id_array(self, length_a, length_b=None):
        """One example's int32 segment ids `[T]` (frame_array's layout)."""
        if length_b is None:
            return np.zeros(self.length(length_a), np.int32)
        _, b_at = self.segment_starts(length_a)
        return np.repeat(np.array([0, self.second_segment_id], np.int32),
                         [b_at, length_b + len(self.end)])

    def layout_rows(self, length_a, length_b, width):
        """Fixed-width rows of frames, vectorized over N examples (pretraining's records).

        `length_a`, `length_b`: int `[N]` segment lengths (length_b None for
        single texts), each frame at most `width` long. Returns int64 `[N,
        width]` arrays: the template's id at each special position and -1
        elsewhere (segments and padding), and the segment ids (0 in padding).
        """
        length_a = np.asarray(length_a, np.int64)[:, None]  # [N, 1]
        position = np.arange(width)[None, :]  # [1, T]
        _, b_at = self.segment_starts(length_a)
        after_a = b_at - len(self.middle)
        if length_b is None:
            end_at = after_a
            segment_ids = np.zeros([len(length_a), width], np.int64)
        else:
            end_at = b_at + np.asarray(length_b, np.int64)[:, None]
            in_second = (position >= b_at) & (position < end_at + len(self.end))
            segment_ids = np.where(in_second, self.second_segment_id, 0).astype(np.int64)
        special = np.full([len(length_a), width], -1, np.int64)
        places = [(0, self.start), (end_at, self.end)]
        if length_b is not None:
            places.append((after_a, self.middle))
        for at, ids in places:
            for k, token in enumerate(ids):
                special = np.where(position == at + k, token, special)
        return special, segment_ids

    # ------------------------------------------------------------- TensorFlow

    def frame(self, a, b=None, special=None):
        """A ragged batch framed: `[B, (T)]` of `start a end` or `start a middle b end`.

        `a`, `b`: ragged `[B, (P)]` of the same dtype and row-splits dtype (b
        None for one text); nothing is truncated. With `special`, every
        special position holds that value instead of the template's ids.
        """
        return _concat(a, self._parts(a, b, special))

    def segment_ids(self, a, b=None):
        """int32 ragged `[B, (T)]` segment ids of `frame(a, b)`."""
        import tensorflow as tf

        def segment(ragged, index):
            return tf.zeros_like(tf.cast(ragged, tf.int32)) + index

        first = segment(a, 0)
        if b is None:
            return _concat(first, self._parts(first, None, 0))
        second = self.second_segment_id
        return _concat(first, [(0,) * len(self.start), first, (0,) * len(self.middle),
                               segment(b, second), (second,) * len(self.end)])

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
            truncated = a.row_lengths() > budget
            a = a[:, :budget]
        else:
            keep_a, keep_b = truncated_pair_lengths(a.row_lengths(), b.row_lengths(), budget)
            truncated = a.row_lengths() + b.row_lengths() > budget
            a, b = _keep_first(a, keep_a), _keep_first(b, keep_b)
        return {"input_ids": self.frame(a, b), "segment_ids": self.segment_ids(a, b),
                "truncated": truncated}

    def pad(self, ragged, max_seq_length=None, return_truncated=False):
        """encode_ragged's output padded to `[B, T]` (T = max_seq_length, or the longest if None).

        Returns int32 `input_ids` (padded with pad_id), `input_mask` and
        `segment_ids`, and with `return_truncated` the bool `[B]` "truncated".
        """
        import tensorflow as tf

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
    import tensorflow as tf

    length_a = tf.cast(length_a, tf.int64)
    length_b = tf.cast(length_b, tf.int64)
    budget = tf.cast(budget, tf.int64)
    keep_b = tf.minimum(length_b, tf.maximum(budget // 2, budget - length_a))
    keep_a = tf.minimum(length_a, budget - keep_b)
    return keep_a, keep_b


def _keep_first(ragged, lengths):
    import tensorflow as tf

    positions = tf.ragged.range(ragged.row_lengths())
    return tf.ragged.boolean_mask(ragged, positions < tf.expand_dims(lengths, 1))


def _concat(like, parts):
    """Ragged `[B, (T)]`: `parts` side by side, each a ragged `[B, (P)]` or a tuple of values
    that every row gets (in `like`'s dtype and row-splits dtype)."""
    import tensorflow as tf

    batch = tf.cast(like.nrows(), tf.int32)

    def piece(part):
        if isinstance(part, tf.RaggedTensor):
            return part
        column = tf.tile(tf.constant([part], like.dtype, shape=[1, len(part)]),
                         tf.stack([batch, 1]))  # [B, len(part)]
        return tf.RaggedTensor.from_tensor(column, row_splits_dtype=like.row_splits.dtype)

    return tf.concat([piece(part) for part in parts], axis=1)
