"""What run_pretraining.py does, given its flags: validate, build, train, evaluate, export."""

import dataclasses
import os
from typing import Optional

import tensorflow as tf

from bert_tf import checkpoints, distribution, pretraining_inputs, run_settings, training
from bert_tf.config import BertConfig
from bert_tf.pretraining import BertPretrainer, PretrainingTask
from bert_tf.run_settings import FlagError
from bert_tf.vocab_learning import list_input_files


def user_errors():
    return run_settings.user_errors(pretraining_inputs.RecordError)


def resolve_config(flags):
    if flags.bert_config_file:
        return BertConfig.from_json_file(flags.bert_config_file)
    if flags.init_checkpoint:
        return checkpoints.resolve(flags.init_checkpoint).config
    raise FlagError("--bert_config_file is required (or an --init_checkpoint that has one)")


def input_files(pattern, flag):
    try:
        return list_input_files(pattern)
    except FileNotFoundError as e:
        raise FlagError(f"--{flag}: {e}") from None


def validate(flags, config, num_replicas):
    """Checks flags against each other, the config and the data, before anything is built."""
    if not (flags.do_train or flags.do_eval):
        raise FlagError("nothing to do: pass --do_train and/or --do_eval")
    if flags.max_seq_length > config.max_position_embeddings:
        raise FlagError(f"--max_seq_length={flags.max_seq_length} exceeds the model's "
                        f"max_position_embeddings {config.max_position_embeddings}")
    if flags.max_predictions_per_seq > flags.max_seq_length:
        raise FlagError("--max_predictions_per_seq cannot exceed --max_seq_length")
    k = flags.gradient_accumulation_steps
    if k < 1:
        raise FlagError("--gradient_accumulation_steps must be at least 1")
    for name in ("train_batch_size", "eval_batch_size"):
        size = getattr(flags, name)
        step = num_replicas * (k if name == "train_batch_size" else 1)
        if size < 1 or size % step:
            raise FlagError(f"--{name}={size} is not divisible by {num_replicas} replica(s)"
                            + (f" x {k} accumulation steps" if name == "train_batch_size"
                               and k > 1 else ""))
    if flags.do_train and flags.num_warmup_steps > flags.num_train_steps:
        raise FlagError("--num_warmup_steps exceeds --num_train_steps")
    if flags.save_checkpoints_steps < 1 or flags.iterations_per_loop < 1:
        raise FlagError("--save_checkpoints_steps and --iterations_per_loop must be positive")
    if (flags.dynamic_masking or flags.do_whole_word_mask) and not flags.vocab_file:
        raise FlagError("--dynamic_masking needs --vocab_file")
    if flags.do_whole_word_mask and not flags.dynamic_masking:
        raise FlagError("--do_whole_word_mask applies to --dynamic_masking (offline records "
                        "choose their masks in create_pretraining_data.py)")
    files = {"train": input_files(flags.input_file, "input_file")}
    files["eval"] = (input_files(flags.eval_input_file, "eval_input_file")
                     if flags.eval_input_file else files["train"])
    masked = {}
    for kind, names in files.items():
        try:
            masked[kind] = pretraining_inputs.check_records(
                names, flags.max_seq_length, flags.max_predictions_per_seq)
        except (pretraining_inputs.RecordError, FileNotFoundError) as e:
            raise FlagError(f"--input_file: {e}") from None
        if not masked[kind] and not flags.dynamic_masking:
            raise FlagError(f"{names[0]} holds unmasked records: pass --dynamic_masking "
                            "and --vocab_file")
    return files


def masking_options(flags):
    if not flags.dynamic_masking:
        return None
    from bert_tf.tokenization import BertTokenizer

    tokenizer = BertTokenizer(flags.vocab_file, do_lower_case=False)  # vocab facts only
    return pretraining_inputs.MaskingOptions.from_tokenizer(
        tokenizer, whole_word=flags.do_whole_word_mask)


@dataclasses.dataclass
class PretrainingSettings(run_settings.TrainingSettings):
    """Everything run_pretraining.py's flags decide; the defaults are the flags' defaults."""

    input_file: str = ""
    bert_config_file: Optional[str] = None
    init_checkpoint: Optional[str] = None
    do_train: bool = False
    do_eval: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    num_train_steps: int = 100000
    num_warmup_steps: int = 10000
    learning_rate: float = 5e-5
    max_eval_steps: int = 100
    use_tpu: bool = False
    tpu_name: Optional[str] = None
    eval_input_file: Optional[str] = None
    dynamic_masking: bool = False
    do_whole_word_mask: bool = False
    vocab_file: Optional[str] = None
    jit_compile: bool = False


