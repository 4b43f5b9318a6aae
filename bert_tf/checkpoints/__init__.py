"""Reading released BERT checkpoints (Google, Hugging Face) and writing Google's format."""

import dataclasses
import os
import shutil
from typing import Optional

from bert_tf.checkpoints import google, huggingface
from bert_tf.checkpoints.table import CheckpointMismatchError, load_into
from bert_tf.config import BertConfig

__all__ = ["CheckpointMismatchError", "Release", "resolve", "load_encoder", "save_google"]


@dataclasses.dataclass(frozen=True)
class Release:
    """What a checkpoint directory holds, once its format is known."""

    format: str  # "google" or "huggingface"
    config: BertConfig
    config_file: str
    weights: tuple  # checkpoint prefix (google) or safetensors files (huggingface)
    vocab_file: Optional[str]  # vocab.txt beside the weights, if any

    def open(self):
        if self.format == "google":
            return google.open_checkpoint(self.weights[0]), google.ENCODER_TABLE
        return huggingface.open_safetensors(list(self.weights)), huggingface.ENCODER_TABLE


def resolve(path: str) -> Release:
    """Detects the format of a checkpoint directory (or Google checkpoint prefix)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        directory = path
        google_config = os.path.join(directory, "bert_config.json")
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
                "bert_config.json (Google format) nor config.json (Hugging Face format)")
    elif os.path.isfile(path + ".index"):
        directory = os.path.dirname(path) or "."
        fmt, config_file, weights = "google", os.path.join(directory, "bert_config.json"), (path,)
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"checkpoint {path} has no bert_config.json beside it")
    else:
        raise FileNotFoundError(f"no checkpoint directory or checkpoint prefix at {path}")
    config = (BertConfig.from_json_file(config_file) if fmt == "google"
              else BertConfig.from_hf_config_file(config_file))
    vocab = os.path.join(directory, "vocab.txt")
    return Release(fmt, config, config_file, weights, vocab if os.path.isfile(vocab) else None)


def load_encoder(path, strict=True, dtype=None, encoder_class=None):
    """Builds a BertEncoder from a release directory's config and loads its weights.

    See `table.load_into` for what `strict` allows. Raises
    CheckpointMismatchError listing every unplaced, unfilled or mis-shaped
    weight, and FileNotFoundError naming a missing file.
    """
    if encoder_class is None:
        from bert_tf.encoder import BertEncoder as encoder_class
    release = resolve(path)
    encoder = encoder_class(release.config, dtype=dtype)
    source, table = release.open()
    load_into(encoder.named_weights(), source, table, strict=strict)
    return encoder


def save_google(encoder, directory, vocab_file=None) -> str:
    """Writes a Google-format release: bert_config.json, bert_model.ckpt.*, vocab.txt.

    Returns the checkpoint prefix.
    """
    os.makedirs(directory, exist_ok=True)
    encoder.config.to_json_file(os.path.join(directory, "bert_config.json"))
    prefix = os.path.join(directory, google.CHECKPOINT_NAME)
    google.write_checkpoint(prefix, google.encoder_arrays(encoder))
    if vocab_file is not None:
        target = os.path.join(directory, "vocab.txt")
        if os.path.abspath(vocab_file) != os.path.abspath(target):
            shutil.copyfile(vocab_file, target)
    return prefix
