"""Task processors on fixtures written in each task's published layout; metrics against references."""

import json
import os
import re

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from tasks.classification import metrics
from tasks.classification.data import DataError, get_processor


def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join("\t".join(map(str, row)) + "\n" for row in lines))


def read_all(processor, data_dir, split, which=""):
    return [(e.text_a, e.text_b, e.label) for e in processor.read(str(data_dir), split, which)]


def test_cola(tmp_path):
    # train/dev: no header; source, label, original marker, sentence. test: header index, sentence.
    write(tmp_path / "train.tsv", [("gj04", 1, "", "Our friends won't buy this analysis."),
                                   ("gj04", 0, "*", "They drank the pub.")])
    write(tmp_path / "dev.tsv", [("bc01", 1, "", "The sailors rode the breeze clear.")])
    write(tmp_path / "test.tsv", [("index", "sentence"), (0, "Bill whistled past the house.")])
    p = get_processor("CoLA")
    assert read_all(p, tmp_path, "train") == [("Our friends won't buy this analysis.", None, "1"),
                                              ("They drank the pub.", None, "0")]
    assert read_all(p, tmp_path, "dev") == [("The sailors rode the breeze clear.", None, "1")]
    assert read_all(p, tmp_path, "test") == [("Bill whistled past the house.", None, None)]
    assert p.metrics[0] == "mcc"


def test_sst2(tmp_path):
    write(tmp_path / "train.tsv", [("sentence", "label"), ("hide new secretions ", 0),
                                   ("the greatest musicians ", 1)])
    write(tmp_path / "test.tsv", [("index", "sentence"), (0, "uneasy mishmash of styles")])
    p = get_processor("SST-2")
    assert read_all(p, tmp_path, "train") == [("hide new secretions ", None, "0"),
                                              ("the greatest musicians ", None, "1")]
    assert read_all(p, tmp_path, "test") == [("uneasy mishmash of styles", None, None)]


def test_mrpc(tmp_path):
    header = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")
    write(tmp_path / "train.tsv", [header, (1, 702876, 702977, "Amrozi accused his brother .",
                                            "Referring to him , Amrozi accused his brother .")])
    write(tmp_path / "test.tsv", [("index",) + header[1:], (0, 1089874, 1089925, "PCCW 's chief",
                                                             "Current Chief Operating Officer")])
    p = get_processor("mrpc")
    assert read_all(p, tmp_path, "train") == [
        ("Amrozi accused his brother .", "Referring to him , Amrozi accused his brother .", "1")]
    assert read_all(p, tmp_path, "test") == [("PCCW 's chief", "Current Chief Operating Officer",
                                              None)]
    assert p.is_pair and set(p.metrics) == {"accuracy", "f1"}


def test_stsb_float_labels(tmp_path):
    header = ("index", "genre", "filename", "year", "old_index", "source1", "source2",
              "sentence1", "sentence2", "score")
    write(tmp_path / "train.tsv", [header, (0, "main-captions", "MSRvid", "2012test", 1, "none",
                                            "none", "A plane is taking off.",
                                            "An air plane is taking off.", "5.000")])
    write(tmp_path / "test.tsv", [header[:-1], (0, "main-news", "headlines", "2015", 1, "none",
                                                "none", "Rain takes its toll", "Rain hits")])
    p = get_processor("STS-B")
    assert p.regression and read_all(p, tmp_path, "train") == [
        ("A plane is taking off.", "An air plane is taking off.", "5.000")]
    assert read_all(p, tmp_path, "test") == [("Rain takes its toll", "Rain hits", None)]


def test_qqp(tmp_path):
    write(tmp_path / "train.tsv", [("id", "qid1", "qid2", "question1", "question2",
                                    "is_duplicate"), (133273, 213221, 213222, "How is air "
                                                      "traffic controlled?", "How do you become "
                                                      "an air traffic controller?", 0)])
    write(tmp_path / "test.tsv", [("id", "question1", "question2"),
                                  (0, "Why do rockets look white?", "Why are rockets white?")])
    p = get_processor("QQP")
    assert read_all(p, tmp_path, "train")[0][2] == "0"
    assert read_all(p, tmp_path, "test") == [("Why do rockets look white?",
                                              "Why are rockets white?", None)]


