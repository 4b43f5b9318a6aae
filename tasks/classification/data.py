"""Readers of classification data: every GLUE task in its published TSV layout, XNLI, and the user's own files.

A processor knows, for each split, which files to read and which columns
hold text_a, text_b and the label. Rows are streamed (never loaded into a
list); a row that cannot be read is a DataError naming its file and line.
"""

import csv
import dataclasses
import json
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from bert_tf.errors import DataError, MissingFileError

__all__ = ["DataError", "Example", "Processor", "get_processor", "DATASET_NAMES", "read_lines"]


def read_lines(path):
    """(line number, text) of each line of a UTF-8 file, newline removed, byte-order mark dropped.

    Lines are decoded one at a time, so a byte that is not UTF-8 is reported
    at its own line.
    """
    if not os.path.isfile(path):
        raise MissingFileError(f"data file not found: {path}")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path}:{number}: not valid UTF-8") from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield number, line.rstrip("\r\n")


@dataclasses.dataclass(frozen=True)
class Example:
    text_a: str
    text_b: Optional[str]
    label: Optional[str]  # None for unlabeled test data
    where: str  # "file:line"


@dataclasses.dataclass(frozen=True)
class Columns:
    """Where a split's fields are: column indices (negative from the end), or names."""

    text_a: object
    text_b: object = None
    label: object = None


@dataclasses.dataclass(frozen=True)
class SplitFiles:
    """One evaluation set or training set: a file and how to read it."""

    file: str
    columns: Columns
    header: bool = True
    select: Optional[Tuple[int, str]] = None  # keep rows whose column equals a value


class Processor:
    """A dataset's reader. `labels` is None for regression or when read from training data."""

    name = "custom"
    is_pair = False
    regression = False
    labels: Optional[List[str]] = None
    metrics: Sequence[str] = ("accuracy",)

    def splits(self, data_dir) -> Dict[str, Dict[str, SplitFiles]]:
        """{"train" | "dev" | "test": {eval set name ("" for the main one): SplitFiles}}."""
        raise NotImplementedError

    def fix_label(self, label):
        return label

    def read(self, data_dir, split, which="") -> Iterator[Example]:
        spec = self.splits(data_dir)[split][which]
        for fields, where in self._rows(spec):
            if spec.select is not None:
                column, value = spec.select
                if _field(fields, column, where) != value:
                    continue
            yield self._example(fields, spec.columns, where)

    def _rows(self, spec):
        """(fields, "file:line") of each data row of a TSV file, read as google-research/bert did.

        Tabs separate fields and quotes are plain characters (csv quoting off).
        """
        path = spec.file
        for number, line in read_lines(path):
            if number == 1 and spec.header:
                continue
            if not line.strip():
                continue
            yield line.split("\t"), f"{path}:{number}"

    def _example(self, fields, columns, where):
        text_a = _field(fields, columns.text_a, where)
        text_b = _field(fields, columns.text_b, where) if columns.text_b is not None else None
        label = (self.fix_label(_field(fields, columns.label, where, label=True))
                 if columns.label is not None else None)
        if not text_a.strip():
            raise DataError(f"{where}: empty text")
        if self.is_pair and text_b is not None and not text_b.strip():
            raise DataError(f"{where}: empty second text")
        if label is not None and not label.strip():
            raise DataError(f"{where}: empty label")
        return Example(text_a, text_b, label, where)


def _field(fields, column, where, label=False):
    """A row's value in `column`: a string (a JSON-lines label may be a number or a boolean,
    read as its JSON text; a text must be a JSON string)."""
    try:
        value = fields[column]
    except (IndexError, KeyError):
        what = f"column {column}" if isinstance(column, int) else f"column {column!r}"
        raise DataError(f"{where}: malformed row: no {what} "
                        f"({len(fields)} field(s))") from None
    if label and isinstance(value, (bool, int, float)):
        return json.dumps(value)
    if not isinstance(value, str):
        raise DataError(f"{where}: {column!r} is {json.dumps(value)}, not a string")
    return value


