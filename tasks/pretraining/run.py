"""What run_pretraining.py does, given its flags: validate, build, train, evaluate, export."""

import dataclasses
import os
from typing import Optional

import tensorflow as tf

from bert_tf import checkpoints
from bert_tf.data.files import list_input_files
from bert_tf.errors import MissingFileError
from bert_tf.models.bert import BertConfig, BertPretrainer
from bert_tf.models.bert.pretraining_objective import PretrainingObjective
from bert_tf.training import run_directory
from bert_tf.training.run import FlagError, Run, TrainingSettings, format_results, require
from bert_tf.training.run import write_eval_results
from tasks.pretraining import inputs as pretraining_inputs


@dataclasses.dataclass
class PretrainingSettings(TrainingSettings):
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
    eval_input_file: Optional[str] = None
    dynamic_masking: bool = False
    do_whole_word_mask: bool = False
    vocab_file: Optional[str] = None

    def check(self):
        super().check()
        require(self.do_train or self.do_eval, "nothing to do: pass --do_train and/or --do_eval")
        require(bool(self.input_file), "--input_file is required")
        if self.do_train:
            require(self.num_train_steps >= 1,
                    f"--num_train_steps must be positive, got {self.num_train_steps}")
            require(0 <= self.num_warmup_steps <= self.num_train_steps,
                    f"--num_warmup_steps={self.num_warmup_steps} must be in [0, "
                    f"--num_train_steps={self.num_train_steps}]")
            require(self.learning_rate > 0,
                    f"--learning_rate must be positive, got {self.learning_rate}")
        require(self.max_eval_steps >= 1,
                f"--max_eval_steps must be positive, got {self.max_eval_steps}")
        require(self.max_seq_length >= 5,
                f"--max_seq_length must be at least 5, got {self.max_seq_length}")
        require(1 <= self.max_predictions_per_seq <= self.max_seq_length,
                "--max_predictions_per_seq must be between 1 and --max_seq_length")
        require(not ((self.dynamic_masking or self.do_whole_word_mask) and not self.vocab_file),
                "--dynamic_masking needs --vocab_file")
        require(not (self.do_whole_word_mask and not self.dynamic_masking),
                "--do_whole_word_mask applies to --dynamic_masking (offline records choose "
                "their masks in create_pretraining_data.py)")


def input_files(pattern, flag):
    try:
        return list_input_files(pattern)
    except MissingFileError as e:
        raise FlagError(f"--{flag}: {e}") from None


