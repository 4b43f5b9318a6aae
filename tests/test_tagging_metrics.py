"""Entity-level tagging metrics against seqeval 1.2.2's default (conlleval-compatible) mode."""

import random
import warnings

import pytest
from seqeval import metrics as seqeval
from seqeval.metrics.sequence_labeling import get_entities

from tag_sequences import TYPES, encode, random_chunks, random_tag
from tasks.tagging import metrics


def corpus(scheme, count=300, seed=0):
    """(true, predicted) tag sequences: valid truths, predictions from near-misses to noise.

    One sentence in five has a malformed truth (random tags of the scheme).
    """
    rng = random.Random(f"{scheme}{seed}")
    true, predicted = [], []
    for _ in range(count):
        length = rng.choice([0, 1, 2, 3, 7, 11, 19])
        if rng.random() < 0.2:
            gold = [random_tag(rng, scheme) for _ in range(length)]
        else:
            gold = encode(length, random_chunks(rng, length), scheme)
        noise = rng.choice([0.0, 0.1, 0.3, 1.0])
        guess = [random_tag(rng, scheme) if rng.random() < noise else tag for tag in gold]
        if length > 1 and rng.random() < 0.3:  # a boundary shifted by one word
            guess = guess[1:] + ["O"] if rng.random() < 0.5 else ["O"] + guess[:-1]
        true.append(gold)
        predicted.append(guess)
    return true, predicted


def reference(true, predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns where a ratio is undefined (and reports 0)
        report = seqeval.classification_report(true, predicted, output_dict=True, digits=10)
        return {
            "precision": seqeval.precision_score(true, predicted),
            "recall": seqeval.recall_score(true, predicted),
            "f1": seqeval.f1_score(true, predicted),
            "accuracy": seqeval.accuracy_score(true, predicted) if any(true) else 0.0,
            "types": {k: v for k, v in report.items() if not k.endswith(" avg")},
        }


def assert_same_as_seqeval(true, predicted):
    expected = reference(true, predicted)
    overall, per_type = metrics.entity_scores(true, predicted)
    assert overall.precision == pytest.approx(expected["precision"], abs=1e-12)
    assert overall.recall == pytest.approx(expected["recall"], abs=1e-12)
    assert overall.f1 == pytest.approx(expected["f1"], abs=1e-12)
    assert metrics.accuracy(true, predicted) == pytest.approx(expected["accuracy"], abs=1e-12)
    assert sorted(per_type) == sorted(expected["types"])
    for kind, scores in per_type.items():
        theirs = expected["types"][kind]
        assert (scores.precision, scores.recall, scores.f1, scores.support) == pytest.approx(
            (theirs["precision"], theirs["recall"], theirs["f1-score"], theirs["support"]), abs=1e-12)


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "IOBES"])
def test_entities_are_seqeval_chunks(scheme):
    true, predicted = corpus(scheme)
    for tags in true + predicted:
        expected = [(kind, start, end + 1) for kind, start, end in get_entities(tags)]
        assert metrics.entities(tags) == expected, tags


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "IOBES"])
def test_scores_equal_seqeval(scheme):
    true, predicted = corpus(scheme)
    assert_same_as_seqeval(true, predicted)  # the whole corpus
    for first in range(0, len(true), 7):  # and slices of 7, where small counts and zeros show
        assert_same_as_seqeval(true[first:first + 7], predicted[first:first + 7])
    # The corpus is not trivial: seqeval finds entities and scores strictly between 0 and 1.
    found = reference(true, predicted)
    assert 0.2 < found["f1"] < 0.95 and len(found["types"]) == len(TYPES)


def test_mixed_schemes_and_edges_equal_seqeval():
    """Tags of different schemes in one sequence, sentence boundaries, and no entities at all."""
    true = [["B-PER", "E-PER", "I-PER", "S-LOC", "I-LOC"], ["I-X"], ["B-X", "I-X"], ["O", "O"]]
    predicted = [["B-PER", "I-PER", "I-PER", "B-LOC", "E-LOC"], ["I-X"], ["I-X", "I-X"], ["O", "S-X"]]
    assert_same_as_seqeval(true, predicted)
    assert_same_as_seqeval([["O", "O", "O"]], [["O", "B-PER", "O"]])  # recall undefined: 0
    assert_same_as_seqeval([["O", "B-PER", "O"]], [["O", "O", "O"]])  # precision undefined: 0


def test_known_scores_by_hand():
    # True: PER [0, 2), LOC [3, 4), PER [5, 6). Predicted: PER [0, 2) right, LOC [3, 5) too long,
    # and I-PER after O at 6 starts an entity of its own, wrong (the true one is at 5).
    true = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-PER", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "I-PER"]]
    results = metrics.eval_results(true, predicted)
    assert results["eval_precision"] == pytest.approx(1 / 3)
    assert results["eval_recall"] == pytest.approx(1 / 3)
    assert results["eval_f1"] == pytest.approx(1 / 3)
    assert results["eval_accuracy"] == pytest.approx(4 / 7)
    assert results["eval_PER_precision"] == 0.5 and results["eval_PER_support"] == 2
    assert results["eval_LOC_f1"] == 0.0 and results["eval_LOC_support"] == 1
    assert sorted(results) == sorted(
        ["eval_precision", "eval_recall", "eval_f1", "eval_accuracy"]
        + [f"eval_{t}_{f}" for t in ("PER", "LOC") for f in ("precision", "recall", "f1", "support")])


def test_rejects_misaligned_and_malformed_input():
    with pytest.raises(ValueError, match="sentence 1: 2 true tags but 1 predicted"):
        metrics.entity_scores([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="'PER'"):
        metrics.entities(["O", "PER"])
