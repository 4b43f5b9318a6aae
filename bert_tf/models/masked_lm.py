"""The masked-LM output layer every family's pretraining head ends with: the decoder tied to the word embeddings."""

# B=batch, K=masked positions, H=hidden size, V=vocab size

import tensorflow as tf


def tied_logits(hidden, word_embeddings, output_bias):
    """Logits over the vocabulary of transformed hidden states: float32 `[B, K, V]`.

    hidden: `[B, K, H]` in the compute dtype; word_embeddings: the `[V, H]`
    embedding variable, the decoder's weight; output_bias: the float32 `[V]`
    bias the decoder has of its own.
    """
    embeddings = tf.cast(word_embeddings.value, hidden.dtype)  # [V, H]
    # One [B*K, H] x [H, V] matmul: a batched [B, K, H] x [V, H]^T one broadcasts the
    # table, and its gradient builds a [B, V, H] tensor only to sum it over B (3x slower
    # for the whole step of a tiny model, gigabytes for BERT-Base).
    v, h = word_embeddings.shape
    logits = tf.matmul(tf.reshape(hidden, [-1, h]), embeddings, transpose_b=True)
    logits = tf.reshape(logits, tf.concat([tf.shape(hidden)[:-1], [v]], 0))  # [B, K, V]
    return tf.cast(logits, tf.float32) + output_bias
