"""Tagging data: CoNLL and JSON-lines readers and their errors, the prediction writer, tag schemes, windows."""

import json
import os
import random

import numpy as np
import pytest

from bert_tf.errors import DataError, MissingFileError, UserError
from tag_sequences import encode, random_chunks, random_tag
from tasks.tagging import conll, metrics, schemes, windows

LETTERS = "abcdeéßxyz中Ω"


# ------------------------------------------------------------------ files


def generated_conll(rng, documents=3, separator=" ", scheme="IOB2"):
    """A CoNLL-2003-like file (word POS chunk tag) and what its reader should return.

    Returns (text, expected) with expected = [(words, tags, first line, lines, preamble)].
    """
    out, expected, line = [], [], 0

    def emit(text):
        nonlocal line
        out.append(text + "\n")
        line += 1

    for _ in range(documents):
        emit(separator.join(["-DOCSTART-", "-X-", "-X-", "O"]))
        emit("")
        preamble = [out[-2].rstrip("\n")]
        for _ in range(rng.randint(1, 4)):
            length = rng.choice([1, 2, 5, 9])
            words = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 6))) for _ in range(length)]
            tags = encode(length, random_chunks(rng, length), scheme)
            lines = [separator.join([w, "NN", "I-NP", t]) for w, t in zip(words, tags)]
            expected.append((words, tags, line + 1, lines, preamble))
            preamble = []
            for text in lines:
                emit(text)
            for _ in range(rng.choice([1, 1, 2])):  # sometimes two blank lines
                emit("")
    return "".join(out), expected


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


@pytest.mark.parametrize("separator", [" ", "\t"])
def test_read_conll(tmp_path, separator):
    text, expected = generated_conll(random.Random(3), separator=separator)
    path = write(tmp_path, "train.txt", text)
    sentences = conll.read_conll(path)
    assert len(sentences) == len(expected) >= 5
    for sentence, (words, tags, line, lines, preamble) in zip(sentences, expected):
        assert sentence.words == tuple(words) and sentence.tags == tuple(tags)
        assert sentence.where == f"{path}:{line}" and sentence.lines == tuple(lines)
        assert sentence.preamble == tuple(preamble) and sentence.file_format == conll.CONLL
        assert sentence.word_where(len(words) - 1) == f"{path}:{line + len(words) - 1}"
        assert sentence.columns[0] == (words[0], "NN", "I-NP", tags[0])
    # Other label columns, counted from either end, and no labels at all.
    assert [s.tags for s in conll.read_conll(path, label_column=1)] == [
        ("NN",) * len(s.words) for s in sentences]
    assert [s.tags for s in conll.read_conll(path, label_column=-2)] == [
        ("I-NP",) * len(s.words) for s in sentences]
    unlabeled = conll.read_conll(path, label_column=None)
    assert [s.words for s in unlabeled] == [s.words for s in sentences]
    assert all(s.tags is None for s in unlabeled)


def test_read_conll_bom_crlf_and_word_only_lines(tmp_path):
    path = write(tmp_path, "test.txt", "\ufeffEU B-ORG\r\nrejects O\r\n\r\n\r\nGerman B-MISC\r\n")
    sentences = conll.read_conll(path)
    assert [s.words for s in sentences] == [("EU", "rejects"), ("German",)]
    assert [s.tags for s in sentences] == [("B-ORG", "O"), ("B-MISC",)]
    assert [s.line for s in sentences] == [1, 5]
    # A prediction input with the word column only.
    path = write(tmp_path, "predict.txt", "-DOCSTART-\n\nPeter\nBlackburn\n\nBRUSSELS\n")
    sentences = conll.read_conll(path, label_column=None)
    assert [s.words for s in sentences] == [("Peter", "Blackburn"), ("BRUSSELS",)]
    assert sentences[0].preamble == ("-DOCSTART-",) and sentences[1].line == 6


