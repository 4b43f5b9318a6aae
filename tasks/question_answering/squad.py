"""Reads SQuAD v1.1 and v2.0 JSON files into question-answering examples."""

import dataclasses
import json
import os
from typing import List, Tuple

from absl import logging

from bert_tf.errors import DataError, MissingFileError

# Mismatched answers are logged one by one up to this many per file, then counted,
# so that a noisy file does not bury the rest of the log.
MAX_ANSWER_WARNINGS = 20


@dataclasses.dataclass(frozen=True)
class Example:
    """One question about one context.

    answers: (text, start_char) pairs. With for_training=True only those
        where context[start_char:start_char + len(text)] == text are kept,
        and none for an impossible question; otherwise all, as written, for
        evaluation.
    is_impossible: SQuAD 2.0's flag; False in v1.1 files.
    where: "file: data[i].paragraphs[j].qas[k]", for messages.
    """

    qas_id: str
    question: str
    context: str
    answers: Tuple[Tuple[str, int], ...]
    is_impossible: bool
    where: str


def read_squad(path, for_training=False, max_warnings=MAX_ANSWER_WARNINGS) -> List[Example]:
    """The questions of a SQuAD v1.1 or v2.0 file, in file order.

    Raises MissingFileError for a missing file and DataError (one line
    naming the file and the question id or JSON path) for a file that is not
    UTF-8 JSON in the SQuAD layout, a missing field, a blank context or
    question, a repeated question id, or (for_training) an answerable
    question without answers. An answer whose text is not the context at its
    answer_start is logged (one line each for the first `max_warnings`, None
    for all, then a count); for training it is dropped, and a question left
    with no answer is skipped.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"SQuAD file not found: {path}")
    root = _load_json(path)
    reader = _Reader(path, for_training, max_warnings)
    data = reader.field(root, "data", list, "")
    for i, article in enumerate(data):
        article_path = f"data[{i}]"
        for j, paragraph in enumerate(reader.field(article, "paragraphs", list, article_path)):
            reader.paragraph(paragraph, f"{article_path}.paragraphs[{j}]")
    reader.summarize()
    return reader.examples


def _load_json(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")  # -sig: files saved by Windows tools start with a BOM
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}:{e.colno}: not JSON: {e.msg}") from None


class _Reader:
    """Collects examples from paragraphs, with the state messages need (file, ids seen)."""

    def __init__(self, path, for_training, max_warnings=MAX_ANSWER_WARNINGS):
        self.path = path
        self.max_warnings = max_warnings
        self.for_training = for_training
        self.examples = []
        self.first_seen = {}  # qas id -> JSON path where it first appeared
        self.mismatches = 0
        self.skipped = 0

    def fail(self, json_path, problem, qas_id=None):
        where = f" (id {qas_id!r})" if qas_id is not None else ""
        raise DataError(f"{self.path}: {json_path or 'top level'}{where}: {problem}")

    def field(self, node, key, kind, json_path, qas_id=None, default=None):
        """node[key], checked to be of `kind`; a missing key is an error unless default is given."""
        if not isinstance(node, dict):
            self.fail(json_path, "is not a JSON object", qas_id)
        if key not in node:
            if default is not None:
                return default
            self.fail(json_path, f"has no {key!r}", qas_id)
        value = node[key]
        # bool is an int in Python, but true is no character offset.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(json_path, f"{key!r} is not {_KIND_NAMES[kind]}", qas_id)
        return value

    def paragraph(self, paragraph, json_path):
        context = self.field(paragraph, "context", str, json_path)
        qas = self.field(paragraph, "qas", list, json_path)
        for k, qa in enumerate(qas):
            qa_path = f"{json_path}.qas[{k}]"
            qas_id = self.field(qa, "id", str, qa_path)
            if not context.strip():
                self.fail(json_path, "blank context", qas_id)
            if qas_id in self.first_seen:
                self.fail(qa_path, f"id repeats {self.first_seen[qas_id]}", qas_id)
            self.first_seen[qas_id] = qa_path
            example = self.question(qa, qa_path, qas_id, context)
            if example is not None:
                self.examples.append(example)

    def question(self, qa, qa_path, qas_id, context):
        question = self.field(qa, "question", str, qa_path, qas_id)
        if not question.strip():
            self.fail(qa_path, "blank question", qas_id)
        is_impossible = self.field(qa, "is_impossible", bool, qa_path, qas_id, default=False)
        # Evaluation files may hold questions without answers (test sets).
        required = self.for_training and not is_impossible
        raw = self.field(qa, "answers", list, qa_path, qas_id, default=None if required else [])
        answers = []
        for n, answer in enumerate(raw):
            answer_path = f"{qa_path}.answers[{n}]"
            text = self.field(answer, "text", str, answer_path, qas_id)
            start = self.field(answer, "answer_start", int, answer_path, qas_id)
            answers.append((text, start))
        if self.for_training:
            if is_impossible:
                # google-research/bert trains impossible questions on [CLS] whatever they list.
                answers = []
            elif not answers:
                self.fail(qa_path, "an answerable training question has no answers", qas_id)
        usable = [a for a in answers if self.check_answer(a, context, qa_path, qas_id)]
        if self.for_training:
            if answers and not usable:
                self.skipped += 1
                return None
            answers = usable
        return Example(qas_id, question, context, tuple(answers), is_impossible,
                       f"{self.path}: {qa_path}")

    def check_answer(self, answer, context, qa_path, qas_id):
        text, start = answer
        found = context[start:start + len(text)] if 0 <= start <= len(context) else None
        if found == text and (text.strip() or not self.for_training):
            return True
        self.mismatches += 1
        if self.max_warnings is None or self.mismatches <= self.max_warnings:
            problem = ("blank answer" if found == text else
                       f"answer {text!r} is not the context at {start} ({found!r})")
            logging.warning("%s: %s (id %r): %s%s", self.path, qa_path, qas_id, problem,
                            ": dropped for training" if self.for_training else "")
        return False

    def summarize(self):
        if self.max_warnings is not None and self.mismatches > self.max_warnings:
            logging.warning("%s: %d answers in all do not match their context",
                            self.path, self.mismatches)
        if self.skipped:
            logging.warning("%s: skipped %d training questions left without a usable answer",
                            self.path, self.skipped)


_KIND_NAMES = {list: "a list", str: "a string", int: "an integer", bool: "true or false"}
