"""The run skeleton every training script shares: settings and their checks, the run directory, the Trainer.

A script's flags become a settings dataclass (field names = flag names).
`Run` then does, in this order: check the settings alone (one-line
FlagErrors naming the flag), set up the process and the tf.distribute
strategy, let the task family read and check its inputs (`prepare`), check batch
sizes against replicas and accumulation, take the output directory (lock,
compare with a trained run already there, write the run files), build the
Trainer, and restore the latest checkpoint or initialize from
`init_checkpoint`. Nothing is written before every check has passed.

`FineTuningRun` adds google-research/bert's fine-tuning flags and actions
(train, evaluate, predict, export); a task family subclasses it and fills
in its hooks: read the data, build the model and its objective, encode examples,
compute metrics, write predictions, and say how it is served.
"""

import dataclasses
import json
import os
from typing import Callable, Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import checkpoints
from bert_tf.data import files
from bert_tf.errors import UserError
from bert_tf.serving import precision as serving_precision
from bert_tf.training import batching, distribution, optimization, run_directory, trainer


class FlagError(UserError):
    """Inconsistent or impossible flags; the message names the flag."""


def write_eval_results(path, results):
    """google-research/bert's eval_results.txt: sorted `key = value` lines, written atomically."""
    files.write_text(path, "".join(f"{key} = {results[key]}\n" for key in sorted(results)))


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


def require(condition, message):
    if not condition:
        raise FlagError(message)


def check_distillation_flags(settings):
    """The --teacher flags' values, as every run that distills reads them (fine-tuning's
    settings and pretraining's, which add --distill_cosine_weight)."""
    require(settings.distill_temperature > 0,
            f"--distill_temperature must be positive, got {settings.distill_temperature}")
    require(0 <= settings.distill_alpha <= 1,
            f"--distill_alpha must be in [0, 1], got {settings.distill_alpha}")
    for name in ("distill_cosine_weight", "distill_hidden_weight", "distill_attention_weight"):
        if hasattr(settings, name):
            require(getattr(settings, name) >= 0, f"--{name} must be 0 or more, got "
                    f"{getattr(settings, name)}")
    if settings.student_layers_from_teacher:
        require(bool(settings.teacher), "--student_layers_from_teacher needs a --teacher")
        require(not settings.init_checkpoint, "--student_layers_from_teacher and "
                "--init_checkpoint both initialize the student: pass one of them")


STRATEGIES = distribution.STRATEGIES
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
OPTIMIZERS = tuple(optimization.OPTIMIZERS)
TOKENIZER_OPS = ("core", "text")
SERVING_PRECISIONS = serving_precision.PRECISIONS


@dataclasses.dataclass
class TrainingSettings(FlagSettings):
    """The options of the one training loop, the same for every script that trains."""

    output_dir: str = ""
    save_checkpoints_steps: int = 1000
    iterations_per_loop: int = 100
    keep_checkpoint_max: int = 5
    distribution_strategy: str = "one_device"
    use_tpu: bool = False
    tpu_name: Optional[str] = None
    mixed_precision: str = "float32"
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    adam_bias_correction: bool = False
    gradient_accumulation_steps: int = 1
    jit_compile: bool = False
    # Recompute each encoder block in the backward pass instead of keeping its activations.
    recompute_activations: bool = False
    seed: int = 12345
    deterministic: bool = False
    num_cpu_devices: int = 0
    export_dir: Optional[str] = None
    tokenizer_ops: str = "core"
    serving_precision: str = "float32"  # what the --export_dir SavedModel computes in
    serving_xla: bool = False  # the --export_dir SavedModel's model function XLA-compiled
    log: Callable[[str], None] = trainer.log_line

    @property
    def strategy_name(self):
        return "tpu" if self.use_tpu else self.distribution_strategy

    def check(self):
        """Every training flag on its own; FlagError naming the first bad one."""
        require(bool(self.output_dir), "--output_dir is required")
        for name in ("save_checkpoints_steps", "iterations_per_loop", "keep_checkpoint_max",
                     "gradient_accumulation_steps"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1,
                    f"--{name} must be a positive integer, got {value}")
        require(self.num_cpu_devices >= 0,
                f"--num_cpu_devices must be 0 or more, got {self.num_cpu_devices}")
        require(self.weight_decay >= 0, f"--weight_decay must be 0 or more, got "
                f"{self.weight_decay}")
        for name, allowed in (("distribution_strategy", STRATEGIES),
                              ("mixed_precision", PRECISIONS), ("optimizer", OPTIMIZERS),
                              ("tokenizer_ops", TOKENIZER_OPS),
                              ("serving_precision", SERVING_PRECISIONS)):
            require(getattr(self, name) in allowed,
                    f"--{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        require(isinstance(self.serving_xla, bool),
                f"--serving_xla must be true or false, got {self.serving_xla!r}")

    def check_batch_size(self, name, replicas, accumulation=1):
        """A batch-size flag must be positive and split evenly over replicas (and micro-batches)."""
        size = getattr(self, name)
        require(isinstance(size, int) and size >= 1,
                f"--{name} must be a positive integer, got {size}")
        step = replicas * accumulation
        require(size % step == 0,
                f"--{name}={size} is not divisible by {replicas} replica(s)"
                + (f" x {accumulation} accumulation steps" if accumulation > 1 else ""))

    def training_options(self, num_train_steps):
        """The Trainer's options for a run of `num_train_steps` into output_dir."""
        return trainer.TrainingOptions(
            output_dir=self.output_dir, num_train_steps=num_train_steps,
            steps_per_loop=self.iterations_per_loop,
            save_checkpoints_steps=self.save_checkpoints_steps,
            max_checkpoints=self.keep_checkpoint_max,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            loss_scaling=self.mixed_precision == "mixed_float16",
            jit_compile=self.jit_compile, log=self.log)

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


