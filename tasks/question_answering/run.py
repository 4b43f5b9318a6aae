"""What run_squad.py does: SQuAD 1.1 / 2.0 fine-tuning and prediction on the shared fine-tuning run."""

import dataclasses
import math
import os
from typing import Optional

from absl import logging

from bert_tf import checkpoints
from bert_tf.errors import DataError
from bert_tf.training import batching
from bert_tf.training.run import (FineTuningRun, FineTuningSettings, format_results, require,
                                  write_eval_results)
from tasks.question_answering import features as qa_features
from tasks.question_answering import metrics as qa_metrics
from tasks.question_answering import postprocess as qa_postprocess
from tasks.question_answering import serving, squad
from tasks.question_answering.model import BertSpanLabeler
from tasks.question_answering.objective import SpanObjective

PREDICTION_FILES = ("predictions.json", "nbest_predictions.json")
NULL_ODDS_FILE = "null_odds.json"
EVAL_RESULTS_FILE = "eval_results.txt"
_VERBOSE_WINDOWS = 5  # training windows shown with --verbose_logging


@dataclasses.dataclass
class SquadSettings(FineTuningSettings):
    """Everything run_squad.py's flags decide; the defaults are google-research/bert's."""

    train_file: Optional[str] = None
    predict_file: Optional[str] = None
    version_2_with_negative: bool = False
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    null_score_diff_threshold: float = 0.0
    verbose_logging: bool = False

    @property
    def predicts(self):
        """--do_predict, or --do_eval (its alias here: predicting the file also evaluates it)."""
        return self.do_predict or self.do_eval

    def check(self):
        super().check()
        require(not self.do_train or bool(self.train_file), "--do_train needs --train_file")
        require(not self.predicts or bool(self.predict_file),
                "--do_predict needs --predict_file")
        for name in ("doc_stride", "max_query_length", "n_best_size", "max_answer_length"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1,
                    f"--{name} must be a positive integer, got {value}")
        require(self.max_seq_length > self.max_query_length + 3,
                f"--max_seq_length={self.max_seq_length} must be greater than "
                f"--max_query_length={self.max_query_length} + 3 ([CLS] and two [SEP]): no "
                "room would be left for the context")
        require(math.isfinite(self.null_score_diff_threshold),
                f"--null_score_diff_threshold must be a finite number, got "
                f"{self.null_score_diff_threshold}")


