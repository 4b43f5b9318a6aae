"""Feed-forward activations by the names bert_config.json uses.

The two GELUs carry their own gradient: automatic differentiation of the
formula keeps every intermediate `[B, T, I]` tensor (x², x³, the tanh, ...)
until the backward pass, about 900 MiB for one BERT-Base training step of
8 x 128 in float32. Theirs keep the input and one more tensor, and take
fewer elementwise passes (in bfloat16 on a CPU, those passes are a large
part of the training step).
"""

import math

import tensorflow as tf

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@tf.custom_gradient
def gelu(x):
    """GELU, tanh approximation: what google-research/bert calls "gelu".

    0.5 x (1 + tanh(u)) with u = c (x + a x³), computed as x σ(2u), the same
    function in fewer passes.
    """
    x2 = x * x
    s = tf.sigmoid(x * (2.0 * _SQRT_2_OVER_PI + (2.0 * _SQRT_2_OVER_PI * _TANH_CUBIC) * x2))

    def grad(dy):
        # d/dx x σ(z) = σ(z) + x σ(z) (1 - σ(z)) dz/dx, dz/dx = 2c (1 + 3 a x²)
        dz = (2.0 * _SQRT_2_OVER_PI) + (6.0 * _SQRT_2_OVER_PI * _TANH_CUBIC) * (x * x)
        return dy * (s + x * (s * (1.0 - s)) * dz)

    return x * s, grad


@tf.custom_gradient
def gelu_exact(x):
    """GELU with the exact erf, x Φ(x); Hugging Face's "gelu"."""
    cdf = 0.5 * (1.0 + tf.math.erf(x * _INV_SQRT_2))

    def grad(dy):
        # d/dx x Φ(x) = Φ(x) + x φ(x)
        return dy * (cdf + x * (_INV_SQRT_2PI * tf.exp(-0.5 * (x * x))))

    return x * cdf, grad


def gelu_formula(x):
    """The same function as `gelu` in google-research/bert's form, differentiated automatically.

    TensorFlow's oneDNN graph rewrite recognises this form after a MatMul +
    BiasAdd and fuses all three into one kernel (`get_inference`).
    """
    return 0.5 * x * (1.0 + tf.tanh(_SQRT_2_OVER_PI * (x + _TANH_CUBIC * x * x * x)))


def gelu_exact_formula(x):
    """The same function as `gelu_exact`, differentiated automatically (fusable, as above)."""
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


_INFERENCE = {"gelu": gelu_formula, "gelu_exact": gelu_exact_formula}


def get_inference(name: str):
    """The activation for a forward pass without training: the GELUs in the form the oneDNN
    rewrite fuses into the preceding MatMul + BiasAdd (a BERT-Base forward pass in bfloat16
    runs about a quarter faster); their hand-written gradients block that fusion."""
    return _INFERENCE.get(name.lower()) or get(name)


def get(name: str):
    """The activation function for a config's `hidden_act`; ValueError if unknown."""
    if not isinstance(name, str) or name.lower() not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(NAMES)} "
                         "('gelu' is the tanh approximation, 'gelu_exact' the erf form)")
    return _ACTIVATIONS[name.lower()]
