"""Windows of whole words over sentences longer than the model's input, and stitching their predictions back.

A sentence whose pieces do not fit in `max_seq_length` (with the template's
special tokens: [CLS] and [SEP], or <s> and </s>) is covered by overlapping
windows of whole words; every word is predicted by exactly one window, the
one where it has the most context: the largest min(pieces before it, pieces
after it) inside the window (the earliest window on ties). So no word is
ever dropped, and words near a window's edge take their prediction from a
neighbour that sees both sides.

A single word with more pieces than a window holds gets a window of its own
and is cut to its first pieces there (`word_pieces.word_layout` cuts it);
its label is on the first piece, so its prediction is unaffected.

Pure numpy / Python; `word_pieces.select_words` gathers the windows' pieces.
"""

# W=words in a sentence, K=windows

import dataclasses
from typing import List, Optional, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Window:
    """Words [start, stop) of sentence `sentence`; it predicts words [owned_start, owned_stop)."""

    sentence: int  # index into the list of sentences given to `split`
    start: int  # first word in the window
    stop: int  # one past the last word
    owned_start: int  # first word whose prediction comes from this window
    owned_stop: int  # one past the last such word; start <= owned_start < owned_stop <= stop


def split(pieces_per_word: Sequence[Sequence[int]], max_seq_length: int,
          stride: Optional[int] = None, special_tokens: int = 2) -> List[Window]:
    """Windows covering every word of every sentence, in sentence then word order.

    `pieces_per_word[i][w]` is the number of wordpieces of word w of sentence
    i (at least 1, as `tokenize_words` guarantees). A sentence that fits gets
    one window; a longer one gets windows of at most `max_seq_length -
    special_tokens` pieces whose starts move `stride` pieces apart (default:
    half a window), or further when that is needed to fit the next word. A
    sentence without words gets no window. `special_tokens` is what the
    tokenizer's template adds to a row, `template.special_count(pair=False)`
    (2 for BERT's and RoBERTa's).
    """
    budget = max_seq_length - special_tokens
    if budget < 1:
        raise ValueError(f"max_seq_length must be at least {special_tokens + 1}, got "
                         f"{max_seq_length}")
    stride = max(budget // 2, 1) if stride is None else stride
    if not 1 <= stride <= budget:
        raise ValueError(f"stride must be between 1 and max_seq_length - {special_tokens} = "
                         f"{budget}, got {stride}")
    windows = []
    for sentence, counts in enumerate(pieces_per_word):
        counts = np.asarray(counts, np.int64).reshape(-1)  # [W]
        if counts.size and counts.min() < 1:
            raise ValueError(f"sentence {sentence}: every word needs at least one piece")
        windows += _sentence_windows(sentence, np.minimum(counts, budget), budget, stride)
    return windows


def _sentence_windows(sentence, counts, budget, stride):
    words = counts.size
    if words == 0:
        return []
    ends = np.concatenate([[0], np.cumsum(counts)])  # [W + 1] pieces before word w
    if ends[-1] <= budget:
        return [Window(sentence, 0, words, 0, words)]
    spans = []
    start = 0
    while True:
        # The most words from `start` that fit; at least one since no count exceeds the budget.
        stop = int(np.searchsorted(ends, ends[start] + budget, side="right")) - 1
        spans.append((start, stop))
        if stop == words:
            break
        by_stride = int(np.searchsorted(ends, ends[start] + stride, side="right")) - 1
        # The next window must reach word `stop`, or windows would repeat.
        to_reach = int(np.searchsorted(ends, ends[stop + 1] - budget, side="left"))
        start = max(by_stride, to_reach, start + 1)

    # Each word goes to the window where it has the most context on its poorer side.
    best = np.full(words, -1)  # [W]
    owner = np.full(words, -1)  # [W]
    for index, (start, stop) in enumerate(spans):
        word = np.arange(start, stop)
        context = np.minimum(ends[word] - ends[start], ends[stop] - ends[word + 1])
        better = context > best[word]
        best[word[better]] = context[better]
        owner[word[better]] = index
    windows = []
    for index, (start, stop) in enumerate(spans):
        owned = np.flatnonzero(owner == index)
        if owned.size == 0:
            continue  # its words all have more context elsewhere
        # Owners never interleave: between two windows, the earlier one wins a prefix of their words.
        assert owned[-1] - owned[0] + 1 == owned.size, (sentence, spans, owner)
        windows.append(Window(sentence, start, stop, int(owned[0]), int(owned[-1]) + 1))
    return windows


def stitch(windows: Sequence[Window], window_predictions: Sequence[Sequence],
           words_per_sentence: Sequence[int]) -> List[list]:
    """One prediction per word of every sentence, from the windows that own them.

    `window_predictions[k]` holds one prediction (a tag, a label id, a row
    of logits...) per word of `windows[k]`, i.e. `stop - start` of them.
    `words_per_sentence[i]` is the number of words of sentence i. Returns a
    list per sentence with one prediction per word; ValueError when the
    windows do not give every word exactly one prediction.
    """
    if len(window_predictions) != len(windows):
        raise ValueError(f"{len(window_predictions)} predictions for {len(windows)} windows")
    missing = object()
    out = [[missing] * int(n) for n in words_per_sentence]
    for window, predictions in zip(windows, window_predictions):
        if len(predictions) != window.stop - window.start:
            raise ValueError(f"{window}: {len(predictions)} predictions for "
                             f"{window.stop - window.start} words")
        row = out[window.sentence]
        if window.stop > len(row):
            raise ValueError(f"{window} ends past the sentence's {len(row)} words")
        for word in range(window.owned_start, window.owned_stop):
            if row[word] is not missing:
                raise ValueError(f"sentence {window.sentence} word {word} owned twice")
            row[word] = predictions[word - window.start]
    for sentence, row in enumerate(out):
        if any(p is missing for p in row):
            word = next(w for w, p in enumerate(row) if p is missing)
            raise ValueError(f"sentence {sentence} word {word} has no window owning it")
    return out
