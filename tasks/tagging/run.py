"""What run_tagging.py does: token tagging (CoNLL-2003 NER or your own files) on the shared fine-tuning run."""

import dataclasses
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from bert_tf import checkpoints
from bert_tf.errors import DataError, UserError
from bert_tf.training import run_directory
from bert_tf.training.run import FineTuningRun, FineTuningSettings, FlagError, require
from tasks.tagging import conll, features, metrics, schemes, serving
from tasks.tagging.model import BertTagger
from tasks.tagging.objective import TaggingObjective

SPLIT_FILES = {"train": "train_file", "dev": "eval_file", "test": "predict_file"}


@dataclasses.dataclass
class TaggerSettings(FineTuningSettings):
    """Everything run_tagging.py's flags decide; the defaults are the flags' defaults."""

    train_file: Optional[str] = None
    eval_file: Optional[str] = None
    predict_file: Optional[str] = None
    label_column: int = -1
    tag_scheme: str = "iob2"
    window_stride: Optional[int] = None  # pieces between window starts; None: half a window

    @property
    def stride(self):
        """The window stride in pieces, the default resolved."""
        if self.window_stride is not None:
            return self.window_stride
        return max((self.max_seq_length - 2) // 2, 1)

    def check(self):
        super().check()
        try:
            self.tag_scheme = schemes.scheme_name(self.tag_scheme)
        except UserError as e:
            raise FlagError(f"--tag_scheme: {e}") from None
        for action, flag in (("do_train", "train_file"), ("do_eval", "eval_file"),
                             ("do_predict", "predict_file")):
            if getattr(self, action):
                require(bool(getattr(self, flag)), f"--{action} needs --{flag}")
        budget = self.max_seq_length - 2
        if self.window_stride is not None:
            require(1 <= self.window_stride <= budget,
                    f"--window_stride must be between 1 and --max_seq_length - 2 = {budget}, "
                    f"got {self.window_stride}")
        require(self.label_column != 0, "--label_column=0 is the word column")


class TaggerRun(FineTuningRun):
    """Fine-tunes a tagger; writes eval_results.txt and the predictions in the input's format."""

    settings: TaggerSettings
    run_type = "tagging"

    def read_data(self):
        """Reads and checks every file the flags name, and tokenizes the training set."""
        s = self.settings
        self.sentences = {}
        self.encoded = {}
        self.encoder = features.SentenceEncoder(self.tokenizer, s.max_seq_length, s.stride)
        if s.do_train:
            train = self._read("train")
            labels = conll.label_list(train)
            if len(labels) < 2:
                raise DataError(f"{s.train_file}: only the tag {labels[0]!r}: nothing to learn")
        else:
            # The labels of the model that will be used: output_dir's, else init_checkpoint's.
            path = os.path.join(s.output_dir, run_directory.LABELS_FILE)
            labels = (run_directory.read_label_list(path) if os.path.isfile(path)
                      else self.files.labels)
            if labels is None:
                raise FlagError(f"the labels come from the training data: pass --do_train, or "
                                f"an --init_checkpoint or --output_dir holding "
                                f"{run_directory.LABELS_FILE}")
        if not s.do_train and not tf.train.latest_checkpoint(s.output_dir):
            require(self.files.release is not None,
                    "nothing to evaluate or predict with: pass --do_train, an --output_dir "
                    "holding a trained run, or an --init_checkpoint of a tagger")
        self.labels = list(labels)
        self.label_index = {label: i for i, label in enumerate(self.labels)}
        try:
            serving.label_parts(self.labels)
        except UserError as e:
            raise DataError(f"{run_directory.LABELS_FILE}: {e}") from None
        if s.do_eval:
            conll.check_labels(self._read("dev"), self.labels)
        if s.do_predict:
            self._read("test")
        if s.do_train:
            self.num_train_examples = len(self.encode("train"))

    def _read(self, split):
        """A split's sentences; train and dev checked in --tag_scheme and turned into IOB2."""
        path = getattr(self.settings, SPLIT_FILES[split])
        if split == "test":
            found = conll.read_sentences(path, labeled=False)
        else:
            found = conll.with_iob2_tags(conll.read_sentences(
                path, label_column=self.settings.label_column), self.settings.tag_scheme)
        self.sentences[split] = found
        return found

    def extra_run_info(self):
        return {"labels": self.labels, "window_stride": self.settings.stride,
                "do_lower_case": self.tokenizer.do_lower_case}

    def extra_run_files(self):
        return {run_directory.LABELS_FILE: run_directory.label_list_text(self.labels)}

    def build_model(self, config=None):
        return BertTagger(config or self.config, len(self.labels), dtype=self.settings.mixed_precision)

    def build_objective(self):
        return TaggingObjective()

    def initialize(self, model):
        """Fine-tuning starts from the checkpoint's encoder (a fresh head), as in every task;
        evaluating or predicting without training needs the whole tagger from it."""
        s = self.settings
        if s.do_train:
            return super().initialize(model)
        release = self.files.release
        if not model.checkpoint_holds_head(release):
            raise UserError(f"--init_checkpoint={s.init_checkpoint} holds no tagger head to "
                            "evaluate or predict with: pass --do_train, or a tagger's checkpoint "
                            "(a run_tagging.py --output_dir, BertForTokenClassification)")
        checkpoints.load_weights(model, release)
        s.log(f"Loaded the tagger, head included, from {release.format} checkpoint "
              f"{s.init_checkpoint}")

    # ------------------------------------------------------------------ data

    def encode(self, split, which=""):
        """A split's windows as model rows (cached: training reads them twice)."""
        if split not in self.encoded:
            sentences = self.sentences[split]
            label_ids = None
            if split == "train":
                label_ids = [[self.label_index[tag] for tag in sentence.tags]
                             for sentence in sentences]
            self.encoded[split] = self.encoder([sentence.words for sentence in sentences],
                                               label_ids)
        return self.encoded[split].examples

    def _word_logits(self, split, outputs):
        return features.word_logits(self.encoded[split], outputs["logits"])

    def _tags(self, word_logits):
        """Predicted IOB2 tags per sentence, repaired as conlleval reads them."""
        return [schemes.repair_iob2([self.labels[i] for i in logits.argmax(-1)])
                for logits in word_logits]

    # --------------------------------------------------------------- results

    def metrics(self, which, outputs):
        """Entity precision/recall/F1 (overall and per type), word accuracy, and the objective's
        loss over every word (each at the window that owns it)."""
        word_logits = self._word_logits("dev", outputs)
        sentences = self.sentences["dev"]
        gold = [sentence.tags for sentence in sentences]
        found = {key[len("eval_"):]: value
                 for key, value in metrics.eval_results(gold, self._tags(word_logits)).items()}
        # All words as one row of labelled positions.
        labels = np.array([self.label_index[t] for tags in gold for t in tags], np.int32)
        logits = np.concatenate([np.zeros([0, len(self.labels)], np.float32)] + word_logits)
        found["loss"] = self.trainer.objective.evaluate({"label_ids": labels[None]},
                                                        {"logits": logits[None]})["loss"]
        return found

    def predictions_path(self):
        name = "test_predictions" + (".jsonl" if self.settings.predict_file.endswith(".jsonl")
                                     else ".txt")
        return os.path.join(self.settings.output_dir, name)

    def write_predictions(self, which, outputs):
        """The predict file as it was, with a predicted tag per word in --tag_scheme."""
        tags = self._tags(self._word_logits("test", outputs))
        scheme = self.settings.tag_scheme
        path = self.predictions_path()
        conll.write_predictions(path, self.sentences["test"],
                                [schemes.from_iob2(t, scheme) for t in tags])
        return [path]

    def export_kind(self):
        return serving.TAGGER

    def serving_kwargs(self):
        return {"labels": self.labels, "window_stride": self.settings.stride}


def run(settings: TaggerSettings):
    return TaggerRun(settings).run()