def test_mnli_matched_and_mismatched(tmp_path):
    header = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse",
              "sentence2_binary_parse", "sentence1_parse", "sentence2_parse", "sentence1",
              "sentence2")
    write(tmp_path / "train.tsv", [header + ("label1", "gold_label"),
                                   (0, 31193, "31193n", "government", "( ( b", "( c", "(ROOT",
                                    "(ROOT", "Conceptually cream skimming",
                                    "Product and geography", "neutral", "neutral")])
    for name, genre in (("dev_matched", "fiction"), ("dev_mismatched", "letters")):
        write(tmp_path / f"{name}.tsv", [
            header + ("label1", "label2", "label3", "label4", "label5", "gold_label"),
            (0, 63735, "63735n", genre, "(", "(", "(", "(", f"The new rights {genre}",
             "Everyone really likes", "neutral", "entailment", "neutral", "neutral", "neutral",
             "entailment")])
    for name in ("test_matched", "test_mismatched"):
        write(tmp_path / f"{name}.tsv", [header, (0, 1, "1n", "x", "(", "(", "(", "(",
                                                  f"premise {name}", "hypothesis")])
    p = get_processor("MNLI")
    assert read_all(p, tmp_path, "train") == [("Conceptually cream skimming",
                                               "Product and geography", "neutral")]
    assert sorted(p.splits(str(tmp_path))["dev"]) == ["", "mismatched"]
    assert read_all(p, tmp_path, "dev")[0] == ("The new rights fiction", "Everyone really likes",
                                               "entailment")
    assert read_all(p, tmp_path, "dev", "mismatched")[0][0] == "The new rights letters"
    assert read_all(p, tmp_path, "test", "mismatched")[0] == ("premise test_mismatched",
                                                              "hypothesis", None)


@pytest.mark.parametrize("task,labels", [("QNLI", ["entailment", "not_entailment"]),
                                         ("RTE", ["entailment", "not_entailment"]),
                                         ("WNLI", ["0", "1"])])
def test_qnli_rte_wnli(tmp_path, task, labels):
    write(tmp_path / "train.tsv", [("index", "sentence1", "sentence2", "label"),
                                   (0, "First text.", "Second text.", labels[1])])
    write(tmp_path / "test.tsv", [("index", "sentence1", "sentence2"), (0, "A.", "B.")])
    p = get_processor(task)
    assert p.labels == labels
    assert read_all(p, tmp_path, "train") == [("First text.", "Second text.", labels[1])]
    assert read_all(p, tmp_path, "test") == [("A.", "B.", None)]


def test_xnli(tmp_path):
    write(tmp_path / "multinli" / "multinli.train.de.tsv",
          [("premise", "hypo", "label"), ("Eins", "Zwei", "contradictory"),
           ("Drei", "Vier", "neutral")])
    header = ("language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse",
              "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "promptID",
              "pairID", "genre", "label1", "label2", "label3", "label4", "label5")
    row = lambda lang, text: (lang, "entailment", "(", "(", "(", "(", text, "h", 1, 2, "g",  # noqa: E731
                              "entailment", "", "", "", "")
    write(tmp_path / "xnli.dev.tsv", [header, row("en", "english"), row("de", "deutsch")])
    p = get_processor("xnli", language="de")
    assert read_all(p, tmp_path, "train") == [("Eins", "Zwei", "contradiction"),
                                              ("Drei", "Vier", "neutral")]
    assert read_all(p, tmp_path, "dev") == [("deutsch", "h", "entailment")]


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl"])
def test_custom_files(tmp_path, ext):
    rows = [{"review": 'Great, "really" good', "other": "x", "stars": "pos"},
            {"review": "Bad\tand slow" if ext != "tsv" else "Bad and slow", "other": "y",
             "stars": "neg"}]
    path = tmp_path / f"train.{ext}"
    if ext == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        import csv
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, ["review", "other", "stars"],
                                    delimiter="\t" if ext == "tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    p = get_processor("custom", text_a_column="review", label_column="stars")
    assert read_all(p, tmp_path, "train") == [(r["review"], None, r["stars"]) for r in rows]
    pair = get_processor("custom", text_a_column="review", text_b_column="other",
                         label_column="stars")
    assert pair.is_pair and read_all(pair, tmp_path, "train")[1][1] == "y"


