"""From per-window start/end logits to answer texts, n-best lists and SQuAD 2.0 null odds.

Follows google-research/bert's write_predictions, with answers cut from the
original context by character offsets, and the files it writes:
predictions.json, nbest_predictions.json and (2.0) null_odds.json.
"""

# N=windows, L=logit columns (>= the longest window), K=n_best_size, T=tokens of one window

import collections
import dataclasses
import json
import math
import os
import uuid
from typing import Dict, List, Optional, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class Predictions:
    """What postprocess returns, keyed by question id.

    answers: {id: text}, as predictions.json ("" = no answer in 2.0, "empty"
        when no span survived the filters).
    nbest: {id: [{"text", "probability", "start_logit", "end_logit"}, ...]},
        best first, as nbest_predictions.json.
    null_odds: {id: null score - best span score} as null_odds.json (2.0),
        inf when no span survived; None for 1.1.
    char_spans: {id: (start, end)}: answers[id] == context[start:end];
        (-1, -1) for "" and "empty".
    """

    answers: Dict[str, str]
    nbest: Dict[str, List[dict]]
    null_odds: Optional[Dict[str, float]]
    char_spans: Dict[str, Tuple[int, int]]


_Candidate = collections.namedtuple("_Candidate", "text start_logit end_logit char_start char_end")


def postprocess(examples, features, start_logits, end_logits, n_best_size=20,
                max_answer_length=30, version_2_with_negative=False,
                null_score_diff_threshold=0.0, output_dir=None) -> Predictions:
    """Answers for `examples` (squad.Example) from the model's logits over `features`.

    `features` is make_features(examples, ...) for this same list.
    start_logits, end_logits: float [N, L], row n for features window n; a
    row may be padded past its window's length (the padding is ignored).
    Candidates per window: the top n_best_size start and end tokens of the
    window, start <= end, both in the context, the start token scored in
    this window (is_max_context), at most max_answer_length tokens. Unlike
    run_squad, the top tokens are picked among the window's own tokens, so
    padding never crowds real tokens out. Candidates are ranked by start +
    end logit, one per distinct answer text. For 2.0 the answer is "" when
    the null score (the smallest start+end logit at position 0, the start
    token [CLS] or <s>, over the example's windows) beats the best span by
    more than null_score_diff_threshold. With output_dir, writes the JSON
    files there.
    """
    # [N, L] in float64: run_squad adds logits as Python floats.
    start_logits = np.asarray(start_logits, np.float64)
    end_logits = np.asarray(end_logits, np.float64)
    if start_logits.shape != end_logits.shape or start_logits.shape[:1] != (len(features),):
        raise ValueError(f"logits of shapes {start_logits.shape} and {end_logits.shape} do not "
                         f"match {len(features)} windows")
    windows_of = [[] for _ in examples]
    for n, index in enumerate(features.example_index):
        windows_of[index].append(n)

    answers, nbest, null_odds, char_spans = {}, {}, {}, {}
    for example, windows in zip(examples, windows_of):
        candidates, null = [], None
        for n in windows:
            length = len(features.input_ids[n])
            if start_logits.shape[1] < length:
                raise ValueError(f"logits have {start_logits.shape[1]} columns, window {n} has "
                                 f"{length} tokens")
            candidates.append(_window_candidates(features, n, start_logits[n, :length],
                                                 end_logits[n, :length], n_best_size,
                                                 max_answer_length))
            null_score = start_logits[n, 0] + end_logits[n, 0]
            if null is None or null_score < null[0]:
                null = (null_score, start_logits[n, 0], end_logits[n, 0])
        entries = _nbest(example.context, candidates, null if version_2_with_negative else None,
                         n_best_size)
        qas_id = example.qas_id
        nbest[qas_id] = _nbest_json(entries)
        best_span = next((e for e in entries if e.text), None)
        if not version_2_with_negative:
            chosen = entries[0]
        else:
            if best_span is None:
                null_odds[qas_id] = math.inf
            else:
                null_odds[qas_id] = float(null[0] - best_span.start_logit - best_span.end_logit)
            no_answer = best_span is None or null_odds[qas_id] > null_score_diff_threshold
            chosen = _Candidate("", 0.0, 0.0, -1, -1) if no_answer else best_span
        answers[qas_id] = chosen.text
        char_spans[qas_id] = (int(chosen.char_start), int(chosen.char_end))

    result = Predictions(answers, nbest, null_odds if version_2_with_negative else None,
                         char_spans)
    if output_dir is not None:
        write_predictions(result, output_dir)
    return result


