"""An export's model function compiled by XLA (the GPU path): bucketed sequence lengths in, the plain outputs out.

XLA compiles the model once per input shape. Serving pads each request's
[B, T] model inputs to T' = T rounded up to a multiple of BUCKET, at most
max_seq_length (a longer serve_ids request keeps its T), so a server sees at
most max_seq_length / BUCKET sequence lengths (4 at 128 tokens), and cuts
every per-token output back to T: the signatures, their outputs and their
shapes are those of the plain export. Padded positions are masked
(input_mask 0), so the real positions' outputs do not change. Only the
model's forward pass is compiled; the tokenizer's string ops stay outside
(XLA cannot compile them). The batch dimension is not bucketed: TF
Serving's batching (`allowed_batch_sizes`) bounds it.
"""

# B=batch, T=tokens of the request, P=T padded to its bucket

import os

import tensorflow as tf

from bert_tf.errors import UserError

BUCKET = 32  # sequence lengths are padded to a multiple of this (at most max_seq_length)
# Written in an XLA export only, so a plain export stays as it was.
RECORD = os.path.join("assets.extra", "serving_xla")
# The attribute tf.function(jit_compile=True) puts on its FunctionDef: TF must compile it.
MUST_COMPILE = "_XlaMustCompile"
TOKEN_INPUTS = ("input_ids", "input_mask", "segment_ids")


class XlaError(UserError):
    """An XLA setting the export cannot take."""


def check(xla):
    if not isinstance(xla, bool):
        raise XlaError(f"--serving_xla must be true or false, got {xla!r}")


def bucket_length(length, max_seq_length):
    """T' for a request of `length` tokens (int32 scalar tensor): the next multiple of BUCKET,
    at most max_seq_length, never below `length`."""
    rounded = (length + BUCKET - 1) // BUCKET * BUCKET
    return tf.maximum(tf.minimum(rounded, max_seq_length), length)


def compiled(model):
    """`model`'s forward pass (training=False) as one XLA-compiled function of a feature dict."""
    return tf.function(lambda features: model(features, training=False), jit_compile=True,
                       autograph=False)


def call_bucketed(function, features, max_seq_length, pad_id):
    """`function(features)` with the [B, T] token inputs padded to [B, P] (input_ids with
    `pad_id`, input_mask and segment_ids with 0; other inputs as they are), and every output
    that runs along the tokens cut back to [B, T, ...]."""
    width = tf.shape(features["input_ids"])[1]
    padded_width = bucket_length(width, max_seq_length)
    pad = [[0, 0], [0, padded_width - width]]
    padded = dict(features)
    for name in TOKEN_INPUTS:
        if name in features:
            padded[name] = tf.pad(features[name], pad,
                                  constant_values=pad_id if name == "input_ids" else 0)
    outputs = function(padded)
    return tf.nest.map_structure(lambda t, cut: t[:, :width] if cut else t, outputs,
                                 along_tokens(function, padded))


def along_tokens(function, features):
    """Which outputs of `function` may run along the tokens ([B, P, ...]): those whose axis 1
    a trace with unknown input shapes leaves unknown (the call's own shapes may be static).

    An output of a fixed width (a classifier's [B, L] logits, a pooled [B, H])
    is not. The other open axis 1 a model has, a masked LM's M masked positions
    ([B, M, V]), never exceeds T (the positions lie in the request), so cutting
    it to T leaves it whole.
    """
    unknown = {name: tf.TensorSpec([None] * value.shape.rank, value.dtype)
               for name, value in features.items()}
    outputs = function.get_concrete_function(unknown).structured_outputs
    return tf.nest.map_structure(
        lambda t: t.shape.rank is not None and t.shape.rank >= 2 and t.shape[1] is None, outputs)


def record(version_dir, xla, max_seq_length):
    """assets.extra/serving_xla of an XLA export: what runs compiled and the buckets."""
    check(xla)
    if not xla:
        return None
    path = os.path.join(version_dir, RECORD)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(f"model function XLA-compiled (jit_compile); sequence length padded to a "
                f"multiple of {BUCKET}, at most {max_seq_length}\n")
    return path
