"""Feed-forward activations by the names bert_config.json uses.

The two GELUs carry their own gradient: automatic differentiation of the
formula keeps every intermediate `[B, T, I]` tensor (x², x³, the tanh, ...)
until the backward pass, about 900 MiB for one BERT-Base training step of
8 x 128 in float32. Theirs keeps only the input and recomputes the rest.
"""

import math

import tensorflow as tf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@tf.custom_gradient
def gelu(x):
    """GELU, tanh approximation: what google-research/bert calls "gelu"."""
    y = 0.5 * x * (1.0 + tf.tanh(_SQRT_2_OVER_PI * (x + _TANH_CUBIC * x * x * x)))

    def grad(dy):
        # d/dx = 0.5 (1 + t) + 0.5 x (1 - t²) c (1 + 3 a x²), t = tanh(c (x + a x³))
        x2 = x * x
        t = tf.tanh(_SQRT_2_OVER_PI * x * (1.0 + _TANH_CUBIC * x2))
        slope = (0.5 * _SQRT_2_OVER_PI) * x * (1.0 - t * t) * (1.0 + 3.0 * _TANH_CUBIC * x2)
        return dy * (0.5 * (1.0 + t) + slope)

    return y, grad


@tf.custom_gradient
def gelu_exact(x):
    """GELU with the exact erf; Hugging Face's "gelu"."""
    y = tf.nn.gelu(x, approximate=False)

    def grad(dy):
        # d/dx = Φ(x) + x φ(x)
        cdf = 0.5 * (1.0 + tf.math.erf(x * _INV_SQRT_2))
        return dy * (cdf + x * (_INV_SQRT_2PI * tf.exp(-0.5 * x * x)))

    return y, grad


def linear(x):
    return x


_ACTIVATIONS = {
    "gelu": gelu,
    "gelu_exact": gelu_exact,
    "relu": tf.nn.relu,
    "tanh": tf.tanh,
    "silu": tf.nn.silu,
    "linear": linear,
}

NAMES = tuple(sorted(_ACTIVATIONS))


def get(name: str):
    """The activation function for a config's `hidden_act`; ValueError if unknown."""
    if not isinstance(name, str) or name.lower() not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(NAMES)} "
                         "('gelu' is the tanh approximation, 'gelu_exact' the erf form)")
    return _ACTIVATIONS[name.lower()]
