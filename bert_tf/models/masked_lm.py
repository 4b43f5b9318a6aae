"""The masked-LM output layer every family's pretraining head ends with: the decoder tied to the word embeddings."""

# B=batch, K=masked positions, H=hidden size, E=embedding size, V=vocab size

import keras
import tensorflow as tf

from bert_tf.layers import LayerNormalization, activations


def tied_logits(hidden, word_embeddings, output_bias):
    """Logits over the vocabulary of transformed hidden states: float32 `[B, K, V]`.

    hidden: `[B, K, E]` in the compute dtype; word_embeddings: the `[V, E]`
    embedding variable, the decoder's weight; output_bias: the float32 `[V]`
    bias the decoder has of its own.
    """
    embeddings = tf.cast(word_embeddings.value, hidden.dtype)  # [V, E]
    # One [B*K, H] x [H, V] matmul: a batched [B, K, H] x [V, H]^T one broadcasts the
    # table, and its gradient builds a [B, V, H] tensor only to sum it over B (3x slower
    # for the whole step of a tiny model, gigabytes for BERT-Base).
    v, h = word_embeddings.shape
    logits = tf.matmul(tf.reshape(hidden, [-1, h]), embeddings, transpose_b=True)
    logits = tf.reshape(logits, tf.concat([tf.shape(hidden)[:-1], [v]], 0))  # [B, K, V]
    return tf.cast(logits, tf.float32) + output_bias


class MaskedLMHead:
    """The masked-LM head of a pretraining model (BERT's, RoBERTa's, ALBERT's): dense,
    activation, LayerNorm, then the decoder tied to the encoder's word embeddings plus a bias.
    The dense layer maps the hidden size to the embeddings' width (ALBERT's factorized
    embeddings are narrower), and the LayerNorm works at that width.

    A model mixes this in and calls `add_masked_lm_head` in `__init__` and
    `build_masked_lm_head` in `build`; the parts are the model's own attributes
    (mlm_transform, mlm_layer_norm, mlm_output_bias), so their weight paths are
    those checkpoints name.
    """

    def add_masked_lm_head(self, shape, activation):
        """The head's layers for an encoder of EncoderShape `shape`, in the model's dtype policy."""
        init = keras.initializers.TruncatedNormal(stddev=shape.initializer_range)
        # [H] -> [E]: the decoder is the [V, E] word-embedding table (E = H unless factorized).
        self.mlm_transform = keras.layers.Dense(
            shape.embedding_size or shape.hidden_size, kernel_initializer=init,
            dtype=self.dtype_policy, name="mlm_transform")
        self.mlm_activation = activations.get(activation)
        self.mlm_layer_norm = LayerNormalization(
            epsilon=shape.layer_norm_eps, dtype=self.dtype_policy, name="mlm_layer_norm")

    def build_masked_lm_head(self, shape):
        self.mlm_transform.build((None, None, shape.hidden_size))
        self.mlm_layer_norm.build((None, None, shape.embedding_size or shape.hidden_size))
        self.mlm_output_bias = self.add_weight(
            name="output_bias", shape=(shape.vocab_size,), initializer="zeros",
            autocast=False)  # added to float32 logits

    @property
    def word_embeddings(self):
        """The one variable shared by the input embedding and the masked-LM decoder."""
        return self.encoder.embeddings.word_embeddings

    def masked_lm_logits(self, sequence_output, positions):
        """float32 `[B, K, V]` logits at int `[B, K]` positions of `[B, T, H]` token states."""
        hidden = tf.gather(sequence_output, positions, batch_dims=1)  # [B, K, H]; then [B, K, E]
        hidden = self.mlm_layer_norm(self.mlm_activation(self.mlm_transform(hidden)))
        return tied_logits(hidden, self.word_embeddings, self.mlm_output_bias)
