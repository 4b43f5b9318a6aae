"""What export_model.py does: load a trained checkpoint of any task and export it for TF Serving.

Each task family says how its checkpoints are exported in its serving
module's `EXPORTS` ({--task name: exporter}); this module finds them, so a
new family needs no line here. An exporter takes the ExportSettings and the
resolved ModelFiles and returns (model, ServingTask, extra export arguments).
"""

import dataclasses
import importlib
import pkgutil
from typing import Callable, Optional

import tensorflow as tf

import tasks
from bert_tf.errors import UserError
from bert_tf.models.bert import BertEncoder
from bert_tf.models.bert.release import checkpoint_directory, resolve_model_files
from bert_tf.serving import encoder as encoder_serving
from bert_tf.serving import export
from bert_tf.training import trainer
from bert_tf.training.run import FlagSettings


@dataclasses.dataclass
class ExportSettings(FlagSettings):
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
    # question_answering: None takes the run's run.json, else run_squad.py's default.
    version_2_with_negative: Optional[bool] = None
    doc_stride: Optional[int] = None
    max_query_length: Optional[int] = None
    n_best_size: Optional[int] = None
    max_answer_length: Optional[int] = None
    null_score_diff_threshold: Optional[float] = None
    log: Callable[[str], None] = trainer.log_line


def _encoder(settings, files):
    return BertEncoder.from_pretrained(files.release), encoder_serving.ENCODER, {}


def exporters():
    """{--task name: exporter} of the library's encoder and every task family."""
    found = {"encoder": _encoder}
    for module in sorted(pkgutil.iter_modules(tasks.__path__), key=lambda m: m.name):
        if not module.ispkg:
            continue
        try:
            serving = importlib.import_module(f"tasks.{module.name}.serving")
        except ModuleNotFoundError as e:
            if e.name != f"tasks.{module.name}.serving":
                raise
            continue
        found.update(getattr(serving, "EXPORTS", {}))
    return found


def labels_of(settings, files, task):
    """--labels, else the run directory's label_list.txt."""
    if settings.labels:
        return [label for label in settings.labels.split(",") if label]
    if files.labels is None:
        raise export.ExportError(f"a {task} export needs its labels: pass --labels, or a "
                                 "checkpoint directory with label_list.txt")
    return files.labels


def default_version(path):
    """The training step of a bert_tf run's latest checkpoint, else None (then: the time)."""
    latest = tf.train.latest_checkpoint(checkpoint_directory(path))
    if latest and latest.rsplit("-", 1)[-1].isdigit():
        return int(latest.rsplit("-", 1)[-1])
    return None


def run(settings: ExportSettings):
    found = exporters()
    if settings.task not in found:
        raise export.ExportError(f"--task must be one of {sorted(found)}")
    if settings.export_version is not None and settings.export_version <= 0:
        raise UserError(f"--export_version must be a positive integer, got "
                        f"{settings.export_version}")
    files = resolve_model_files(settings.checkpoint, settings.vocab_file, None,
                                settings.do_lower_case, checkpoint_flag="checkpoint")
    positions = files.config.max_position_embeddings
    if settings.max_seq_length is None:
        settings.max_seq_length = min(files.run_info.get("max_seq_length", 128), positions)
    if not 3 <= settings.max_seq_length <= positions:
        raise UserError(f"--max_seq_length={settings.max_seq_length} must be between 3 and the "
                        f"model's max_position_embeddings {positions}")
    model, serving_task, kwargs = found[settings.task](settings, files)
    tokenizer = files.tokenizer(settings.max_seq_length, wordpiece=settings.tokenizer_ops)
    version = settings.export_version or default_version(settings.checkpoint)
    path = export.export(model, serving_task, tokenizer, settings.export_dir,
                         max_seq_length=settings.max_seq_length, vocab_file=files.vocab_file,
                         version=version, **kwargs)
    settings.log(f"Exported {serving_task.name} ({settings.tokenizer_ops} tokenizer ops) to "
                 f"{path}")
    return path
