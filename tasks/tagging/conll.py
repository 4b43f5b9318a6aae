"""Tagging data files: CoNLL-2003-style columns and JSON lines in, predictions out in the input's own format.

CoNLL: one word per line, columns separated by spaces or tabs, the word in
the first column and its tag in `label_column` (default the last); blank
lines end sentences; "-DOCSTART-" lines (and the blank line after them) are
document markers, not sentences. JSON lines: one object per line with
"tokens" and "tags" lists of strings (only "tokens" for prediction input).

Every problem with a file is a one-line `DataError` naming its file:line.
Each Sentence keeps its original lines, so predictions can be written back
next to them (`write_predictions`): CoNLL lines gain a predicted-tag column,
JSON objects a "predicted_tags" list.
"""

import dataclasses
import json
import os
import re
import uuid
from typing import Iterator, List, Optional, Sequence, Tuple

from bert_tf.errors import DataError, MissingFileError
from tasks.tagging import schemes

DOCSTART = "-DOCSTART-"
CONLL, JSONL = "conll", "jsonl"
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")
_BOM = "\ufeff"


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One sentence of a tagging file, with what is needed to write it back."""

    words: Tuple[str, ...]
    tags: Optional[Tuple[str, ...]]  # one per word; None when read as prediction input
    path: str
    line: int  # 1-based line of its first word (JSON lines: its object's line)
    lines: Tuple[str, ...]  # the original text without line ends: CoNLL one line per word, JSONL one
    file_format: str  # CONLL or JSONL
    preamble: Tuple[str, ...] = ()  # CoNLL "-DOCSTART-" lines just before it, written back before it

    @property
    def where(self) -> str:
        """"file:line" of the sentence's first word."""
        return f"{self.path}:{self.line}"

    def word_where(self, index: int) -> str:
        """Where word `index` is: "file:line" of its own line in CoNLL, "file:line: word N" in JSON lines."""
        if self.file_format == CONLL:
            return f"{self.path}:{self.line + index}"
        return f"{self.where}: word {index + 1}"

    @property
    def columns(self) -> Tuple[Tuple[str, ...], ...]:
        """CoNLL only: each word line split into its columns."""
        return tuple(tuple(_split_columns(line)) for line in self.lines)


def _split_columns(text):
    text = text.strip(" \t")
    return _COLUMN_SEPARATOR.split(text) if text else []


def _lines(path) -> Iterator[Tuple[int, str]]:
    """(line number, text without its line end) of a UTF-8 file; a UTF-8 BOM is dropped."""
    if not os.path.isfile(path):
        raise MissingFileError(f"data file not found: {path}")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{number}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at "
                                f"byte {e.start + 1} of the line)") from None
            if number == 1 and text.startswith(_BOM):
                text = text[len(_BOM):]
            yield number, text.rstrip("\r\n")


def read_conll(path, label_column: Optional[int] = -1) -> List[Sentence]:
    """The sentences of a CoNLL-style file.

    `label_column` is the tags' column (negative counts from the end; the
    words are column 0); None reads words only, for prediction input, which
    may then have any number of columns (one is enough). Every word line must
    have as many columns as the file's first word line.
    """
    path = os.fspath(path)
    sentences = []
    first = None  # (line number, column count) of the first word line
    block = []  # (line number, text, columns) of the sentence being read
    preamble = []
    saw_docstart = False

    def finish():
        if not block:
            return
        words = tuple(columns[0] for _, _, columns in block)
        tags = None if label_column is None else tuple(columns[label_column] for _, _, columns in block)
        sentences.append(Sentence(words, tags, path, block[0][0], tuple(text for _, text, _ in block),
                                  CONLL, tuple(preamble)))
        block.clear()
        preamble.clear()

    for number, text in _lines(path):
        columns = _split_columns(text)
        if not columns:
            finish()
        elif columns[0] == DOCSTART:
            finish()
            preamble.append(text)
            saw_docstart = True
        else:
            if first is None:
                first = (number, len(columns))
                _check_label_column(label_column, len(columns), f"{path}:{number}")
            elif len(columns) != first[1]:
                raise DataError(f"{path}:{number}: {len(columns)} column(s), but the first word line "
                                f"({path}:{first[0]}) has {first[1]}")
            block.append((number, text, columns))
    finish()
    if not sentences:
        raise DataError(f"{path}: no sentences, only -DOCSTART- lines" if saw_docstart
                        else f"{path}: empty file")
    return sentences


def _check_label_column(label_column, width, where):
    if label_column is None:
        return
    if not -width <= label_column < width:
        raise DataError(f"{where}: no label column {label_column}: the line has {width} column(s)")
    if label_column % width == 0:
        raise DataError(f"{where}: label column {label_column} is the word column: the line has "
                        f"{width} column(s) (read a file without tags with label_column=None)")