class GlueProcessor(Processor):
    """A GLUE task: train.tsv, dev.tsv and test.tsv in data_dir, as the GLUE download has them."""

    train_columns: Columns
    test_columns: Columns
    train_header = True
    test_header = True
    dev_files = {"": "dev.tsv"}
    test_files = {"": "test.tsv"}

    def splits(self, data_dir):
        def split(file, columns, header):
            return SplitFiles(os.path.join(data_dir, file), columns, header)

        return {
            "train": {"": split("train.tsv", self.train_columns, self.train_header)},
            "dev": {k: split(f, self.train_columns, self.train_header)
                    for k, f in self.dev_files.items()},
            "test": {k: split(f, self.test_columns, self.test_header)
                     for k, f in self.test_files.items()},
        }


class Cola(GlueProcessor):
    name, labels, metrics = "cola", ["0", "1"], ("mcc", "accuracy")
    train_columns, train_header = Columns(text_a=3, label=1), False
    test_columns = Columns(text_a=1)


class Sst2(GlueProcessor):
    name, labels = "sst-2", ["0", "1"]
    train_columns, test_columns = Columns(text_a=0, label=1), Columns(text_a=1)


class Mrpc(GlueProcessor):
    name, is_pair, labels, metrics = "mrpc", True, ["0", "1"], ("accuracy", "f1")
    train_columns = Columns(text_a=3, text_b=4, label=0)
    test_columns = Columns(text_a=3, text_b=4)


class StsB(GlueProcessor):
    name, is_pair, regression, metrics = "sts-b", True, True, ("pearson", "spearman")
    train_columns = Columns(text_a=7, text_b=8, label=9)
    test_columns = Columns(text_a=7, text_b=8)


class Qqp(GlueProcessor):
    name, is_pair, labels, metrics = "qqp", True, ["0", "1"], ("accuracy", "f1")
    train_columns = Columns(text_a=3, text_b=4, label=5)
    test_columns = Columns(text_a=1, text_b=2)


class Mnli(GlueProcessor):
    name, is_pair, labels = "mnli", True, ["contradiction", "entailment", "neutral"]
    train_columns = Columns(text_a=8, text_b=9, label=-1)
    test_columns = Columns(text_a=8, text_b=9)
    dev_files = {"": "dev_matched.tsv", "mismatched": "dev_mismatched.tsv"}
    test_files = {"": "test_matched.tsv", "mismatched": "test_mismatched.tsv"}


class Qnli(GlueProcessor):
    name, is_pair, labels = "qnli", True, ["entailment", "not_entailment"]
    train_columns = Columns(text_a=1, text_b=2, label=-1)
    test_columns = Columns(text_a=1, text_b=2)


class Rte(Qnli):
    name = "rte"


class Wnli(GlueProcessor):
    name, is_pair, labels = "wnli", True, ["0", "1"]
    train_columns = Columns(text_a=1, text_b=2, label=-1)
    test_columns = Columns(text_a=1, text_b=2)


class Xnli(Processor):
    """XNLI: MultiNLI's machine-translated training set, and XNLI's dev/test for one language."""

    name, is_pair, labels = "xnli", True, ["contradiction", "entailment", "neutral"]

    def __init__(self, language="zh"):
        self.language = language

    def splits(self, data_dir):
        evaluation = Columns(text_a=6, text_b=7, label=1)
        select = (0, self.language)
        return {
            "train": {"": SplitFiles(
                os.path.join(data_dir, "multinli", f"multinli.train.{self.language}.tsv"),
                Columns(text_a=0, text_b=1, label=2))},
            "dev": {"": SplitFiles(os.path.join(data_dir, "xnli.dev.tsv"), evaluation,
                                   select=select)},
            "test": {"": SplitFiles(os.path.join(data_dir, "xnli.test.tsv"), evaluation,
                                    select=select)},
        }

    def fix_label(self, label):
        return "contradiction" if label == "contradictory" else label


