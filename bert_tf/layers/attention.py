"""Multi-head self-attention with a padding mask, as in BERT."""

# B=batch, T=query positions, S=key positions (T == S here), N=heads, D=head size, H=N*D

import math

import keras
import tensorflow as tf

from bert_tf.layers.dense import dense
from bert_tf.layers.dropout import Dropout

# Added to the scores of padded keys: exp() of it underflows to exactly 0 in
# float32, so padded positions cannot influence the others at all.
_MASKED_SCORE = -1e9


@keras.saving.register_keras_serializable(package="bert_tf")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Scaled dot-product self-attention over N heads, with its output projection.

    The query, key, value and output projections are `[H, H]` dense layers
    (Google's checkpoint layout); query, key and value are applied as one
    fused `[H, 3H]` matmul. Scores, mask and softmax are computed in float32
    whatever the dtype policy.

    Call: `layer(x, padding_mask=None, training=None)`; x `[B, T, H]`,
    padding_mask `[B, T]` (1 or True = real token) -> `[B, T, H]`.

    `probs_observer` (None, or a callable an attribute sets: distillation's
    attention-map loss) receives each call's attention probabilities, float32
    `[B, N, T, S]` before dropout; it is a way of training, not saved.
    """

    # The constructor's arguments, kept as attributes of the same names.
    config_names = ("num_attention_heads", "attention_dropout", "initializer_range")

    def __init__(self, num_attention_heads, attention_dropout=0.1, initializer_range=0.02,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_attention_heads = num_attention_heads
        self.attention_dropout = attention_dropout
        self.initializer_range = initializer_range
        self.probs_observer = None

    def build(self, input_shape):
        hidden_size = input_shape[-1]
        if hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden size {hidden_size} is not a multiple of "
                             f"num_attention_heads {self.num_attention_heads}")
        self.hidden_size = hidden_size
        self.head_size = hidden_size // self.num_attention_heads

        def dense(name):
            layer = keras.layers.Dense(
                hidden_size, name=name, dtype=self.dtype_policy,
                kernel_initializer=keras.initializers.TruncatedNormal(
                    stddev=self.initializer_range))
            layer.build(input_shape)
            return layer

        self.query = dense("query")
        self.key = dense("key")
        self.value = dense("value")
        self.output_dense = dense("output")
        self.dropout = Dropout(self.attention_dropout, dtype=self.dtype_policy, name="dropout")
        self.built = True

    def call(self, x, padding_mask=None, training=None):
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        n, d = self.num_attention_heads, self.head_size

        # One [H, 3H] projection instead of three [H, H] ones: a single larger
        # matmul runs closer to the hardware's rate, and the weights stay the
        # three checkpoint variables (concatenated here, after the autocast).
        kernel = tf.concat([self.query.kernel, self.key.kernel, self.value.kernel], axis=-1)
        bias = tf.concat([self.query.bias, self.key.bias, self.value.bias], axis=-1)
        qkv = tf.matmul(tf.reshape(x, [-1, self.hidden_size]), kernel) + bias  # [B*T, 3H]
        qkv = tf.transpose(tf.reshape(qkv, [batch, length, 3, n, d]), [2, 0, 3, 1, 4])
        # Unstacked, not indexed: the gradient of an unstack is one stack, where three
        # slices would each write a full-size zero tensor and add them up.
        q, k, v = tf.unstack(qkv, 3, axis=0)  # each [B, N, T, D]

        # The 1/sqrt(D) scale on q ([B, N, T, D]) rather than on the scores
        # ([B, N, T, S]): fewer multiplications, the same product.
        q = q * tf.cast(1.0 / math.sqrt(d), q.dtype)
        scores = tf.cast(tf.matmul(q, k, transpose_b=True), tf.float32)  # [B, N, T, S]
        if padding_mask is not None:
            keep = tf.cast(padding_mask, tf.float32)[:, None, None, :]  # [B, 1, 1, S]
            scores += (1.0 - keep) * _MASKED_SCORE
        probs = tf.nn.softmax(scores, axis=-1)  # [B, N, T, S]
        if self.probs_observer is not None:
            self.probs_observer(probs)
        probs = tf.cast(probs, self.compute_dtype)
        probs = self.dropout(probs, training=training)
        context = tf.matmul(probs, v)  # [B, N, T, D]
        context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]),
                             [batch, length, self.hidden_size])  # [B, T, H]
        # In training keras's Dense (measured faster there in bfloat16), otherwise one
        # fused MatMul + BiasAdd.
        return self.output_dense(context) if training else dense(self.output_dense, context)

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self.config_names})
        return config
