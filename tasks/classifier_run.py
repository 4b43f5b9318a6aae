"""What run_classifier.py does: validate the data, fine-tune, evaluate, predict.

It uses the training loop, optimizer and checkpointing of pretraining
(`bert_tf.training`), so every tf.distribute strategy, mixed precision,
gradient accumulation and resuming after a crash work the same way.
"""

import dataclasses
import os
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import checkpoints, distribution, run_settings, training
from bert_tf.config import BertConfig
from bert_tf.run_settings import FlagError
from bert_tf.tokenization import BertTokenizer, casing_from_directory, resolve_casing
from tasks import metrics as metric_fns
from tasks.classification import BertClassifier, ClassificationTask, RegressionTask
from tasks.glue import DataError, get_processor




@dataclasses.dataclass
class ClassifierSettings(run_settings.TrainingSettings):
    """Everything run_classifier.py's flags decide; the defaults are the flags' defaults."""

    task_name: str = ""
    data_dir: str = ""
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
    text_a_column: str = "text"
    text_b_column: Optional[str] = None
    label_column: str = "label"
    regression: bool = False
    xnli_language: str = "zh"
    shuffle_buffer: int = 10000


LABELS_FILE = "label_list.txt"  # a classifier run's labels, one per line, in id order


def write_label_list(path, labels):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(label + "\n" for label in labels))


