"""Model inputs for extractive QA: windows `[CLS] question [SEP] context window [SEP]` with offsets.

The layout is the tokenizer's template (`tokenizer.template`): RoBERTa's
windows are `<s> question </s></s> context window </s>`.

As google-research/bert's run_squad: a context longer than a window is
covered by windows `doc_stride` pieces apart, each piece is scored in the
window where it has the most context on both sides, and a training answer
becomes the token positions of its first and last piece (0, the template's
start token [CLS] or <s>, where a window does not hold all of it or the
question has none). Unlike run_squad, answer spans are found with the
tokenizer's character offsets, so the answer text is always cut from the
original context.
"""

# N=windows, T=tokens of one window (unpadded), Q=question pieces, P=context pieces

import dataclasses
from typing import List, Optional

import numpy as np
import tensorflow as tf
from absl import logging

# Texts per tokenizer call: large enough that per-call overhead vanishes, small
# enough that the ragged intermediates stay a few hundred MB on real data.
_TOKENIZE_BATCH = 2048

# Unicode White_Space: characters a token's span may not absorb (see _absorb_dropped).
WHITESPACE = np.array([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029,
                        0x202F, 0x205F, 0x3000, *range(0x2000, 0x200B)], np.int32)


@dataclasses.dataclass
class Features:
    """Windows over examples' contexts, in example order, one list entry per window.

    Per window (numpy, unpadded: T is the window's own length):
      input_ids, segment_ids: int32 [T]
      char_start, char_end: int32 [T]; context token t is
          context[char_start[t]:char_end[t]], -1 for the special tokens and the question
      is_max_context: bool [T]; whether this window scores the token
    Per feature set:
      example_index: int32 [N], the window's index in the examples list
      start_position, end_position: int32 [N] token indices of the answer
          (0 = the start token for none in this window); None unless for_training
    """

    input_ids: List[np.ndarray]
    segment_ids: List[np.ndarray]
    char_start: List[np.ndarray]
    char_end: List[np.ndarray]
    is_max_context: List[np.ndarray]
    example_index: np.ndarray
    start_position: Optional[np.ndarray] = None
    end_position: Optional[np.ndarray] = None

    def __len__(self):
        return len(self.input_ids)


