"""SQuAD exact match and F1 as the official v1.1 and v2.0 evaluation scripts define them."""

import collections
import re
import string

from absl import logging

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-cased, without string.punctuation or the words a/an/the, spaces collapsed."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> int:
    """1 if the normalized texts are equal, else 0."""
    return int(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str, version_2_with_negative=True) -> float:
    """Token-overlap F1 of the normalized texts, in [0, 1].

    The scripts differ only when a side normalizes to nothing: 2.0 scores
    1 if both do and 0 if one does; 1.1 scores 0 in both cases.
    """
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    if version_2_with_negative and not (predicted and expected):
        return float(predicted == expected)
    same = sum((collections.Counter(predicted) & collections.Counter(expected)).values())
    if not same:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(expected)
    return 2 * precision * recall / (precision + recall)


def evaluate(examples, predictions, null_odds=None, version_2_with_negative=False,
             na_prob_thresh=1.0):
    """The official scripts' scores of `predictions` ({id: text}) on `examples` (squad.Example).

    Returns a flat dict of percentages and counts: exact, f1, total; for
    2.0 also HasAns_* and NoAns_* (exact, f1, total) where such questions
    exist, and with null_odds ({id: float}) best_exact, best_exact_thresh,
    best_f1, best_f1_thresh. A question "has an answer" when its example
    lists answers; for 2.0 answers that normalize to nothing are not gold,
    and a question without gold answers has the single gold "". As in the
    2.0 script, a question whose null odds exceed na_prob_thresh counts as
    answered "" in exact and f1. A missing prediction scores 0 (1.1 rule),
    with a warning.
    """
    raw_exact, raw_f1, has_answer, answered = [], [], [], []
    missing = []
    for example in examples:
        gold = [text for text, _ in example.answers]
        if version_2_with_negative:
            gold = [text for text in gold if normalize_answer(text)]
        gold = gold or [""]
        has_answer.append(bool(example.answers))
        prediction = predictions.get(example.qas_id)
        if prediction is None:
            missing.append(example.qas_id)
            raw_exact.append(0)
            raw_f1.append(0.0)
            answered.append(True)  # a missing answer is a wrong one, whatever the threshold
            continue
        answered.append(bool(prediction))
        raw_exact.append(max(exact_match(prediction, g) for g in gold))
        raw_f1.append(max(f1(prediction, g, version_2_with_negative) for g in gold))
    if missing:
        logging.warning("%d questions have no prediction and score 0, e.g. %r",
                        len(missing), missing[0])

    odds = None
    if version_2_with_negative and null_odds is not None:
        lacking = [e.qas_id for e in examples if e.qas_id not in null_odds]
        if lacking:
            raise ValueError(f"null_odds lacks {len(lacking)} question ids, e.g. {lacking[0]!r}")
        odds = [float(null_odds[e.qas_id]) for e in examples]

    exact, f1_scores = raw_exact, raw_f1
    if odds is not None:
        # A question predicted unanswerable scores 1 exactly when it is.
        exact = [float(not has) if o > na_prob_thresh else s
                 for s, o, has in zip(raw_exact, odds, has_answer)]
        f1_scores = [float(not has) if o > na_prob_thresh else s
                     for s, o, has in zip(raw_f1, odds, has_answer)]
    results = _percentages("", exact, f1_scores, range(len(examples)))
    if version_2_with_negative:
        for prefix, wanted in (("HasAns_", True), ("NoAns_", False)):
            subset = [i for i, has in enumerate(has_answer) if has == wanted]
            if subset:
                results.update(_percentages(prefix, exact, f1_scores, subset))
    if odds is not None:
        for name, raw in (("exact", raw_exact), ("f1", raw_f1)):
            best, threshold = best_threshold(raw, odds, has_answer, answered)
            results[f"best_{name}"] = best
            results[f"best_{name}_thresh"] = threshold
    return results


def best_threshold(scores, null_odds, has_answer, answered):
    """(best score in percent, its threshold) over null-odds thresholds, as evaluate-v2.0.py.

    scores: each question's raw score when its prediction is kept;
    answered: whether that prediction is non-empty. Questions are taken in
    increasing null odds (stable), each flipping from "predicted
    unanswerable" to its prediction; the threshold is the null odds where
    the running total first peaks (0.0 if it never beats all-unanswerable).
    Tied odds are flipped one at a time, as the script does.
    """
    total = sum(1 for has in has_answer if not has)  # all predicted unanswerable
    best, threshold = total, 0.0
    for i in sorted(range(len(scores)), key=lambda i: null_odds[i]):
        if has_answer[i]:
            total += scores[i]
        elif answered[i]:
            total -= 1
        if total > best:
            best, threshold = total, null_odds[i]
    return 100.0 * best / len(scores), threshold


def _percentages(prefix, exact, f1_scores, indices):
    indices = list(indices)
    count = len(indices)
    return {
        f"{prefix}exact": 100.0 * sum(exact[i] for i in indices) / count if count else 0.0,
        f"{prefix}f1": 100.0 * sum(f1_scores[i] for i in indices) / count if count else 0.0,
        f"{prefix}total": count,
    }
