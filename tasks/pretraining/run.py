"""What run_pretraining.py does, given its flags: validate, build, train, evaluate, export."""

import dataclasses
import os
from typing import Optional

import tensorflow as tf

from bert_tf import checkpoints
from bert_tf.data.files import list_input_files
from bert_tf.errors import MissingFileError, UserError
from bert_tf.models import registry
from bert_tf.models.bert import BertConfig
from bert_tf.models.bert.release import vocab_kind
from bert_tf.training import distillation, run_directory
from bert_tf.training.run import (FlagError, Run, TrainingSettings, check_distillation_flags,
                                  format_results, require)
from bert_tf.training.run import precision_note, write_eval_results
from tasks.pretraining import inputs as pretraining_inputs
from tasks.pretraining.examples import NEXT_SENTENCE_FEATURE


@dataclasses.dataclass
class PretrainingSettings(TrainingSettings):
    """Everything run_pretraining.py's flags decide; the defaults are the flags' defaults."""

    input_file: str = ""
    bert_config_file: Optional[str] = None
    model_config_file: Optional[str] = None  # a config.json of any family
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
    # ELECTRA's (google-research/electra's names and defaults).
    generator_hidden_size: float = 0.25
    generator_layers: float = 1.0
    temperature: float = 1.0
    disc_weight: float = 50.0
    gen_weight: float = 1.0
    # Distillation (DistilBERT's recipe, bert_tf.training.distillation): a pretrained model with
    # a masked-LM head teaches the student. loss = (1 - alpha) * the student's own objective
    # (masked LM, and next sentence / sentence order where it has one) + alpha * T^2 * KL at
    # the masked positions + cosine_weight * (1 - cos) of the last hidden states at real
    # tokens (+ TinyBERT's per-layer hidden-state and attention-map MSEs). DistilBERT
    # weighed its three terms 5.0 (soft), 2.0 (hard), 1.0 (cosine) at T=2: these are those
    # divided by 7.
    teacher: Optional[str] = None
    distill_temperature: float = 2.0
    distill_alpha: float = 0.7
    distill_cosine_weight: float = 0.15
    distill_hidden_weight: float = 0.0
    distill_attention_weight: float = 0.0
    student_layers_from_teacher: Optional[str] = None

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
        require(not (self.bert_config_file and self.model_config_file),
                "--bert_config_file and --model_config_file both name the model's config: "
                "pass one")
        # Hugging Face releases carry their tokenizer: --init_checkpoint's may do (prepare).
        require(not ((self.dynamic_masking or self.do_whole_word_mask)
                     and not (self.vocab_file or self.init_checkpoint)),
                "--dynamic_masking needs --vocab_file")
        require(0 < self.generator_hidden_size <= 1 and 0 < self.generator_layers <= 1,
                f"--generator_hidden_size={self.generator_hidden_size} and --generator_layers="
                f"{self.generator_layers} are fractions of the discriminator's: in (0, 1]")
        require(self.temperature > 0, f"--temperature must be positive, got {self.temperature}")
        require(self.disc_weight >= 0 and self.gen_weight >= 0 and
                self.disc_weight + self.gen_weight > 0,
                f"--disc_weight={self.disc_weight} and --gen_weight={self.gen_weight} must be "
                "non-negative, not both 0")
        require(not (self.do_whole_word_mask and not self.dynamic_masking),
                "--do_whole_word_mask applies to --dynamic_masking (offline records choose "
                "their masks in create_pretraining_data.py)")
        check_distillation_flags(self)


_FAMILY_FLAGS = ("generator_hidden_size", "generator_layers", "temperature", "disc_weight",
                 "gen_weight")


def _flag_arguments(family):
    """The flags a family's pretraining model and its objective take (flag_arguments)."""
    model = family.pretrainer_class()
    return (tuple(getattr(model, "flag_arguments", ()))
            + tuple(getattr(model.objective_class, "flag_arguments", ())))


def _distills(model_class):
    """Whether a pretraining model's objective has a masked-LM distribution to distill."""
    return "mlm_logits" in model_class.objective_class.soft_target_names


def input_files(pattern, flag):
    try:
        return list_input_files(pattern)
    except MissingFileError as e:
        raise FlagError(f"--{flag}: {e}") from None