def test_malformed_rows_name_file_and_line(tmp_path):
    write(tmp_path / "train.tsv", [("index", "sentence1", "sentence2", "label"),
                                   (0, "a", "b", "entailment"), (1, "only two")])
    with pytest.raises(DataError, match=r"train.tsv:3: malformed row: no column 2"):
        read_all(get_processor("RTE"), tmp_path, "train")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok", "label": "a"}\n{"text": oops}\n')
    os.rename(tmp_path / "bad.jsonl", tmp_path / "train.jsonl")
    os.remove(tmp_path / "train.tsv")
    with pytest.raises(DataError, match=r"train.jsonl:2: not valid JSON"):
        read_all(get_processor("custom"), tmp_path, "train")
    (tmp_path / "train.jsonl").write_text('{"text": "ok", "label": "a"}\n{"text": "", '
                                          '"label": "b"}\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: empty text"):
        read_all(get_processor("custom"), tmp_path, "train")
    (tmp_path / "train.jsonl").write_text('{"text": "ok"}\n')
    with pytest.raises(DataError, match=r"train.jsonl:1: malformed row: no column 'label'"):
        read_all(get_processor("custom"), tmp_path, "train")
    # A text that is not a JSON string is an error, never read as its JSON text; labels may
    # be numbers or booleans (read as 1, 2.5, true).
    for text in ('["a", "list"]', "42", "null", '{"a": 1}'):
        (tmp_path / "train.jsonl").write_text(f'{{"text": "ok", "label": 1}}\n'
                                              f'{{"text": {text}, "label": true}}\n')
        with pytest.raises(DataError, match=re.escape(
                f"train.jsonl:2: 'text' is {json.dumps(json.loads(text))}, not a string")):
            read_all(get_processor("custom"), tmp_path, "train")
    (tmp_path / "train.jsonl").write_text('{"text": "ok", "label": 1}\n'
                                          '{"text": "fine", "label": true}\n'
                                          '{"text": "so so", "label": 2.5}\n')
    assert [label for _, _, label in read_all(get_processor("custom"), tmp_path, "train")] == [
        "1", "true", "2.5"]


def test_unknown_task():
    with pytest.raises(DataError, match="unknown task 'squad'"):
        get_processor("squad")


def test_metrics_match_references():
    rng = np.random.default_rng(0)
    for _ in range(5):
        labels, predictions = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
        assert metrics.f1(labels, predictions) == pytest.approx(f1_score(labels, predictions))
        assert metrics.matthews_corrcoef(labels, predictions) == pytest.approx(
            matthews_corrcoef(labels, predictions))
        assert metrics.accuracy(labels, predictions) == np.mean(labels == predictions)
        three, three_pred = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
        assert metrics.matthews_corrcoef(three, three_pred) == pytest.approx(
            matthews_corrcoef(three, three_pred))
        x = rng.normal(size=200)
        y = x + rng.normal(size=200)
        y_tied = np.round(y, 0)  # ties, as 0-5 similarity scores have
        assert metrics.pearson(x, y) == pytest.approx(pearsonr(x, y)[0])
        assert metrics.spearman(x, y_tied) == pytest.approx(spearmanr(x, y_tied)[0])
    assert metrics.matthews_corrcoef([1, 1, 1], [1, 1, 1]) == 0.0  # undefined: 0 as sklearn