class Run:
    """The skeleton of a training script's run; subclasses fill in the hooks below."""

    run_type = ""  # what the run is ("pretraining", "tagging", ...): run.json's "task"

    def __init__(self, settings: TrainingSettings):
        self.settings = s = settings
        s.check()
        self.check_settings()
        s.prepare_process()
        self.strategy = distribution.create_strategy(s.strategy_name, s.tpu_name)
        self.replicas = self.strategy.num_replicas_in_sync
        self.is_chief = distribution.is_chief()
        self._check_inputs()
        self.directory = run_directory.RunDirectory(s.output_dir)
        if self.is_chief:
            self.directory.claim(self.run_files())
        self.trainer = trainer.Trainer(
            self.strategy, self.training_objective(), build_model=self._build_training_model,
            build_optimizer=self.build_optimizer,
            options=s.training_options(self.num_train_steps))
        if tf.train.latest_checkpoint(s.output_dir):
            self.trainer.restore_or_initialize()
        else:
            self.initialize(self.trainer.model)

    def _check_inputs(self):
        self.prepare()
        self.check_batch_sizes()
        self.num_train_steps = self.planned_steps()

    @classmethod
    def checked(cls, settings, replicas=1):
        """Every check a run makes before it starts, building and writing nothing.

        Returns the run, prepared but without a strategy, directory or
        Trainer (for tests and dry runs); raises the FlagError or DataError
        the real run would.
        """
        run = cls.__new__(cls)
        run.settings, run.replicas, run.is_chief = settings, replicas, True
        settings.check()
        run.check_settings()
        run._check_inputs()
        return run

    def _build_training_model(self):
        """`build_model()`, its encoder set to --recompute_activations (a way of training,
        not part of the model: nothing saved records it)."""
        model = self.build_model()
        if self.settings.recompute_activations:
            (model if model.is_encoder else model.encoder).recompute_activations = True
        return model

    # ---------------------------------------------------------------- hooks

    def check_settings(self):
        """Flags of the script that need nothing built (FlagError)."""

    def prepare(self):
        """Resolves the model files and reads and checks the data; writes nothing."""
        raise NotImplementedError

    def check_batch_sizes(self):
        raise NotImplementedError

    def planned_steps(self) -> int:
        """Optimizer steps of the whole run (1 when not training: the schedule needs one)."""
        raise NotImplementedError

    def run_files(self) -> Dict[str, object]:
        """{file name: content} the run keeps in output_dir (compared on reruns)."""
        raise NotImplementedError

    def build_model(self):
        raise NotImplementedError

    def build_objective(self):
        """What the model is trained on and evaluated by (an Objective)."""
        raise NotImplementedError

    def build_optimizer(self):
        raise NotImplementedError

    def training_objective(self):
        """The objective the Trainer trains: `build_objective()`, unless a run adds to it."""
        return self.build_objective()

    def initialize(self, model):
        """A new run's weights, before training (from init_checkpoint, or left random)."""

    # ---------------------------------------------------------- shared parts

    @property
    def global_step(self):
        return int(self.trainer.global_step.numpy())

    def save_release(self, name, vocab_file):
        """The model as a release under output_dir/name (chief only; atomic): Google's format
        for BERT, Hugging Face's for the other families."""
        path = os.path.join(self.settings.output_dir, name)
        if self.is_chief:
            self.trainer.model.save_pretrained(path, vocab_file=vocab_file)
        return path

    def close(self):
        self.directory.release()


