"""Google's TF1 checkpoints (google-research/bert releases): names, reading and writing."""

import os

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints.table import TRANSFORMS, NameTable, Rule, Source


def _dense(source, ours):
    return [Rule(f"{source}/kernel", f"{ours}/kernel"), Rule(f"{source}/bias", f"{ours}/bias")]


def _layer_norm(source, ours):
    return [Rule(f"{source}/gamma", f"{ours}/gamma"), Rule(f"{source}/beta", f"{ours}/beta")]


_LAYER = "bert/encoder/layer_{i}"
ENCODER_RULES = [
        Rule("bert/embeddings/word_embeddings", "embeddings/word_embeddings"),
        Rule("bert/embeddings/token_type_embeddings", "embeddings/token_type_embeddings"),
        Rule("bert/embeddings/position_embeddings", "embeddings/position_embeddings"),
        *_layer_norm("bert/embeddings/LayerNorm", "embeddings/layer_norm"),
        *_dense(f"{_LAYER}/attention/self/query", "layer_{i}/attention/query"),
        *_dense(f"{_LAYER}/attention/self/key", "layer_{i}/attention/key"),
        *_dense(f"{_LAYER}/attention/self/value", "layer_{i}/attention/value"),
        *_dense(f"{_LAYER}/attention/output/dense", "layer_{i}/attention/output"),
        *_layer_norm(f"{_LAYER}/attention/output/LayerNorm", "layer_{i}/attention_layer_norm"),
        *_dense(f"{_LAYER}/intermediate/dense", "layer_{i}/intermediate"),
        *_dense(f"{_LAYER}/output/dense", "layer_{i}/output"),
        *_layer_norm(f"{_LAYER}/output/LayerNorm", "layer_{i}/output_layer_norm"),
        *_dense("bert/pooler/dense", "pooler"),
]
PRETRAINING_HEAD_RULES = [
    *_dense("cls/predictions/transform/dense", "mlm/transform"),
    *_layer_norm("cls/predictions/transform/LayerNorm", "mlm/layer_norm"),
    Rule("cls/predictions/output_bias", "mlm/output_bias"),
    # Google stores the next-sentence weights [2, H]; ours are a Dense kernel [H, 2].
    Rule("cls/seq_relationship/output_weights", "nsp/kernel", "transpose"),
    Rule("cls/seq_relationship/output_bias", "nsp/bias"),
]
# google-research/bert's run_classifier.py head (top-level names).
CLASSIFIER_HEAD_RULES = [
    Rule("output_weights", "classifier/kernel", "transpose"),
    Rule("output_bias", "classifier/bias"),
]
_OPTIMIZER = Rule(r".*/adam_[mv]|global_step", None, reason="optimizer variable(s)")
_HEADS = Rule(r"cls/.*", None, reason="pretraining-head variable(s) (cls/...)")
_CLASSIFIER = Rule(r"output_weights|output_bias", None, reason="classifier-head variable(s)")

ENCODER_TABLE = NameTable(ENCODER_RULES, skip=[_OPTIMIZER, _HEADS, _CLASSIFIER])
PRETRAINER_TABLE = NameTable(ENCODER_RULES + PRETRAINING_HEAD_RULES,
                             skip=[_OPTIMIZER, _CLASSIFIER])
CLASSIFIER_TABLE = NameTable(ENCODER_RULES + CLASSIFIER_HEAD_RULES, skip=[_OPTIMIZER, _HEADS])


def open_checkpoint(prefix: str) -> Source:
    """Opens a TF1 (or any name-based) checkpoint prefix for reading."""
    if not tf.io.gfile.exists(prefix + ".index"):
        raise FileNotFoundError(f"checkpoint not found: {prefix}.index")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError(f"cannot read checkpoint {prefix}: {e}") from None
    return Source(origin=prefix, shapes=reader.get_variable_to_shape_map(),
                  read=reader.get_tensor)


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
        raise FileNotFoundError(
            f"{directory} has bert_config.json but no checkpoint ({CHECKPOINT_NAME}.index)")
    raise ValueError(f"{directory} holds several checkpoints {indexes}; pass the prefix of one")
