"""Fine-tuning sets of realistic length built offline from real text: the docstrings of installed packages.

Peers pad every example to max_seq_length; our input pipeline pads each batch
to its own text. The difference only shows on data whose lengths look like
real data, so the benchmarks build such data from the English prose every
machine with this project already has: the docstrings of numpy, scipy,
tensorflow and keras. Three task shapes come out of it, each written in the
layout its script reads:

- classification (`run_classifier.py --task_name=custom`): a sentence,
  labelled with the package it comes from; or a pair of sentences,
  labelled "same" or "different" package;
- tagging (`run_tagging.py`, CoNLL columns): the words of a sentence, with
  IOB2 tags given by a rule (code identifiers, numbers, runs of
  capitalised words);
- question answering (`run_squad.py`, SQuAD v1.1 JSON): a docstring as the
  context, a question made from one of its sentences with a word replaced by
  "what", that word as the answer span.

Everything is a function of the seed and of the installed packages'
sources: files are visited in a seeded order and at most a few sentences are
taken from each, so a small set is quick to build and still spread over
the whole package.
"""

import csv
import dataclasses
import json
import os
import random
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from bert_tf.data import docstring_corpus

PACKAGES = ("numpy", "scipy", "tensorflow", "keras")
PAIR_LABELS = ("different", "same")

# A sentence ends at . ! or ? followed by white space and a capital letter.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
# A numpydoc section heading: a line, then a line of dashes or equal signs.
_HEADING = re.compile(r"^[^\n]*\n[ \t]*[-=~]{3,}[ \t]*$", re.MULTILINE)
_MIN_WORDS, _MAX_WORDS = 4, 80


def split_sentences(text: str) -> List[str]:
    """The prose sentences of a docstring, white space collapsed.

    Only the text before the first numpydoc section heading ("Notes" over a
    line of dashes) counts. Kept: 4 to 80 words, at least half of the
    characters letters (tables, formulas and code are not prose), no rule
    lines.
    """
    heading = _HEADING.search(text)
    if heading:
        text = text[:heading.start()]
    text = re.sub(r"\s+", " ", text).strip()
    found = []
    for sentence in _SENTENCE_END.split(text):
        words = sentence.split()
        if not _MIN_WORDS <= len(words) <= _MAX_WORDS:
            continue
        if sum(c.isalpha() for c in sentence) < len(sentence) / 2:
            continue
        if re.search(r"[-=~]{3,}|>>>", sentence):
            continue
        found.append(sentence)
    return found


def package_dir(package: str) -> str:
    dirs = docstring_corpus.site_packages(package)
    if not dirs:
        raise ValueError(f"package {package!r} is not installed: its docstrings are the data")
    return dirs[0]


def package_documents(package: str, seed: int, per_file: int = 8):
    """Yields (file, sentences) for the package's modules in a seeded order.

    At most `per_file` sentences of each module (the first ones: a module's
    own docstring comes first), so a few hundred sentences already come from
    dozens of modules.
    """
    files = docstring_corpus.package_files(package_dir(package))
    random.Random(f"{package}:{seed}").shuffle(files)
    for path in files:
        sentences = []
        for doc in docstring_corpus.module_docstrings(path):
            sentences += split_sentences(doc)
            if len(sentences) >= per_file:
                break
        if sentences:
            yield path, sentences[:per_file]


def sentence_pools(count: int, seed: int, packages: Sequence[str] = PACKAGES) -> Dict[str, List[str]]:
    """{package: `count` distinct sentences}, none of them found in two packages.

    Raises ValueError if a package has fewer usable sentences.
    """
    pools = {}
    for package in packages:
        seen = []
        unique = set()
        for _, sentences in package_documents(package, seed):
            for sentence in sentences:
                if sentence not in unique:
                    unique.add(sentence)
                    seen.append(sentence)
            # A margin for sentences that turn out to be shared with another package.
            if len(seen) >= count + count // 10 + 10:
                break
        pools[package] = seen
    owners = {}
    for package, sentences in pools.items():
        for sentence in sentences:
            owners.setdefault(sentence, set()).add(package)
    for package in packages:
        kept = [s for s in pools[package] if len(owners[s]) == 1][:count]
        if len(kept) < count:
            raise ValueError(f"{package} has only {len(kept)} usable docstring sentences, "
                             f"{count} wanted")
        random.Random(f"order:{package}:{seed}").shuffle(kept)
        pools[package] = kept
    return pools