def make_features(examples, tokenizer, max_seq_length=384, doc_stride=128, max_query_length=64,
                  for_training=False) -> Features:
    """Windows over `examples` (squad.Example) tokenized by `tokenizer` (any with a template).

    Every evaluation example gets at least one window. For training, the
    first answer is the target (as run_squad) and an example whose answer
    covers no context piece (only characters the tokenizer drops) is skipped
    with a warning.
    """
    if max_query_length < 1 or doc_stride < 1:
        raise ValueError(f"max_query_length ({max_query_length}) and doc_stride ({doc_stride}) "
                         "must be positive")
    template = tokenizer.template
    specials = template.special_count(pair=True)
    if max_seq_length - max_query_length - specials < 1:
        raise ValueError(f"max_seq_length {max_seq_length} leaves no room for context after a "
                         f"question of max_query_length {max_query_length} and {specials} "
                         "special tokens")
    # Questions usually share a context (five per paragraph in SQuAD): tokenize each context once.
    context_of = {}
    for example in examples:
        context_of.setdefault(example.context, len(context_of))
    contexts = list(context_of)
    context_pieces = _tokenize(tokenizer, contexts, with_offsets=True)
    questions = _tokenize(tokenizer, [e.question for e in examples], with_offsets=False)

    out = Features([], [], [], [], [], [], [] if for_training else None,
                   [] if for_training else None)
    skipped, long_questions = 0, []
    for index, example in enumerate(examples):
        question = questions[index][0][:max_query_length]  # [Q]
        if len(questions[index][0]) > max_query_length:
            long_questions.append(example.qas_id)
        ids, starts, ends = context_pieces[context_of[example.context]]  # [P] each
        spans = window_spans(len(ids), max_seq_length - len(question) - specials, doc_stride)
        best_window = max_context_windows(spans, len(ids))  # [P]
        answer = None
        if for_training and not example.is_impossible:
            if not example.answers:
                raise ValueError(f"{example.where} (id {example.qas_id!r}): an answerable "
                                 "training example has no answer (read with for_training=True)")
            text, start = example.answers[0]
            answer = answer_pieces(starts, ends, start, start + len(text))
            if answer is None:
                logging.warning("%s (id %r): answer %r covers no token; skipped for training",
                                example.where, example.qas_id, text)
                skipped += 1
                continue
        _, first = template.segment_starts(len(question))  # the window's first context token
        outside = np.full(len(question), -1, np.int32)  # [Q] no offsets in the question
        for w, (begin, end) in enumerate(spans):
            n = end - begin
            out.input_ids.append(template.frame_array(question, ids[begin:end]))
            out.segment_ids.append(template.segment_id_array(len(question), n))
            out.char_start.append(template.frame_array(outside, starts[begin:end], special=-1))
            out.char_end.append(template.frame_array(outside, ends[begin:end], special=-1))
            out.is_max_context.append(template.frame_array(
                np.zeros(len(question), bool), best_window[begin:end] == w, special=False))
            out.example_index.append(index)
            if for_training:
                inside = answer is not None and begin <= answer[0] and answer[1] < end
                out.start_position.append(answer[0] - begin + first if inside else 0)
                out.end_position.append(answer[1] - begin + first if inside else 0)
    if skipped:
        logging.warning("skipped %d training examples whose answer covers no token", skipped)
    if long_questions:
        logging.warning("%d questions have more than max_query_length=%d pieces and keep only "
                        "their first %d (as run_squad), e.g. id %r", len(long_questions),
                        max_query_length, max_query_length, long_questions[0])
    out.example_index = np.asarray(out.example_index, np.int32)
    if for_training:
        out.start_position = np.asarray(out.start_position, np.int32)
        out.end_position = np.asarray(out.end_position, np.int32)
    return out


def features_to_tensors(features: Features):
    """The model's inputs as tensors, ready for `tf.data.Dataset.from_tensor_slices`.

    Returns {"input_ids", "segment_ids": int32 ragged [N, (T)]} plus, for
    training features, {"start_positions", "end_positions": int32 [N]}.
    """
    lengths = np.array([len(ids) for ids in features.input_ids], np.int64)

    def ragged(arrays):
        values = np.concatenate(arrays) if arrays else np.zeros([0], np.int32)
        return tf.RaggedTensor.from_row_lengths(values, lengths)

    tensors = {"input_ids": ragged(features.input_ids),
               "segment_ids": ragged(features.segment_ids)}
    if features.start_position is not None:
        tensors["start_positions"] = tf.constant(features.start_position, tf.int32)
        tensors["end_positions"] = tf.constant(features.end_position, tf.int32)
    return tensors


def window_spans(num_pieces, max_pieces, doc_stride):
    """[(begin, end)) piece ranges of the windows over a context of num_pieces pieces.

    Windows of at most max_pieces start doc_stride apart (or closer, never
    leaving a gap, when doc_stride > max_pieces); the last one reaches the
    end. A context of no pieces still gets one (empty) window.
    """
    spans = []
    begin = 0
    while True:
        end = min(begin + max_pieces, num_pieces)
        spans.append((begin, end))
        if end == num_pieces:
            return spans
        begin += min(end - begin, doc_stride)


def max_context_windows(spans, num_pieces):
    """For each piece, the index of the window that scores it: int32 [P].

    google-research/bert's rule: the window where min(pieces left of it,
    pieces right of it) + 0.01 * window length is largest, the first on ties.
    """
    best_score = np.full(num_pieces, -np.inf)  # [P]
    best = np.zeros(num_pieces, np.int32)  # [P]
    for w, (begin, end) in enumerate(spans):
        position = np.arange(begin, end)
        score = np.minimum(position - begin, end - 1 - position) + 0.01 * (end - begin)
        better = score > best_score[begin:end]
        best_score[begin:end][better] = score[better]
        best[begin:end][better] = w
    return best


