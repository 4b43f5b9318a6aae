"""Google's TF1 checkpoints (google-research/bert releases): name conventions, reading and writing."""

import os

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints.table import TRANSFORMS, Rule, Source
from bert_tf.errors import MissingFileError, UserError


def dense_rules(source, ours):
    """A TF dense layer's kernel and bias (`[in, out]`, as ours)."""
    return [Rule(f"{source}/kernel", f"{ours}/kernel"), Rule(f"{source}/bias", f"{ours}/bias")]


def layer_norm_rules(source, ours):
    return [Rule(f"{source}/gamma", f"{ours}/gamma"), Rule(f"{source}/beta", f"{ours}/beta")]


# Saved with the weights by google-research/bert's training scripts; never model weights.
OPTIMIZER_SKIP = Rule(r".*/adam_[mv]|global_step", None, reason="optimizer variable(s)")


def open_checkpoint(prefix: str) -> Source:
    """Opens a TF1 (or any name-based) checkpoint prefix for reading."""
    if not tf.io.gfile.exists(prefix + ".index"):
        raise MissingFileError(f"checkpoint not found: {prefix}.index")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise UserError(f"cannot read checkpoint {prefix}: {_first_line(e)} (is it truncated "
                        "or corrupted?)") from None

    def read(name):
        try:
            return reader.get_tensor(name)
        except Exception as e:  # OpError, or IndexError for a data file cut short
            raise UserError(f"cannot read {name} from checkpoint {prefix}: {_first_line(e)} "
                            "(is a data file truncated or corrupted?)") from None

    return Source(origin=prefix, shapes=reader.get_variable_to_shape_map(), read=read)


def _first_line(error):
    return (getattr(error, "message", None) or str(error)).strip().splitlines()[0]


def write_checkpoint(prefix: str, arrays: dict) -> None:
    """Writes {name: array} as a name-based (TF1 Saver V2) checkpoint at `prefix`.

    This is the format of Google's released bert_model.ckpt: `prefix.index`
    plus `prefix.data-00000-of-00001`, readable by tf.train.load_checkpoint and
    tf.compat.v1.train.init_from_checkpoint.
    """
    names = sorted(arrays)
    tf.raw_ops.SaveV2(
        prefix=tf.constant(prefix),
        tensor_names=tf.constant(names),
        shape_and_slices=tf.constant([""] * len(names)),
        tensors=[tf.constant(np.asarray(arrays[n])) for n in names],
    )


def model_arrays(named_weights, table) -> dict:
    """{Google variable name: float32 array} for {our path: variable}."""
    arrays = {}
    for path, variable in named_weights.items():
        name, transform = table.source_name(path)
        arrays[name] = np.asarray(TRANSFORMS[transform](variable.numpy()), dtype=np.float32)
    return arrays


CHECKPOINT_NAME = "bert_model.ckpt"


def find_checkpoint(directory: str) -> str:
    """The checkpoint prefix in a Google release directory."""
    default = os.path.join(directory, CHECKPOINT_NAME)
    if tf.io.gfile.exists(default + ".index"):
        return default
    latest = tf.train.latest_checkpoint(directory)
    if latest:
        return latest
    indexes = sorted(tf.io.gfile.glob(os.path.join(directory, "*.index")))
    if len(indexes) == 1:
        return indexes[0][: -len(".index")]
    if not indexes:
        raise MissingFileError(
            f"{directory} has bert_config.json but no checkpoint ({CHECKPOINT_NAME}.index)")
    raise UserError(f"{directory} holds several checkpoints {indexes}; pass the prefix of one")
