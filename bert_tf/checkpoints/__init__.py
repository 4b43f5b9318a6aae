"""Reading released BERT checkpoints (Google, Hugging Face, our own) and writing Google's format.

A model that can load checkpoints has `named_weights()` ({stable path:
variable}) and a `checkpoint_kind` ("encoder", "pretrainer" or "classifier")
choosing the name tables below.
"""

import dataclasses
import os
import shutil
from typing import Optional

import tensorflow as tf
from absl import logging

from bert_tf.checkpoints import google, huggingface
from bert_tf.checkpoints.table import CheckpointMismatchError, load_into
from bert_tf.config import BertConfig

__all__ = ["CheckpointMismatchError", "Release", "resolve", "load_weights", "load_encoder",
           "save_google", "restore_training_checkpoint"]

TABLES = {
    ("google", "encoder"): google.ENCODER_TABLE,
    ("google", "pretrainer"): google.PRETRAINER_TABLE,
    ("huggingface", "encoder"): huggingface.ENCODER_TABLE,
    ("huggingface", "pretrainer"): huggingface.PRETRAINER_TABLE,
    ("google", "classifier"): google.CLASSIFIER_TABLE,
    ("huggingface", "classifier"): huggingface.CLASSIFIER_TABLE,
}

CONFIG_NAME = "bert_config.json"


@dataclasses.dataclass(frozen=True)
class Release:
    """What a checkpoint directory holds, once its format is known."""

    format: str  # "google", "huggingface", or "bert_tf" (a training run's checkpoint)
    config: BertConfig
    config_file: str
    weights: tuple  # checkpoint prefix (google, bert_tf) or safetensors files (huggingface)
    vocab_file: Optional[str]  # vocab.txt beside the weights, if any

    def open(self):
        if self.format == "google":
            return google.open_checkpoint(self.weights[0])
        return huggingface.open_safetensors(list(self.weights))


def _is_object_based(prefix):
    """Whether a checkpoint was written by tf.train.Checkpoint (ours) rather than a TF1 Saver."""
    return "_CHECKPOINTABLE_OBJECT_GRAPH" in tf.train.load_checkpoint(
        prefix).get_variable_to_shape_map()


def resolve(path: str) -> Release:
    """Detects the format of a checkpoint directory (or checkpoint prefix)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        directory = path
        google_config = os.path.join(directory, CONFIG_NAME)
        hf_config = os.path.join(directory, "config.json")
        if os.path.isfile(google_config):
            fmt, config_file = "google", google_config
            weights = (google.find_checkpoint(directory),)
        elif os.path.isfile(hf_config):
            fmt, config_file = "huggingface", hf_config
            weights = tuple(huggingface.find_weights(directory))
        else:
            raise FileNotFoundError(
                f"{directory} is not a BERT checkpoint directory: it has neither "
                f"{CONFIG_NAME} (Google format, or a bert_tf training run) nor config.json "
                "(Hugging Face format)")
    elif os.path.isfile(path + ".index"):
        directory = os.path.dirname(path) or "."
        fmt, config_file, weights = "google", os.path.join(directory, CONFIG_NAME), (path,)
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"checkpoint {path} has no {CONFIG_NAME} beside it")
    else:
        raise FileNotFoundError(f"no checkpoint directory or checkpoint prefix at {path}")
    if fmt == "google" and _is_object_based(weights[0]):
        fmt = "bert_tf"
    config = (BertConfig.from_hf_config_file(config_file) if fmt == "huggingface"
              else BertConfig.from_json_file(config_file))
    vocab = os.path.join(directory, "vocab.txt")
    return Release(fmt, config, config_file, weights, vocab if os.path.isfile(vocab) else None)


def restore_training_checkpoint(prefix, **objects):
    """Restores the named parts of a bert_tf training checkpoint (`model=...`) and checks them.

    Every variable of the given objects must be in the checkpoint; anything
    else in it (optimizer slots, other heads) is ignored.
    """
    status = tf.train.Checkpoint(**objects).restore(prefix)
    try:
        status.expect_partial().assert_existing_objects_matched()
    except AssertionError as e:
        raise CheckpointMismatchError(f"{prefix} does not fit the model: {e}") from None


def load_weights(model, path, strict=True):
    """Loads a checkpoint directory of any supported format into `model`'s weights.

    Returns the Release that was read.
    """
    release = resolve(path)
    if release.format == "bert_tf":
        _restore_object_based(model, release.weights[0])
    else:
        table = TABLES[(release.format, model.checkpoint_kind)]
        load_into(model.named_weights(), release.open(), table, strict=strict)
    return release


def _restore_object_based(model, prefix):
    # Training checkpoints hold the trained model under "model"; its encoder is
    # "model/encoder" whatever the task, so an encoder loads from any of them.
    if model.checkpoint_kind == "encoder":
        parts = {"model": tf.train.Checkpoint(encoder=model)}
    else:
        parts = {"model": model}
    restore_training_checkpoint(prefix, **parts)
    logging.info("restored %s from training checkpoint %s", model.name, prefix)


def load_encoder(path, strict=True, dtype=None, encoder_class=None):
    """Builds a BertEncoder from a checkpoint directory's config and loads its weights.

    See `table.load_into` for what `strict` allows. Raises
    CheckpointMismatchError listing every unplaced, unfilled or mis-shaped
    weight, and FileNotFoundError naming a missing file.
    """
    if encoder_class is None:
        from bert_tf.encoder import BertEncoder as encoder_class
    encoder = encoder_class(resolve(path).config, dtype=dtype)
    load_weights(encoder, path, strict=strict)
    return encoder


def save_google(model, directory, vocab_file=None) -> str:
    """Writes a Google-format release: bert_config.json, bert_model.ckpt.*, vocab.txt.

    `model` is a BertEncoder or a BertPretrainer (whose heads are written
    under cls/...). Returns the checkpoint prefix.
    """
    os.makedirs(directory, exist_ok=True)
    model.config.to_json_file(os.path.join(directory, CONFIG_NAME))
    prefix = os.path.join(directory, google.CHECKPOINT_NAME)
    table = TABLES[("google", model.checkpoint_kind)]
    google.write_checkpoint(prefix, google.model_arrays(model.named_weights(), table))
    if vocab_file is not None:
        copy_vocab(vocab_file, directory)
    return prefix


def copy_vocab(vocab_file, directory):
    """`vocab_file` as directory/vocab.txt (nothing to do when it is that file already)."""
    target = os.path.join(directory, "vocab.txt")
    if os.path.abspath(vocab_file) != os.path.abspath(target):
        shutil.copyfile(vocab_file, target)