def answer_pieces(starts, ends, answer_start, answer_end):
    """(first, last) piece of the answer characters [answer_start, answer_end), or None.

    The first piece ending after answer_start and the last starting before
    answer_end; None when no piece lies inside the answer.
    """
    first = np.flatnonzero(ends > answer_start)
    last = np.flatnonzero(starts < answer_end)
    if not first.size or not last.size or first[0] > last[-1]:
        return None
    return int(first[0]), int(last[-1])


def _tokenize(tokenizer, texts, with_offsets):
    """[(ids, starts, ends)] per text (numpy int32 [P]); starts/ends None without offsets."""
    out = []
    for chunk_begin in range(0, len(texts), _TOKENIZE_BATCH):
        chunk = texts[chunk_begin:chunk_begin + _TOKENIZE_BATCH]
        if with_offsets:
            ragged = tokenizer.tokenize_with_offsets(chunk)
        else:
            ragged = (tokenizer.tokenize(chunk),)
        splits = ragged[0].row_splits.numpy()
        columns = [np.split(r.flat_values.numpy().astype(np.int32), splits[1:-1]) for r in ragged]
        for b, text in enumerate(chunk):
            if with_offsets:
                starts, ends = _absorb_dropped(text, columns[1][b], columns[2][b])
                out.append((columns[0][b], starts, ends))
            else:
                out.append((columns[0][b], None, None))
    return out


def _absorb_dropped(text, starts, ends):
    """Widens piece spans over the characters normalization dropped next to them.

    The tokenizer's offsets cover only characters that made a piece, so a
    combining accent stripped by an uncased model, a zero-width space or a
    control character inside a word falls between spans, and an answer
    ending in "café" (with a combining accent) would be cut without it. A
    piece's end extends up to the next piece or whitespace; a piece after
    whitespace extends back over what precedes it up to that whitespace.
    Pieces that share characters (a split Hangul syllable) keep their spans.
    First, a span that starts with whitespace before its text (byte-level
    BPE's tokens that hold the space before a word) starts at its text, as
    Hugging Face's trim_offsets has it, so that an answer is cut without it;
    WordPiece spans never start with whitespace.
    """
    if not len(starts):
        return starts, ends
    code_points = np.frombuffer(text.encode("utf-32-le"), np.uint32).astype(np.int32)  # [C]
    is_space = np.isin(code_points, WHITESPACE)
    size = len(code_points)
    # next_space[c]: first whitespace at or after c (size if none); prev_space: last at or before.
    index = np.arange(size + 1)
    marks = np.where(np.append(~is_space, True), index, size)
    next_text = np.minimum.accumulate(marks[::-1])[::-1]  # [C + 1] first non-whitespace at/after c
    starts = np.where(next_text[starts] < ends, next_text[starts], starts)
    marks = np.where(np.append(is_space, True), index, size)
    next_space = np.minimum.accumulate(marks[::-1])[::-1]  # [C + 1]
    marks = np.where(is_space, np.arange(size), -1)
    prev_space = np.maximum.accumulate(marks)  # [C]

    following = np.append(starts[1:], size)  # [P] where the next piece starts
    new_ends = np.maximum(ends, np.minimum(next_space[ends], following))
    preceding = np.insert(new_ends[:-1], 0, 0)  # [P] where the previous piece now ends
    floor = np.maximum(prev_space[np.maximum(starts - 1, 0)] + 1, preceding)
    floor = np.where(starts == 0, 0, floor)
    new_starts = np.minimum(starts, floor)
    return new_starts.astype(np.int32), new_ends.astype(np.int32)
