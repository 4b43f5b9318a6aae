"""The realistic-length benchmark data (bench/text_data.py) and its workloads, tiny and end to end."""

import collections
import json
import os
import re
import string
import subprocess
import sys

import numpy as np
import pytest

from bench import text_data
from bench.workloads import realistic, task_lengths
from bert_tf.tokenization import BertTokenizer
from tasks.classification.data import get_processor
from tasks.classification.run import scan
from tasks.question_answering import squad
from tasks.tagging import conll
from testing import minilm_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"))


def test_classification_set_is_deterministic_balanced_and_disjoint():
    first = text_data.classification_set(41, 22, seed=3)
    assert first == text_data.classification_set(41, 22, seed=3)
    assert first.train != text_data.classification_set(41, 22, seed=4).train
    assert len(first.train) == 41 and len(first.dev) == 22
    counts = collections.Counter(e.label for e in first.train)
    assert sorted(counts) == sorted(text_data.PACKAGES)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert not {e.text_a for e in first.train} & {e.text_a for e in first.dev}
    # The label is the package the sentence came from (11 train + 6 dev sentences each).
    pools = text_data.sentence_pools(17, 3)
    for example in first.train:
        assert example.text_b is None
        assert example.text_a in pools[example.label]

    pairs = text_data.classification_set(30, 10, seed=3, pair=True)
    assert pairs == text_data.classification_set(30, 10, seed=3, pair=True)
    assert collections.Counter(e.label for e in pairs.train) == {"same": 15, "different": 15}
    assert all(e.text_a != e.text_b for e in pairs.train)
    dev_texts = {t for e in pairs.dev for t in (e.text_a, e.text_b)}
    assert not dev_texts & {t for e in pairs.train for t in (e.text_a, e.text_b)}


def test_sentences_are_prose():
    doc = ("Compute the thing. It is fast and short enough!\n\nNotes\n-----\n"
           "Everything after a numpydoc heading is left out of the prose here.")
    assert text_data.split_sentences(doc) == ["It is fast and short enough!"]
    assert text_data.split_sentences("See >>> np.add(1, 2) for one example now.") == []


def test_files_are_read_by_run_classifiers_reader(tmp_path):
    # Quotes and backquotes are common in docstrings: csv quoting must carry them through.
    quoted = text_data.ClassificationSet(
        train=[text_data.Example('Use "x" and `y`, then \'z\'.', None, "b"),
               text_data.Example('"Quoted" at the start, it is.', None, "a")],
        dev=[text_data.Example('A "dev" sentence.', None, "a")], pair=False)
    for dataset, name in ((quoted, "quoted"),
                          (text_data.classification_set(12, 8, seed=1, pair=True), "pairs")):
        data_dir = str(tmp_path / name)
        columns = text_data.write_classification(dataset, data_dir)
        processor = get_processor("custom", **columns)
        for split, examples in (("train", dataset.train), ("dev", dataset.dev),
                                ("test", dataset.dev)):
            found = list(processor.read(data_dir, split))
            assert [(e.text_a, e.text_b) for e in found] == [(e.text_a, e.text_b)
                                                             for e in examples]
            assert [e.label for e in found] == ([e.label for e in examples]
                                                if split != "test" else [None] * len(examples))
        count, labels = scan(processor, data_dir, "train")
        assert count == len(dataset.train) and sorted(labels) == dataset.labels


def test_length_histogram_counts_every_example(tokenizer):
    found = text_data.length_histogram([1, 16, 17, 128, 129, 300, 40], max_seq_length=128)
    assert dict(found["buckets"]) == {"1-16": 2, "17-32": 1, "33-48": 1, "49-64": 0,
                                      "65-80": 0, "81-96": 0, "97-112": 0, "113-128": 1,
                                      ">128": 2}
    assert (found["median"], found["max"], found["count"]) == (40, 300, 7)
    assert text_data.padding_share([64, 300], 128) == pytest.approx(1 - (64 + 128) / 256)

    dataset = text_data.classification_set(20, 4, seed=0, pair=True)
    a, b = [e.text_a for e in dataset.train], [e.text_b for e in dataset.train]
    lengths = text_data.wordpiece_lengths(tokenizer, a, b)
    # Another path to the same number: the encoder inputs, with room for everything.
    encoded = tokenizer.encode_ragged(a, b, max_seq_length=4096)["input_ids"]
    np.testing.assert_array_equal(lengths, encoded.row_lengths().numpy())
    histogram = text_data.length_histogram(lengths, 128)
    assert sum(count for _, count in histogram["buckets"]) == 20
    assert len(text_data.histogram_rows(histogram)) == 9


