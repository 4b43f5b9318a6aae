"""Extractive QA from raw strings as TensorFlow ops: windows, span search and answer slicing.

This is what a served QA model runs. Each step is the graph twin of the
numpy code run_squad.py --do_predict uses, and gives the same result on the
same text: `make_windows` = features.make_features (question pieces cut to
max_query_length, windows doc_stride apart, the max-context rule, offsets
widened over dropped characters), `best_answers` = postprocess.postprocess
(top n_best_size start and end tokens per window, the same filters, the
same ranking and tie order, SQuAD 2.0's null score and threshold). Scores
are added in float64 as there. Only core TensorFlow ops are used.
"""

# B=questions, N=windows of the batch, T=tokens of the longest window, P=context pieces of
# the batch, C=characters of the batch, K=top tokens per window, S=whitespace characters

import math

import tensorflow as tf

from tasks.question_answering.features import WHITESPACE

_INF = float("inf")


def widen_offsets(texts, starts, ends):
    """features._absorb_dropped for a batch: each piece's span widened over dropped characters.

    texts: string [B]; starts, ends: int64 ragged [B, (P)] character offsets
    from the tokenizer's tokenize_with_offsets. Returns the widened (starts, ends);
    a span that starts with whitespace before its text starts at its text.
    """
    code_points = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")  # [B, (C)]
    characters = code_points.flat_values  # [C]
    is_space = tf.reduce_any(tf.equal(characters[:, None], tf.constant(WHITESPACE)[None, :]),
                             axis=1)  # [C]
    spaces = tf.where(is_space)[:, 0]  # [S] flat positions, ascending
    text_characters = tf.where(~is_space)[:, 0]  # [C - S]
    row = starts.value_rowids()  # [P]
    base = tf.gather(code_points.row_starts(), row)  # [P] flat position of the text's start
    size = tf.gather(code_points.row_lengths(), row)  # [P] characters of the text

    def next_of(flat_positions, local):
        """First of `flat_positions` at or after `local` in the piece's text, else its size."""
        index = tf.searchsorted(flat_positions[None], (base + local)[None], side="left")[0]
        found = tf.gather(tf.concat([flat_positions, tf.size(characters, tf.int64)[None]], 0),
                          index)
        return tf.where(found < base + size, found - base, size)

    def next_space(local):
        return next_of(spaces, local)

    def previous_space(local):
        """Last whitespace at or before `local` in the piece's text, else -1."""
        index = tf.searchsorted(spaces[None], (base + local)[None], side="right")[0]
        none = tf.constant([-1], tf.int64)
        found = tf.gather(tf.concat([none, spaces], 0), index)  # index 0: no whitespace before
        return tf.where(found >= base, found - base, -1)

    begin, end = starts.flat_values, ends.flat_values  # [P]
    text_start = next_of(text_characters, begin)  # past whitespace the span starts with
    begin = tf.where(text_start < end, text_start, begin)
    count = tf.size(begin, tf.int64)
    position = tf.range(count)
    first = tf.equal(position, tf.gather(starts.row_starts(), row))  # [P] first of its text
    last = tf.equal(position, tf.gather(starts.row_limits() - 1, row))
    zero = tf.zeros([1], tf.int64)
    following = tf.where(last, size, tf.concat([begin[1:], zero], 0)[:count])  # next piece's start
    new_end = tf.maximum(end, tf.minimum(next_space(end), following))
    preceding = tf.where(first, tf.zeros_like(new_end), tf.concat([zero, new_end[:-1]], 0)[:count])
    floor = tf.maximum(previous_space(tf.maximum(begin - 1, 0)) + 1, preceding)
    floor = tf.where(tf.equal(begin, 0), tf.zeros_like(floor), floor)
    return starts.with_flat_values(tf.minimum(begin, floor)), ends.with_flat_values(new_end)