def test_read_jsonl(tmp_path):
    records = [{"tokens": ["Peter", "Blackburn"], "tags": ["B-PER", "I-PER"], "id": 7},
               {"tokens": [], "tags": []},
               {"tokens": ["中文", "", " "], "tags": ["S-LOC", "O", "O"]}]
    text = "\ufeff" + "\n".join(json.dumps(r, ensure_ascii=False) for r in records[:2]) + "\n\n"
    text += json.dumps(records[2], ensure_ascii=False) + "\n"
    path = write(tmp_path, "train.jsonl", text)
    sentences = conll.read_sentences(path)
    assert [(s.words, s.tags, s.line) for s in sentences] == [
        (("Peter", "Blackburn"), ("B-PER", "I-PER"), 1), ((), (), 2),
        (("中文", "", " "), ("S-LOC", "O", "O"), 4)]
    assert sentences[2].word_where(2) == f"{path}:4: word 3" and sentences[0].file_format == conll.JSONL
    unlabeled = conll.read_sentences(write(tmp_path, "p.jsonl", '{"tokens": ["a"]}\n'), labeled=False)
    assert unlabeled[0].tags is None


# Each bad file: (name, content, reader arguments, the message after "<path>").
BAD_FILES = [
    ("columns.txt", "a NN B-PER\nb NN O\n\nc O\n", {},
     ":4: 2 column(s), but the first word line ({path}:1) has 3"),
    ("empty.txt", "", {}, ": empty file"),
    ("blank.txt", "\n \n\t\n", {}, ": empty file"),
    ("docstart.txt", "-DOCSTART- -X- O\n\n-DOCSTART- -X- O\n", {}, ": no sentences, only -DOCSTART- lines"),
    ("latin1.txt", b"a O\nb O\nM\xfcller B-PER\n", {}, ":3: not valid UTF-8 (byte 0xfc at byte 2 of the line)"),
    ("one_column.txt", "\n\nPeter\n", {}, ":3: label column -1 is the word column: the line has 1 column(s) "
                                         "(read a file without tags with label_column=None)"),
    ("wide.txt", "a NN O\n", {"label_column": 3}, ":1: no label column 3: the line has 3 column(s)"),
    ("list.jsonl", '{"tokens": [], "tags": []}\n["a"]\n', {}, ":2: expected a JSON object, got list"),
    ("broken.jsonl", '{"tokens": ["a"], \n', {},
     ":1: not valid JSON (Expecting property name enclosed in double quotes)"),
    ("no_tokens.jsonl", '{"words": ["a"], "tags": ["O"]}\n', {}, ":1: no 'tokens' field"),
    ("no_tags.jsonl", '\n{"tokens": ["a"]}\n', {}, ":2: no 'tags' field"),
    ("string.jsonl", '{"tokens": "a b", "tags": ["O"]}\n', {}, ":1: 'tokens' must be a list of strings, got str"),
    ("lengths.jsonl", '{"tokens": ["a", "b"], "tags": ["O"]}\n', {}, ":1: 2 tokens but 1 tags"),
    ("number.jsonl", '{"tokens": ["a", 3], "tags": ["O", "O"]}\n', {}, ":1: tokens[1] is 3, not a string"),
    ("null.jsonl", '{"tokens": ["a"], "tags": [null]}\n', {}, ":1: tags[0] is null, not a string"),
    ("bytes.jsonl", b'{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["\xff"]}\n', {},
     ":2: not valid UTF-8 (byte 0xff at byte 14 of the line)"),
    ("empty.jsonl", "\n\n", {}, ": empty file"),
]


@pytest.mark.parametrize("name, content, arguments, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_reader_errors_name_file_and_line(tmp_path, name, content, arguments, message):
    path = write(tmp_path, name, content)
    with pytest.raises(DataError) as error:
        conll.read_sentences(path, **arguments)
    assert str(error.value) == path + message.format(path=path)


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="data file not found"):
        conll.read_sentences(str(tmp_path / "absent.txt"))


def test_labels_from_training_data(tmp_path):
    train = conll.read_conll(write(tmp_path, "train.txt", "a B-PER\nb O\n\nc B-LOC\nd I-LOC\n"))
    labels = conll.label_list(train)
    # I-PER was never seen, but a dev entity of two PER words needs it.
    assert labels == ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]
    dev = conll.read_conll(write(tmp_path, "dev.txt", "a B-PER\nb I-PER\n\nx O\ny B-ORG\n"))
    with pytest.raises(DataError) as error:
        conll.check_labels(dev, labels)
    assert str(error.value).startswith(
        f"{tmp_path / 'dev.txt'}:5: tag 'B-ORG' never appears in the training data")
    conll.check_labels(dev[:1], labels)
    assert conll.label_list(conll.read_conll(write(tmp_path, "no_o.txt", "a B-PER\n"))) == ["B-PER", "I-PER"]


