"""One post-LayerNorm Transformer encoder block, as in BERT."""

# B=batch, T=sequence, H=hidden size, I=intermediate size

import contextlib

import keras
import tensorflow as tf

from bert_tf.layers import activations
from bert_tf.layers.attention import MultiHeadSelfAttention
from bert_tf.layers.dense import dense
from bert_tf.layers.dropout import Dropout
from bert_tf.layers.layer_norm import LayerNormalization


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerEncoderBlock(keras.layers.Layer):
    """Self-attention and feed-forward, each followed by dropout, residual and LayerNorm.

    Call: `block(x, padding_mask=None, training=None)`; x `[B, T, H]`,
    padding_mask `[B, T]` (1 = real token) -> `[B, T, H]`.
    `block.recomputed(x, padding_mask, training)` gives the same output but keeps
    none of the block's activations for the backward pass, which recomputes them.
    """

    # The constructor's arguments, kept as attributes of the same names.
    config_names = ("num_attention_heads", "intermediate_size", "hidden_act", "hidden_dropout",
                    "attention_dropout", "layer_norm_eps", "initializer_range")

    def __init__(self, num_attention_heads, intermediate_size, hidden_act="gelu",
                 hidden_dropout=0.1, attention_dropout=0.1, layer_norm_eps=1e-12,
                 initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.activation = activations.get(hidden_act)
        self.inference_activation = activations.get_inference(hidden_act)
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range

    def build(self, input_shape):
        hidden_size = input_shape[-1]
        policy = self.dtype_policy
        init = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        self.attention = MultiHeadSelfAttention(
            self.num_attention_heads, attention_dropout=self.attention_dropout,
            initializer_range=self.initializer_range, dtype=policy, name="attention")
        self.attention.build(input_shape)
        self.attention_output_dropout = Dropout(
            self.hidden_dropout, dtype=policy, name="attention_output_dropout")
        self.attention_layer_norm = LayerNormalization(
            epsilon=self.layer_norm_eps, dtype=policy, name="attention_layer_norm")
        self.attention_layer_norm.build(input_shape)
        self.intermediate = keras.layers.Dense(
            self.intermediate_size, kernel_initializer=init, dtype=policy, name="intermediate")
        self.intermediate.build(input_shape)
        self.output_dense = keras.layers.Dense(
            hidden_size, kernel_initializer=init, dtype=policy, name="output")
        self.output_dense.build((*input_shape[:-1], self.intermediate_size))
        self.output_dropout = Dropout(self.hidden_dropout, dtype=policy, name="output_dropout")
        self.output_layer_norm = LayerNormalization(
            epsilon=self.layer_norm_eps, dtype=policy, name="output_layer_norm")
        self.output_layer_norm.build(input_shape)
        self.built = True

    def call(self, x, padding_mask=None, training=None):
        attended = self.attention(x, padding_mask=padding_mask, training=training)
        attended = self.attention_output_dropout(attended, training=training)
        x = self.attention_layer_norm(x + attended)  # [B, T, H]
        if training:  # the activation's hand-written gradient: less memory
            h = self.output_dense(self.activation(self.intermediate(x)))
        else:  # MatMul, BiasAdd and the activation's plain formula: one oneDNN kernel
            h = dense(self.output_dense, dense(self.intermediate, x, self.inference_activation))
        h = self.output_dropout(h, training=training)  # [B, T, H]
        return self.output_layer_norm(x + h)

    def recomputed(self, x, padding_mask=None, training=None):
        """`self(x, padding_mask, training)` under `tf.recompute_grad`: only the block's input
        is kept for the backward pass, which runs the block again to get its gradients.

        The dropout masks are drawn here, before the block runs, and both runs replay
        them (Dropout.replaying): the recomputed forward is the first one exactly, and the
        masks are those the plain call draws for the same seed-generator state.
        """
        dropouts = [d for d in (self.attention.dropout, self.attention_output_dropout,
                                self.output_dropout) if training and d.rate > 0]
        seeds = [d.draw_seed() for d in dropouts]

        # The mask and the seeds are integers: captured, not arguments, since the
        # recomputation would watch its arguments for gradients.
        def forward(x):
            with contextlib.ExitStack() as replay:
                for dropout, seed in zip(dropouts, seeds):
                    replay.enter_context(dropout.replaying(seed))
                return self(x, padding_mask=padding_mask, training=training)

        return tf.recompute_grad(forward)(x)

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self.config_names})
        return config