class CustomProcessor(Processor):
    """The user's own files: {train,dev,test}.{csv,tsv,jsonl} with named columns.

    CSV and TSV have a header row naming the columns (quoted fields allowed);
    JSON lines are objects. Labels are those found in the training file
    (sorted), or numbers with `regression=True`.
    """

    name = "custom"
    EXTENSIONS = (".csv", ".tsv", ".jsonl")

    def __init__(self, text_a_column="text", text_b_column=None, label_column="label",
                 regression=False):
        self.columns = Columns(text_a_column, text_b_column, label_column)
        self.is_pair = text_b_column is not None
        self.regression = regression
        self.metrics = ("pearson", "spearman") if regression else ("accuracy",)

    def splits(self, data_dir):
        out = {}
        for split in ("train", "dev", "test"):
            found = [os.path.join(data_dir, split + ext) for ext in self.EXTENSIONS
                     if os.path.isfile(os.path.join(data_dir, split + ext))]
            if len(found) > 1:
                raise DataError(f"{data_dir} has several {split} files: {found}")
            path = found[0] if found else os.path.join(data_dir, split + ".csv")
            out[split] = {"": SplitFiles(path, self.columns)}
        return out

    def read(self, data_dir, split, which=""):
        spec = self.splits(data_dir)[split][which]
        columns = spec.columns
        if split == "test":  # test files may lack the label
            columns = dataclasses.replace(columns, label=None)
        for fields, where in self._records(spec.file):
            if split == "test" and self.columns.label in fields:
                columns = spec.columns
            yield self._example(fields, columns, where)

    @staticmethod
    def _records(path):
        """(field dict, "file:line") per record of a CSV, TSV or JSON-lines file."""
        lines = read_lines(path)
        if path.endswith(".jsonl"):
            for number, line in lines:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{number}: not valid JSON ({e.msg})") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}:{number}: expected a JSON object")
                # Values keep their JSON types: _field reads a number or a boolean label as
                # its JSON text (1, true), and refuses any text that is not a string.
                yield record, f"{path}:{number}"
            return
        numbers = []

        def text():
            for number, line in lines:
                numbers.append(number)
                yield line + "\n"

        reader = csv.reader(text(), delimiter="\t" if path.endswith(".tsv") else ",")
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path} is empty (no header row)")
            repeated = sorted({name for name in header if header.count(name) > 1})
            if repeated:
                raise DataError(f"{path}:1: column(s) {repeated} appear more than once in the "
                                "header")
            for row in reader:
                where = f"{path}:{numbers[-1]}"
                if not row or not any(field.strip() for field in row):
                    continue
                if len(row) != len(header):
                    raise DataError(f"{where}: malformed row: {len(row)} field(s), the header "
                                    f"has {len(header)}")
                yield dict(zip(header, row)), where
        except csv.Error as e:
            raise DataError(f"{path}:{numbers[-1] if numbers else 1}: {e}") from None


PROCESSORS = {cls.name: cls for cls in (Cola, Sst2, Mrpc, StsB, Qqp, Mnli, Qnli, Rte, Wnli)}
DATASET_NAMES = sorted(list(PROCESSORS) + ["xnli", "custom"])


def get_processor(dataset, **custom):
    """The processor of a dataset name, run_classifier.py's --task_name (case-insensitive;
    "sst2", "stsb" accepted too)."""
    name = dataset.lower()
    name = {"sst2": "sst-2", "stsb": "sts-b"}.get(name, name)
    if name in PROCESSORS:
        return PROCESSORS[name]()
    if name == "xnli":
        return Xnli(custom.get("language", "zh"))
    if name == "custom":
        return CustomProcessor(**{k: v for k, v in custom.items() if k != "language"})
    raise DataError(f"unknown task {dataset!r}; choose one of {DATASET_NAMES}")
