"""Entity-level precision, recall and F1 as conlleval counts them (seqeval's default mode), and token accuracy.

An entity is a run of tags (type, first word, last word). conlleval reads
any tag sequence, valid in its scheme or not, with one rule: a tag continues
the entity of the tag before it when it is I- or E- of the same type and the
tag before is B- or I-. Every other non-O tag starts a new entity (so an I-
after O, a type change, B-, S-, and anything after E- or S- all start one).
A predicted entity is correct only when its type, first and last word all
equal those of a true entity. Entities never span sentences.

Scores are micro-averaged over all entities; a ratio with a zero denominator
is 0, as seqeval reports it. The per-type report lists every type found in
either the true or the predicted tags (support = true entities of the type).
"""

import dataclasses
from collections import Counter
from typing import Dict, List, Sequence, Tuple

from tasks.tagging.schemes import OUTSIDE, split_tag

Entity = Tuple[str, int, int]  # (type, first word, one past the last word)


@dataclasses.dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    support: int  # true entities


def entities(tags: Sequence[str]) -> List[Entity]:
    """The entities of one sentence's tags, in order: (type, start, stop) with stop exclusive."""
    found = []
    start, kind, previous = None, None, OUTSIDE
    for index, tag in enumerate(tags):
        prefix, tag_type = split_tag(tag)
        continues = prefix in ("I", "E") and previous in ("B", "I") and tag_type == kind
        if not continues:
            if start is not None:
                found.append((kind, start, index))
            start, kind = (index, tag_type) if prefix != OUTSIDE else (None, None)
        previous = prefix
    if start is not None:
        found.append((kind, start, len(tags)))
    return found


def _check_lengths(true_tags, predicted_tags):
    if len(true_tags) != len(predicted_tags):
        raise ValueError(f"{len(true_tags)} true sentences but {len(predicted_tags)} predicted")
    for index, (true, predicted) in enumerate(zip(true_tags, predicted_tags)):
        if len(true) != len(predicted):
            raise ValueError(f"sentence {index}: {len(true)} true tags but {len(predicted)} predicted")


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else 0.0


def _scores(correct, predicted, true) -> Scores:
    precision, recall = _ratio(correct, predicted), _ratio(correct, true)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return Scores(precision, recall, f1, true)


def entity_scores(true_tags: Sequence[Sequence[str]],
                  predicted_tags: Sequence[Sequence[str]]) -> Tuple[Scores, Dict[str, Scores]]:
    """Micro-averaged entity scores, and the same per entity type (sorted by type).

    Both arguments hold one tag sequence per sentence, in any scheme (or a
    mix); sentence i of each must have the same length.
    """
    _check_lengths(true_tags, predicted_tags)
    true_count, predicted_count, correct_count = Counter(), Counter(), Counter()
    for true, predicted in zip(true_tags, predicted_tags):
        true_entities, predicted_entities = set(entities(true)), set(entities(predicted))
        true_count.update(kind for kind, _, _ in true_entities)
        predicted_count.update(kind for kind, _, _ in predicted_entities)
        correct_count.update(kind for kind, _, _ in true_entities & predicted_entities)
    overall = _scores(sum(correct_count.values()), sum(predicted_count.values()),
                      sum(true_count.values()))
    per_type = {kind: _scores(correct_count[kind], predicted_count[kind], true_count[kind])
                for kind in sorted(set(true_count) | set(predicted_count))}
    return overall, per_type


def accuracy(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> float:
    """The fraction of words whose predicted tag equals the true one (0 for no words)."""
    _check_lengths(true_tags, predicted_tags)
    pairs = [(t, p) for true, predicted in zip(true_tags, predicted_tags)
             for t, p in zip(true, predicted)]
    return _ratio(sum(t == p for t, p in pairs), len(pairs))


def eval_results(true_tags: Sequence[Sequence[str]],
                 predicted_tags: Sequence[Sequence[str]]) -> Dict[str, float]:
    """Everything for eval_results.txt as one flat dict.

    Keys: eval_precision, eval_recall, eval_f1 (micro, entity level),
    eval_accuracy (words), and for each entity type T eval_T_precision,
    eval_T_recall, eval_T_f1 and eval_T_support (an int).
    """
    overall, per_type = entity_scores(true_tags, predicted_tags)
    results = {"eval_precision": overall.precision, "eval_recall": overall.recall,
               "eval_f1": overall.f1, "eval_accuracy": accuracy(true_tags, predicted_tags)}
    for kind, scores in per_type.items():
        for field in ("precision", "recall", "f1", "support"):
            results[f"eval_{kind}_{field}"] = getattr(scores, field)
    return results
