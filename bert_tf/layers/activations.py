"""Feed-forward activations by the names bert_config.json uses."""

import math

import tensorflow as tf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(x):
    """GELU, tanh approximation: what google-research/bert calls "gelu"."""
    return 0.5 * x * (1.0 + tf.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


def gelu_exact(x):
    """GELU with the exact erf; Hugging Face's "gelu"."""
    return tf.nn.gelu(x, approximate=False)


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