class SquadRun(FineTuningRun):
    """Fine-tunes a span head on SQuAD; writes predictions.json & co. and the official scores."""

    settings: SquadSettings
    run_type = "question_answering"

    # ------------------------------------------------------------------ data

    def read_data(self):
        s = self.settings
        # The flag check counted BERT's three special tokens; the model's template may use more
        # (RoBERTa: <s> q </s></s> c </s>).
        specials = self.tokenizer.template.special_count(pair=True)
        require(s.max_seq_length > s.max_query_length + specials,
                f"--max_seq_length={s.max_seq_length} must be greater than "
                f"--max_query_length={s.max_query_length} + {specials} (this model's special "
                "tokens around a question and a context): no room would be left for the context")
        max_warnings = None if s.verbose_logging else squad.MAX_ANSWER_WARNINGS
        if s.do_train:
            self.train_examples = squad.read_squad(s.train_file, for_training=True,
                                                   max_warnings=max_warnings)
            self._check_version(s.train_file, self.train_examples)
            self.train_features = self._features(self.train_examples, for_training=True)
            if not len(self.train_features):
                raise DataError(f"{s.train_file} holds no usable training questions")
            # google-research/bert counts training steps in examples, not windows.
            self.num_train_examples = len(self.train_examples)
            if s.verbose_logging:
                self._log_windows(self.train_examples, self.train_features)
        if s.predicts:
            self.predict_examples = squad.read_squad(s.predict_file, max_warnings=max_warnings)
            if not self.predict_examples:
                raise DataError(f"{s.predict_file} holds no questions")
            self._check_version(s.predict_file, self.predict_examples)
            self.predict_features = self._features(self.predict_examples, for_training=False)

    def _features(self, examples, for_training):
        s = self.settings
        return qa_features.make_features(examples, self.tokenizer, s.max_seq_length,
                                         s.doc_stride, s.max_query_length,
                                         for_training=for_training)

    def _check_version(self, path, examples):
        """SQuAD 2.0 data without --version_2_with_negative would be scored wrongly: refuse it."""
        if self.settings.version_2_with_negative:
            return
        impossible = [e for e in examples if e.is_impossible]
        if impossible:
            raise DataError(f"{path}: {len(impossible)} questions are unanswerable "
                            f"(is_impossible), e.g. id {impossible[0].qas_id!r}: pass "
                            "--version_2_with_negative for SQuAD 2.0 data")

    def _log_windows(self, examples, features):
        for n in range(min(_VERBOSE_WINDOWS, len(features))):
            example = examples[features.example_index[n]]
            tokens = self.tokenizer.convert_ids_to_tokens(features.input_ids[n]).numpy()
            start, end = features.start_position[n], features.end_position[n]
            answer = " ".join(t.decode() for t in tokens[start:end + 1]) if start else "(none)"
            logging.info("window %d of id %r: %s | start %d end %d: %s", n, example.qas_id,
                         " ".join(t.decode() for t in tokens), start, end, answer)

    def extra_run_info(self):
        s = self.settings
        return {"version_2_with_negative": s.version_2_with_negative,
                "doc_stride": s.doc_stride, "max_query_length": s.max_query_length,
                "do_lower_case": self.tokenizer.do_lower_case}

    def build_model(self, config=None):
        return BertSpanLabeler(config or self.config, dtype=self.settings.mixed_precision)

    def build_objective(self):
        return SpanObjective()

    def initialize(self, model):
        """A release that holds a span head (a SQuAD model) loads whole; others load the encoder."""
        release = self.files.release
        if release is not None and model.checkpoint_holds_head(release):
            checkpoints.load_weights(model, release)
            self.settings.log(f"Initialized the model, span head included, from "
                              f"{release.format} checkpoint {self.settings.init_checkpoint}")
        else:
            super().initialize(model)

    def encode(self, split, which=""):
        """One row per window: ragged ids and segments, and for training the answer positions."""
        features = self.train_features if split == "train" else self.predict_features
        tensors = qa_features.features_to_tensors(features)
        values = {}
        if split == "train":
            values = {"start_positions": features.start_position,
                      "end_positions": features.end_position}
        return batching.EncodedExamples(
            {"input_ids": tensors["input_ids"], "segment_ids": tensors["segment_ids"]}, values,
            pad_values={"input_ids": self.tokenizer.pad_id})

    # --------------------------------------------------------------- results

    def predictions(self, outputs):
        """postprocess of the predict file's windows: qa_postprocess.Predictions."""
        s = self.settings
        return qa_postprocess.postprocess(
            self.predict_examples, self.predict_features, outputs["start_logits"],
            outputs["end_logits"], n_best_size=s.n_best_size,
            max_answer_length=s.max_answer_length,
            version_2_with_negative=s.version_2_with_negative,
            null_score_diff_threshold=s.null_score_diff_threshold)

    def scores(self, predictions):
        """The official evaluation scripts' scores, or None when the file has no answers."""
        if not any(e.answers for e in self.predict_examples):
            return None
        return qa_metrics.evaluate(self.predict_examples, predictions.answers,
                                   predictions.null_odds,
                                   version_2_with_negative=self.settings.version_2_with_negative)

    def metrics(self, which, outputs):
        return self.scores(self.predictions(outputs)) or {}

    def write_predictions(self, which, outputs):
        return self._write(self.predictions(outputs))

    def _write(self, predictions):
        s = self.settings
        qa_postprocess.write_predictions(predictions, s.output_dir)
        names = PREDICTION_FILES + ((NULL_ODDS_FILE,) if predictions.null_odds is not None
                                    else ())
        return [os.path.join(s.output_dir, name) for name in names]

    def predict(self):
        """Predicts --predict_file; evaluates it too when it has answers (eval_results.txt)."""
        s = self.settings
        outputs = self.predict_outputs("test", "", s.predict_batch_size)
        predictions = self.predictions(outputs)
        paths = self._write(predictions) if self.is_chief else []
        found = self.scores(predictions)
        if found is not None:
            results = {"global_step": self.global_step, **found}
            if self.is_chief:
                path = os.path.join(s.output_dir, EVAL_RESULTS_FILE)
                write_eval_results(path, results)
                paths.append(path)
            s.log(f"Evaluation of {s.predict_file}: {format_results(results)}")
        empty = sum(1 for text in predictions.answers.values() if text == "empty")
        if empty:
            logging.warning("%d questions have no span that passes the filters (answered "
                            "\"empty\", as run_squad does)", empty)
        return paths

    def export_kind(self):
        return serving.QUESTION_ANSWERING

    def serving_kwargs(self):
        s = self.settings
        return serving.serving_constants(
            s.max_seq_length, self.tokenizer.template.special_count(pair=True),
            **{name: getattr(s, name) for name in serving.DEFAULTS})

    def evaluate_and_predict(self):
        """--do_predict (or --do_eval): predictions, and evaluation when they have answers."""
        if self.settings.predicts:
            for path in self.predict():
                self.settings.log(f"Wrote {path}")


def run(settings: SquadSettings):
    return SquadRun(settings).run()