def write_predictions(predictions: Predictions, output_dir):
    """Writes predictions.json, nbest_predictions.json and (2.0) null_odds.json, each atomically."""
    os.makedirs(output_dir, exist_ok=True)
    _write_json(os.path.join(output_dir, "predictions.json"), predictions.answers)
    _write_json(os.path.join(output_dir, "nbest_predictions.json"), predictions.nbest)
    if predictions.null_odds is not None:
        _write_json(os.path.join(output_dir, "null_odds.json"), predictions.null_odds)


def _window_candidates(features, n, start_logits, end_logits, n_best_size, max_answer_length):
    """The valid (start, end) token pairs of window n, in run_squad's order.

    start_logits, end_logits: [T]. Returns four arrays over the pairs:
    start logit, end logit, and the answer's first and end character in the
    context; pairs by decreasing start logit, then decreasing end logit (the
    order of run_squad's two loops).
    """
    # Stable sort of the negated logits: ties keep the lower index, as Python's sorted does.
    top_start = np.argsort(-start_logits, kind="stable")[:n_best_size]  # [K]
    top_end = np.argsort(-end_logits, kind="stable")[:n_best_size]  # [K]
    start, end = np.meshgrid(top_start, top_end, indexing="ij")  # [K, K]
    start, end = start.reshape(-1), end.reshape(-1)
    in_context = features.char_start[n] >= 0  # [T]
    valid = (in_context[start] & in_context[end] & features.is_max_context[n][start]
             & (end >= start) & (end - start + 1 <= max_answer_length))
    start, end = start[valid], end[valid]
    return (start_logits[start], end_logits[end], features.char_start[n][start],
            features.char_end[n][end])


def _nbest(context, candidates, null, n_best_size):
    """The n-best candidates of one example, best first, one per distinct text.

    candidates: per window, the arrays of _window_candidates; null: (score, start
    logit, end logit) of the example's null answer, or None (1.1).
    """
    start_logit, end_logit, char_start, char_end = (
        np.concatenate([c[i] for c in candidates]) if candidates else np.zeros([0], np.int64)
        for i in range(4))
    if null is not None:
        # run_squad ranks the null answer after the spans that tie with it.
        start_logit = np.append(start_logit, null[1])
        end_logit = np.append(end_logit, null[2])
        char_start = np.append(char_start, -1)
        char_end = np.append(char_end, -1)
    order = np.argsort(-(start_logit + end_logit), kind="stable")
    entries, seen = [], set()
    for i in order:
        if len(entries) >= n_best_size:
            break
        begin = int(char_start[i])
        text = context[begin:int(char_end[i])] if begin >= 0 else ""
        if text in seen:
            continue
        seen.add(text)
        entries.append(_Candidate(text, float(start_logit[i]), float(end_logit[i]), begin,
                                  int(char_end[i]) if begin >= 0 else -1))
    if null is not None and "" not in seen:
        entries.append(_Candidate("", float(null[1]), float(null[2]), -1, -1))
    if not entries:
        entries.append(_Candidate("empty", 0.0, 0.0, -1, -1))
    return entries


def _nbest_json(entries):
    scores = np.array([e.start_logit + e.end_logit for e in entries])
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    return [{"text": e.text, "probability": float(p), "start_logit": e.start_logit,
             "end_logit": e.end_logit} for e, p in zip(entries, probabilities)]


def _write_json(path, value):
    """Writes through a temporary file in the same directory, so readers never see half a file."""
    temporary = f"{path}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=4)
            f.write("\n")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
