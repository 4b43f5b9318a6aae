"""SQuAD metrics against an independent loop implementation and hand-computed values."""

import logging
import string

import numpy as np
import pytest

from tasks.question_answering.metrics import evaluate, exact_match, f1, normalize_answer
from tasks.question_answering.squad import Example

# Pieces of generated answers: articles alone and inside words, case, ASCII punctuation
# (string.punctuation, removed) and non-ASCII punctuation (kept), accents, numbers. Each
# piece is a word or punctuation on its own, so whole-word article removal can be
# checked by splitting on whitespace.
PIECES = ("The", "the", "THE", "a", "A", "an", "An", "cat", "Cat", "cat's", "hat", "theater",
          "anne", "A.", "(the)", "3.14", "e.g.", "\u2014", "\u2026", "caf\u00e9", "\u00c9clair",
          "the-end", "U.S.", "'", "!!", "_", "whale", "blue")
SEPARATORS = (" ", "  ", "\t", "\n ")


def reference_tokens(text):
    """Normalized tokens, written without regex, translate or Counter."""
    kept = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return [word for word in kept.split() if word not in ("a", "an", "the")]


def reference_f1(prediction, gold, version_2):
    predicted, expected = reference_tokens(prediction), reference_tokens(gold)
    if version_2 and (not predicted or not expected):
        return float(predicted == expected)
    remaining, same = list(expected), 0
    for token in predicted:
        if token in remaining:
            remaining.remove(token)
            same += 1
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def reference_evaluate(examples, predictions, null_odds, version_2, na_prob_thresh=1.0):
    """The official scripts' definitions, spelled out question by question."""
    rows = []  # (has answer, raw exact, raw f1, prediction, odds)
    for example in examples:
        gold = [text for text, _ in example.answers]
        if version_2:
            gold = [text for text in gold if reference_tokens(text)]
        gold = gold or [""]
        prediction = predictions[example.qas_id]
        exact = max(float(reference_tokens(prediction) == reference_tokens(g)) for g in gold)
        f1_score = max(reference_f1(prediction, g, version_2) for g in gold)
        odds = null_odds[example.qas_id] if null_odds else 0.0
        rows.append((bool(example.answers), exact, f1_score, prediction, odds))
    result = {}
    for prefix, wanted in (("", None), ("HasAns_", True), ("NoAns_", False)):
        subset = [r for r in rows if wanted is None or r[0] == wanted]
        if prefix and (not version_2 or not subset):
            continue
        for name, column in (("exact", 1), ("f1", 2)):
            scores = [float(not r[0]) if r[4] > na_prob_thresh else r[column] for r in subset]
            result[prefix + name] = 100.0 * sum(scores) / len(subset)
        result[prefix + "total"] = len(subset)
    if version_2 and null_odds:
        # Every threshold: questions with odds above it are predicted unanswerable.
        for name, column in (("exact", 1), ("f1", 2)):
            best, best_threshold = None, 0.0
            for threshold in [-np.inf] + sorted(r[4] for r in rows):
                score = sum(float(not r[0]) if r[4] > threshold else
                            (r[column] if r[0] else float(r[3] == "")) for r in rows)
                if best is None or score > best:
                    best = score
                    best_threshold = 0.0 if threshold == -np.inf else threshold
            result[f"best_{name}"] = 100.0 * best / len(rows)
            result[f"best_{name}_thresh"] = best_threshold
    return result


def random_text(rng, most=5):
    count = rng.integers(0, most + 1)
    text = "".join(rng.choice(PIECES) + rng.choice(SEPARATORS) for _ in range(count))
    return text.strip() if rng.random() < 0.7 else text


def random_examples(rng, count):
    examples, predictions = [], {}
    for i in range(count):
        impossible = rng.random() < 0.3
        answers = () if impossible else tuple(
            (random_text(rng, 4) or "cat", 0) for _ in range(rng.integers(1, 4)))
        examples.append(Example(f"q{i}", "?", "context", answers, impossible, f"t:{i}"))
        choice = rng.random()
        if choice < 0.2:
            predictions[f"q{i}"] = ""
        elif choice < 0.5 and answers:
            # A variant of a gold answer: same words, other case, punctuation or spacing.
            gold = answers[rng.integers(len(answers))][0]
            predictions[f"q{i}"] = str(rng.choice([gold.upper(), f"the {gold}!", gold + " hat",
                                                   gold.replace(" ", "  ")]))
        else:
            predictions[f"q{i}"] = random_text(rng) or "whale"
    return examples, predictions