def read_label_list(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def write_tokenizer_files(directory, vocab_file, do_lower_case):
    """vocab.txt and tokenizer_config.json ({"do_lower_case": ...}) in a run directory."""
    import json

    checkpoints.copy_vocab(vocab_file, directory)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": bool(do_lower_case)}, f)


def scan(processor, data_dir, split, which="", known_labels=None, regression=False):
    """Reads a split once, checking every row: returns (count, set of labels).

    Labels outside `known_labels` (dev/test against train) and non-numeric
    regression targets are DataErrors naming the file and line.
    """
    count, labels = 0, set()
    for example in processor.read(data_dir, split, which):
        count += 1
        if example.label is None:
            continue
        if regression:
            try:
                float(example.label)
            except ValueError:
                raise DataError(f"{example.where}: label {example.label!r} is not a number") \
                    from None
        elif known_labels is not None and example.label not in known_labels:
            raise DataError(f"{example.where}: label {example.label!r} does not occur in the "
                            f"training data (labels: {sorted(known_labels)})")
        labels.add(example.label)
    if count == 0:
        path = processor.splits(data_dir)[split][which].file
        raise DataError(f"{path} holds no examples")
    return count, labels


def resolve_inputs(s):
    """(vocab_file, config, do_lower_case), from the flags or the init checkpoint's directory."""
    release = checkpoints.resolve(s.init_checkpoint) if s.init_checkpoint else None
    vocab_file = s.vocab_file or (release.vocab_file if release else None)
    if not vocab_file:
        raise FlagError("--vocab_file is required (or an --init_checkpoint directory with a "
                        "vocab.txt)")
    if s.bert_config_file:
        config = BertConfig.from_json_file(s.bert_config_file)
    elif release:
        config = release.config
    else:
        raise FlagError("--bert_config_file is required (or an --init_checkpoint)")
    directory = None
    if s.init_checkpoint:
        directory = (s.init_checkpoint if os.path.isdir(s.init_checkpoint)
                     else os.path.dirname(s.init_checkpoint))
    stated = casing_from_directory(directory) if directory else None
    do_lower_case = resolve_casing(directory, vocab_file, s.do_lower_case)
    if s.do_lower_case is not None and stated is not None and stated != do_lower_case:
        # google-research/bert's validate_case_matches_checkpoint: a silent loss of points.
        logging.warning("=" * 72)
        logging.warning("--do_lower_case=%s but %s is %s: tokens will not match what the "
                        "model was trained on. Pass --do_lower_case=%s unless you are sure.",
                        do_lower_case, s.init_checkpoint, "uncased" if stated else "cased",
                        stated)
        logging.warning("=" * 72)
    return vocab_file, config, do_lower_case


def validate(s, config):
    if not (s.do_train or s.do_eval or s.do_predict):
        raise FlagError("nothing to do: pass --do_train, --do_eval and/or --do_predict")
    if s.max_seq_length > config.max_position_embeddings:
        raise FlagError(f"--max_seq_length={s.max_seq_length} exceeds the model's "
                        f"max_position_embeddings {config.max_position_embeddings}")
    if s.max_seq_length < 3:
        raise FlagError("--max_seq_length must be at least 3")
    if not 0 <= s.warmup_proportion < 1:
        raise FlagError("--warmup_proportion must be in [0, 1)")
    if not os.path.isdir(s.data_dir):
        raise FlagError(f"--data_dir {s.data_dir} is not a directory")


class ClassifierRun:
    """Builds everything from settings after checking flags and data; then trains, evaluates, predicts."""

    def __init__(self, settings: ClassifierSettings):
        s = self.settings = settings
        s.prepare_process()
        self.processor = get_processor(
            s.task_name, text_a_column=s.text_a_column, text_b_column=s.text_b_column,
            label_column=s.label_column, regression=s.regression, language=s.xnli_language)
        self.vocab_file, self.config, do_lower_case = resolve_inputs(s)
        validate(s, self.config)
        self.regression = self.processor.regression
        self.labels, self.num_train = self._check_data()
        self.tokenizer = BertTokenizer(self.vocab_file, do_lower_case=do_lower_case,
                                       max_seq_length=s.max_seq_length)
        strategy = distribution.create_strategy(s.distribution_strategy)
        replicas = strategy.num_replicas_in_sync
        step = replicas * s.gradient_accumulation_steps
        if s.do_train and s.train_batch_size % step:
            raise FlagError(f"--train_batch_size={s.train_batch_size} is not divisible by "
                            f"{replicas} replica(s) x {s.gradient_accumulation_steps} "
                            "accumulation step(s)")
        for name in ("eval_batch_size", "predict_batch_size"):
            if getattr(s, name) % replicas:
                raise FlagError(f"--{name}={getattr(s, name)} is not divisible by {replicas} "
                                "replica(s)")
        self.num_train_steps = max(1, int(self.num_train / s.train_batch_size
                                          * s.num_train_epochs)) if s.do_train else 1
        warmup = int(self.num_train_steps * s.warmup_proportion)
        self.is_chief = distribution.is_chief()
        if self.is_chief:
            tf.io.gfile.makedirs(s.output_dir)
            # A self-contained run directory: exports and later runs read these.
            self.config.to_json_file(os.path.join(s.output_dir, checkpoints.CONFIG_NAME))
            write_tokenizer_files(s.output_dir, self.vocab_file, do_lower_case)
            if self.labels is not None:
                write_label_list(os.path.join(s.output_dir, LABELS_FILE), self.labels)
        num_labels = 1 if self.regression else len(self.labels)
        self.trainer = training.Trainer(
            strategy, RegressionTask() if self.regression else ClassificationTask(),
            build_model=lambda: BertClassifier(self.config, num_labels, self.regression,
                                               dtype=s.mixed_precision),
            build_optimizer=lambda: s.create_optimizer(s.learning_rate, self.num_train_steps,
                                                       warmup),
            options=s.training_options(self.num_train_steps))
        if tf.train.latest_checkpoint(s.output_dir):
            self.trainer.restore_or_initialize()
        elif s.init_checkpoint:
            release = checkpoints.load_weights(self.trainer.model.encoder, s.init_checkpoint)
            s.log(f"Initialized the encoder from {release.format} checkpoint "
                  f"{s.init_checkpoint}")
        elif s.do_train:
            logging.warning("no --init_checkpoint: fine-tuning a randomly initialized BERT")

    # ------------------------------------------------------------------ data

    def _check_data(self):
        """Reads every split that will be used once; returns (labels, training examples)."""
        s, processor = self.settings, self.processor
        labels, num_train = processor.labels, 0
        if s.do_train:
            num_train, found = scan(processor, s.data_dir, "train", known_labels=labels,
                                    regression=self.regression)
            if labels is None and not self.regression:
                labels = sorted(found)
                if len(labels) < 2:
                    raise DataError(f"{processor.splits(s.data_dir)['train'][''].file}: "
                                    f"only one label ({labels}): nothing to classify")
        elif labels is None and not self.regression:
            path = os.path.join(s.output_dir, LABELS_FILE)
            if not os.path.isfile(path):
                raise FlagError(f"the labels of task {s.task_name!r} come from its training "
                                f"data: pass --do_train, or an --output_dir holding {LABELS_FILE}")
            labels = read_label_list(path)
        known = set(labels) if labels is not None else None
        for split, wanted in (("dev", s.do_eval), ("test", s.do_predict)):
            if wanted:
                for which in processor.splits(s.data_dir)[split]:
                    scan(processor, s.data_dir, split, which, known_labels=known,
                         regression=self.regression)
        return labels, num_train

    def dataset_fn(self, split, batch_size, which="", training=False):
        s, processor = self.settings, self.processor
        pair = processor.is_pair
        strings = tf.TensorSpec((), tf.string)

        def rows():
            for e in processor.read(s.data_dir, split, which):
                yield e.text_a, e.text_b or "", e.label or ""

        if self.regression:
            def label_ids(labels):
                return tf.strings.to_number(tf.where(labels == "", "0", labels), tf.float32)
        else:
            table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.labels), tf.range(len(self.labels), dtype=tf.int32)), -1)

            def label_ids(labels):
                return table.lookup(labels)

        def encode(a, b, labels):
            features = self.tokenizer.encode(a, b if pair else None, s.max_seq_length)
            features["label_ids"] = label_ids(labels)
            return features

        def make(context, skip_batches=0):
            per_replica = context.get_per_replica_batch_size(batch_size)
            data = tf.data.Dataset.from_generator(rows, output_signature=(strings,) * 3)
            if training:
                if context.num_input_pipelines > 1:
                    data = data.shard(context.num_input_pipelines, context.input_pipeline_id)
                data = data.shuffle(s.shuffle_buffer, seed=s.seed).repeat()
                data = data.skip(skip_batches * per_replica)
            data = data.batch(per_replica, drop_remainder=training)
            return data.map(encode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
                tf.data.AUTOTUNE)
        return make

    # -------------------------------------------------------------- actions

    def train(self):
        s = self.settings
        s.log(f"Fine-tuning on {self.num_train} examples: {self.num_train_steps} steps of "
              f"{s.train_batch_size} ({s.num_train_epochs:g} epochs)")
        self.trainer.train(self.dataset_fn("train", s.train_batch_size, training=True),
                           s.train_batch_size)

    def evaluate(self):
        """All of the task's metrics on its dev set(s); written to eval_results.txt."""
        s = self.settings
        results = {"global_step": int(self.trainer.global_step.numpy())}
        for which in self.processor.splits(s.data_dir)["dev"]:
            out = self.trainer.predict(self.dataset_fn("dev", s.eval_batch_size, which))
            prefix = f"eval_{which}_" if which else "eval_"
            for name, value in self._metrics(out).items():
                results[prefix + name] = value
        results["loss"] = results["eval_loss"]
        if self.is_chief:
            run_settings.write_eval_results(os.path.join(s.output_dir, "eval_results.txt"),
                                            results)
        return results

    def _metrics(self, out):
        labels = out["label_ids"]
        if self.regression:
            scores = out["score"]
            found = {"loss": float(np.mean((scores - labels) ** 2))}
            found.update({m: metric_fns.METRICS[m](labels, scores)
                          for m in self.processor.metrics})
            return found
        logits = out["logits"].astype(np.float64)
        log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        found = {"loss": float(-np.mean(log_probs[np.arange(len(labels)), labels]))}
        predictions = logits.argmax(1)
        for name in self.processor.metrics:
            found[name] = metric_fns.METRICS[name](labels, predictions)
        return found

    def predict(self):
        """test_results.tsv: class probabilities (or the score) per test example, in order."""
        s = self.settings
        paths = []
        for which in self.processor.splits(s.data_dir)["test"]:
            out = self.trainer.predict(self.dataset_fn("test", s.predict_batch_size, which))
            name = f"test_{which}_results.tsv" if which else "test_results.tsv"
            path = os.path.join(s.output_dir, name)
            if self.is_chief:
                with tf.io.gfile.GFile(path, "w") as f:
                    if self.regression:
                        rows = ([f"{score}"] for score in out["score"])
                    else:
                        logits = out["logits"].astype(np.float64)
                        probs = np.exp(logits - np.logaddexp.reduce(logits, axis=1,
                                                                   keepdims=True))
                        rows = ([f"{p}" for p in row] for row in probs)
                    for row in rows:
                        f.write("\t".join(row) + "\n")
            paths.append(path)
        return paths

    def export_serving(self):
        """A SavedModel for TF Serving in settings.export_dir/<global step>."""
        from tasks import export_run

        s = self.settings
        task = "regression" if self.regression else "classifier"
        settings = export_run.ExportSettings(
            task=task, export_dir=s.export_dir, text_pair=self.processor.is_pair,
            max_seq_length=s.max_seq_length, tokenizer_ops=s.tokenizer_ops, log=s.log)
        tokenizer = BertTokenizer(self.vocab_file, do_lower_case=self.tokenizer.do_lower_case,
                                  strip_accents=self.tokenizer.strip_accents,
                                  max_seq_length=s.max_seq_length, wordpiece=s.tokenizer_ops)
        return export_run.export_model(self.trainer.model, task, tokenizer, self.vocab_file,
                                       settings, labels=self.labels,
                                       version=int(self.trainer.global_step.numpy()) or None)

    def export_pretrained(self):
        """The fine-tuned model in Google's format (output_weights/output_bias head)."""
        path = os.path.join(self.settings.output_dir, "finetuned")
        if self.is_chief:
            self.trainer.model.save_pretrained(path, vocab_file=self.vocab_file)
        return path


def user_errors():
    return run_settings.user_errors(DataError)


def run(settings: ClassifierSettings):
    job = ClassifierRun(settings)
    if settings.do_train:
        job.train()
        path = job.export_pretrained()
        settings.log(f"Saved the fine-tuned model in Google's format to {path}")
    if settings.do_eval:
        results = job.evaluate()
        settings.log(f"Evaluation: {run_settings.format_results(results)}")
    if settings.do_predict:
        for path in job.predict():
            settings.log(f"Wrote predictions to {path}")
    if settings.export_dir and job.is_chief:
        job.export_serving()
    return job