def test_tagging_files_are_read_by_run_taggings_reader(tmp_path):
    words = text_data.tagging_words("Call tf.reduce_sum() on 3 axes, as Keras Hub does.")
    assert words == ["Call", "tf.reduce_sum()", "on", "3", "axes", ",", "as", "Keras", "Hub",
                     "does", "."]
    assert text_data.tag_words(words) == ["O", "B-CODE", "O", "B-NUM", "O", "O", "O", "B-CAP",
                                          "I-CAP", "O", "O"]
    data = text_data.tagging_set(30, 10, seed=2)
    assert data == text_data.tagging_set(30, 10, seed=2)
    files = text_data.write_tagging(data, str(tmp_path))
    train = conll.with_iob2_tags(conll.read_sentences(files["train_file"]), "iob2")
    assert [(list(s.words), list(s.tags)) for s in train] == [(w, t) for w, t in data["train"]]
    assert len(conll.read_sentences(files["predict_file"], labeled=False)) == 10
    assert "B-CODE" in conll.label_list(train)


def test_squad_files_are_read_by_run_squads_reader(tmp_path):
    data = text_data.qa_set(5, 2, seed=1)
    assert data == text_data.qa_set(5, 2, seed=1)
    files = text_data.write_squad(data, str(tmp_path))
    examples = squad.read_squad(files["train_file"], for_training=True)
    assert len(examples) == len(text_data.squad_questions(data["train"])) >= 5
    for example in examples:
        (text, start), = example.answers
        assert example.context[start:start + len(text)] == text
        assert "what" in example.question and example.question.endswith("?")
    assert {e.context for e in examples}.isdisjoint(
        {e.context for e in squad.read_squad(files["predict_file"])})
    # Shorter contexts (the distill workload's): 3 to 4 of the docstring's sentences each.
    counts = [len(text_data.split_sentences(paragraph["context"]))
              for split in text_data.qa_set(5, 2, seed=1, max_sentences=4).values()
              for article in split["data"] for paragraph in article["paragraphs"]]
    assert len(counts) >= 5 and set(counts) <= {3, 4}, counts


def test_planned_widths_shrink_to_the_text():
    lengths = np.array([10, 12, 100, 11, 9, 120, 13, 14] * 4)
    bucketed = realistic.planned_widths(lengths, 4, 8, 128, seed=0, pad_to_max_length=False)
    assert bucketed < 64  # short examples batched together pad to 16, long ones to 128
    assert realistic.planned_widths(lengths, 4, 8, 128, 0, pad_to_max_length=True) == 128
    assert realistic.steady_rate([(1, 10.0), (2, 11.0), (4, 12.0)], 8, 2) == 16.0
    assert realistic.steady_rate([(1, 10.0), (2, 11.0)], 8, 2) is None


def entity_f1(gold, predicted):
    """Micro F1 of exact (type, first word, last word) entities of IOB2 tag rows, written here
    from the definition (conlleval's), independently of tasks.tagging.metrics."""
    def entities(rows):
        found = set()
        for row, tags in enumerate(rows):
            start = kind = None
            for i, tag in enumerate(list(tags) + ["O"]):
                if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
                    found.add((row, kind, start, i))
                    start = None
                if tag.startswith("B-") or (tag.startswith("I-") and start is None):
                    start, kind = i, tag[2:]
        return found

    g, p = entities(gold), entities(predicted)
    return 2 * len(g & p) / (len(g) + len(p)) if g or p else 0.0


def squad_f1(predictions, dataset):
    """The official SQuAD v1.1 F1 (normalized tokens, best over the gold answers), 0-1."""
    def tokens(text):
        text = "".join(c for c in text.lower() if c not in string.punctuation)
        return re.sub(r"\b(a|an|the)\b", " ", text).split()

    def f1(prediction, truth):
        common = collections.Counter(tokens(prediction)) & collections.Counter(tokens(truth))
        same = sum(common.values())
        if same == 0:
            return 0.0
        precision, recall = same / len(tokens(prediction)), same / len(tokens(truth))
        return 2 * precision * recall / (precision + recall)

    scores = [max(f1(predictions[qa["id"]], a["text"]) for a in qa["answers"])
              for article in dataset["data"] for paragraph in article["paragraphs"]
              for qa in paragraph["qas"]]
    return sum(scores) / len(scores)


