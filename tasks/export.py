"""What export_model.py does: load a trained checkpoint of any task and export it for TF Serving
(and its encoder as a keras-hub preset).

`EXPORTERS` lists what --task may name: {name: exporter}. An exporter
(each family's, in its serving module) takes the ExportSettings and the
resolved ModelFiles and returns (model, ExportKind, extra export
arguments); a new family adds its line here.
"""

import dataclasses
from typing import Callable, Optional

import tensorflow as tf

from bert_tf import checkpoints
from bert_tf.errors import UserError
from bert_tf.models.transformer import TransformerEncoder
from bert_tf.models.bert.release import checkpoint_directory, resolve_model_files
from bert_tf.serving import encoder as encoder_serving
from bert_tf.serving import export
from bert_tf.training import trainer
from bert_tf.serving import precision as precision_lib
from bert_tf.serving import xla as xla_lib
from bert_tf.training.run import FlagSettings, precision_note
from tasks.classification import serving as classification_serving
from tasks.pretraining import serving as pretraining_serving
from tasks.question_answering import serving as question_answering_serving
from tasks.tagging import serving as tagging_serving


@dataclasses.dataclass
class ExportSettings(FlagSettings):
    checkpoint: str = ""
    task: str = "classifier"  # --task: a key of EXPORTERS
    export_dir: str = ""
    keras_hub_preset_dir: str = ""  # the checkpoint's encoder (and tokenizer) as a keras-hub preset
    export_version: Optional[int] = None
    text_pair: bool = False
    labels: Optional[str] = None  # comma-separated; default: the run's label_list.txt
    vocab_file: Optional[str] = None
    do_lower_case: Optional[bool] = None
    max_seq_length: Optional[int] = None  # default: min(128, the model's positions)
    tokenizer_ops: str = "core"
    serving_precision: str = "float32"  # float32, bfloat16 or float16: what the export computes in
    serving_xla: bool = False  # the model function XLA-compiled, on bucketed lengths (GPUs)
    # question_answering: None takes the run's run.json, else run_squad.py's default.
    version_2_with_negative: Optional[bool] = None
    doc_stride: Optional[int] = None
    max_query_length: Optional[int] = None
    n_best_size: Optional[int] = None
    max_answer_length: Optional[int] = None
    null_score_diff_threshold: Optional[float] = None
    allow_untrained_head: bool = False  # export a head no run has trained (random outputs)
    log: Callable[[str], None] = trainer.log_line

    def label_list(self, files, what):
        """--labels, else the run directory's label_list.txt (`what` names the export)."""
        if self.labels:
            labels = [label for label in self.labels.split(",") if label]
            if files.labels is not None and len(labels) != len(files.labels):
                raise export.ExportError(
                    f"--labels names {len(labels)} label(s) but the {what} at {self.checkpoint} "
                    f"was trained on {len(files.labels)} ({', '.join(files.labels)}, its "
                    "label_list.txt): leave --labels out, or give as many")
            return labels
        if files.labels is None:
            raise export.ExportError(f"a {what} export needs its labels: pass --labels, or a "
                                     "checkpoint directory with label_list.txt")
        return files.labels


def encoder_exporter(settings, files):
    """export_model.py --task=encoder: any release's encoder (embeddings and token states)."""
    encoder = TransformerEncoder.from_pretrained(files.release)
    # A release without the pooler's weights (RoBERTa's masked-LM releases) would serve a
    # random pooled_output: the export leaves that output out.
    pooled = encoder.pooler is not None and checkpoints.holds(files.release, encoder,
                                                               "pooler/kernel")
    if encoder.pooler is not None and not pooled:
        settings.log(f"{files.release.directory} holds no pooler weights: the export serves "
                     "embedding and sequence_output, not pooled_output")
    return encoder, encoder_serving.ENCODER, {"serves_pooled_output": pooled}


def save_keras_hub_preset(settings, files):
    """--keras_hub_preset_dir: the checkpoint's encoder (any task's) and its tokenizer as a
    preset of the family's keras-hub backbone."""
    encoder = TransformerEncoder.from_pretrained(files.release)
    layout = encoder.keras_hub_layout()
    if (encoder.pooler is not None and layout.has("pooler/kernel")
            and not checkpoints.holds(files.release, encoder, "pooler/kernel")):
        settings.log(f"{files.release.directory} holds no pooler weights: the preset's "
                     f"pooled_dense keeps the values {layout.backbone} is initialized with")
    path = checkpoints.save_preset(encoder, files.tokenizer(settings.max_seq_length),
                                   settings.keras_hub_preset_dir)
    settings.log(f"Saved the encoder of {settings.checkpoint} as a keras-hub {layout.backbone} "
                 f"preset to {path}")
    return path


PRECISIONS = precision_lib.PRECISIONS  # --serving_precision

EXPORTERS = {
    "encoder": encoder_exporter,
    "classifier": classification_serving.classifier_exporter,
    "regression": classification_serving.regression_exporter,
    "pretrainer": pretraining_serving.pretrainer_exporter,
    "question_answering": question_answering_serving.question_answering_exporter,
    "tagger": tagging_serving.tagger_exporter,
}


def default_version(path):
    """The training step of a bert_tf run's latest checkpoint, else None (then: the time)."""
    latest = tf.train.latest_checkpoint(checkpoint_directory(path))
    if latest and latest.rsplit("-", 1)[-1].isdigit():
        return int(latest.rsplit("-", 1)[-1])
    return None


def run(settings: ExportSettings):
    """Exports the checkpoint: a SavedModel in --export_dir, a keras-hub preset of its encoder in
    --keras_hub_preset_dir (either or both). Returns the SavedModel's path, else the preset's."""
    if not settings.export_dir and not settings.keras_hub_preset_dir:
        raise UserError("pass --export_dir (a SavedModel for TF Serving), "
                        "--keras_hub_preset_dir (the encoder as a keras-hub preset) or both")
    if settings.task not in EXPORTERS:
        raise export.ExportError(f"--task must be one of {sorted(EXPORTERS)}")
    if settings.export_version is not None and settings.export_version <= 0:
        raise UserError(f"--export_version must be a positive integer, got "
                        f"{settings.export_version}")
    precision_lib.check(settings.serving_precision)
    xla_lib.check(settings.serving_xla)
    files = resolve_model_files(settings.checkpoint, settings.vocab_file, None,
                                settings.do_lower_case, checkpoint_flag="checkpoint")
    positions = files.config.max_length
    if settings.max_seq_length is None:
        settings.max_seq_length = min(files.run_info.get("max_seq_length", 128), positions)
    if not 3 <= settings.max_seq_length <= positions:
        raise UserError(f"--max_seq_length={settings.max_seq_length} must be between 3 and the "
                        f"model's max_position_embeddings {positions}")
    preset = save_keras_hub_preset(settings, files) if settings.keras_hub_preset_dir else None
    if not settings.export_dir:
        return preset
    model, kind, kwargs = EXPORTERS[settings.task](settings, files)
    tokenizer = files.export_tokenizer(settings.max_seq_length, settings.tokenizer_ops)
    version = settings.export_version or default_version(settings.checkpoint)
    path = export.export(model, kind, tokenizer, settings.export_dir,
                         max_seq_length=settings.max_seq_length, vocab_file=files.vocab_file,
                         version=version, precision=settings.serving_precision,
                         xla=settings.serving_xla, **kwargs)
    settings.log(f"Exported {kind.name} ({settings.tokenizer_ops} tokenizer ops"
                 f"{precision_note(settings.serving_precision, settings.serving_xla)}) to {path}")
    return path
