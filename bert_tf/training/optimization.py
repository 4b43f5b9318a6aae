"""Optimizers and learning-rate schedules for BERT: AdamW as in the original, LAMB, warmup + decay."""

import re

import keras
import tensorflow as tf

# Variables BERT excludes from weight decay (LayerNorm scales and offsets, biases),
# matched against variable names as google-research/bert matched its names.
NO_DECAY = ("gamma", "beta", "bias", "LayerNorm", "layer_norm")


@keras.saving.register_keras_serializable(package="bert_tf")
class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `learning_rate`, then polynomial decay to `end_learning_rate`.

    lr(step) = learning_rate * step / warmup_steps during warmup, else
    (learning_rate - end) * (1 - step / decay_steps) ** power + end, the
    decay counted from step 0 as in google-research/bert (power 1: linear).
    """

    def __init__(self, learning_rate, decay_steps, warmup_steps=0, end_learning_rate=0.0,
                 power=1.0):
        self.learning_rate = float(learning_rate)
        self.decay_steps = int(decay_steps)
        self.warmup_steps = int(warmup_steps)
        self.end_learning_rate = float(end_learning_rate)
        self.power = float(power)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        done = tf.minimum(step, float(self.decay_steps)) / float(max(self.decay_steps, 1))
        decayed = ((self.learning_rate - self.end_learning_rate) * (1.0 - done) ** self.power
                   + self.end_learning_rate)
        if self.warmup_steps <= 0:
            return decayed
        warmup = self.learning_rate * step / float(self.warmup_steps)
        return tf.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "decay_steps": self.decay_steps,
                "warmup_steps": self.warmup_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power}


class _ReducedGradients:
    """For gradients the training loop has already summed over replicas (and clipped).

    Keras optimizers all-reduce gradients inside `apply`; bert_tf's loop
    all-reduces them first, so that clipping and the non-finite check see
    the global gradient, identical on every replica.
    """

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)


class _Moments(_ReducedGradients, keras.optimizers.Optimizer):
    """Adam's first and second moment estimates, shared by AdamWeightDecay and Lamb."""

    def __init__(self, beta_1, beta_2, epsilon, **kwargs):
        super().__init__(**kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m, self._v = self.add_optimizer_variables(var_list, ["m", "v"])

    def _update_moments(self, gradient, variable, bias_correction):
        """Updates m and v for `variable`; returns them, bias-corrected if asked."""
        g = tf.cast(gradient, variable.dtype)
        index = self._get_variable_index(variable)
        m, v = self._m[index], self._v[index]
        self.assign(m, self.beta_1 * m + (1.0 - self.beta_1) * g)
        self.assign(v, self.beta_2 * v + (1.0 - self.beta_2) * tf.square(g))
        m_hat, v_hat = tf.identity(m), tf.identity(v)
        if bias_correction:
            step = tf.cast(self.iterations + 1, variable.dtype)
            m_hat /= 1.0 - tf.pow(tf.cast(self.beta_1, variable.dtype), step)
            v_hat /= 1.0 - tf.pow(tf.cast(self.beta_2, variable.dtype), step)
        return m_hat, v_hat

    def get_config(self):
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class AdamWeightDecay(_Moments):
    """Adam with decoupled weight decay, by default exactly google-research/bert's optimizer.

    update = m / (sqrt(v) + epsilon) + weight_decay * w, w -= lr * update, with
    LayerNorm and bias variables excluded from decay. The original has no bias
    correction, which makes the first few thousand updates up to about 3x
    larger than Adam's: harmless after BERT's 10,000 warmup steps, but it
    stalls short runs at a high learning rate, so `bias_correction=True`
    (m / (1 - beta_1^t), v / (1 - beta_2^t)) is offered for those.
    """

    def __init__(self, learning_rate=1e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                 weight_decay=0.01, bias_correction=False, name="adam_weight_decay", **kwargs):
        super().__init__(beta_1, beta_2, epsilon, learning_rate=learning_rate,
                         weight_decay=weight_decay or None, name=name, **kwargs)
        self.bias_correction = bias_correction
        self.exclude_from_weight_decay(var_names=list(NO_DECAY))

    def update_step(self, gradient, variable, learning_rate):
        m, v = self._update_moments(gradient, variable, self.bias_correction)
        lr = tf.cast(learning_rate, variable.dtype)
        self.assign_sub(variable, lr * m / (tf.sqrt(v) + self.epsilon))

    def get_config(self):
        config = super().get_config()
        config.update(bias_correction=self.bias_correction)
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class Lamb(_Moments):
    """LAMB (You et al., 2019) for large batches: Adam's update scaled per variable.

    update = m_hat / (sqrt(v_hat) + epsilon) + weight_decay * w;
    w -= lr * (||w|| / ||update||) * update, the trust ratio being 1 where
    either norm is zero and for LayerNorm and bias variables, which also get
    no weight decay.
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                 weight_decay=0.01, name="lamb", **kwargs):
        super().__init__(beta_1, beta_2, epsilon, learning_rate=learning_rate, name=name,
                         **kwargs)
        self.decay = weight_decay or 0.0
        self._no_decay = re.compile("|".join(NO_DECAY))

    def update_step(self, gradient, variable, learning_rate):
        m_hat, v_hat = self._update_moments(gradient, variable, bias_correction=True)
        lr = tf.cast(learning_rate, variable.dtype)
        update = m_hat / (tf.sqrt(v_hat) + self.epsilon)
        if self._no_decay.search(variable.name) is None:
            update += self.decay * variable
            w_norm, u_norm = tf.norm(variable), tf.norm(update)
            ratio = tf.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, 1.0)
            update *= ratio
        self.assign_sub(variable, lr * update)

    def get_config(self):
        config = super().get_config()
        config.update(weight_decay=self.decay)
        return config


OPTIMIZERS = {"adamw": AdamWeightDecay, "lamb": Lamb}


def create_optimizer(name, learning_rate, num_train_steps, num_warmup_steps, weight_decay=0.01,
                     power=1.0, bias_correction=False):
    """The optimizer `name` ("adamw" or "lamb") with BERT's warmup and decay schedule.

    `bias_correction` applies to adamw (LAMB always corrects).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    schedule = WarmupPolynomialDecay(learning_rate, num_train_steps, num_warmup_steps,
                                     power=power)
    extra = {"bias_correction": bias_correction} if name == "adamw" else {}
    return OPTIMIZERS[name](learning_rate=schedule, weight_decay=weight_decay, **extra)