@dataclasses.dataclass
class FineTuningSettings(TrainingSettings):
    """google-research/bert's fine-tuning flags, shared by every task family."""

    vocab_file: Optional[str] = None
    bert_config_file: Optional[str] = None
    init_checkpoint: Optional[str] = None
    do_lower_case: Optional[bool] = None
    max_seq_length: int = 128
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    pad_to_max_length: bool = False
    # Bias-corrected AdamW, as keras-hub and Hugging Face fine-tune. google-research/bert's
    # uncorrected moments make the first few hundred steps 3 to 6.5 times the learning rate
    # ((1 - 0.9^t) / sqrt(1 - 0.999^t)), which wrecks short runs on small data;
    # --adam_bias_correction=false reproduces the original.
    adam_bias_correction: bool = True
    # Evaluate or predict with a head no run has trained (a fresh head on a released
    # encoder): refused unless asked for, since its outputs are random.
    allow_untrained_head: bool = False
    # Distillation (bert_tf.training.distillation): a fine-tuned run or release of this task
    # whose outputs the student learns, at a temperature, mixed with the hard labels.
    teacher: Optional[str] = None
    distill_temperature: float = 2.0
    distill_alpha: float = 0.5  # weight of the soft loss; 1 - alpha weighs the hard labels'
    # Weight of TinyBERT's hidden-state MSE (student layer i against a teacher layer); 0: off.
    distill_hidden_weight: float = 0.0
    # Weight of TinyBERT's attention-map MSE (the same layers, head by head); 0: off.
    distill_attention_weight: float = 0.0
    # Start the student from the teacher's own layers: "every_other" or "0,2,4".
    student_layers_from_teacher: Optional[str] = None

    def check(self):
        super().check()
        require(self.do_train or self.do_eval or self.do_predict,
                "nothing to do: pass --do_train, --do_eval and/or --do_predict")
        require(self.max_seq_length >= 3,
                f"--max_seq_length must be at least 3, got {self.max_seq_length}")
        if self.do_train:
            require(self.learning_rate > 0,
                    f"--learning_rate must be positive, got {self.learning_rate}")
            require(self.num_train_epochs > 0,
                    f"--num_train_epochs must be positive, got {self.num_train_epochs}")
        require(0 <= self.warmup_proportion < 1,
                f"--warmup_proportion must be in [0, 1), got {self.warmup_proportion}")
        check_distillation_flags(self)


