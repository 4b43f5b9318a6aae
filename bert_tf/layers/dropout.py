"""Dropout with a cheaper, exact mask: 16 random bits per element instead of a uniform float."""

import contextlib

import keras
import tensorflow as tf

_LEVELS = 1 << 16  # one mask decision per 16 random bits


@keras.saving.register_keras_serializable(package="bert_tf")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` (same arguments, same seed-generator state) with a faster mask.

    Keras draws a uniform float per element in the input's dtype and keeps
    it if >= rate. Here each element takes 16 bits of one 32-bit draw (two
    elements per draw, half the random-number work) and is dropped with
    probability round(rate * 65536) / 65536: 0.100006 for rate 0.1. In
    bfloat16, keras's uniform has 7 bits of resolution, so rate 0.1 drops
    13/128 = 10.16% of the elements (while rescaling by 1 / 0.9). Kept
    elements are scaled by 1 / (1 - rate), as in keras. Falls back to
    keras's path for a `noise_shape` or a rate within 1/65536 of 1.

    The mask is a function of one int32 `[2]` seed: `draw_seed()` takes the
    next one from the seed generator (what a call does), and within
    `with layer.replaying(seed):` calls use that seed instead of drawing,
    so that a forward pass recomputed for its gradient (activation
    recomputation) applies the same mask as the first.
    """

    def draw_seed(self):
        """The int32 `[2]` seed of the next call's mask; advances the seed generator as a call does."""
        seed = self.seed_generator.next()  # [2] int64 state, advanced as keras does
        return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)

    @contextlib.contextmanager
    def replaying(self, seed):
        """Calls inside use `seed` (from `draw_seed`) and leave the seed generator alone."""
        # Not a tracked attribute: a tensor of one trace, set only while it lasts.
        object.__setattr__(self, "_replay_seed", seed)
        try:
            yield
        finally:
            object.__setattr__(self, "_replay_seed", None)

    def call(self, inputs, training=False):
        threshold = round(self.rate * _LEVELS)
        if not training or self.rate <= 0:
            return inputs
        seed = getattr(self, "_replay_seed", None)
        if self.noise_shape is not None or threshold >= _LEVELS:
            if seed is None:
                return super().call(inputs, training=training)
            return tf.nn.experimental.stateless_dropout(
                inputs, self.rate, seed, noise_shape=self.noise_shape)
        if seed is None:
            seed = self.draw_seed()
        size = tf.size(inputs)
        bits = tf.random.stateless_uniform([(size + 1) // 2], seed=seed, minval=None,
                                           maxval=None, dtype=tf.uint32)
        # Low halves decide the first half of the elements, high halves the second:
        # high >= threshold is bits >= threshold * 2^16, with no shift.
        keep = tf.concat([tf.bitwise.bitwise_and(bits, _LEVELS - 1) >= threshold,
                          bits >= threshold * _LEVELS], axis=0)[:size]
        keep = tf.reshape(keep, tf.shape(inputs))
        scale = tf.cast(1.0 / (1.0 - self.rate), inputs.dtype)
        return tf.where(keep, inputs * scale, tf.zeros([], inputs.dtype))