class PretrainingRun(Run):
    """Pretrains BertPretrainer on TFRecords; resumable, under any strategy."""

    run_type = "pretraining"
    settings: PretrainingSettings

    def prepare(self):
        s = self.settings
        if s.bert_config_file:
            self.config = BertConfig.from_json_file(s.bert_config_file)
        elif s.init_checkpoint:
            self.config = BertConfig.from_release(checkpoints.resolve(s.init_checkpoint))
        else:
            raise FlagError("--bert_config_file is required (or an --init_checkpoint that has "
                            "one)")
        require(s.max_seq_length <= self.config.max_position_embeddings,
                f"--max_seq_length={s.max_seq_length} exceeds the model's "
                f"max_position_embeddings {self.config.max_position_embeddings}")
        self.files = {"train": input_files(s.input_file, "input_file")}
        self.files["eval"] = (input_files(s.eval_input_file, "eval_input_file")
                              if s.eval_input_file else self.files["train"])
        for kind, names in self.files.items():
            try:
                masked = pretraining_inputs.check_records(
                    names, s.max_seq_length, s.max_predictions_per_seq)
            except (pretraining_inputs.RecordError, MissingFileError) as e:
                raise FlagError(f"--{'eval_' if kind == 'eval' and s.eval_input_file else ''}"
                                f"input_file: {e}") from None
            if not masked and not s.dynamic_masking:
                raise FlagError(f"{names[0]} holds unmasked records: pass --dynamic_masking "
                                "and --vocab_file")
        self.masking = None
        if s.dynamic_masking:
            from bert_tf.tokenization import BertTokenizer

            tokenizer = BertTokenizer(s.vocab_file, do_lower_case=False)  # vocab facts only
            self.masking = pretraining_inputs.MaskingOptions.from_tokenizer(
                tokenizer, whole_word=s.do_whole_word_mask)

    def check_batch_sizes(self):
        s = self.settings
        s.check_batch_size("train_batch_size", self.replicas, s.gradient_accumulation_steps)
        s.check_batch_size("eval_batch_size", self.replicas)

    def planned_steps(self):
        return self.settings.num_train_steps

    def run_files(self):
        s = self.settings
        found = {
            checkpoints.CONFIG_NAME: self.config.to_json(),
            run_directory.RUN_INFO: run_directory.run_info(
                task=self.run_type, max_seq_length=s.max_seq_length,
                max_predictions_per_seq=s.max_predictions_per_seq, seed=s.seed),
        }
        if s.vocab_file:
            found["vocab.txt"] = open(s.vocab_file, "rb").read()
        return found

    def build_model(self):
        return BertPretrainer(self.config, dtype=self.settings.mixed_precision)

    def build_objective(self):
        return PretrainingObjective()

    def build_optimizer(self):
        s = self.settings
        return s.create_optimizer(s.learning_rate, s.num_train_steps, s.num_warmup_steps)

    def initialize(self, model):
        s = self.settings
        if s.init_checkpoint:
            release = checkpoints.load_weights(model, s.init_checkpoint, strict=False)
            s.log(f"Initialized from {release.format} checkpoint {s.init_checkpoint}")

    # --------------------------------------------------------------- actions

    def _dataset_fn(self, kind, global_batch):
        s = self.settings

        def make(context, skip_batches=0):
            return pretraining_inputs.pretraining_dataset(
                self.files[kind], context.get_per_replica_batch_size(global_batch),
                s.max_seq_length, s.max_predictions_per_seq, is_training=kind == "train",
                masking=self.masking, seed=s.seed, input_context=context,
                skip_batches=skip_batches)
        return make

    def _named_record_errors(self, kind, action):
        """Runs `action`; a record that cannot be read becomes a RecordError naming file and record."""
        try:
            return action()
        # UnicodeDecodeError: a record of bytes that are not a protobuf (nor UTF-8) breaks the
        # op error's own message.
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError, UnicodeDecodeError):
            s = self.settings
            masked = pretraining_inputs.check_records(self.files[kind][:1], s.max_seq_length,
                                                      s.max_predictions_per_seq)
            pretraining_inputs.find_bad_record(
                self.files[kind], pretraining_inputs.feature_spec(
                    s.max_seq_length, s.max_predictions_per_seq, masked=masked),
                vocab_size=self.config.vocab_size, type_vocab_size=self.config.type_vocab_size)
            raise

    def train(self):
        s = self.settings
        self._named_record_errors("train", lambda: self.trainer.train(
            self._dataset_fn("train", s.train_batch_size), s.train_batch_size))
        path = self.save_release("pretrained", s.vocab_file)
        if self.is_chief:
            s.log(f"Exported the trained model in Google's format to {path}")

    def export_serving(self):
        """The pretrained model as a SavedModel predicting [MASK]ed tokens of raw text."""
        from bert_tf.serving import export
        from bert_tf.tokenization import BertTokenizer, resolve_casing
        from tasks.pretraining import serving

        s = self.settings
        if not s.vocab_file:
            raise FlagError("--export_dir needs --vocab_file (the export tokenizes raw text)")
        tokenizer = BertTokenizer(s.vocab_file,
                                  do_lower_case=resolve_casing(None, s.vocab_file),
                                  max_seq_length=s.max_seq_length, wordpiece=s.tokenizer_ops)
        path = export.export(self.trainer.model, serving.PRETRAINER, tokenizer, s.export_dir,
                             max_seq_length=s.max_seq_length, vocab_file=s.vocab_file,
                             version=self.global_step or None)
        s.log(f"Exported the masked-token predictor to {path}")
        return path

    def evaluate(self, write=True):
        """Metrics on the evaluation records; written to eval_results.txt by the chief."""
        s = self.settings
        results = self._named_record_errors("eval", lambda: self.trainer.evaluate(
            self._dataset_fn("eval", s.eval_batch_size), max_steps=s.max_eval_steps))
        results["global_step"] = self.global_step
        if self.is_chief and write:
            write_eval_results(os.path.join(s.output_dir, "eval_results.txt"), results)
        return results

    def run(self):
        s = self.settings
        try:
            if s.do_train:
                self.train()
            if s.do_eval:
                results = self.evaluate()
                if self.is_chief:
                    s.log(f"Evaluation: {format_results(results)}")
            if s.export_dir and self.is_chief:
                self.export_serving()
        finally:
            self.close()
        return self


def run(settings: PretrainingSettings):
    """run_pretraining.py: train and/or evaluate as the settings say."""
    return PretrainingRun(settings).run()