def test_tags_converted_to_iob2_or_an_error_at_the_word(tmp_path):
    text = "EU I-ORG\nrejects O\nGerman I-MISC\ncall O\n\nPeter I-PER\nPaul I-PER\nMary B-PER\n"
    sentences = conll.read_conll(write(tmp_path, "iob1.txt", text))
    converted = conll.with_iob2_tags(sentences, "IOB1")
    assert [s.tags for s in converted] == [("B-ORG", "O", "B-MISC", "O"), ("B-PER", "I-PER", "B-PER")]
    assert [s.words for s in converted] == [s.words for s in sentences]
    with pytest.raises(DataError) as error:
        conll.with_iob2_tags(sentences, "IOB2")
    assert str(error.value).startswith(f"{tmp_path / 'iob1.txt'}:1: tag 'I-ORG' starts an entity at the start")
    assert "read it as IOB1" in str(error.value)
    with pytest.raises(DataError, match=r"iob1.txt:6: tag 'I-PER' does not continue a PER entity at the start"):
        conll.with_iob2_tags(sentences[1:], "IOBES")
    jsonl = conll.read_jsonl(write(tmp_path, "a.jsonl", '{"tokens": ["a", "b"], "tags": ["O", "I-X"]}\n'))
    with pytest.raises(DataError, match=r"a.jsonl:1: word 2: tag 'I-X' starts an entity after 'O'"):
        conll.with_iob2_tags(jsonl, "BIO")


# ----------------------------------------------------------------- writer


def test_write_conll_predictions(tmp_path):
    text, expected = generated_conll(random.Random(5))
    source = write(tmp_path, "test.txt", text)
    sentences = conll.read_conll(source, label_column=None)
    rng = random.Random(1)
    predicted = [[random_tag(rng, "IOB2") for _ in s.words] for s in sentences]
    output = str(tmp_path / "out" / "predictions.txt")
    os.makedirs(os.path.dirname(output))
    with open(output, "w") as f:
        f.write("an older file\n")
    conll.write_predictions(output, sentences, predicted)
    assert os.listdir(os.path.dirname(output)) == ["predictions.txt"]  # no temporary file left
    lines = open(output, encoding="utf-8").read().splitlines()
    # Every input word line, in order, gains the predicted tag as its last column.
    word_lines = [line for line in lines if line and not line.startswith("-DOCSTART-")]
    assert word_lines == [f"{line} {tag}" for s, tags in zip(sentences, predicted)
                          for line, tag in zip(s.lines, tags)]
    assert sum(line.startswith("-DOCSTART-") for line in lines) == 3
    again = conll.read_conll(output)  # the file reads back with the predictions as its tags
    assert [s.tags for s in again] == [tuple(p) for p in predicted]
    assert [s.words for s in again] == [s.words for s in sentences]
    assert [s.preamble for s in again] == [s.preamble for s in sentences]
    assert [s.columns[0][3] for s in again] == [tags[0] for _, tags, _, _, _ in expected]
    for bad in ("B X", "B\tX", "", "B-X\r"):
        with pytest.raises(ValueError, match="is not one column"):
            conll.write_predictions(output, sentences[:1], [[bad] * len(sentences[0].words)])
    assert conll.read_conll(output)[0].tags == tuple(predicted[0])  # the failed writes left it


