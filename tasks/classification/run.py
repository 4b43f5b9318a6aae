"""What run_classifier.py does: GLUE, XNLI or your own files, on the shared fine-tuning run."""

import dataclasses
import functools
import math
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from bert_tf.data import files
from bert_tf.errors import DataError
from bert_tf.training import batching, run_directory
from bert_tf.training.run import FineTuningRun, FineTuningSettings, FlagError, softmax
from tasks.classification import metrics as metric_fns
from tasks.classification import serving
from tasks.classification.data import get_processor
from tasks.classification.model import BertClassifier
from tasks.classification.objective import ClassificationObjective, RegressionObjective


@dataclasses.dataclass
class ClassifierSettings(FineTuningSettings):
    """Everything run_classifier.py's flags decide; the defaults are the flags' defaults."""

    task_name: str = ""  # --task_name: the dataset (a GLUE task, xnli or custom)
    data_dir: str = ""
    text_a_column: str = "text"
    text_b_column: Optional[str] = None
    label_column: str = "label"
    regression: bool = False
    xnli_language: str = "zh"

    def check(self):
        super().check()
        if not os.path.isdir(self.data_dir):
            raise FlagError(f"--data_dir {self.data_dir} is not a directory")


def scan(processor, data_dir, split, which="", known_labels=None, regression=False):
    """Reads a split once, checking every row: returns (count, labels in order of appearance).

    Labels outside `known_labels` (dev/test against train) and regression
    targets that are not finite numbers are DataErrors naming the file and line.
    """
    count, labels = 0, {}
    for example in processor.read(data_dir, split, which):
        count += 1
        if example.label is None:
            continue
        if regression:
            try:
                value = float(example.label)
            except ValueError:
                raise DataError(f"{example.where}: label {example.label!r} is not a number") \
                    from None
            if not math.isfinite(value):
                raise DataError(f"{example.where}: label {example.label!r} is not a finite "
                                "number")
        elif known_labels is not None and example.label not in known_labels:
            raise DataError(f"{example.where}: label {example.label!r} does not occur in the "
                            f"training data (labels: {sorted(known_labels)})")
        labels.setdefault(example.label, example.where)
    if count == 0:
        path = processor.splits(data_dir)[split][which].file
        raise DataError(f"{path} holds no examples")
    return count, labels


