"""What every bert_tf tokenizer shares: vocabulary lookups and model inputs laid out by its template."""

# B=batch, P=tokens of a segment, T=max_seq_length

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


class TemplateTokenizer(keras.layers.Layer):
    """A tokenizer layer whose model inputs come from its `template` (tokenization.Template).

    A subclass sets `vocab` (tokens by id), `_token_to_id`, `_tokens` (a
    string tensor of `vocab`), `template`, `max_seq_length`, and defines
    `tokenize(texts)` -> int32 ragged `[B, (P)]`.
    """

    # Plain Python data, not Keras state: a Keras layer would wrap each list or dict it is
    # given in a tracked copy, visiting every entry (about 0.15 s for a 30k-token vocab).
    _UNTRACKED = frozenset({"vocab", "_token_to_id", "merges"})

    def __setattr__(self, name, value):
        if name in self._UNTRACKED:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

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
        a = self.tokenize(as_batch(texts)[0])  # [B, (Pa)]
        b = None if text_pairs is None else self.tokenize(as_batch(text_pairs)[0])
        return self.template.encode_ragged(a, b, int(max_seq_length or self.max_seq_length))

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
