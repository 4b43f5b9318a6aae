"""What a checkpoint directory holds: its format, config file, weights and vocab."""

import dataclasses
import os
from typing import Optional

import tensorflow as tf

from bert_tf.checkpoints import google, huggingface, keras_hub
from bert_tf.errors import MissingFileError, UserError

CONFIG_NAME = "bert_config.json"  # Google's releases and bert_tf run directories
ALBERT_CONFIG_NAME = "albert_config.json"  # google-research/albert's releases
HF_CONFIG_NAME = "config.json"  # Hugging Face releases
VOCAB_NAME = "vocab.txt"  # WordPiece (BERT, DistilBERT)
# Byte-level BPE (RoBERTa): vocab.json with merges.txt beside it, else tokenizer.json.
BPE_VOCAB_NAMES = ("vocab.json", "tokenizer.json")
SENTENCEPIECE_NAME = "spiece.model"  # SentencePiece (ALBERT)
GOOGLE_SENTENCEPIECE_NAME = "30k-clean.model"  # google-research/albert's releases
XLM_ROBERTA_SENTENCEPIECE_NAME = "sentencepiece.bpe.model"  # XLM-RoBERTa's releases


@dataclasses.dataclass(frozen=True)
class Release:
    """A checkpoint directory, once its format is known.

    `format` is "google", "huggingface", "keras_hub" (a keras-hub preset) or
    "bert_tf" (a training run's object-based checkpoint); `weights` are the
    checkpoint prefix (google, bert_tf), the safetensors files (huggingface)
    or the preset's model.weights.h5 (keras_hub).
    """

    format: str
    directory: str
    config_file: str
    weights: tuple
    vocab_file: Optional[str]  # vocab.txt (or a BPE's vocab.json / tokenizer.json), if any

    def open(self):
        if self.format == "keras_hub":
            return keras_hub.open_preset(self.directory)
        if self.format == "google":
            return google.open_checkpoint(self.weights[0])
        return huggingface.open_safetensors(list(self.weights))

    def file(self, name) -> Optional[str]:
        """directory/name if that file exists (label_list.txt, tokenizer_config.json, ...)."""
        path = os.path.join(self.directory, name)
        return path if os.path.isfile(path) else None


def _is_object_based(prefix):
    """Whether a checkpoint was written by tf.train.Checkpoint (ours) rather than a TF1 Saver."""
    try:
        names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        message = getattr(e, "message", str(e)).splitlines()[0]
        raise UserError(f"cannot read checkpoint {prefix}: {message} (is it truncated or "
                        "corrupted?)") from None
    return "_CHECKPOINTABLE_OBJECT_GRAPH" in names


def _has_tf_checkpoint(directory):
    return (not os.path.isfile(os.path.join(directory, huggingface.WEIGHTS_NAME))
            and os.path.isfile(os.path.join(directory, "checkpoint")))


def resolve(path) -> Release:
    """Detects the format of a checkpoint directory (or checkpoint prefix); a Release is returned as is."""
    if isinstance(path, Release):
        return path
    path = os.fspath(path)
    if os.path.isdir(path):
        directory = path
        google_config = os.path.join(directory, CONFIG_NAME)
        hf_config = os.path.join(directory, HF_CONFIG_NAME)
        if keras_hub.is_preset(directory):
            return Release("keras_hub", directory, hf_config,
                           (keras_hub.find_weights(directory),), find_vocab(directory))
        albert_config = os.path.join(directory, ALBERT_CONFIG_NAME)
        if os.path.isfile(google_config) or os.path.isfile(albert_config):
            fmt = "google"
            config_file = google_config if os.path.isfile(google_config) else albert_config
            weights = (google.find_checkpoint(directory),)
        elif os.path.isfile(hf_config) and _has_tf_checkpoint(directory):
            # A bert_tf run directory (or its release) of a family other than BERT.
            fmt, config_file = "google", hf_config
            weights = (google.find_checkpoint(directory),)
        elif os.path.isfile(hf_config):
            fmt, config_file = "huggingface", hf_config
            weights = tuple(huggingface.find_weights(directory))
        else:
            raise MissingFileError(
                f"{directory} is not a BERT checkpoint directory: it has neither "
                f"{CONFIG_NAME} (Google format, or a bert_tf training run) nor {HF_CONFIG_NAME} "
                "(Hugging Face format, or a keras-hub preset)")
    elif os.path.isfile(path + ".index"):
        directory = os.path.dirname(path) or "."
        fmt, config_file, weights = "google", os.path.join(directory, CONFIG_NAME), (path,)
        for other in (ALBERT_CONFIG_NAME, HF_CONFIG_NAME):  # ALBERT's, another family's run
            if not os.path.isfile(config_file) and os.path.isfile(os.path.join(directory, other)):
                config_file = os.path.join(directory, other)
        if not os.path.isfile(config_file):
            raise MissingFileError(f"checkpoint {path} has no {CONFIG_NAME} beside it")
    else:
        raise MissingFileError(f"no checkpoint directory or checkpoint prefix at {path}")
    if fmt == "google" and _is_object_based(weights[0]):
        fmt = "bert_tf"
    return Release(fmt, directory, config_file, weights, find_vocab(directory))


def find_vocab(directory) -> Optional[str]:
    """The file a directory's tokenizer is read from: vocab.txt, else vocab.json (whose
    merges.txt is beside it), else tokenizer.json, else spiece.model; a keras-hub preset's
    assets/tokenizer/vocabulary.txt or vocabulary.json; None if it has none of them."""
    if keras_hub.is_preset(directory):
        return keras_hub.find_vocab(directory)
    for name in (VOCAB_NAME, *BPE_VOCAB_NAMES, SENTENCEPIECE_NAME, GOOGLE_SENTENCEPIECE_NAME,
                 XLM_ROBERTA_SENTENCEPIECE_NAME):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def vocab_files(vocab_file) -> dict:
    """{name in a release: path} of the files a tokenizer reads, from the one `find_vocab`
    gives: a vocab.json brings the merges.txt beside it."""
    vocab_file = os.fspath(vocab_file)
    name = os.path.basename(vocab_file)
    if name == "tokenizer.json":
        return {name: vocab_file}
    if name == XLM_ROBERTA_SENTENCEPIECE_NAME:
        return {name: vocab_file}
    if name.endswith((".model", ".spm")):  # a SentencePiece model, spiece.model in releases
        return {SENTENCEPIECE_NAME: vocab_file}
    if name.endswith(".json"):
        merges = os.path.join(os.path.dirname(vocab_file) or ".", "merges.txt")
        if not os.path.isfile(merges):
            raise MissingFileError(f"{vocab_file} has no merges.txt beside it (a byte-level BPE "
                                   "needs both)")
        return {"vocab.json": vocab_file, "merges.txt": merges}
    return {VOCAB_NAME: vocab_file}