def make_windows(tokenizer, questions, contexts, max_seq_length, doc_stride, max_query_length):
    """The windows `[CLS] question [SEP] context window [SEP]` of a batch, as make_features.

    The layout is `tokenizer.template`'s (RoBERTa: `<s> question </s></s> context </s>`).

    questions, contexts: string [B]. Returns a dict of dense tensors, padded
    to the longest window (at least two positions):
      input_ids, input_mask, segment_ids: int32 [N, T]
      char_start, char_end: int64 [N, T]; the context characters of each
          token, -1 outside the context (and in padding)
      is_max_context: bool [N, T]; whether this window scores the token
      length: int64 [N] tokens of each window; example: int64 [N] its question
      truncated: bool [B]; the question had more than max_query_length pieces
    """
    template = tokenizer.template
    specials = template.special_count(pair=True)
    if isinstance(max_seq_length, int) and isinstance(max_query_length, int) and (
            max_seq_length - max_query_length - specials < 1):
        raise ValueError(f"max_seq_length {max_seq_length} leaves no room for context after a "
                         f"question of max_query_length {max_query_length} and {specials} "
                         "special tokens")
    question = tokenizer.tokenize(questions).with_row_splits_dtype(tf.int64)  # [B, (Q)]
    truncated = question.row_lengths() > max_query_length
    question = question[:, :max_query_length]
    ids, starts, ends = (r.with_row_splits_dtype(tf.int64)
                         for r in tokenizer.tokenize_with_offsets(contexts))  # [B, (P)]
    starts, ends = widen_offsets(contexts, tf.cast(starts, tf.int64), tf.cast(ends, tf.int64))

    # Windows of `room` pieces, `stride` apart, the last reaching the end (window_spans).
    pieces = ids.row_lengths()  # [B]
    room = max_seq_length - question.row_lengths() - specials  # [B] >= 1 (checked above)
    stride = tf.minimum(room, doc_stride)
    count = 1 + tf.maximum(tf.zeros_like(pieces), (pieces - room + stride - 1) // stride)  # [B]
    example = tf.repeat(tf.range(tf.size(count, tf.int64)), count)  # [N]
    begin = tf.ragged.range(count).flat_values * tf.gather(stride, example)  # [N]
    end = tf.minimum(begin + tf.gather(room, example), tf.gather(pieces, example))  # [N]
    base = tf.gather(ids.row_starts(), example)  # [N]
    index = tf.ragged.range(base + begin, base + end)  # [N, (n)] flat piece indices
    flat_index = index.flat_values
    window_of = index.value_rowids()  # per context token, its window

    # The max-context rule in float64, exactly as max_context_windows computes it.
    piece = flat_index - tf.gather(base, window_of)  # piece number in its context
    begin_of, end_of = tf.gather(begin, window_of), tf.gather(end, window_of)
    score = (tf.cast(tf.minimum(piece - begin_of, end_of - 1 - piece), tf.float64)
             + 0.01 * tf.cast(end_of - begin_of, tf.float64))
    total = tf.size(ids.flat_values, tf.int64)
    best = tf.math.unsorted_segment_max(score, flat_index, total)
    windows = tf.size(example, tf.int64)
    first = tf.math.unsorted_segment_min(
        tf.where(tf.equal(score, tf.gather(best, flat_index)), window_of, windows),
        flat_index, total)  # the first window on ties
    is_max = index.with_flat_values(tf.equal(window_of, tf.gather(first, flat_index)))

    asked = tf.gather(question, example)  # [N, (Q)]
    context_ids = index.with_flat_values(tf.gather(ids.flat_values, flat_index))
    input_ids = template.frame(asked, context_ids)
    segment_ids = template.segment_ids(asked, context_ids)
    outside = tf.cast(tf.zeros_like(asked), tf.int64) - 1  # [N, (Q)] no offsets in the question

    def offsets(flat):
        return template.frame(outside, index.with_flat_values(tf.gather(flat, flat_index)),
                              special=-1)

    is_max = template.frame(tf.cast(tf.zeros_like(asked), tf.bool), is_max, special=False)

    length = input_ids.row_lengths()  # [N]
    width = tf.maximum(tf.reduce_max(length), 2)  # the max of none is the lowest int64
    shape = tf.stack([windows, width])
    return {
        "input_ids": input_ids.to_tensor(tokenizer.pad_id, shape=shape),
        "input_mask": tf.ones_like(input_ids).to_tensor(0, shape=shape),
        "segment_ids": segment_ids.to_tensor(0, shape=shape),
        "char_start": offsets(starts.flat_values).to_tensor(-1, shape=shape),
        "char_end": offsets(ends.flat_values).to_tensor(-1, shape=shape),
        "is_max_context": is_max.to_tensor(False, shape=shape),
        "length": length,
        "example": example,
        "truncated": truncated,
    }


def span_logits(model, windows, windows_per_call=64):
    """The model's float32 [N, T] start and end logits, at most `windows_per_call` windows at
    a time.

    A long context makes many windows: running them in slices bounds the
    memory a request can take. A slice holds the next power of two at or above
    the windows there are, up to `windows_per_call`, so that a request of one
    short context runs the model on one window (not `windows_per_call` of
    them, mostly padding) and an XLA-compiled model sees a few batch sizes.
    """
    inputs = {name: windows[name] for name in ("input_ids", "input_mask", "segment_ids")}
    count, width = tf.shape(inputs["input_ids"])[0], tf.shape(inputs["input_ids"])[1]
    needed = tf.cast(tf.maximum(count, 1), tf.float64)
    # log2 of an exact power of two may come out a hair above the integer: 1e-9 below it.
    power = tf.math.ceil(tf.math.log(needed) / math.log(2.0) - 1e-9)
    per_call = tf.minimum(tf.cast(2.0 ** power, tf.int32), windows_per_call)
    calls = tf.maximum((count + per_call - 1) // per_call, 1)
    padding = calls * per_call - count

    def sliced(value):
        return tf.reshape(tf.pad(value, [[0, padding], [0, 0]]), [calls, per_call, width])

    def call(part):
        outputs = model(part, training=False)
        return outputs["start_logits"], outputs["end_logits"]

    spec = tf.TensorSpec([None, None], tf.float32)
    start, end = tf.map_fn(call, {name: sliced(value) for name, value in inputs.items()},
                           fn_output_signature=(spec, spec), parallel_iterations=1)
    return (tf.reshape(start, [-1, width])[:count], tf.reshape(end, [-1, width])[:count])


def best_answers(contexts, windows, start_logits, end_logits, n_best_size=20,
                 max_answer_length=30, version_2_with_negative=False,
                 null_score_diff_threshold=0.0):
    """The answer to each question: postprocess's first prediction, found in the graph.

    contexts: string [B]; windows: make_windows of them; start_logits,
    end_logits: float32 [N, T]. Returns
      answer: string [B], the context's characters [start, end); "" when
          there is none (2.0's null answer, or no span passed the filters,
          which predictions.json writes as "empty")
      start, end: int32 [B] character offsets, -1 without an answer
      score: float32 [B], start + end logit of the answer; for the null
          answer its score, for no span 0 (as nbest_predictions.json has them)
      has_answer: bool [B] (2.0 only)
    """
    example = windows["example"]  # [N]
    questions = tf.shape(contexts, out_type=tf.int64)[0]
    count = tf.size(example, tf.int64)
    width = tf.shape(start_logits)[1]
    real = tf.range(width)[None, :] < tf.cast(windows["length"], tf.int32)[:, None]  # [N, T]
    k = tf.minimum(n_best_size, width)
    # top_k puts the lower index first on ties, as run_squad's stable sort does.
    start_value, start_token = tf.math.top_k(tf.where(real, start_logits, -_INF), k)  # [N, K]
    end_value, end_token = tf.math.top_k(tf.where(real, end_logits, -_INF), k)

    def at(table, tokens):
        return tf.gather(table, tokens, batch_dims=1)  # [N, K]

    in_context = windows["char_start"] >= 0
    start_ok = at(real, start_token) & at(in_context, start_token) & at(
        windows["is_max_context"], start_token)
    end_ok = at(real, end_token) & at(in_context, end_token)
    first, last = start_token[:, :, None], end_token[:, None, :]  # [N, K, 1], [N, 1, K]
    valid = (start_ok[:, :, None] & end_ok[:, None, :] & (last >= first)
             & (last - first + 1 <= max_answer_length))  # [N, K, K]
    score = (tf.cast(start_value, tf.float64)[:, :, None]
             + tf.cast(end_value, tf.float64)[:, None, :])  # [N, K, K]
    valid = tf.reshape(valid, [count, -1])  # [N, K * K], start-major as run_squad's loops
    score = tf.where(valid, tf.reshape(score, [count, -1]), -_INF)
    pairs = tf.shape(score, out_type=tf.int64)[1]

    # The best pair of each window (the first on ties), then of each question (first window).
    window_best = tf.reduce_max(score, axis=1)  # [N]
    pair = tf.reduce_min(tf.where(valid & tf.equal(score, window_best[:, None]),
                                  tf.range(pairs)[None, :], pairs), axis=1)  # [N]
    window_has = tf.reduce_any(valid, axis=1)  # [N]
    question_best = tf.math.unsorted_segment_max(tf.where(window_has, window_best, -_INF),
                                                 example, questions)  # [B]
    chosen = tf.math.unsorted_segment_min(
        tf.where(window_has & tf.equal(window_best, tf.gather(question_best, example)),
                 tf.range(count), count), example, questions)  # [B]
    has_span = chosen < count
    window = tf.where(has_span, chosen, 0)
    pair = tf.where(has_span, tf.gather(pair, window), 0)  # 0: any pair, to gather safely
    rank = tf.stack([window, pair // tf.cast(k, tf.int64)], axis=1)
    end_rank = tf.stack([window, pair % tf.cast(k, tf.int64)], axis=1)
    span_start_logit = tf.cast(tf.gather_nd(start_value, rank), tf.float64)
    span_end_logit = tf.cast(tf.gather_nd(end_value, end_rank), tf.float64)
    span_score = span_start_logit + span_end_logit
    start_char = tf.gather_nd(windows["char_start"], tf.stack(
        [window, tf.cast(tf.gather_nd(start_token, rank), tf.int64)], axis=1))
    end_char = tf.gather_nd(windows["char_end"], tf.stack(
        [window, tf.cast(tf.gather_nd(end_token, end_rank), tf.int64)], axis=1))

    out = {}
    answered = has_span
    chosen_score = tf.where(has_span, span_score, 0.0)
    if version_2_with_negative:
        # The null score: the smallest start + end logit at position 0 (the start token,
        # [CLS] or <s>) over the question's windows.
        null = (tf.cast(start_logits[:, 0], tf.float64)
                + tf.cast(end_logits[:, 0], tf.float64))  # [N]
        null = tf.math.unsorted_segment_min(null, example, questions)  # [B]
        if n_best_size == 1:
            # The n-best list holds one entry: the null answer when it ranks first.
            has_span &= ~(null > span_score)
        null_odds = null - span_start_logit - span_end_logit
        answered = has_span & ~(null_odds > null_score_diff_threshold)
        chosen_score = tf.where(answered, span_score, null)
        out["has_answer"] = answered
    start = tf.where(answered, start_char, -1)
    end = tf.where(answered, end_char, -1)
    out.update(
        answer=tf.where(answered, tf.strings.substr(contexts, tf.maximum(start, 0),
                                                    tf.maximum(end - start, 0),
                                                    unit="UTF8_CHAR"), ""),
        start=tf.cast(start, tf.int32), end=tf.cast(end, tf.int32),
        score=tf.cast(chosen_score, tf.float32))
    return out


def answer_questions(model, tokenizer, questions, contexts, max_seq_length=384, doc_stride=128,
                     max_query_length=64, n_best_size=20, max_answer_length=30,
                     version_2_with_negative=False, null_score_diff_threshold=0.0,
                     windows_per_call=64):
    """Questions and contexts (string [B]) -> best_answers' outputs and `truncated` [B]."""
    windows = make_windows(tokenizer, questions, contexts, max_seq_length, doc_stride,
                           max_query_length)
    start_logits, end_logits = span_logits(model, windows, windows_per_call)
    out = best_answers(contexts, windows, start_logits, end_logits, n_best_size,
                       max_answer_length, version_2_with_negative, null_score_diff_threshold)
    out["truncated"] = windows["truncated"]
    return out