@pytest.mark.parametrize("task", ["tagging", "qa"])
@pytest.mark.slow
def test_task_lengths_child_trains_and_predicts(task, tmp_path, monkeypatch):
    """The tagging and QA runs of the task_lengths workload, in process, tiny; its score is
    the F1 of the predictions it wrote, recomputed here."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(task_lengths.harness, "scratch_dir", lambda prefix: str(work))
    if task == "tagging":
        data = text_data.tagging_set(24, 8, seed=0)
        files = text_data.write_tagging(data, str(tmp_path))
        t = 64
    else:
        data = text_data.qa_set(4, 2, seed=0)
        files = text_data.write_squad(data, str(tmp_path))
        t = 192
    found = task_lengths.task_child(
        task, files, init="random", preset="tiny", precision="float32", batch_size=4,
        max_seq_length=t, epochs=1.0, learning_rate=1e-4, warmup_steps=1,
        pad_to_max_length=False, jit_compile=False, seed=0)
    assert found["train_windows_per_s"] > 0 and found["predict_windows_per_s"] > 0
    assert found["predict_windows"] >= found["predict_examples"] > 0
    assert sum(count for _, count in found["histogram"]["buckets"]) == found["train_windows"]
    assert found["mean_length"] <= found["mean_padded_length"] < t
    if task == "tagging":  # evaluated on the dev rows, which are also the predicted ones
        predicted = conll.read_sentences(str(work / "run" / "test_predictions.txt"))
        assert [list(s.words) for s in predicted] == [words for words, _ in data["dev"]]
        expected = entity_f1([tags for _, tags in data["dev"]],
                             [list(s.tags) for s in predicted])
    else:
        predictions = json.load(open(work / "run" / "predictions.json", encoding="utf-8"))
        expected = squad_f1(predictions, data["dev"])
    # Untrained, random tags and spans still overlap the gold ones a little (measured
    # 0.030 and 0.014): a score of 0 would not pass for right.
    assert expected > 0 and found["score"] == pytest.approx(expected, abs=1e-6)
    json.dumps(found)  # what bench.child sends back


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "bench", "__main__.py")),
                    reason="bench/__main__.py (the harness entry point) is not written yet")
def test_realistic_workload_end_to_end():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "realistic", "--preset=tiny", "--batch_size=8",
         "--realistic_train_examples=24", "--realistic_dev_examples=8", "--precisions=float32",
         "--realistic_warmup_steps=1", "--realistic_contenders=ours,keras_hub",
         "--ceiling_size=128"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "24 examples: median" in out  # the length histogram of the training set
    rows = {line.split(" | ")[0].strip("| "): line.strip("| ").split(" | ")
            for line in out.splitlines() if line.startswith("| bert_tf") or
            line.startswith("| keras-hub")}
    assert set(rows) == {"bert_tf", "keras-hub", "bert_tf / keras-hub"}, out
    for name in ("bert_tf", "keras-hub"):
        cells = rows[name]
        assert float(cells[1]) > 0 and float(cells[3]) > 0 and float(cells[4]) > 0, cells
        assert 0 <= float(cells[5]) <= 1  # dev accuracy
    assert int(rows["bert_tf"][6]) < 128 == int(rows["keras-hub"][6])  # mean padded length
    assert rows["bert_tf / keras-hub"][1].endswith("x")


@pytest.mark.slow
def test_roberta_keras_hub_contender_trains_evaluates_and_predicts(tmp_path):
    """`--realistic_family=roberta`: the random RoBERTa directory with a BPE learned from the
    training sentences (what run_classifier.py starts from, as tests/test_family_scripts.py
    runs it), and keras-hub's RobertaTextClassifier with its preprocessor on the same
    files, in process, tiny."""
    from bert_tf import BpeTokenizer, TransformerEncoder

    dataset = text_data.classification_set(16, 8, seed=0)
    text_data.write_classification(dataset, str(tmp_path))
    release = realistic.bpe_release(str(tmp_path), "tiny", seed=0)
    assert sorted(os.listdir(release)) == ["config.json", "merges.txt", "model.safetensors",
                                           "vocab.json"]
    encoder = TransformerEncoder.from_pretrained(release)
    assert type(encoder).__name__ == "RobertaEncoder"
    assert encoder.config.vocab_size == BpeTokenizer.from_pretrained(release).vocab_size <= 8000
    # keras-hub's classifier as its child builds it (keras_hub_child trains, evaluates and
    # predicts with it as with the BERT one the test above runs end to end).
    model, config = realistic.keras_hub_classifier("roberta", str(tmp_path), "random", "tiny",
                                                   "float32", 32, num_classes=4)
    assert type(model).__name__ == "RobertaTextClassifier"
    assert model.backbone.vocabulary_size == config.vocab_size == encoder.config.vocab_size
    assert model.predict(["The film was fantastic.", "x"], verbose=0).shape == (2, 4)
