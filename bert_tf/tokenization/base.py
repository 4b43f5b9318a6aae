"""What every bert_tf tokenizer shares: vocabulary lookups and model inputs laid out by its template."""

# B=batch, P=tokens of a segment, T=max_seq_length

import collections
import threading

import keras
import tensorflow as tf


def as_batch(texts):
    """`[B]` strings and whether `texts` was one scalar string (then B = 1)."""
    texts = tf.convert_to_tensor(texts, tf.string)
    if texts.shape.rank == 0:
        return texts[None], True
    if texts.shape.rank != 1:
        raise ValueError(f"texts must be a string or a [B] vector of strings, got shape {texts.shape}")
    return texts, False


class Shared:
    """What tokenizers of one content share in a process: the TensorFlow objects their ops
    read (`parts`: tables, constant tensors) and the graphs traced on them (`functions`:
    (method, arguments given, static values) -> tf.function). The graphs capture these
    very parts, so they live and go together."""

    def __init__(self, parts):
        self.parts = parts
        self.functions = {}


# Shared by content key, the most recently used kept (tokenizers hold their own).
_SHARED = collections.OrderedDict()
_SHARED_KEPT = 16
_LOCK = threading.Lock()


def shared_parts(key, build):
    """A `Shared` of `build()`'s result, built once per `key` in this process and handed
    to every tokenizer of that key from then on (the parts must never change once built)."""
    with _LOCK:
        if key in _SHARED:
            _SHARED.move_to_end(key)
            return _SHARED[key]
    shared = Shared(build())
    with _LOCK:
        shared = _SHARED.setdefault(key, shared)
        while len(_SHARED) > _SHARED_KEPT:
            _SHARED.popitem(last=False)
    return shared


class TemplateTokenizer(keras.layers.Layer):
    """A tokenizer layer whose model inputs come from its `template` (tokenization.Template).

    A subclass sets `vocab` (tokens by id), `_token_to_id`, `_tokens` (a
    string tensor of `vocab`), `template`, `max_seq_length`, and defines
    `tokenize(texts)` -> int32 ragged `[B, (P)]`.

    A subclass whose ops read only the parts of `shared = shared_parts(key,
    ...)` sets `graph_key` to that key and `_shared` to it: then its
    graph-mode calls (inside a tf.function, a tf.data map or a SavedModel
    signature) go through graphs traced once per process for all tokenizers
    of that key (`in_graph`), instead of building the tokenizer's few
    thousand ops again in every trace.
    """

    graph_key = None
    _shared = None

    # Plain Python data, not Keras state: a Keras layer would wrap each list or dict it is
    # given in a tracked copy, visiting every entry (about 0.15 s for a 30k-token vocab).
    # (`_shared`'s TensorFlow objects are tracked through the attributes that hold them.)
    _UNTRACKED = frozenset({"vocab", "_token_to_id", "merges", "_shared"})

    def __setattr__(self, name, value):
        if name in self._UNTRACKED:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def in_graph(self, method, *tensors, static=()):
        """`method(*tensors, *static)`; in graph mode through a tf.function shared by every
        tokenizer with this one's graph_key (`shared_function`).

        `tensors` are `[B]` string tensors (None stays None); `static` are
        hashable Python values that shape the graph. Eager calls run the ops
        directly, as before.
        """
        if self._shared is None or tf.executing_eagerly():
            return method(*tensors, *static)
        function = self.shared_function(method, tuple(t is not None for t in tensors), static)
        return function(*(t for t in tensors if t is not None))

    def per_text(self, method, texts):
        """`method` of `[B]` texts through `in_graph`, for `[B]` texts or one string: its
        ragged `[B, (P)]` result (or tuple of them), `[(P)]` for one string."""
        texts, scalar = as_batch(texts)
        result = self.in_graph(method, texts)
        if not scalar:
            return result
        return tuple(r[0] for r in result) if isinstance(result, tuple) else result[0]

    def shared_function(self, method, present, static=()):
        """A tf.function of `method`'s given `[B]` string arguments (`present` says which are
        given, the rest are None), shared by every tokenizer with this one's graph_key and
        traced once per process for these `static` values (a function of this tokenizer's
        own without a graph_key). Called eagerly, it also runs without a new instantiation
        of its graph: the graph is optimized once per process, not per caller."""
        key = (method.__name__, present, static)
        if self._shared is not None:
            with _LOCK:
                function = self._shared.functions.get(key)
            if function is not None:
                return function

        def traced(*given):
            values = iter(given)
            return method(*(next(values) if p else None for p in present), *static)

        signature = [tf.TensorSpec([None], tf.string)] * sum(present)
        function = tf.function(traced, input_signature=signature, autograph=False)
        if self._shared is None:
            return function
        with _LOCK:
            return self._shared.functions.setdefault(key, function)

    def encode_ragged_function(self, pair, max_seq_length=None):
        """`encode_ragged` as a tf.function of `[B]` texts (and `[B]` second texts when
        `pair`), for encoding many batches: shared as `shared_function` says."""
        return self.shared_function(self._encode_ragged, (True, bool(pair)),
                                    (int(max_seq_length or self.max_seq_length),))

    @property
    def vocab_size(self):
        return len(self.vocab)

    def token_to_id(self, token: str) -> int:
        return self._token_to_id[token]

    def id_to_token(self, token_id: int) -> str:
        return self.vocab[token_id]

    def convert_ids_to_tokens(self, ids):
        """Token strings for ids, same shape (ragged or dense)."""
        if isinstance(ids, tf.RaggedTensor):
            return tf.ragged.map_flat_values(tf.gather, self._tokens, ids)
        return tf.gather(self._tokens, ids)

    def encode_ragged(self, texts, text_pairs=None, max_seq_length=None):
        """Model inputs of one text or a pair in the template's layout, unpadded.

        Pairs that do not fit are truncated as google-research/bert does:
        one token at a time from the end of the longer segment (the second
        one on ties). Returns int32 ragged `[B, (T)]` "input_ids" and
        "segment_ids", and bool `[B]` "truncated" (an example lost tokens).
        """
        texts = as_batch(texts)[0]
        text_pairs = None if text_pairs is None else as_batch(text_pairs)[0]
        return self.in_graph(self._encode_ragged, texts, text_pairs,
                             static=(int(max_seq_length or self.max_seq_length),))

    def _encode_ragged(self, texts, text_pairs, max_seq_length):
        a = self.tokenize(texts)  # [B, (Pa)]
        b = None if text_pairs is None else self.tokenize(text_pairs)
        return self.template.encode_ragged(a, b, max_seq_length)

    def encode(self, texts, text_pairs=None, max_seq_length=None, pad_to_max_length=True,
               return_truncated=False):
        """Model inputs in the template's layout, padded with its pad id (see encode_ragged).

        Returns int32 `[B, T]` `input_ids`, `input_mask` and `segment_ids`;
        T is max_seq_length, or with `pad_to_max_length=False` the longest
        example of the batch. `return_truncated` adds a bool `[B]`
        "truncated": whether an example lost tokens.
        """
        max_seq_length = int(max_seq_length or self.max_seq_length)
        ragged = self.encode_ragged(texts, text_pairs, max_seq_length)
        return self.template.pad(ragged, max_seq_length if pad_to_max_length else None,
                                 return_truncated)

    def call(self, texts, text_pairs=None):
        return self.encode(texts, text_pairs)
