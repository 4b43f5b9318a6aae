"""An independent BERT forward pass in numpy float64, from raw arrays under Google's names.

It shares no code with bert_tf: it is what the tests compare bert_tf against.
"""

import numpy as np
from scipy.special import erf


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def _gelu_erf(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


ACTIVATIONS = {"gelu": _gelu_tanh, "gelu_exact": _gelu_erf, "relu": lambda x: np.maximum(x, 0)}


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def forward(w, input_ids, input_mask, segment_ids, num_layers, num_heads,
            hidden_act="gelu", eps=1e-12):
    """w(name) -> array under Google's TF1 names (kernels [in, out]).

    Returns (sequence_output [B, T, H], pooled_output [B, H], list of block outputs).
    """
    g = lambda name: np.asarray(w(name), np.float64)  # noqa: E731
    act = ACTIVATIONS[hidden_act]
    ids = np.asarray(input_ids)
    batch, length = ids.shape
    x = (g("bert/embeddings/word_embeddings")[ids]
         + g("bert/embeddings/token_type_embeddings")[np.asarray(segment_ids)]
         + g("bert/embeddings/position_embeddings")[np.arange(length)][None])
    x = _layer_norm(x, g("bert/embeddings/LayerNorm/gamma"), g("bert/embeddings/LayerNorm/beta"),
                    eps)
    hidden = x.shape[-1]
    size = hidden // num_heads
    bias = (1.0 - np.asarray(input_mask, np.float64))[:, None, None, :] * -1e4
    outputs = []
    for i in range(num_layers):
        p = f"bert/encoder/layer_{i}/"

        def dense(h, name):
            return h @ g(p + name + "/kernel") + g(p + name + "/bias")

        def split(h):
            return h.reshape(batch, length, num_heads, size).transpose(0, 2, 1, 3)

        q = split(dense(x, "attention/self/query"))
        k = split(dense(x, "attention/self/key"))
        v = split(dense(x, "attention/self/value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + bias
        scores -= scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = _layer_norm(x + dense(context, "attention/output/dense"),
                        g(p + "attention/output/LayerNorm/gamma"),
                        g(p + "attention/output/LayerNorm/beta"), eps)
        h = act(dense(x, "intermediate/dense"))
        x = _layer_norm(x + dense(h, "output/dense"), g(p + "output/LayerNorm/gamma"),
                        g(p + "output/LayerNorm/beta"), eps)
        outputs.append(x)
    pooled = np.tanh(x[:, 0] @ g("bert/pooler/dense/kernel") + g("bert/pooler/dense/bias"))
    return x, pooled, outputs


def random_google_weights(rng, vocab_size, hidden, layers, intermediate, max_positions,
                          type_vocab_size, scale=0.2):
    """{Google TF1 name: float32 array} with random values for a tiny BERT."""
    w = {
        "bert/embeddings/word_embeddings": (vocab_size, hidden),
        "bert/embeddings/token_type_embeddings": (type_vocab_size, hidden),
        "bert/embeddings/position_embeddings": (max_positions, hidden),
        "bert/pooler/dense/kernel": (hidden, hidden),
        "bert/pooler/dense/bias": (hidden,),
    }
    for i in range(layers):
        p = f"bert/encoder/layer_{i}/"
        for name in ("attention/self/query", "attention/self/key", "attention/self/value",
                     "attention/output/dense"):
            w[p + name + "/kernel"] = (hidden, hidden)
            w[p + name + "/bias"] = (hidden,)
        w[p + "intermediate/dense/kernel"] = (hidden, intermediate)
        w[p + "intermediate/dense/bias"] = (intermediate,)
        w[p + "output/dense/kernel"] = (intermediate, hidden)
        w[p + "output/dense/bias"] = (hidden,)
    arrays = {name: (rng.standard_normal(shape) * scale).astype(np.float32)
              for name, shape in w.items()}
    for ln in ["bert/embeddings/LayerNorm"] + [
            f"bert/encoder/layer_{i}/{part}/LayerNorm" for i in range(layers)
            for part in ("attention/output", "output")]:
        arrays[ln + "/gamma"] = (1.0 + rng.standard_normal(hidden) * 0.1).astype(np.float32)
        arrays[ln + "/beta"] = (rng.standard_normal(hidden) * 0.1).astype(np.float32)
    return arrays
