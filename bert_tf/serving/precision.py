"""The precision an export computes in: the trained model rebuilt under a Keras dtype policy.

`float32` is the model as trained in float32. `bfloat16` stores the weights in
bfloat16 (Keras' `bfloat16` policy): matmuls in bfloat16 with no per-call cast
of float32 variables, which under `mixed_bfloat16` cost a BERT-Base encoder
about 19 ms a request on a 2-core CPU, more than a short request's compute.
`float16` is Keras mixed precision (`mixed_float16`, variables float32), the
GPU path. Either way attention scores and softmax, LayerNorm's statistics and
every served output stay float32 (bert_tf's layers compute them so under any
policy). The signatures (names, dtypes, shapes) do not change.
"""

import os

import tensorflow as tf

from bert_tf.errors import UserError

# --serving_precision -> the Keras dtype policy the served model computes under.
POLICIES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "mixed_float16"}
PRECISIONS = tuple(POLICIES)
# Written in a reduced-precision export only, so a float32 export stays as it was.
RECORD = os.path.join("assets.extra", "serving_precision")


class PrecisionError(UserError):
    """A precision the export cannot serve in."""


def check(precision):
    if precision not in POLICIES:
        raise PrecisionError(f"--serving_precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {precision!r}")


def with_precision(model, precision):
    """`model` if it computes in `precision` already, else a twin built from its config under
    that precision's dtype policy, holding the same weights (cast to its variables' dtype)."""
    check(precision)
    policy = POLICIES[precision]
    if model.dtype_policy.name == policy:
        return model
    twin = type(model).from_config(dict(model.get_config(), dtype=policy))
    if len(twin.weights) != len(model.weights):  # built on first call
        raise PrecisionError(f"{type(model).__name__} builds weights lazily: it cannot be "
                             f"exported in {precision}")
    for source, target in zip(model.weights, twin.weights):
        if (source.path.split("/", 1)[-1] != target.path.split("/", 1)[-1]
                or tuple(source.shape) != tuple(target.shape)):
            raise PrecisionError(f"the {precision} twin of {type(model).__name__} does not "
                                 f"match it: {source.path} {tuple(source.shape)} against "
                                 f"{target.path} {tuple(target.shape)}")
        target.assign(tf.cast(source.value, target.dtype))
    return twin


def record(version_dir, precision):
    """assets.extra/serving_precision of a reduced-precision export: its precision and policy."""
    if precision == "float32":
        return None
    path = os.path.join(version_dir, RECORD)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(f"{precision} (Keras policy {POLICIES[precision]})\n")
    return path