class PretrainingRun(Run):
    """Pretrains the family's pretraining model on TFRecords; resumable, under any strategy.

    BERT: BertPretrainer (masked LM + next sentence), released in Google's
    format as google-research/bert's run_pretraining.py does. RoBERTa:
    RobertaMaskedLM (masked LM alone, on full sentences or pairs), released
    in Hugging Face's layout with its tokenizer files. ELECTRA:
    ElectraPretrainer (a generator and the discriminator, replaced-token
    detection) on the same masked records, released as Hugging Face's
    discriminator with its generator in pretrained/generator. ALBERT:
    AlbertPretrainer (masked LM + sentence order, on create_pretraining_data.py's
    sentence-order pairs), released as AlbertForPreTraining with its spiece.model.
    """

    run_type = "pretraining"
    settings: PretrainingSettings

    def prepare(self):
        s = self.settings
        self.release = checkpoints.resolve(s.init_checkpoint) if s.init_checkpoint else None
        self._read_teacher()
        self.config = self._read_config()
        family = registry.family_of(self.config)
        try:
            self.model_class = family.pretrainer_class()
        except UserError as e:
            raise FlagError(str(e)) from None
        if s.teacher and not _distills(self.model_class):
            raise FlagError(f"--teacher: {family.title} pretraining has no masked-LM "
                            "distribution of the model's own to learn from a teacher")
        # Flags of one family's pretraining model (ELECTRA's generator and loss weights).
        self.model_arguments = {name: getattr(s, name)
                                for name in getattr(self.model_class, "flag_arguments", ())}
        self.objective_arguments = {
            name: getattr(s, name)
            for name in getattr(self.model_class.objective_class, "flag_arguments", ())}
        if self.model_arguments:
            check = getattr(self.model_class, "check_arguments", None)
            try:
                if check is not None:
                    check(self.config, **self.model_arguments)
            except UserError as e:
                raise FlagError(str(e)) from None
        default = PretrainingSettings()
        for name in _FAMILY_FLAGS:
            if (getattr(s, name) != getattr(default, name) and name not in self.model_arguments
                    and name not in self.objective_arguments):
                owners = " and ".join(f.title for f in registry.FAMILIES.values()
                                      if f.pretrainer and name in _flag_arguments(f))
                raise FlagError(f"--{name} applies to {owners} pretraining, not to "
                                f"{family.title}'s")
        require(s.max_seq_length <= self.config.max_length,
                f"--max_seq_length={s.max_seq_length} exceeds the model's "
                f"max_position_embeddings {self.config.max_length}")
        self.vocab_file = self._vocab_file(family)
        if s.teacher:
            self._check_teacher()
        self.files = {"train": input_files(s.input_file, "input_file")}
        self.files["eval"] = (input_files(s.eval_input_file, "eval_input_file")
                              if s.eval_input_file else self.files["train"])
        needs_pairs = NEXT_SENTENCE_FEATURE in self.model_class.objective_class.label_keys
        for kind, names in self.files.items():
            flag = f"--{'eval_' if kind == 'eval' and s.eval_input_file else ''}input_file"
            try:
                layout = pretraining_inputs.inspect_records(
                    names, s.max_seq_length, s.max_predictions_per_seq)
            except (pretraining_inputs.RecordError, MissingFileError) as e:
                raise FlagError(f"{flag}: {e}") from None
            if not layout.masked and not s.dynamic_masking:
                raise FlagError(f"{names[0]} holds unmasked records: pass --dynamic_masking "
                                "and --vocab_file")
            if needs_pairs and not layout.next_sentence:
                raise FlagError(
                    f"{flag}: {names[0]} holds full sentences without next_sentence_labels, "
                    f"but {family.title} pretraining predicts the next sentence: write sentence "
                    "pairs (create_pretraining_data.py --nofull_sentences)")
        self.masking = None
        if s.dynamic_masking:
            tokenizer = self._tokenizer()
            require(tokenizer.vocab_size <= self.config.vocab_size,
                    f"the vocab {self.vocab_file} has {tokenizer.vocab_size} tokens but the "
                    f"model's vocab_size is {self.config.vocab_size}: masking would draw ids "
                    "without an embedding (is it the vocab of this model?)")
            self.masking = pretraining_inputs.MaskingOptions.from_tokenizer(
                tokenizer, whole_word=s.do_whole_word_mask)

    def _read_teacher(self):
        """--teacher's release, config and pretraining model class (None without one)."""
        s = self.settings
        self.teacher_release = self.teacher_config = self.layer_mapping = None
        if not s.teacher:
            return
        try:
            self.teacher_release = checkpoints.resolve(s.teacher)
        except MissingFileError as e:
            raise FlagError(f"--teacher: {e}") from None
        self.teacher_config = registry.config_from_release(self.teacher_release)
        family = registry.family_of(self.teacher_config)
        self.teacher_class = family.pretrainer_class() if family.pretrainer else None
        if self.teacher_class is None or not _distills(self.teacher_class):
            raise FlagError(f"--teacher={s.teacher} is a {family.title} model, which has no "
                            "masked-LM head to teach with: a teacher is a BERT, RoBERTa or "
                            "ALBERT pretraining model (a run_pretraining.py output_dir or its "
                            "pretrained/ release, or a Hugging Face *ForPreTraining / "
                            "*ForMaskedLM directory)")
        if s.student_layers_from_teacher:
            self.layer_mapping = distillation.layer_mapping(
                s.student_layers_from_teacher, self.teacher_config.encoder_shape().num_layers)

    def _check_teacher(self):
        """The teacher must read the student's token ids (the same vocabulary files and size)
        and take its sequence length; checked before anything is built."""
        s, teacher = self.settings, self.teacher_config
        distillation.check_same_vocab(s.teacher, self.teacher_release.vocab_file,
                                      self.vocab_file)
        require(teacher.encoder_shape().vocab_size == self.config.encoder_shape().vocab_size,
                f"--teacher={s.teacher} has vocab_size {teacher.encoder_shape().vocab_size}, "
                f"the student {self.config.encoder_shape().vocab_size}: their masked-LM "
                "distributions must be over the same tokens")
        require(s.max_seq_length <= teacher.max_length,
                f"--max_seq_length={s.max_seq_length} exceeds the --teacher's "
                f"max_position_embeddings {teacher.max_length}")
        if self.layer_mapping is not None:  # the student's config may have been given
            distillation.layer_mapping(s.student_layers_from_teacher,
                                       teacher.encoder_shape().num_layers,
                                       self.config.encoder_shape().num_layers)

    def _read_config(self):
        """The model's config: --bert_config_file (BERT), --model_config_file (any family), else
        --init_checkpoint's (or, with --student_layers_from_teacher, the teacher's with that
        many layers); a config and a checkpoint of different families are an error."""
        s = self.settings
        from_release = registry.config_from_release(self.release) if self.release else None
        if self.layer_mapping is not None and not (s.bert_config_file or s.model_config_file):
            return distillation.with_num_layers(self.teacher_config, len(self.layer_mapping))
        if s.bert_config_file:
            config, flag = BertConfig.from_json_file(s.bert_config_file), "--bert_config_file"
        elif s.model_config_file:
            config = registry.config_from_file(s.model_config_file)
            flag = "--model_config_file"
        elif from_release is not None:
            return from_release
        else:
            raise FlagError("--bert_config_file is required (or --model_config_file, or an "
                            "--init_checkpoint that has one)")
        if from_release is not None and from_release.family != config.family:
            raise FlagError(
                f"{flag} describes a {registry.family_of(config).title} model but "
                f"--init_checkpoint={s.init_checkpoint} is a "
                f"{registry.family_of(from_release).title} checkpoint")
        return config

    def _vocab_file(self, family):
        """--vocab_file; for a family released in Hugging Face's layout, which carries the
        tokenizer, --init_checkpoint's vocab otherwise, and one is required (Google's releases
        keep google-research/bert's behaviour: the vocab is --vocab_file's alone)."""
        s = self.settings
        vocab_file = s.vocab_file
        if not vocab_file and self.teacher_release is not None:
            vocab_file = self.teacher_release.vocab_file  # the student reads the teacher's ids
        hugging_face = family.formats[0] != "google"  # the format its runs release
        if hugging_face and not vocab_file and self.release is not None:
            vocab_file = self.release.vocab_file
        if hugging_face and not vocab_file:
            files = ("spiece.model" if family.tokenizer == "sentencepiece" else
                     "vocab.json with merges.txt beside it, or tokenizer.json")
            raise FlagError(
                f"a {family.title} run releases the model with its tokenizer: pass --vocab_file "
                f"({files}) or an --init_checkpoint that holds one")
        if (s.dynamic_masking or s.do_whole_word_mask) and not vocab_file:
            raise FlagError("--dynamic_masking needs --vocab_file")
        if vocab_file and vocab_kind(vocab_file) != family.tokenizer:
            raise FlagError(f"{vocab_file} is a {vocab_kind(vocab_file)} vocabulary but "
                            f"{family.title} models use {family.tokenizer}")
        if s.do_whole_word_mask and vocab_kind(vocab_file) != "wordpiece":
            raise FlagError("--do_whole_word_mask needs a WordPiece vocab.txt, whose '##' pieces "
                            f"mark words; {vocab_file} is a {vocab_kind(vocab_file)} "
                            "vocabulary")
        if s.export_dir and vocab_file and vocab_kind(vocab_file) == "bpe":
            require(s.tokenizer_ops == "core", f"--tokenizer_ops={s.tokenizer_ops}: a byte-level "
                    f"BPE ({vocab_file}) has core TensorFlow ops only; leave --tokenizer_ops at "
                    "core")
        if s.export_dir and vocab_file and vocab_kind(vocab_file) == "sentencepiece":
            require(s.tokenizer_ops == "text", f"--tokenizer_ops={s.tokenizer_ops}: "
                    f"SentencePiece ({vocab_file}) runs as tensorflow-text's op only; pass "
                    "--tokenizer_ops=text")
        return vocab_file

    def _tokenizer(self, max_seq_length=None, ops="text"):
        """The vocab's tokenizer: for masking (its vocab facts), or for an export."""
        from bert_tf.tokenization import (BertTokenizer, BpeTokenizer, SentencePieceTokenizer,
                                          resolve_casing)

        s = self.settings
        if vocab_kind(self.vocab_file) == "sentencepiece":  # tensorflow-text's op only
            return SentencePieceTokenizer.from_model_file(
                self.vocab_file, max_seq_length=max_seq_length or s.max_seq_length)
        if vocab_kind(self.vocab_file) == "bpe":  # core ops only (checked in _vocab_file)
            return BpeTokenizer.from_vocab_file(
                self.vocab_file, max_seq_length=max_seq_length or s.max_seq_length)
        if max_seq_length is None:
            return BertTokenizer(self.vocab_file, do_lower_case=False)  # vocab facts only
        return BertTokenizer(self.vocab_file,
                             do_lower_case=resolve_casing(None, self.vocab_file),
                             max_seq_length=max_seq_length, wordpiece=ops)

    def check_batch_sizes(self):
        s = self.settings
        s.check_batch_size("train_batch_size", self.replicas, s.gradient_accumulation_steps)
        s.check_batch_size("eval_batch_size", self.replicas)

    def planned_steps(self):
        return self.settings.num_train_steps

    def run_files(self):
        s = self.settings
        found = {
            self.config.file_name: self.config.to_json(),
            run_directory.RUN_INFO: run_directory.run_info(
                task=self.run_type, max_seq_length=s.max_seq_length,
                max_predictions_per_seq=s.max_predictions_per_seq, seed=s.seed,
                **distillation.run_record(s)),
        }
        if self.vocab_file:
            found.update({name: open(path, "rb").read()
                          for name, path in checkpoints.vocab_files(self.vocab_file).items()})
        return found

    def build_model(self):
        return self.model_class(self.config, dtype=self.settings.mixed_precision,
                                **self.model_arguments)

    def training_objective(self):
        """The family's objective; with --teacher, DistilBERT's mix against the teacher, which
        is built here, in the strategy's scope, frozen, and loaded from its directory (for
        evaluation too: the held-out distill_loss and distill_agreement are against it)."""
        objective = self.build_objective()
        s = self.settings
        if not s.teacher:
            return objective
        release = self.teacher_release
        with self.strategy.scope():
            teacher = self.teacher_class(self.teacher_config, dtype=s.mixed_precision)
        if not teacher.checkpoint_holds_head(release):
            raise UserError(f"--teacher={s.teacher} holds no masked-LM head "
                            f"({type(teacher).__name__}'s): a teacher is a pretrained model "
                            "with its head (a run_pretraining.py output_dir or its pretrained/ "
                            "release)")
        load = getattr(teacher, "load_release", None)
        if load is not None:
            load(release, strict=False)
        else:
            checkpoints.load_weights(teacher, release, strict=False)
        teacher.trainable = False
        self.teacher = teacher
        s.log(f"Distilling from teacher {s.teacher} ({registry.family_of(teacher.config).title}, "
              f"{teacher.config.encoder_shape().num_layers} layers) at temperature "
              f"{s.distill_temperature:g}, alpha {s.distill_alpha:g}, cosine weight "
              f"{s.distill_cosine_weight:g}, hidden weight {s.distill_hidden_weight:g}"
              + (f", attention weight {s.distill_attention_weight:g}"
                 if s.distill_attention_weight else ""))
        return distillation.DistillationObjective(
            objective, teacher, s.distill_temperature, s.distill_alpha,
            cosine_weight=s.distill_cosine_weight, hidden_weight=s.distill_hidden_weight,
            attention_weight=s.distill_attention_weight)

    def build_objective(self):
        return self.model_class.objective_class(**self.objective_arguments)

    def build_optimizer(self):
        s = self.settings
        return s.create_optimizer(s.learning_rate, s.num_train_steps, s.num_warmup_steps)

    def initialize(self, model):
        s = self.settings
        release = self.release
        if self.layer_mapping is not None:
            mapping = distillation.layer_mapping(
                s.student_layers_from_teacher, self.teacher_config.encoder_shape().num_layers,
                model.config.encoder_shape().num_layers)
            distillation.copy_from_teacher(model, self.teacher, mapping, log=s.log)
            s.log(f"Initialized the student from the teacher's layers {mapping}")
            return
        if release is None:
            return
        if model.checkpoint_holds_head(release):
            # A model whose release is more than one file (ELECTRA's generator/) reads it whole.
            load = getattr(model, "load_release", None)
            if load is not None:
                load(release, strict=False)
            else:
                checkpoints.load_weights(model, release, strict=False)
            s.log(f"Initialized from {release.format} checkpoint {s.init_checkpoint}")
        else:
            checkpoints.load_weights(model.encoder, release, strict=False)
            s.log(f"Initialized the encoder from {release.format} checkpoint "
                  f"{s.init_checkpoint}, which holds no {type(model).__name__} head: the "
                  "pretraining head starts fresh")

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
            layout = pretraining_inputs.inspect_records(self.files[kind][:1], s.max_seq_length,
                                                        s.max_predictions_per_seq)
            pretraining_inputs.find_bad_record(
                self.files[kind], pretraining_inputs.feature_spec(
                    s.max_seq_length, s.max_predictions_per_seq, masked=layout.masked,
                    next_sentence=layout.next_sentence),
                vocab_size=self.config.vocab_size, type_vocab_size=self.config.type_vocab_size)
            raise

    def train(self):
        s = self.settings
        self._named_record_errors("train", lambda: self.trainer.train(
            self._dataset_fn("train", s.train_batch_size), s.train_batch_size))
        path = self.save_release("pretrained", self.vocab_file)
        if self.is_chief:
            fmt = {"google": "Google's", "huggingface": "Hugging Face's"}[
                self.trainer.model.release_format()]
            s.log(f"Exported the trained model in {fmt} format to {path}")

    def export_serving(self):
        """The pretrained model as a SavedModel predicting the masked tokens of raw text."""
        from bert_tf.serving import export
        from tasks.pretraining import serving

        s = self.settings
        if not self.vocab_file:
            raise FlagError("--export_dir needs --vocab_file (the export tokenizes raw text)")
        tokenizer = self._tokenizer(s.max_seq_length, s.tokenizer_ops)
        path = export.export(self.trainer.model, serving.PRETRAINER, tokenizer, s.export_dir,
                             max_seq_length=s.max_seq_length, vocab_file=self.vocab_file,
                             version=self.global_step or None, precision=s.serving_precision,
                             xla=s.serving_xla)
        note = precision_note(s.serving_precision, s.serving_xla)
        note = f" ({note[2:]})" if note else ""
        s.log(f"Exported the masked-token predictor{note} to {path}")
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