class FineTuningRun(Run):
    """Fine-tuning a task model from a BERT checkpoint: train, evaluate, predict, export.

    A task family provides:
      - `read_data()`: check the splits that will be used (DataErrors
        naming file and line) and set `self.num_train_examples`;
      - `build_model(config=None)` (of `config`, else the run's: a --teacher
        is built with its own) and `build_objective()`;
      - `encode(split, which)` -> batching.EncodedExamples of a split;
      - `eval_sets()` / `predict_sets()`: names of the evaluation/prediction
        sets ("" for the main one);
      - `metrics(which, outputs)` -> {name: value} from the model's outputs
        in example order (a "loss" from the objective the Trainer trained,
        `self.trainer.objective.evaluate`, and the dataset's own scores);
        `write_predictions(which, outputs)` -> paths;
      - `extra_run_info()` (extra run.json entries), `extra_run_files()`;
      - `export_kind()` and `serving_kwargs()` for the SavedModel export.
    """

    settings: FineTuningSettings
    num_train_examples = 0

    def prepare(self):
        from bert_tf.models.bert.release import resolve_model_files

        s = self.settings
        self.teacher_files = None
        if s.teacher:
            self.teacher_files = resolve_model_files(s.teacher, checkpoint_flag="teacher")
        if s.student_layers_from_teacher and not s.bert_config_file:
            # The student is the teacher's architecture with fewer layers, and its vocab.
            from bert_tf.training import distillation

            teacher = self.teacher_files
            mapping = distillation.layer_mapping(s.student_layers_from_teacher,
                                                 teacher.config.encoder_shape().num_layers)
            self.files = dataclasses.replace(
                teacher, config=distillation.with_num_layers(teacher.config, len(mapping)),
                release=None, labels=None, run_info={})
        else:
            vocab_file = s.vocab_file
            if s.student_layers_from_teacher and not vocab_file:
                vocab_file = self.teacher_files.vocab_file
            self.files = resolve_model_files(s.init_checkpoint, vocab_file, s.bert_config_file,
                                             s.do_lower_case)
        self.config = self.files.config
        if s.export_dir:  # before training, not after it
            self.files.check_tokenizer_ops(s.tokenizer_ops)
        require(s.max_seq_length <= self.config.max_length,
                f"--max_seq_length={s.max_seq_length} exceeds the model's "
                f"max_position_embeddings {self.config.max_length}")
        self.tokenizer = self.files.tokenizer(s.max_seq_length)
        vocab = len(self.tokenizer.vocab)
        if vocab > self.config.vocab_size:
            where = (f"--bert_config_file={s.bert_config_file}" if s.bert_config_file
                     else f"the config of --init_checkpoint={s.init_checkpoint}")
            raise UserError(
                f"the vocab {self.files.vocab_file} has {vocab} tokens but {where} says "
                f"vocab_size {self.config.vocab_size}: ids from {self.config.vocab_size} on "
                "would have no embedding (is it the vocab this model was trained with?)")
        self.read_data()
        if s.do_train and self.num_train_examples == 0:
            raise UserError("the training data holds no examples")
        if self.teacher_files is not None:
            self.check_teacher()

    def check_teacher(self):
        """The --teacher must read the student's inputs as the student does (the same token ids
        and casing) and take its sequence length."""
        s, teacher = self.settings, self.teacher_files
        require(s.max_seq_length <= teacher.config.max_length,
                f"--max_seq_length={s.max_seq_length} exceeds the --teacher's "
                f"max_position_embeddings {teacher.config.max_length}")
        from bert_tf.training import distillation

        distillation.check_same_vocab(s.teacher, teacher.vocab_file, self.files.vocab_file)
        labels = getattr(self, "labels", None)
        if labels is not None and teacher.labels is not None and list(teacher.labels) != list(
                labels):
            raise UserError(f"--teacher={s.teacher} predicts the labels {teacher.labels}, the "
                            f"student {labels}: a student learns the teacher's labels")

        def casing(files):  # strip_accents None follows do_lower_case, as in BertTokenizer
            strip = files.do_lower_case if files.strip_accents is None else files.strip_accents
            return files.do_lower_case, strip

        if casing(teacher) != casing(self.files):
            raise UserError(f"--teacher={s.teacher} reads text with (do_lower_case, "
                            f"strip_accents) = {casing(teacher)}, the student with "
                            f"{casing(self.files)}: their tokens would differ")

    def check_batch_sizes(self):
        s = self.settings
        if s.do_train:
            s.check_batch_size("train_batch_size", self.replicas, s.gradient_accumulation_steps)
        s.check_batch_size("eval_batch_size", self.replicas)
        s.check_batch_size("predict_batch_size", self.replicas)

    def planned_steps(self):
        s = self.settings
        if not s.do_train:
            return 1
        return max(1, int(self.num_train_examples / s.train_batch_size * s.num_train_epochs))

    def run_files(self):
        s = self.settings
        found = {name: open(path, "rb").read()
                 for name, path in checkpoints.vocab_files(self.files.vocab_file).items()}
        found.update({
            self.config.file_name: self.config.to_json(),
            "tokenizer_config.json": json.dumps(
                tokenizer_settings(self.tokenizer), sort_keys=True) + "\n",
            run_directory.RUN_INFO: run_directory.run_info(
                task=self.run_type, max_seq_length=s.max_seq_length, seed=s.seed,
                **self.distillation_info(), **self.extra_run_info()),
        })
        found.update(self.extra_run_files())
        return found

    def distillation_info(self):
        """run.json's record of a --teacher (nothing without one, as before)."""
        from bert_tf.training import distillation

        return distillation.run_record(self.settings)

    def build_optimizer(self):
        s = self.settings
        warmup = int(self.num_train_steps * s.warmup_proportion)
        return s.create_optimizer(s.learning_rate, self.num_train_steps, warmup)

    def training_objective(self):
        """The task's objective; with --teacher, mixed with the soft loss against the teacher,
        which is built here, inside the strategy's scope, frozen, and loaded from its directory."""
        objective = self.build_objective()
        s = self.settings
        if not (s.teacher and s.do_train):
            # Evaluation and prediction need no teacher: the same command without --do_train
            # evaluates a distilled run in its output_dir.
            return objective
        from bert_tf.training import distillation

        release = self.teacher_files.release
        with self.strategy.scope():
            teacher = self.build_model(self.teacher_files.config)
        if not teacher.checkpoint_holds_head(release):
            raise UserError(f"--teacher={s.teacher} holds no {type(teacher).__name__} head: "
                            "a teacher is a model fine-tuned for this task (a run's output_dir "
                            "or its finetuned/ release)")
        checkpoints.load_weights(teacher, release)
        teacher.trainable = False
        self.teacher = teacher
        hidden = (f", hidden-state weight {s.distill_hidden_weight:g}"
                  if s.distill_hidden_weight else "") + (
            f", attention-map weight {s.distill_attention_weight:g}"
            if s.distill_attention_weight else "")
        s.log(f"Distilling from teacher {s.teacher} ({self.teacher_files.config.family}, "
              f"{teacher.config.encoder_shape().num_layers} layers) at temperature "
              f"{s.distill_temperature:g}, alpha {s.distill_alpha:g}{hidden}")
        return distillation.DistillationObjective(objective, teacher, s.distill_temperature,
                                                  s.distill_alpha,
                                                  hidden_weight=s.distill_hidden_weight,
                                                  attention_weight=s.distill_attention_weight)

    def initialize(self, model):
        s = self.settings
        if s.student_layers_from_teacher and s.do_train:
            from bert_tf.training import distillation

            mapping = distillation.layer_mapping(
                s.student_layers_from_teacher, self.teacher.config.encoder_shape().num_layers,
                model.config.encoder_shape().num_layers)
            distillation.copy_from_teacher(model, self.teacher, mapping, log=s.log)
            s.log(f"Initialized the student from the teacher's layers {mapping}")
            return
        release = self.files.release
        if not s.do_train:
            # Evaluation or prediction only: the head must come from the checkpoint.
            if release is not None and model.checkpoint_holds_head(release):
                checkpoints.load_weights(model, release)
                s.log(f"Initialized the model, head included, from {release.format} "
                      f"checkpoint {s.init_checkpoint}")
                return
            if not s.allow_untrained_head:
                where = (f"--init_checkpoint={s.init_checkpoint} holds no "
                         f"{type(model).__name__} head" if release is not None
                         else "there is no --init_checkpoint")
                raise UserError(
                    f"{where} and --do_train is off: --do_eval/--do_predict would use a head "
                    "no run has trained (random outputs). Fine-tune first (--do_train), point "
                    "--init_checkpoint at a fine-tuned run of this task, or pass "
                    "--allow_untrained_head")
            logging.warning("evaluating/predicting with an untrained head "
                            "(--allow_untrained_head)")
        if release is not None:
            release = checkpoints.load_weights(model.encoder, release)
            s.log(f"Initialized the encoder from {release.format} checkpoint "
                  f"{s.init_checkpoint}")
        elif s.do_train:
            logging.warning("no --init_checkpoint: fine-tuning a randomly initialized BERT")

    # ------------------------------------------------------------ task hooks

    def read_data(self):
        raise NotImplementedError

    def encode(self, split, which="") -> batching.EncodedExamples:
        raise NotImplementedError

    def eval_sets(self) -> List[str]:
        return [""]

    def predict_sets(self) -> List[str]:
        return [""]

    def metrics(self, which, outputs) -> dict:
        raise NotImplementedError

    def write_predictions(self, which, outputs) -> List[str]:
        raise NotImplementedError

    def extra_run_info(self) -> dict:
        return {}

    def extra_run_files(self) -> Dict[str, object]:
        return {}

    def export_kind(self):
        """The ExportKind of this run's SavedModel (bert_tf.serving.export)."""
        raise NotImplementedError

    def serving_kwargs(self) -> dict:
        return {}

    # --------------------------------------------------------------- actions

    def dataset_fn(self, examples, batch_size, training=False):
        s = self.settings
        return batching.dataset_fn(
            examples, batch_size, s.max_seq_length, training=training,
            num_steps=self.num_train_steps if training else None, seed=s.seed,
            pad_to_max_length=s.pad_to_max_length or s.strategy_name == "tpu")

    def train(self):
        s = self.settings
        examples = self.encode("train")
        s.log(f"Fine-tuning on {len(examples)} examples: {self.num_train_steps} steps of "
              f"{s.train_batch_size} ({s.num_train_epochs:g} epochs)")
        self.trainer.train(self.dataset_fn(examples, s.train_batch_size, training=True),
                           s.train_batch_size)

    def predict_outputs(self, split, which, batch_size):
        """The model's outputs on a split, as numpy, in example order."""
        examples = self.encode(split, which)
        if len(examples) == 0:
            raise UserError(f"the {split} data holds no examples")
        outputs = self.trainer.predict(self.dataset_fn(examples, batch_size))
        return batching.restore_order(outputs, len(examples))

    def evaluate(self):
        """The metrics of each evaluation set (`metrics`), written to eval_results.txt."""
        s = self.settings
        results = {"global_step": self.global_step}
        for which in self.eval_sets():
            outputs = self.predict_outputs("dev", which, s.eval_batch_size)
            prefix = f"eval_{which}_" if which else "eval_"
            for name, value in self.metrics(which, outputs).items():
                results[prefix + name] = value
        if "eval_loss" in results:
            results["loss"] = results["eval_loss"]
        if self.is_chief:
            write_eval_results(os.path.join(s.output_dir, "eval_results.txt"), results)
        return results

    def predict(self):
        paths = []
        for which in self.predict_sets():
            outputs = self.predict_outputs("test", which, self.settings.predict_batch_size)
            if self.is_chief:
                paths += self.write_predictions(which, outputs)
        return paths

    def export_pretrained(self):
        """The fine-tuned model in Google's format in output_dir/finetuned."""
        return self.save_release("finetuned", self.files.vocab_file)

    def export_serving(self):
        """A SavedModel for TF Serving in export_dir/<global step>."""
        from bert_tf.serving import export

        s = self.settings
        tokenizer = self.files.export_tokenizer(s.max_seq_length, s.tokenizer_ops)
        path = export.export(self.trainer.model, self.export_kind(), tokenizer, s.export_dir,
                             max_seq_length=s.max_seq_length, vocab_file=self.files.vocab_file,
                             version=self.global_step or None, precision=s.serving_precision,
                             xla=s.serving_xla, **self.serving_kwargs())
        s.log(f"Exported {self.export_kind().name} ({s.tokenizer_ops} tokenizer ops"
              f"{precision_note(s.serving_precision, s.serving_xla)}) to {path}")
        return path

    def evaluate_and_predict(self):
        """--do_eval and --do_predict: eval_results.txt, then the prediction files."""
        s = self.settings
        if s.do_eval:
            results = self.evaluate()
            s.log(f"Evaluation: {format_results(results)}")
        if s.do_predict:
            for path in self.predict():
                s.log(f"Wrote predictions to {path}")

    def run(self):
        """What the script's flags ask for, in order: train, evaluate, predict, export."""
        s = self.settings
        try:
            if s.do_train:
                self.train()
                path = self.export_pretrained()
                fmt = {"google": "Google's", "huggingface": "Hugging Face's"}[
                    self.trainer.model.release_format()]
                s.log(f"Saved the fine-tuned model in {fmt} format to {path}")
            self.evaluate_and_predict()
            if s.export_dir and self.is_chief:
                self.export_serving()
        finally:
            self.close()
        return self


def precision_note(precision, xla=False):
    """What an export's log line adds for its precision and XLA: nothing for a plain float32
    export (as before)."""
    return ("" if precision == "float32" else f", {precision}") + (", XLA" if xla else "")


def log_softmax(logits):
    """Log-probabilities of float logits along the last axis, in float64 (numpy)."""
    logits = np.asarray(logits, np.float64)
    return logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)


def softmax(logits):
    """Probabilities of float logits along the last axis, in float64 (numpy)."""
    return np.exp(log_softmax(logits))


def tokenizer_settings(tokenizer):
    """What a run directory's tokenizer_config.json says of its tokenizer (Hugging Face's keys)."""
    if hasattr(tokenizer, "add_prefix_space"):  # a byte-level BPE
        return {"add_prefix_space": tokenizer.add_prefix_space}
    if hasattr(tokenizer, "keep_accents"):  # SentencePiece: ALBERT's AlbertTokenizer keys
        return {"do_lower_case": tokenizer.do_lower_case, "keep_accents": tokenizer.keep_accents,
                "remove_space": tokenizer.remove_space}
    return {"do_lower_case": tokenizer.do_lower_case, "strip_accents": tokenizer.strip_accents}
