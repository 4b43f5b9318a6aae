"""LayerNorm with a hand-written gradient, statistics in float32."""

import keras
import tensorflow as tf


@tf.custom_gradient
def layer_norm(x, gamma, beta, epsilon):
    """LayerNorm over the last axis in float32 (float32 gamma, beta, epsilon); y in x's dtype."""
    xf = tf.cast(x, tf.float32)
    mean = tf.reduce_mean(xf, axis=-1, keepdims=True)  # [..., 1]
    centered = xf - mean
    inv = tf.math.rsqrt(tf.reduce_mean(tf.square(centered), axis=-1, keepdims=True) + epsilon)
    normed = centered * inv  # [..., H]

    def grad(dy):
        dyf = tf.cast(dy, tf.float32)
        outer = tf.range(tf.rank(dyf) - 1)  # every axis but the last
        d_beta = tf.reduce_sum(dyf, axis=outer)
        d_gamma = tf.reduce_sum(dyf * normed, axis=outer)
        g = dyf * gamma
        # dx = inv (g - mean(g) - x̂ mean(g x̂)), means over the normalized axis
        dx = inv * (g - tf.reduce_mean(g, axis=-1, keepdims=True)
                    - normed * tf.reduce_mean(g * normed, axis=-1, keepdims=True))
        return tf.cast(dx, x.dtype), d_gamma, d_beta, None

    return tf.cast(normed * gamma + beta, x.dtype), grad


@keras.saving.register_keras_serializable(package="bert_tf")
class LayerNormalization(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` (same arguments and weights) with a hand-written gradient.

    For the usual case (last axis, centre and scale) its backward pass takes
    about half the elementwise passes of the formula's autodiff and keeps
    one float32 tensor. Statistics are in float32 whatever the input dtype,
    as in keras; other configurations use keras's path.
    """

    def call(self, inputs):
        if (self.axis != [len(inputs.shape) - 1] and self.axis != [-1]) or self.rms_scaling \
                or self.gamma is None or self.beta is None:
            return super().call(inputs)
        gamma = tf.cast(self.gamma, tf.float32)
        beta = tf.cast(self.beta, tf.float32)
        return tf.cast(layer_norm(inputs, gamma, beta, tf.constant(self.epsilon, tf.float32)),
                       self.compute_dtype)
