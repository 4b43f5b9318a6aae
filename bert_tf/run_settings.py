"""What the scripts' runs share: flag settings and errors, the training options, process set-up, results."""

import dataclasses
from typing import Callable, Optional

import keras
import tensorflow as tf
from absl import flags

from bert_tf import distribution, optimization, training


class FlagError(ValueError):
    """Inconsistent or impossible flags; the message names the flag."""


def user_errors(*task_errors):
    """Errors that mean bad input rather than a bug: scripts print them without a traceback.

    `task_errors` are the script's own (bad records, bad data files).
    """
    from bert_tf.checkpoints import CheckpointMismatchError
    from bert_tf.config import ConfigError
    from bert_tf.export import ExportError
    from bert_tf.tokenization import VocabError

    return (FlagError, ConfigError, FileNotFoundError, CheckpointMismatchError, VocabError,
            ExportError) + task_errors


def write_eval_results(path, results):
    """google-research/bert's eval_results.txt: sorted `key = value` lines."""
    with tf.io.gfile.GFile(path, "w") as f:
        for key in sorted(results):
            f.write(f"{key} = {results[key]}\n")


def format_results(results):
    """One log line of results: sorted, floats to 4 decimals."""
    return ", ".join(f"{k} = {v:.4f}" if isinstance(v, float) else f"{k} = {v}"
                     for k, v in sorted(results.items()))


class FlagSettings:
    """Mixin for a settings dataclass whose field names are the script's flag names."""

    @classmethod
    def from_flags(cls, flag_values):
        """The fields that are flags take the flags' values; the others keep their defaults."""
        return cls(**{f.name: getattr(flag_values, f.name) for f in dataclasses.fields(cls)
                      if f.name in flag_values})


@dataclasses.dataclass
class TrainingSettings(FlagSettings):
    """The options of the one training loop, the same for every script that trains."""

    output_dir: str = ""
    save_checkpoints_steps: int = 1000
    iterations_per_loop: int = 100
    keep_checkpoint_max: int = 5
    distribution_strategy: str = "one_device"
    mixed_precision: str = "float32"
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    adam_bias_correction: bool = False
    gradient_accumulation_steps: int = 1
    seed: int = 12345
    deterministic: bool = False
    num_cpu_devices: int = 0
    export_dir: Optional[str] = None
    tokenizer_ops: str = "core"
    log: Callable[[str], None] = training.log_line

    def training_options(self, num_train_steps, jit_compile=False):
        """The Trainer's options for a run of `num_train_steps` into output_dir."""
        return training.TrainingOptions(
            output_dir=self.output_dir, num_train_steps=num_train_steps,
            steps_per_loop=self.iterations_per_loop,
            save_checkpoints_steps=self.save_checkpoints_steps,
            max_checkpoints=self.keep_checkpoint_max,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            loss_scaling=self.mixed_precision == "mixed_float16", jit_compile=jit_compile,
            log=self.log)

    def create_optimizer(self, learning_rate, num_train_steps, num_warmup_steps):
        """The --optimizer with the warmup + linear decay schedule of the original."""
        return optimization.create_optimizer(
            self.optimizer, learning_rate, num_train_steps, num_warmup_steps,
            weight_decay=self.weight_decay, bias_correction=self.adam_bias_correction)

    def prepare_process(self):
        """Before any model: virtual CPU devices, every random seed, optional op determinism."""
        distribution.split_cpu(self.num_cpu_devices)
        keras.utils.set_random_seed(self.seed)
        if self.deterministic:
            tf.config.experimental.enable_op_determinism()


def define_training_flags():
    """The absl flags of TrainingSettings (but --export_dir, whose help is the script's)."""
    d = TrainingSettings()
    flags.DEFINE_integer("save_checkpoints_steps", d.save_checkpoints_steps,
                         "Steps between checkpoints.")
    flags.DEFINE_integer("iterations_per_loop", d.iterations_per_loop, "Steps per tf.function "
                         "call (and per progress line).")
    flags.DEFINE_alias("steps_per_loop", "iterations_per_loop")
    flags.DEFINE_integer("keep_checkpoint_max", d.keep_checkpoint_max, "Checkpoints to keep.")
    flags.DEFINE_enum("distribution_strategy", d.distribution_strategy,
                      ["one_device", "mirrored", "multi_worker_mirrored", "tpu"],
                      "How to spread training over devices and hosts.")
    flags.DEFINE_enum("mixed_precision", d.mixed_precision,
                      ["float32", "mixed_float16", "mixed_bfloat16"],
                      "Keras dtype policy; mixed_float16 adds dynamic loss scaling.")
    flags.DEFINE_enum("optimizer", d.optimizer, ["adamw", "lamb"], "AdamW as in the original, "
                      "or LAMB for large batches.")
    flags.DEFINE_float("weight_decay", d.weight_decay, "Weight decay (not on LayerNorm and "
                       "biases).")
    flags.DEFINE_bool("adam_bias_correction", d.adam_bias_correction, "Bias-correct AdamW's "
                      "moments (the original does not; short runs at high learning rates need "
                      "it).")
    flags.DEFINE_integer("gradient_accumulation_steps", d.gradient_accumulation_steps,
                         "Micro-batches per optimizer step.")
    flags.DEFINE_integer("seed", d.seed, "Seed for initialization, shuffling, dropout, masking: "
                         "the same seed gives the same results.")
    flags.DEFINE_bool("deterministic", d.deterministic, "Use deterministic TensorFlow ops "
                      "(slower), so that a resumed run reproduces an uninterrupted one "
                      "exactly.")
    flags.DEFINE_integer("num_cpu_devices", d.num_cpu_devices, "Split the CPU into this many "
                         "logical devices (to try --distribution_strategy=mirrored without "
                         "GPUs).")
    flags.DEFINE_enum("tokenizer_ops", d.tokenizer_ops, ["core", "text"], "Tokenizer ops of "
                      "the export: core TensorFlow ops, or tensorflow-text's (see README).")
