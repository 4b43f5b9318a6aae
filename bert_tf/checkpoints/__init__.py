"""Reading released checkpoints (Google, Hugging Face, keras-hub presets, our own training runs) and writing them.

This package knows checkpoint formats, not models: a model that loads or
saves weights provides `named_weights()` ({stable path: variable}),
`checkpoint_names(format)` (its NameTable for "google", "huggingface" or
"keras_hub"), `checkpoint_objects()` (how it sits in a bert_tf training
checkpoint) and, for keras-hub presets, its encoder's `keras_hub_layout()`.
"""

import os
import shutil

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.checkpoints import google, huggingface, keras_hub
from bert_tf.checkpoints.release import (CONFIG_NAME, HF_CONFIG_NAME, Release, find_vocab,
                                        resolve, vocab_files)
from bert_tf.checkpoints.table import CheckpointMismatchError, load_into

__all__ = ["CONFIG_NAME", "HF_CONFIG_NAME", "CheckpointMismatchError", "Release", "resolve",
           "load_weights", "save_google", "save_huggingface", "restore_training_checkpoint",
           "copy_vocab", "find_vocab", "holds", "save_preset", "vocab_files"]


def restore_training_checkpoint(prefix, **objects):
    """Restores the named parts of a bert_tf training checkpoint (`model=...`) and checks them.

    Every variable of the given objects must be in the checkpoint; anything
    else in it (optimizer slots, other heads) is ignored.
    """
    try:
        status = tf.train.Checkpoint(**objects).restore(prefix)
        status.expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as e:
        # A shape that does not fit (another head size) fails in restore(), with a long
        # message: its first line names the variable and both shapes.
        first = str(getattr(e, "message", e)).strip().splitlines()[0]
        raise CheckpointMismatchError(f"{prefix} does not fit the model: {first}") from None


def load_weights(model, path, strict=True) -> Release:
    """Loads a checkpoint directory of any supported format into `model`'s weights.

    `path` is a directory, a checkpoint prefix, or a Release. Returns the
    Release that was read.
    """
    release = path if isinstance(path, Release) else resolve(path)
    if release.format == "bert_tf":
        restore_training_checkpoint(release.weights[0], **model.checkpoint_objects())
        logging.info("restored %s from training checkpoint %s", model.name, release.weights[0])
    elif release.format == "keras_hub":
        keras_hub.load_preset(model, release, strict=strict)
    else:
        load_into(model.named_weights(), release.open(), model.checkpoint_names(release.format),
                  strict=strict)
    return release


def holds(release, model, path) -> bool:
    """Whether `release` has a value for `model`'s weight `path` ("pooler/kernel"): releases
    may omit optional weights (a masked-LM release its pooler). A run's checkpoint holds all."""
    release = release if isinstance(release, Release) else resolve(release)
    if release.format == "bert_tf":
        return True
    if release.format == "keras_hub":
        # A backbone has every variable of its class: the weight is there if it has a place.
        encoder = model if model.is_encoder else model.encoder
        return encoder.keras_hub_layout().has(path)
    table = model.checkpoint_names(release.format)
    name, _ = table.source_name(path)
    names = release.open().shapes
    return name in names or table.optional_prefix + name in names


def save_google(model, directory, vocab_file=None) -> str:
    """Writes a Google-format release: bert_config.json, bert_model.ckpt.*, vocab.txt.

    Every weight of `model` is written under the name its Google table
    gives it. The directory is written beside its final place and renamed
    into it, so a crash never leaves half a release under the final name.
    Returns the checkpoint prefix.
    """
    from bert_tf.data import files

    with files.atomic_directory(directory) as staging:
        model.config.to_json_file(os.path.join(staging, CONFIG_NAME))
        arrays = google.model_arrays(model.named_weights(), model.checkpoint_names("google"))
        google.write_checkpoint(os.path.join(staging, google.CHECKPOINT_NAME), arrays)
        if vocab_file is not None:
            copy_vocab(vocab_file, staging)
    return os.path.join(directory, google.CHECKPOINT_NAME)


def save_huggingface(model, directory, vocab_file=None) -> str:
    """Writes a Hugging Face release: config.json, model.safetensors (and vocab.txt).

    Every weight is written under the name its Hugging Face table gives it
    (linear kernels transposed to [out, in]); a model with a head writes the
    encoder under the family prefix ("distilbert.", "roberta."), as the
    hub's task models are saved. Atomic, as save_google. Returns the
    weights file.
    """
    from safetensors.numpy import save_file

    from bert_tf.checkpoints.table import TRANSFORMS
    from bert_tf.data import files

    table = model.checkpoint_names("huggingface")
    encoder_paths = set(model.encoder.named_weights()) if model is not getattr(
        model, "encoder", model) else set()
    arrays = {}
    for path, variable in model.named_weights().items():
        name, transform = table.source_name(path)
        if path in encoder_paths:
            name = table.optional_prefix + name
        arrays[name] = np.ascontiguousarray(TRANSFORMS[transform](
            np.asarray(variable.numpy(), np.float32)))
    with files.atomic_directory(directory) as staging:
        model.config.to_json_file(os.path.join(staging, HF_CONFIG_NAME))
        save_file(arrays, os.path.join(staging, huggingface.WEIGHTS_NAME),
                  metadata={"format": "pt"})
        if vocab_file is not None:
            copy_vocab(vocab_file, staging)
    return os.path.join(directory, huggingface.WEIGHTS_NAME)


def save_preset(model, tokenizer, directory) -> str:
    """Writes `model`'s encoder and `tokenizer` as a keras-hub preset (see keras_hub.save_preset)."""
    return keras_hub.save_preset(model, tokenizer, directory)


def copy_vocab(vocab_file, directory):
    """A tokenizer's files into `directory` under their own names: vocab.txt; vocab.json with
    its merges.txt; or tokenizer.json (nothing to do for a file already there)."""
    from bert_tf.data import files

    for name, source in vocab_files(vocab_file).items():
        target = os.path.join(directory, name)
        if os.path.abspath(source) != os.path.abspath(target):
            with files.atomic_write(target, "wb") as out, open(source, "rb") as f:
                shutil.copyfileobj(f, out)