def test_hand_computed():
    assert normalize_answer("The  Cat's, HAT!\tan apple\u2026 theater") == "cats hat apple\u2026 theater"
    assert normalize_answer("  (the) ") == ""
    assert f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert f1("cat cat", "cat") == pytest.approx(2 / 3)
    assert exact_match("An apple.", "apple") == 1 and exact_match("apples", "apple") == 0
    assert f1("", "") == 1.0 and f1("the", "") == 1.0 and f1("cat", "") == 0.0
    assert f1("", "", version_2_with_negative=False) == 0.0


def test_metrics_agree_with_reference():
    rng = np.random.default_rng(11)
    for _ in range(400):
        prediction, gold = random_text(rng), random_text(rng)
        assert normalize_answer(prediction).split() == reference_tokens(prediction)
        assert exact_match(prediction, gold) == (reference_tokens(prediction) ==
                                                 reference_tokens(gold))
        for version_2 in (False, True):
            assert f1(prediction, gold, version_2) == pytest.approx(
                reference_f1(prediction, gold, version_2), abs=1e-12)


@pytest.mark.parametrize("version_2, with_odds", [(False, False), (True, False), (True, True)])
def test_evaluate_agrees_with_reference(version_2, with_odds):
    rng = np.random.default_rng(7)
    examples, predictions = random_examples(rng, 301)
    # Distinct odds: the script flips tied questions one at a time, a threshold cannot.
    null_odds = ({e.qas_id: float(o) for e, o in zip(examples, rng.permutation(301) / 37 - 3)}
                 if with_odds else None)
    result = evaluate(examples, predictions, null_odds, version_2_with_negative=version_2)
    expected = reference_evaluate(examples, predictions, null_odds, version_2)
    assert list(result) == list(expected)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-9), key
    if version_2:
        assert 0 < result["NoAns_total"] < result["HasAns_total"]
        assert 0 < result["exact"] < result["f1"] < 100


def test_evaluate_hand_computed():
    examples = [Example("q1", "?", "c", (("Paris", 0),), False, "t"),
                Example("q2", "?", "c", (), True, "t"),
                Example("q3", "?", "c", (), True, "t"),
                Example("q4", "?", "c", (("blue whale", 0), ("The", 0)), False, "t")]
    predictions = {"q1": "paris", "q2": "", "q3": "London", "q4": "whale"}
    assert evaluate(examples, predictions) == pytest.approx(
        {"exact": 50.0, "f1": 100 * (5 / 3) / 4, "total": 4})  # 1.1: F1 of no words is 0
    plain = evaluate(examples, predictions, version_2_with_negative=True)
    assert plain == pytest.approx({
        "exact": 50.0, "f1": 100 * (2 + 2 / 3) / 4, "total": 4,
        "HasAns_exact": 50.0, "HasAns_f1": 100 * (1 + 2 / 3) / 2, "HasAns_total": 2,
        "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2})
    # Odds above na_prob_thresh (1.0) count as answered "": q2, q3 right and q4 wrong. By
    # increasing odds, q1 (+1), q4 (+0 exact, +2/3 f1), q3 (-1), q2 (0) flip from "".
    odds = {"q1": -2.0, "q2": 3.0, "q3": 2.0, "q4": 1.5}
    result = evaluate(examples, predictions, odds, version_2_with_negative=True)
    assert result == pytest.approx({
        "exact": 75.0, "f1": 75.0, "total": 4,
        "HasAns_exact": 50.0, "HasAns_f1": 50.0, "HasAns_total": 2,
        "NoAns_exact": 100.0, "NoAns_f1": 100.0, "NoAns_total": 2,
        "best_exact": 75.0, "best_exact_thresh": -2.0,
        "best_f1": 100 * (3 + 2 / 3) / 4, "best_f1_thresh": 1.5})


def test_missing_predictions_score_zero(caplog):
    examples = [Example("q1", "?", "c", (("cat", 0),), False, "t"),
                Example("q2", "?", "c", (("hat", 0),), False, "t")]
    with caplog.at_level(logging.WARNING):
        result = evaluate(examples, {"q1": "the cat", "other": "x"})
    assert result == {"exact": 50.0, "f1": 50.0, "total": 2}
    assert "1 questions have no prediction" in caplog.text
    with pytest.raises(ValueError, match="null_odds lacks 1 question ids, e.g. 'q2'"):
        evaluate(examples, {"q1": "cat", "q2": ""}, {"q1": 0.0}, version_2_with_negative=True)