class PretrainingRun:
    """Validates settings, then builds the strategy, model, optimizer and data; trains and evaluates."""

    def __init__(self, settings: PretrainingSettings):
        s = self.settings = settings
        s.prepare_process()
        strategy_name = "tpu" if s.use_tpu else s.distribution_strategy
        strategy = distribution.create_strategy(strategy_name, s.tpu_name)
        self.config = config = resolve_config(s)
        self.files = validate(s, config, strategy.num_replicas_in_sync)
        self.masking = masking_options(s)
        self.is_chief = distribution.is_chief()
        if self.is_chief:
            tf.io.gfile.makedirs(s.output_dir)
            config.to_json_file(os.path.join(s.output_dir, checkpoints.CONFIG_NAME))
            if s.vocab_file:
                checkpoints.copy_vocab(s.vocab_file, s.output_dir)
        self.trainer = training.Trainer(
            strategy, PretrainingTask(),
            build_model=lambda: BertPretrainer(config, dtype=s.mixed_precision),
            build_optimizer=lambda: s.create_optimizer(s.learning_rate, s.num_train_steps,
                                                       s.num_warmup_steps),
            options=s.training_options(s.num_train_steps, jit_compile=s.jit_compile))
        resuming = tf.train.latest_checkpoint(s.output_dir) is not None
        if resuming:
            self.trainer.restore_or_initialize()
        elif s.init_checkpoint:
            release = checkpoints.load_weights(self.trainer.model, s.init_checkpoint,
                                               strict=False)
            s.log(f"Initialized from {release.format} checkpoint {s.init_checkpoint}")

    def _dataset_fn(self, kind, global_batch):
        s = self.settings

        def make(context, skip_batches=0):
            return pretraining_inputs.pretraining_dataset(
                self.files[kind], context.get_per_replica_batch_size(global_batch),
                s.max_seq_length, s.max_predictions_per_seq, is_training=kind == "train",
                masking=self.masking, seed=s.seed, input_context=context,
                skip_batches=skip_batches)
        return make

    def train(self):
        s = self.settings
        self.trainer.train(self._dataset_fn("train", s.train_batch_size), s.train_batch_size)
        if self.is_chief:
            exported = os.path.join(s.output_dir, "pretrained")
            self.trainer.model.save_pretrained(exported, vocab_file=s.vocab_file)
            s.log(f"Exported the trained model in Google's format to {exported}")

    def export_serving(self):
        """The pretrained model as a SavedModel predicting [MASK]ed tokens of raw text."""
        from bert_tf import export
        from bert_tf.tokenization import BertTokenizer, resolve_casing

        s = self.settings
        if not s.vocab_file:
            raise FlagError("--export_dir needs --vocab_file (the export tokenizes raw text)")
        tokenizer = BertTokenizer(s.vocab_file,
                                  do_lower_case=resolve_casing(None, s.vocab_file),
                                  max_seq_length=s.max_seq_length, wordpiece=s.tokenizer_ops)
        path = export.export(self.trainer.model, "pretrainer", tokenizer, s.export_dir,
                             max_seq_length=s.max_seq_length, vocab_file=s.vocab_file,
                             version=int(self.trainer.global_step.numpy()) or None)
        s.log(f"Exported the masked-token predictor to {path}")
        return path

    def evaluate(self, write=True):
        """Metrics on the evaluation records; written to eval_results.txt by the chief."""
        s = self.settings
        results = self.trainer.evaluate(self._dataset_fn("eval", s.eval_batch_size),
                                        max_steps=s.max_eval_steps)
        results["global_step"] = int(self.trainer.global_step.numpy())
        if self.is_chief and write:
            run_settings.write_eval_results(os.path.join(s.output_dir, "eval_results.txt"), results)
        return results


def run(settings: PretrainingSettings):
    """run_pretraining.py: train and/or evaluate as the settings say."""
    pretraining = PretrainingRun(settings)
    if settings.do_train:
        pretraining.train()
    if settings.do_eval:
        results = pretraining.evaluate()
        if pretraining.is_chief:
            settings.log(f"Evaluation: {run_settings.format_results(results)}")
    if settings.export_dir and pretraining.is_chief:
        pretraining.export_serving()
    return pretraining