def test_write_jsonl_predictions_and_failures_leave_the_old_file(tmp_path):
    records = [{"tokens": ["Ωmega", "x"], "tags": ["B-X", "O"], "id": "a"}, {"tokens": ["y"], "meta": {"k": 1}}]
    source = write(tmp_path, "in.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    sentences = conll.read_jsonl(source, labeled=False)
    output = str(tmp_path / "out.jsonl")
    conll.write_predictions(output, sentences, [["B-X", "I-X"], ["O"]])
    written = [json.loads(line) for line in open(output, encoding="utf-8")]
    assert written == [dict(records[0], predicted_tags=["B-X", "I-X"]), dict(records[1], predicted_tags=["O"])]
    assert "Ωmega" in open(output, encoding="utf-8").read()  # kept as written, not \u-escaped
    before = open(output, encoding="utf-8").read()
    for predictions, message in [([["O"], ["O"]], "1 predicted tags for 2 words"),
                                 ([["O", "O"]], "1 predictions for 2 sentences")]:
        with pytest.raises(ValueError, match=message):
            conll.write_predictions(output, sentences, predictions)
        assert open(output, encoding="utf-8").read() == before
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl", "out.jsonl"]


# ---------------------------------------------------------------- schemes


@pytest.mark.parametrize("scheme", schemes.SCHEMES)
def test_schemes_round_trip(scheme):
    rng = random.Random(scheme)
    for _ in range(200):
        length = rng.randint(0, 13)
        chunks = random_chunks(rng, length)
        tags, iob2 = encode(length, chunks, scheme), encode(length, chunks, "IOB2")
        assert schemes.to_iob2(tags, scheme) == iob2
        assert schemes.from_iob2(iob2, scheme) == tags
        # Both spell the same entities, read as conlleval reads them.
        assert metrics.entities(tags) == metrics.entities(iob2) == chunks


def test_scheme_names():
    assert [schemes.scheme_name(n) for n in ("iob1", "BIO", "bio", "IOB2", "iobes")] == [
        "IOB1", "IOB2", "IOB2", "IOB2", "IOBES"]
    with pytest.raises(UserError, match="unknown tag scheme 'BILOU'"):
        schemes.scheme_name("BILOU")


def test_lenient_iob1():
    """IOB1's B- where no entity of its type precedes means the same start of an entity: accepted."""
    assert schemes.to_iob2(["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-PER"], "IOB1") == [
        "B-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-PER"]


# (scheme, tags, index of the bad tag, what the message says after the tag)
BAD_SEQUENCES = [
    ("IOB2", ["O", "I-PER"], 1, "starts an entity after 'O', which IOB2 does not allow (B-PER would); "
                                "if the file is IOB1, as the original CoNLL-2003 is, read it as IOB1"),
    ("IOB2", ["I-PER"], 0, "starts an entity at the start of the sentence"),
    ("IOB2", ["B-LOC", "I-PER"], 1, "starts an entity after 'B-LOC'"),
    ("IOB2", ["B-PER", "E-PER"], 1, "is not valid in IOB2 (O, or B-, I- followed by a type)"),
    ("IOB1", ["O", "S-PER"], 1, "is not valid in IOB1"),
    ("IOB1", ["PER"], 0, "is not valid in IOB1"),
    ("IOBES", ["B-"], 0, "is not valid in IOBES (O, or B-, I-, E-, S- followed by a type)"),
    ("IOBES", ["b-PER"], 0, "is not valid in IOBES"),
    ("IOBES", ["B-PER", "O"], 1,
     "interrupts the PER entity still open after 'B-PER' (IOBES closes it with E-PER)"),
    ("IOBES", ["B-PER", "S-PER"], 1, "interrupts the PER entity"),
    ("IOBES", ["O", "B-PER", "I-PER"], 2, "ends the sentence inside a PER entity (IOBES ends it with E-PER)"),
    ("IOBES", ["I-PER", "E-PER"], 0, "does not continue a PER entity at the start of the sentence"),
    ("IOBES", ["S-PER", "E-PER"], 1, "does not continue a PER entity after 'S-PER'"),
    ("IOBES", ["B-PER", "I-LOC", "E-LOC"], 1, "does not continue a LOC entity after 'B-PER'"),
]


@pytest.mark.parametrize("scheme, tags, index, message", BAD_SEQUENCES)
def test_invalid_sequences_name_the_line_and_tag(scheme, tags, index, message):
    where = [f"train.txt:{10 + i}" for i in range(len(tags))]
    with pytest.raises(DataError) as error:
        schemes.to_iob2(tags, scheme, where)
    text = str(error.value)
    assert text.startswith(f"train.txt:{10 + index}: tag {tags[index]!r} {message}")
    assert "\n" not in text
    with pytest.raises(DataError, match=rf"^a.jsonl:3: word {index + 1}: tag "):
        schemes.to_iob2(tags, scheme, "a.jsonl:3")


@pytest.mark.parametrize("scheme", schemes.SCHEMES)
def test_predictions_are_repaired_not_rejected(scheme):
    """Any B-/I-/O prediction comes out valid in the scheme, with the entities conlleval reads in it."""
    rng = random.Random(7)
    for _ in range(200):
        predicted = [random_tag(rng, "IOB2") for _ in range(rng.randint(0, 11))]
        repaired = schemes.repair_iob2(predicted)
        assert schemes.to_iob2(repaired, "IOB2") == repaired
        written = schemes.from_iob2(predicted, scheme)
        assert schemes.to_iob2(written, scheme) == repaired
        assert metrics.entities(written) == metrics.entities(predicted)
    assert schemes.from_iob2(["O", "I-PER", "I-PER", "I-LOC"], "IOBES") == ["O", "B-PER", "E-PER", "S-LOC"]


# ---------------------------------------------------------------- windows


def context_of(window, word, counts):
    ends = np.concatenate([[0], np.cumsum(counts)])
    return min(ends[word] - ends[window.start], ends[window.stop] - ends[word + 1])


def check_windows(pieces_per_word, max_seq_length, stride):
    found = windows.split(pieces_per_word, max_seq_length, stride)
    budget = max_seq_length - 2
    stitched = windows.stitch(found, [list(range(w.start, w.stop)) for w in found],
                              [len(c) for c in pieces_per_word])
    # Every word gets exactly one prediction, from a window that holds it (stitch checks "exactly").
    assert stitched == [list(range(len(c))) for c in pieces_per_word]
    for sentence, counts in enumerate(pieces_per_word):
        counts = np.minimum(counts, budget)
        mine = [w for w in found if w.sentence == sentence]
        for window in mine:
            assert counts[window.start:window.stop].sum() + 2 <= max_seq_length
            assert window.start <= window.owned_start < window.owned_stop <= window.stop
        assert [w.start for w in mine] == sorted(w.start for w in mine)
        # The owner is a window where the word has the most context (brute force over all windows).
        for window in mine:
            for word in range(window.owned_start, window.owned_stop):
                best = max(context_of(w, word, counts) for w in mine if w.start <= word < w.stop)
                assert context_of(window, word, counts) == best
    return found


def test_thousand_word_sentence():
    rng = np.random.default_rng(11)
    counts = rng.integers(1, 5, size=1000)
    counts[[0, 417, 418, 999]] = [50, 36, 35, 71]  # longer than the 35-piece window, or exactly it
    found = check_windows([counts.tolist()], max_seq_length=37, stride=11)
    assert len(found) > counts.sum() / 35
    for word in (0, 417, 418, 999):  # a word too long for a window has one to itself
        assert any(w.start == word and w.stop == word + 1 for w in found)
    # Windows overlap: most words are seen by more than one window.
    seen = np.zeros(1000, int)
    for w in found:
        seen[w.start:w.stop] += 1
    assert (seen > 1).mean() > 0.5


def test_many_sentences_strides_and_lengths():
    rng = random.Random(2)
    sentences = [[rng.choice([1, 1, 2, 3, 9]) for _ in range(rng.choice([0, 1, 5, 23, 61]))]
                 for _ in range(41)]
    for max_seq_length in (3, 7, 13, 29):
        for stride in sorted({1, (max_seq_length - 2) // 2 or 1, max_seq_length - 2}):
            check_windows(sentences, max_seq_length, stride)
    found = windows.split([[2, 2], [], [1]], max_seq_length=9)  # short sentences: one window each
    assert found == [windows.Window(0, 0, 2, 0, 2), windows.Window(2, 0, 1, 0, 1)]
    assert windows.stitch(found, [["B-X", "I-X"], ["O"]], [2, 0, 1]) == [["B-X", "I-X"], [], ["O"]]


def test_window_errors():
    with pytest.raises(ValueError, match="stride must be between 1 and max_seq_length - 2 = 5"):
        windows.split([[1]], 7, stride=6)
    with pytest.raises(ValueError, match="at least 3"):
        windows.split([[1]], 2)
    with pytest.raises(ValueError, match="sentence 1: every word needs at least one piece"):
        windows.split([[1], [2, 0]], 7)
    found = windows.split([[1, 1, 1]], 4, stride=1)
    with pytest.raises(ValueError, match="3 predictions for 2 words"):
        windows.stitch(found, [[0, 1, 2]] * len(found), [3])
    with pytest.raises(ValueError, match="sentence 0 word 2 has no window owning it"):
        windows.stitch(found[:1], [[0, 1]], [3])
