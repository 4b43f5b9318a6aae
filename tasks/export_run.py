"""What export_model.py does: load a trained checkpoint of any task and export it for TF Serving."""

import dataclasses
import os
from typing import Callable, Optional

import tensorflow as tf

from bert_tf import checkpoints, export, run_settings, training
from bert_tf.encoder import BertEncoder
from bert_tf.pretraining import BertPretrainer
from bert_tf.tokenization import BertTokenizer, resolve_casing
from tasks.classification import BertClassifier

TASKS = ("classifier", "regression", "encoder", "pretrainer")


@dataclasses.dataclass
class ExportSettings(run_settings.FlagSettings):
    checkpoint: str = ""
    task: str = "classifier"
    export_dir: str = ""
    export_version: Optional[int] = None
    text_pair: bool = False
    labels: Optional[str] = None  # comma-separated; default: the run's label_list.txt
    vocab_file: Optional[str] = None
    do_lower_case: Optional[bool] = None
    max_seq_length: Optional[int] = None  # default: min(128, the model's positions)
    tokenizer_ops: str = "core"
    log: Callable[[str], None] = training.log_line


def checkpoint_directory(path):
    return path if os.path.isdir(path) else os.path.dirname(path)


def read_labels(settings):
    if settings.labels:
        return [label for label in settings.labels.split(",") if label]
    from tasks.classifier_run import LABELS_FILE, read_label_list

    path = os.path.join(checkpoint_directory(settings.checkpoint), LABELS_FILE)
    if not os.path.isfile(path):
        raise export.ExportError(f"a classifier export needs its labels: pass --labels, or a "
                                 f"checkpoint directory with {LABELS_FILE} (no {path})")
    return read_label_list(path)


def default_version(path):
    """The training step of a bert_tf run's latest checkpoint, else None (then: the time)."""
    latest = tf.train.latest_checkpoint(checkpoint_directory(path))
    if latest and latest.rsplit("-", 1)[-1].isdigit():
        return int(latest.rsplit("-", 1)[-1])
    return None


def load_model(task, checkpoint, labels=None):
    if task == "encoder":
        return BertEncoder.from_pretrained(checkpoint)
    if task == "pretrainer":
        return BertPretrainer.from_pretrained(checkpoint)
    regression = task == "regression"
    return BertClassifier.from_pretrained(checkpoint, 1 if regression else len(labels),
                                          regression=regression)


def make_tokenizer(settings, vocab_file):
    do_lower_case = resolve_casing(checkpoint_directory(settings.checkpoint), vocab_file,
                                   settings.do_lower_case)
    return BertTokenizer(vocab_file, do_lower_case=do_lower_case,
                         max_seq_length=settings.max_seq_length,
                         wordpiece=settings.tokenizer_ops)


def export_model(model, task, tokenizer, vocab_file, settings, labels=None, version=None):
    """Exports an in-memory model (run_*.py's --export_dir ends here too)."""
    kind = task
    if task in ("classifier", "regression") and settings.text_pair:
        kind = "pair_" + task
    path = export.export(model, kind, tokenizer, settings.export_dir,
                         max_seq_length=settings.max_seq_length, labels=labels,
                         vocab_file=vocab_file, version=version)
    settings.log(f"Exported {task} ({settings.tokenizer_ops} tokenizer ops) to {path}")
    return path


def run(settings: ExportSettings):
    if settings.task not in TASKS:
        raise export.ExportError(f"--task must be one of {TASKS}")
    release = checkpoints.resolve(settings.checkpoint)
    vocab_file = settings.vocab_file or release.vocab_file
    if not vocab_file:
        raise export.ExportError(f"no vocab.txt in {settings.checkpoint}: pass --vocab_file")
    if settings.max_seq_length is None:
        settings.max_seq_length = min(128, release.config.max_position_embeddings)
    if settings.max_seq_length > release.config.max_position_embeddings:
        raise export.ExportError(f"--max_seq_length={settings.max_seq_length} exceeds the "
                                 "model's max_position_embeddings "
                                 f"{release.config.max_position_embeddings}")
    labels = read_labels(settings) if settings.task == "classifier" else None
    model = load_model(settings.task, settings.checkpoint, labels)
    version = settings.export_version or default_version(settings.checkpoint)
    return export_model(model, settings.task, make_tokenizer(settings, vocab_file), vocab_file,
                        settings, labels=labels, version=version)