def _split_counts(total: int, parts: int) -> List[int]:
    """`total` spread over `parts` as evenly as possible (the first ones get the remainder)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# ------------------------------------------------------------ classification


@dataclasses.dataclass(frozen=True)
class Example:
    text_a: str
    text_b: Optional[str]
    label: str


@dataclasses.dataclass
class ClassificationSet:
    """Examples in a seeded random order; `labels` sorted (as run_classifier.py orders them)."""

    train: List[Example]
    dev: List[Example]
    pair: bool

    @property
    def labels(self) -> List[str]:
        return sorted({e.label for e in self.train})


def classification_set(num_train: int, num_dev: int, seed: int = 0, pair: bool = False,
                       packages: Sequence[str] = PACKAGES) -> ClassificationSet:
    """A balanced set: single sentences labelled by package, or pairs labelled same/different.

    Train and dev use disjoint sentences. Pairs: half of them two sentences
    of one package, half two of different packages (each package equally
    often), so neither sentence alone tells the label.
    """
    k = len(packages)
    # Sentences each package gives to each split (pairs draw two per example).
    need = {split: -(-n // k) * (2 if pair else 1)
            for split, n in (("train", num_train), ("dev", num_dev))}
    pools = sentence_pools(need["train"] + need["dev"], seed, packages)
    splits = {"dev": {p: s[:need["dev"]] for p, s in pools.items()},
              "train": {p: s[need["dev"]:] for p, s in pools.items()}}
    rng = random.Random(f"classification:{seed}:{pair}")
    out = {}
    for split, n in (("train", num_train), ("dev", num_dev)):
        pool = splits[split]
        examples = []
        if not pair:
            for package, m in zip(packages, _split_counts(n, k)):
                examples += [Example(s, None, package) for s in pool[package][:m]]
        else:
            same, different = _split_counts(n, 2)[::-1]
            for i in range(same):
                package = packages[i % k]
                a, b = rng.sample(pool[package], 2)
                examples.append(Example(a, b, "same"))
            for i in range(different):
                first = packages[i % k]
                second = rng.choice([p for p in packages if p != first])
                examples.append(Example(rng.choice(pool[first]), rng.choice(pool[second]),
                                        "different"))
        rng.shuffle(examples)
        out[split] = examples
    return ClassificationSet(out["train"], out["dev"], pair)


def write_classification(dataset: ClassificationSet, data_dir: str) -> Dict[str, Optional[str]]:
    """Writes train.tsv, dev.tsv and test.tsv (dev's texts, no label) for --task_name=custom.

    Returns the column flags run_classifier.py needs: text_a_column,
    text_b_column and label_column. Fields are written by csv with tabs, so
    quotes in the text survive the reader's csv parsing.
    """
    os.makedirs(data_dir, exist_ok=True)
    columns = ["text", "text_b", "label"] if dataset.pair else ["text", "label"]
    for split, examples, labelled in (("train", dataset.train, True),
                                      ("dev", dataset.dev, True),
                                      ("test", dataset.dev, False)):
        with open(os.path.join(data_dir, f"{split}.tsv"), "w", encoding="utf-8",
                  newline="") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            header = columns if labelled else columns[:-1]
            writer.writerow(header)
            for e in examples:
                row = [e.text_a] + ([e.text_b] if dataset.pair else [])
                writer.writerow(row + [e.label] if labelled else row)
    return {"text_a_column": "text", "text_b_column": "text_b" if dataset.pair else None,
            "label_column": "label"}


# ----------------------------------------------------------------- lengths


def wordpiece_lengths(tokenizer, texts_a: Sequence[str],
                      texts_b: Optional[Sequence[str]] = None) -> np.ndarray:
    """Untruncated model lengths: the tokens of a (and b) with the template's special tokens
    ([CLS] a [SEP] (b [SEP]) for WordPiece), int64 [N].

    `tokenizer` is a bert_tf tokenizer (BertTokenizer, BpeTokenizer).
    """
    lengths = []
    specials = tokenizer.template.special_count(texts_b is not None)
    for start in range(0, len(texts_a), 4096):
        part = list(texts_a[start:start + 4096])
        n = tokenizer.tokenize(part).row_lengths().numpy() + specials
        if texts_b is not None:
            n = n + tokenizer.tokenize(list(texts_b[start:start + 4096])).row_lengths().numpy()
        lengths.append(n)
    return np.concatenate(lengths).astype(np.int64) if lengths else np.zeros([0], np.int64)


def length_histogram(lengths, max_seq_length: int = 128, bucket: int = 16) -> dict:
    """Median, p90, p99, max and counts per `bucket` tokens up to max_seq_length, and beyond.

    `buckets` is a list of (label, count): "1-16", "17-32", ...,
    f"{max_seq_length - bucket + 1}-{max_seq_length}", then
    f">{max_seq_length}" (examples that will be truncated or windowed). The
    counts sum to len(lengths).
    """
    lengths = np.asarray(lengths, np.int64)
    edges = list(range(0, max_seq_length, bucket)) + [max_seq_length]
    buckets = []
    for low, high in zip(edges[:-1], edges[1:]):
        buckets.append((f"{low + 1}-{high}", int(np.sum((lengths > low) & (lengths <= high)))))
    buckets.append((f">{max_seq_length}", int(np.sum(lengths > max_seq_length))))
    found = {"count": int(len(lengths)), "buckets": buckets}
    if len(lengths):
        found.update(mean=float(lengths.mean()), median=float(np.median(lengths)),
                     p90=float(np.percentile(lengths, 90)),
                     p99=float(np.percentile(lengths, 99)), max=int(lengths.max()))
    return found


def padding_share(lengths, max_seq_length: int) -> float:
    """The share of a fixed [N, max_seq_length] batch that is padding (truncation included)."""
    lengths = np.minimum(np.asarray(lengths, np.int64), max_seq_length)
    return float(1.0 - lengths.sum() / max(len(lengths) * max_seq_length, 1))


def histogram_rows(histogram: dict) -> List[List[object]]:
    """Table rows (tokens, examples, share) of a length_histogram."""
    total = max(histogram["count"], 1)
    return [[label, count, f"{100 * count / total:.1f}%"]
            for label, count in histogram["buckets"]]


def summary_line(histogram: dict) -> str:
    if not histogram["count"]:
        return "no examples"
    return (f"{histogram['count']} examples: median {histogram['median']:g}, p90 "
            f"{histogram['p90']:g}, p99 {histogram['p99']:g}, max {histogram['max']} "
            "WordPiece tokens (with [CLS]/[SEP])")


# ----------------------------------------------------------------- tagging

TAGGING_TYPES = ("CAP", "CODE", "NUM")
_PUNCTUATION = "()[]{},;:!?\"'`"
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?%?$")
_NAME = r"[A-Za-z_][A-Za-z0-9_]+"  # two characters at least: "e.g" is no dotted name
_CODE = re.compile("|".join([
    rf"^{_NAME}(\.{_NAME})+(\(\))?$",  # dotted names, calls of them: np.add, tf.reduce_sum()
    r"^[A-Za-z_][A-Za-z0-9_]*\(\)$",  # calls: fit()
    r"^_*[A-Za-z0-9]+(_+[A-Za-z0-9]+)+_*$|^__[A-Za-z0-9_]+__$",  # snake_case, __dunder__
    r"^[a-z]+[A-Z][A-Za-z0-9]*$|^[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*$",  # camelCase, CamelCase
]))


def tagging_words(sentence: str) -> List[str]:
    """A sentence as CoNLL words: split on white space, with leading and trailing
    punctuation (and a final period) as words of their own; "()" stays on a call."""
    words = []
    for chunk in sentence.split():
        head = []
        while chunk and chunk[0] in _PUNCTUATION:
            head.append(chunk[0])
            chunk = chunk[1:]
        tail = []
        while chunk and (chunk[-1] in _PUNCTUATION or chunk[-1] == ".") \
                and not chunk.endswith("()"):
            tail.append(chunk[-1])
            chunk = chunk[:-1]
        words += head + ([chunk] if chunk else []) + tail[::-1]
    return words


def tag_words(words: Sequence[str]) -> List[str]:
    """IOB2 tags by rule: CODE (dotted names, calls, snake_case, camelCase), NUM, and
    CAP for runs of capitalised words not at the start of the sentence."""
    tags = []
    for i, word in enumerate(words):
        if _NUMBER.match(word):
            tags.append("B-NUM")
        elif _CODE.match(word):
            tags.append("B-CODE")
        elif i > 0 and word[:1].isupper() and word[1:].islower() and word.isalpha():
            continuing = tags and tags[-1] in ("B-CAP", "I-CAP")
            tags.append("I-CAP" if continuing else "B-CAP")
        else:
            tags.append("O")
    return tags


def tagging_set(num_train: int, num_dev: int, seed: int = 0,
                packages: Sequence[str] = PACKAGES) -> Dict[str, List[Tuple[List[str], List[str]]]]:
    """{"train": [(words, tags)], "dev": [...]}: docstring sentences tagged by `tag_words`."""
    k = len(packages)
    pools = sentence_pools(-(-(num_train + num_dev) // k), seed, packages)
    mixed = [s for group in zip(*pools.values()) for s in group]
    random.Random(f"tagging:{seed}").shuffle(mixed)
    rows = []
    for sentence in mixed[:num_train + num_dev]:
        words = tagging_words(sentence)
        rows.append((words, tag_words(words)))
    return {"train": rows[:num_train], "dev": rows[num_train:]}


def write_conll(rows, path: str) -> str:
    """One "word tag" line per word, a blank line after each sentence (run_tagging.py's input)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for words, tags in rows:
            f.writelines(f"{w} {t}\n" for w, t in zip(words, tags))
            f.write("\n")
    return path


def write_tagging(data: dict, data_dir: str) -> Dict[str, str]:
    """train.txt, dev.txt and test.txt (dev again) in data_dir: {flag name: path}."""
    return {"train_file": write_conll(data["train"], os.path.join(data_dir, "train.txt")),
            "eval_file": write_conll(data["dev"], os.path.join(data_dir, "dev.txt")),
            "predict_file": write_conll(data["dev"], os.path.join(data_dir, "test.txt"))}


# ------------------------------------------------------- question answering


def _answer_candidates(words_and_spans, rng):
    """Spans (start, end) in a sentence worth asking about: tagged words first, else long words."""
    tagged = [(s, e) for w, t, (s, e) in words_and_spans if t != "O"]
    long = [(s, e) for w, t, (s, e) in words_and_spans if t == "O" and len(w) >= 5
            and w.isalpha()]
    return tagged or long


def _word_spans(sentence):
    """(word, tag, (start, end)) of the sentence's words that map back to its characters."""
    words = tagging_words(sentence)
    tags = tag_words(words)
    out, cursor = [], 0
    for word, tag in zip(words, tags):
        start = sentence.find(word, cursor)
        if start < 0:
            continue
        out.append((word, tag, (start, start + len(word))))
        cursor = start + len(word)
    return out


def qa_paragraphs(count: int, seed: int, packages: Sequence[str] = PACKAGES,
                  min_sentences: int = 3, max_sentences: int = 12) -> List[List[str]]:
    """`count` paragraphs: runs of consecutive sentences of one docstring (3 to 12)."""
    per_package = _split_counts(count, len(packages))
    paragraphs = []
    for package, wanted in zip(packages, per_package):
        found = []
        files = docstring_corpus.package_files(package_dir(package))
        random.Random(f"qa:{package}:{seed}").shuffle(files)
        for path in files:
            for doc in docstring_corpus.module_docstrings(path):
                sentences = split_sentences(doc)
                for start in range(0, len(sentences), max_sentences):
                    part = sentences[start:start + max_sentences]
                    if len(part) >= min_sentences:
                        found.append(part)
                if len(found) >= wanted:
                    break
            if len(found) >= wanted:
                break
        if len(found) < wanted:
            raise ValueError(f"{package} has only {len(found)} docstring paragraphs, "
                             f"{wanted} wanted")
        paragraphs += found[:wanted]
    random.Random(f"qa-order:{seed}").shuffle(paragraphs)
    return paragraphs


def squad_json(paragraphs: Sequence[Sequence[str]], seed: int, questions_per_paragraph: int = 3,
               prefix: str = "q") -> dict:
    """SQuAD v1.1 JSON: each paragraph the context of up to `questions_per_paragraph`
    questions, each a sentence of it with one word replaced by "what"."""
    rng = random.Random(f"squad:{prefix}:{seed}")
    data = []
    for p, sentences in enumerate(paragraphs):
        context = " ".join(sentences)
        offsets, cursor = [], 0
        for sentence in sentences:
            offsets.append(cursor)
            cursor += len(sentence) + 1
        qas = []
        for s in rng.sample(range(len(sentences)), min(questions_per_paragraph, len(sentences))):
            sentence = sentences[s]
            candidates = _answer_candidates(_word_spans(sentence), rng)
            if not candidates:
                continue
            start, end = rng.choice(candidates)
            question = (sentence[:start] + "what" + sentence[end:]).rstrip(" .!?") + "?"
            answer = sentence[start:end]
            assert context[offsets[s] + start:offsets[s] + end] == answer
            qas.append({"id": f"{prefix}{p}_{s}", "question": question,
                        "answers": [{"text": answer, "answer_start": offsets[s] + start}]})
        if qas:
            data.append({"title": f"{prefix}{p}", "paragraphs": [{"context": context,
                                                                 "qas": qas}]})
    return {"version": "1.1", "data": data}


def qa_set(num_train_paragraphs: int, num_dev_paragraphs: int, seed: int = 0,
           packages: Sequence[str] = PACKAGES, max_sentences: int = 12) -> Dict[str, dict]:
    """{"train": SQuAD JSON, "dev": SQuAD JSON} on disjoint paragraphs (3 to `max_sentences`
    sentences each: fewer make shorter contexts, most in one window)."""
    paragraphs = qa_paragraphs(num_train_paragraphs + num_dev_paragraphs, seed, packages,
                               max_sentences=max_sentences)
    return {"train": squad_json(paragraphs[:num_train_paragraphs], seed, prefix="t"),
            "dev": squad_json(paragraphs[num_train_paragraphs:], seed, prefix="d")}


def write_squad(data: Dict[str, dict], data_dir: str) -> Dict[str, str]:
    """train.json and dev.json in data_dir: {flag name: path} for run_squad.py."""
    os.makedirs(data_dir, exist_ok=True)
    paths = {}
    for split, flag in (("train", "train_file"), ("dev", "predict_file")):
        path = os.path.join(data_dir, f"{split}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data[split], f, ensure_ascii=False)
        paths[flag] = path
    return paths


def squad_questions(data: dict) -> List[Tuple[str, str]]:
    """(question, context) of every question of a SQuAD JSON dict, in file order."""
    return [(qa["question"], paragraph["context"]) for article in data["data"]
            for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