class ClassifierRun(FineTuningRun):
    """Fine-tunes a classifier or regressor; writes google-research/bert's files."""

    settings: ClassifierSettings

    @property
    def run_type(self):
        return f"classification:{self.processor.name}"

    def read_data(self):
        s = self.settings
        self.processor = get_processor(
            s.task_name, text_a_column=s.text_a_column, text_b_column=s.text_b_column,
            label_column=s.label_column, regression=s.regression, language=s.xnli_language)
        self.regression = self.processor.regression
        processor, labels = self.processor, self.processor.labels
        if s.do_train:
            self.num_train_examples, found = scan(processor, s.data_dir, "train",
                                                  known_labels=labels,
                                                  regression=self.regression)
            if labels is None and not self.regression:
                labels = sorted(found)
                if len(labels) < 2:
                    raise DataError(f"{processor.splits(s.data_dir)['train'][''].file}: "
                                    f"only one label ({labels}): nothing to classify")
        elif labels is None and not self.regression:
            labels = self.files.labels
            path = os.path.join(s.output_dir, run_directory.LABELS_FILE)
            if labels is None and os.path.isfile(path):
                labels = run_directory.read_label_list(path)
            if labels is None:
                raise FlagError(f"the labels of task {s.task_name!r} come from its training "
                                f"data: pass --do_train, or an --output_dir holding "
                                f"{run_directory.LABELS_FILE}")
        self.labels = labels
        known = set(labels) if labels is not None else None
        for split, wanted in (("dev", s.do_eval), ("test", s.do_predict)):
            if wanted:
                for which in processor.splits(s.data_dir)[split]:
                    scan(processor, s.data_dir, split, which, known_labels=known,
                         regression=self.regression)

    def check_teacher(self):
        if self.regression:
            raise FlagError("--teacher: distilling a regression is not supported (its soft "
                            "targets are class distributions)")
        super().check_teacher()

    def extra_run_info(self):
        return {"labels": self.labels, "regression": self.regression,
                "text_pair": self.processor.is_pair,
                "do_lower_case": self.tokenizer.do_lower_case}

    def extra_run_files(self):
        if self.labels is None:
            return {}
        return {run_directory.LABELS_FILE: run_directory.label_list_text(self.labels)}

    def build_model(self, config=None):
        num_labels = 1 if self.regression else len(self.labels)
        return BertClassifier(config or self.config, num_labels, self.regression,
                              dtype=self.settings.mixed_precision)

    def build_objective(self):
        return RegressionObjective() if self.regression else ClassificationObjective()

    # ------------------------------------------------------------------ data

    def eval_sets(self):
        return list(self.processor.splits(self.settings.data_dir)["dev"])

    def predict_sets(self):
        return list(self.processor.splits(self.settings.data_dir)["test"])

    @functools.cached_property
    def _encode_texts(self):
        """The tokenizer as one tf.function for every split (shared with the process's other
        runs of the same vocabulary): texts (and second texts) -> ragged ids and segments."""
        return self.tokenizer.encode_ragged_function(self.processor.is_pair,
                                                     self.settings.max_seq_length)

    def encode(self, split, which=""):
        """Every example of a split, tokenized once: ragged ids and segments, and label ids."""
        s = self.settings
        examples = list(self.processor.read(s.data_dir, split, which))
        ids, segments = [], []
        for start in range(0, len(examples), 4096):
            part = examples[start:start + 4096]
            texts = [tf.constant([e.text_a for e in part])]
            if self.processor.is_pair:
                texts.append(tf.constant([e.text_b or "" for e in part]))
            features = self._encode_texts(*texts)
            ids.append(features["input_ids"])
            segments.append(features["segment_ids"])
        if self.regression:
            labels = np.array([float(e.label) if e.label is not None else 0.0
                               for e in examples], np.float32)
        else:
            index = {label: i for i, label in enumerate(self.labels)}
            labels = np.array([index[e.label] if e.label is not None else 0
                               for e in examples], np.int32)
        pad_values = {"input_ids": self.tokenizer.pad_id}
        if not examples:
            return batching.EncodedExamples.from_lists(
                {"input_ids": [], "segment_ids": []}, {"label_ids": labels}, pad_values)
        return batching.EncodedExamples(
            {"input_ids": tf.concat(ids, 0), "segment_ids": tf.concat(segments, 0)},
            {"label_ids": labels}, pad_values)

    # --------------------------------------------------------------- results

    def metrics(self, which, outputs):
        """The objective's loss (the training loss) and the dataset's own scores."""
        labels = outputs["label_ids"]
        found = {"loss": self.trainer.objective.evaluate({"label_ids": labels}, outputs)["loss"]}
        predictions = outputs["score"] if self.regression else outputs["logits"].argmax(1)
        for name in self.processor.metrics:
            found[name] = metric_fns.METRICS[name](labels, predictions)
        return found

    def write_predictions(self, which, outputs):
        """test_results.tsv: class probabilities (or the score) per test example, in order."""
        name = f"test_{which}_results.tsv" if which else "test_results.tsv"
        path = os.path.join(self.settings.output_dir, name)
        if self.regression:
            rows = ([f"{score}"] for score in outputs["score"])
        else:
            rows = ([f"{p}" for p in row] for row in softmax(outputs["logits"]))
        files.write_text(path, "".join("\t".join(row) + "\n" for row in rows))
        return [path]

    def export_kind(self):
        return serving.export_kind(self.regression, self.processor.is_pair)

    def serving_kwargs(self):
        return {"labels": self.labels}


def run(settings: ClassifierSettings):
    return ClassifierRun(settings).run()