def read_jsonl(path, labeled: bool = True) -> List[Sentence]:
    """The sentences of a JSON lines file: {"tokens": [...], "tags": [...]} per line.

    With `labeled=False` (prediction input) only "tokens" is needed and tags
    are None. Blank lines are skipped.
    """
    path = os.fspath(path)
    sentences = []
    for number, text in _lines(path):
        if not text.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        words = _strings(record, "tokens", where)
        tags = None
        if labeled:
            tags = _strings(record, "tags", where)
            if len(tags) != len(words):
                raise DataError(f"{where}: {len(words)} tokens but {len(tags)} tags")
        sentences.append(Sentence(words, tags, path, number, (text,), JSONL))
    if not sentences:
        raise DataError(f"{path}: empty file")
    return sentences


def _strings(record, key, where):
    if key not in record:
        raise DataError(f"{where}: no {key!r} field")
    values = record[key]
    if not isinstance(values, list):
        raise DataError(f"{where}: {key!r} must be a list of strings, got {type(values).__name__}")
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise DataError(f"{where}: {key}[{index}] is {json.dumps(value)}, not a string")
    return tuple(values)


def read_sentences(path, labeled: bool = True, label_column: int = -1) -> List[Sentence]:
    """A ".jsonl" file as JSON lines, any other as CoNLL (tags from `label_column` if `labeled`)."""
    if os.fspath(path).endswith(".jsonl"):
        return read_jsonl(path, labeled)
    return read_conll(path, label_column if labeled else None)


def with_iob2_tags(sentences: Sequence[Sentence], scheme: str) -> List[Sentence]:
    """The sentences with their tags checked in `scheme` and converted to IOB2 (see `schemes`)."""
    out = []
    for sentence in sentences:
        where = [sentence.word_where(i) for i in range(len(sentence.words))]
        tags = schemes.to_iob2(_tags(sentence), scheme, where)  # DataError naming the word's place
        out.append(dataclasses.replace(sentence, tags=tuple(tags)))
    return out


def _tags(sentence):
    if sentence.tags is None:
        raise ValueError(f"{sentence.where}: the sentence was read without tags")
    return sentence.tags


def label_list(sentences: Sequence[Sentence]) -> List[str]:
    """The labels of the training data: "O" first, then the others sorted.

    Besides every tag seen, each entity type seen gets both its B- and I-
    tag, so that a dev entity longer than any training entity of its type
    is not an unknown tag. Call it on IOB2 tags (`with_iob2_tags`).
    """
    seen = set()
    for sentence in sentences:
        for tag in _tags(sentence):
            seen.add(tag)
            prefix, kind = schemes.split_tag(tag)
            if kind is not None:
                seen.update((f"B-{kind}", f"I-{kind}"))
    return sorted(seen, key=lambda tag: (tag != schemes.OUTSIDE, tag))


def check_labels(sentences: Sequence[Sentence], labels: Sequence[str]) -> None:
    """DataError naming the file:line of the first tag (e.g. of a dev set) that is not in `labels`."""
    known = set(labels)
    for sentence in sentences:
        for index, tag in enumerate(_tags(sentence)):
            if tag not in known:
                raise DataError(f"{sentence.word_where(index)}: tag {tag!r} never appears in the "
                                f"training data (its labels: {' '.join(labels)})")


def write_predictions(path, sentences: Sequence[Sentence], predictions: Sequence[Sequence[str]]) -> None:
    """Writes each sentence as its input file had it, with its predicted tags added.

    CoNLL: each original word line, a space and the word's predicted tag;
    "-DOCSTART-" lines as they were (one with no sentence after it is
    dropped); a blank line after each sentence.
    JSON lines: each original object with a "predicted_tags" list added.
    `predictions[i]` holds one tag per word of `sentences[i]`, in the
    scheme to write (`schemes.from_iob2`). The file is written to a
    temporary file in the same directory and then renamed over `path`, so
    readers never see half a file.
    """
    path = os.fspath(path)
    if len(predictions) != len(sentences):
        raise ValueError(f"{len(predictions)} predictions for {len(sentences)} sentences")
    formats = {sentence.file_format for sentence in sentences}
    if len(formats) > 1:
        raise ValueError(f"sentences come from files of different formats: {sorted(formats)}")
    chunks = []
    for sentence, tags in zip(sentences, predictions):
        if len(tags) != len(sentence.words):
            raise ValueError(f"{sentence.where}: {len(tags)} predicted tags for "
                             f"{len(sentence.words)} words")
        if sentence.file_format == CONLL:
            for tag in tags:
                if not isinstance(tag, str) or _split_columns(tag) != [tag] or any(c in tag for c in "\r\n"):
                    raise ValueError(f"{sentence.where}: predicted tag {tag!r} is not one column")
            chunks += [line + "\n\n" for line in sentence.preamble]
            chunks += [line.rstrip(" \t") + f" {tag}\n" for line, tag in zip(sentence.lines, tags)]
            chunks.append("\n")
        else:
            record = json.loads(sentence.lines[0])
            record["predicted_tags"] = list(tags)
            chunks.append(json.dumps(record, ensure_ascii=False) + "\n")
    _write_atomically(path, "".join(chunks))


def _write_atomically(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        # "x" creates a new file with the usual permissions (not mkstemp's 0600).
        with open(temporary, "x", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
