"""SQuAD reading, QA windows and postprocessing, on hand-built contexts against loop references."""

import json
import logging
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.errors import DataError, MissingFileError
from bert_tf.tokenization import BertTokenizer, BpeTokenizer
from hub_layouts import write_bpe_vocab
from tasks.question_answering.features import features_to_tensors, make_features, window_spans
from tasks.question_answering.postprocess import postprocess
from tasks.question_answering.squad import Example, read_squad
from testing import minilm_dir

# Contexts that stress offsets: accents precomposed and combining (an uncased model strips
# both), CJK ideographs (one word each) between kana, a Hangul syllable the normalizer
# splits into several pieces, runs of spaces, tabs and newlines, a zero-width space and a
# soft hyphen (dropped by the normalizer), punctuation, and case the model lower-cases.
CONTEXTS = (
    "Le Café de Zürich  était\tfermé.\n\nLa crème brûlée, naïve, coûtait 7,50 CHF!",
    "Cafe\u0301 au lait: Zu\u0308rich\u0301 is a\u0301\u0301 word; \u0301Ab starts oddly.",
    "東京は日本の首都です。北京は中国の首都です。한국어 text, 서울\tand  Seoul.",
    "alpha   beta\t\tgamma\n\n\ndelta \u00adepsilon x\u200by zeta\u00ad eta  \t theta",
    "The quick (brown) fox's tail\u2014jumped; over 3.14 lazy dogs! Supercalifragilistic?",
)
QUESTIONS = ("Where?", "Qu'est-ce que la crème brûlée coûtait à Zürich en 1999 exactement?",
             "東京は?", "x")
# One CJK ideograph, or a run of characters that are neither whitespace nor CJK ideographs.
WORD = re.compile(r"[\u4e00-\u9fff]|[^\s\u4e00-\u9fff]+")


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(os.path.join(minilm_dir(), "vocab.txt"), do_lower_case=True)


def word_spans(context, longest=3, word=WORD):
    """(text, start) of every run of 1..longest consecutive words: answers that end on tokens."""
    words = [m.span() for m in word.finditer(context)]
    return [(context[words[i][0]:words[j][1]], words[i][0])
            for i in range(len(words)) for j in range(i, min(i + longest, len(words)))]


def examples_for(contexts, impossible_every=0, word=WORD):
    examples = []
    for c, context in enumerate(contexts):
        for a, answer in enumerate(word_spans(context, word=word)):
            n = len(examples)
            impossible = bool(impossible_every) and n % impossible_every == 0
            examples.append(Example(f"q{c}-{a}", QUESTIONS[n % len(QUESTIONS)], context,
                                    () if impossible else (answer,), impossible, f"test:{n}"))
    return examples


# ------------------------------------------------------------------------------ windows


def test_windows_reproduce_answers_exactly(tokenizer):
    examples = examples_for(CONTEXTS, impossible_every=7)
    max_seq_length, doc_stride, max_query_length = 23, 4, 6
    f = make_features(examples, tokenizer, max_seq_length, doc_stride, max_query_length,
                      for_training=True)
    cls, sep = tokenizer.cls_id, tokenizer.sep_id
    question_ids = {q: tokenizer.tokenize(q).numpy()[:max_query_length] for q in QUESTIONS}
    offsets = {}
    for context in CONTEXTS:
        _, starts, ends = tokenizer.tokenize_with_offsets(context)
        offsets[context] = starts.numpy(), ends.numpy()
    found, at_edge, split = set(), 0, 0
    for w in range(len(f)):
        example = examples[f.example_index[w]]
        ids, segments = f.input_ids[w], f.segment_ids[w]
        q = question_ids[example.question]
        first = len(q) + 2
        assert len(ids) <= max_seq_length and ids.dtype == np.int32
        np.testing.assert_array_equal(ids[:first], np.concatenate([[cls], q, [sep]]))
        assert ids[-1] == sep and sep not in ids[first:-1]
        np.testing.assert_array_equal(segments, (np.arange(len(ids)) >= first).astype(int))
        assert (f.char_start[w][:first] == -1).all() and f.char_end[w][-1] == -1
        assert not f.is_max_context[w][:first].any() and not f.is_max_context[w][-1]
        start, end = f.start_position[w], f.end_position[w]
        if example.is_impossible:
            assert start == end == 0
            continue
        text, answer_start = example.answers[0]
        answer_end = answer_start + len(text)
        # The window holds the answer when it holds every piece of the context that overlaps it.
        starts, ends = offsets[example.context]
        overlapping = np.sum((ends > answer_start) & (starts < answer_end))
        inside = f.char_start[w] >= 0
        held = np.sum(inside & (f.char_end[w] > answer_start) & (f.char_start[w] < answer_end))
        contains = held == overlapping
        assert (start > 0) == contains, (example.qas_id, w)
        if contains:
            assert first <= start <= end < len(ids) - 1
            assert example.context[f.char_start[w][start]:f.char_end[w][end]] == text
            found.add(example.qas_id)
            at_edge += start == first or end == len(ids) - 2
        elif held:
            split += 1  # the window holds part of the answer
    answerable = [e for e in examples if not e.is_impossible]
    # Some answers are longer than a window; most must be found, and edges and splits occur.
    assert len(found) > 0.9 * len(answerable) and at_edge > 20 and split > 20


def test_windows_cover_a_long_context_once(tokenizer):
    rng = np.random.default_rng(5)
    words = ["Zürich", "cafe\u0301", "東", "京", "naïve", "\t", "  ", "\n", "the", "quick,",
             "supercalifragilistic", "x\u200by", "(3.14)"]
    context = " ".join(rng.choice(words, 431))
    examples = [Example("long", "what is it?", context, (), False, "test")]
    f = make_features(examples, tokenizer, max_seq_length=29, doc_stride=7, max_query_length=5)
    ids, starts, ends = (t.numpy() for t in tokenizer.tokenize_with_offsets(context))
    first = 2 + len(tokenizer.tokenize("what is it?").numpy())
    assert len(ids) > 20 * (29 - first - 1)  # many times longer than a window
    # Locate each window's pieces in the context by their ids (windows are slices of it).
    spans = []
    for w in range(len(f)):
        window_ids = f.input_ids[w][first:-1]
        begin = 7 * w
        np.testing.assert_array_equal(window_ids, ids[begin:begin + len(window_ids)])
        # Offsets only widen (over characters normalization dropped).
        assert (f.char_start[w][first:-1] <= starts[begin:begin + len(window_ids)]).all()
        assert (f.char_end[w][first:-1] >= ends[begin:begin + len(window_ids)]).all()
        spans.append((begin, len(window_ids)))
    assert spans[-1][0] + spans[-1][1] == len(ids)  # the last window reaches the end
    assert all(length == 29 - first - 1 for _, length in spans[:-1])
    # google-research/bert's _check_is_max_context, as a loop.
    scored_by = np.zeros(len(ids), int)
    for position in range(len(ids)):
        best, best_window = None, None
        for w, (begin, length) in enumerate(spans):
            if begin <= position < begin + length:
                score = min(position - begin, begin + length - 1 - position) + 0.01 * length
                if best is None or score > best:
                    best, best_window = score, w
        for w, (begin, length) in enumerate(spans):
            if begin <= position < begin + length:
                assert f.is_max_context[w][first + position - begin] == (w == best_window)
                scored_by[position] += f.is_max_context[w][first + position - begin]
    np.testing.assert_array_equal(scored_by, 1)  # every piece in some window, scored once


@pytest.mark.parametrize("num_pieces, max_pieces, doc_stride", [
    (0, 5, 3), (1, 5, 3), (5, 5, 3), (6, 5, 3), (23, 5, 3), (23, 5, 9), (23, 1, 1), (17, 4, 4)])
def test_window_spans_leave_no_gap(num_pieces, max_pieces, doc_stride):
    spans = window_spans(num_pieces, max_pieces, doc_stride)
    assert spans[0][0] == 0 and spans[-1][1] == num_pieces
    for (b0, e0), (b1, e1) in zip(spans, spans[1:]):
        assert b1 - b0 == min(doc_stride, max_pieces) and b1 <= e0 and e0 - b0 == max_pieces
    assert all(0 <= e - b <= max_pieces for b, e in spans)


def test_question_truncated_and_context_without_tokens(tokenizer):
    examples = [Example("a", "one two three four five six seven", "\u200b\u00ad", (), False, "t"),
                Example("b", "x", "word", (), False, "t")]
    f = make_features(examples, tokenizer, max_seq_length=11, doc_stride=2, max_query_length=3)
    assert len(f) == 2 and f.start_position is None
    np.testing.assert_array_equal(f.input_ids[0], [tokenizer.cls_id] + list(
        tokenizer.tokenize("one two three").numpy()) + [tokenizer.sep_id] * 2)
    np.testing.assert_array_equal(f.example_index, [0, 1])


def test_answer_on_dropped_characters_is_skipped_for_training(tokenizer, caplog):
    context = "words \u200b\u200b here"
    examples = [Example("z", "q", context, (("\u200b\u200b", 6),), False, "test:1"),
                Example("ok", "q", context, (("here", 9),), False, "test:2")]
    with caplog.at_level(logging.WARNING):
        f = make_features(examples, tokenizer, max_seq_length=13, doc_stride=2,
                          max_query_length=3, for_training=True)
    np.testing.assert_array_equal(f.example_index, [1])
    assert "test:1" in caplog.text and "'z'" in caplog.text


def test_contexts_and_questions_are_tokenized_in_batches(tokenizer):
    calls = []

    class Counting:
        template = tokenizer.template

        def tokenize(self, texts):
            calls.append(("tokenize", len(texts)))
            return tokenizer.tokenize(texts)

        def tokenize_with_offsets(self, texts):
            calls.append(("offsets", len(texts)))
            return tokenizer.tokenize_with_offsets(texts)

    examples = examples_for(CONTEXTS)
    make_features(examples, Counting(), max_seq_length=31, doc_stride=5, max_query_length=7)
    assert sorted(calls) == [("offsets", len(CONTEXTS)), ("tokenize", len(examples))]


def test_features_to_tensors(tokenizer):
    examples = examples_for(CONTEXTS[:2], impossible_every=3)[:13]
    f = make_features(examples, tokenizer, max_seq_length=19, doc_stride=3, max_query_length=4,
                      for_training=True)
    tensors = features_to_tensors(f)
    assert set(tensors) == {"input_ids", "segment_ids", "start_positions", "end_positions"}
    for key, arrays in (("input_ids", f.input_ids), ("segment_ids", f.segment_ids)):
        assert tensors[key].shape[0] == len(f)
        for row, expected in zip(tensors[key].to_list(), arrays):
            assert row == expected.tolist()
    np.testing.assert_array_equal(tensors["start_positions"].numpy(), f.start_position)
    np.testing.assert_array_equal(tensors["end_positions"].numpy(), f.end_position)
    first = next(iter(tf.data.Dataset.from_tensor_slices(tensors)))
    assert first["input_ids"].numpy().tolist() == f.input_ids[0].tolist()
    eval_tensors = features_to_tensors(make_features(examples, tokenizer, 19, 3, 4))
    assert set(eval_tensors) == {"input_ids", "segment_ids"}


def test_bad_window_settings(tokenizer):
    with pytest.raises(ValueError, match="max_seq_length 10"):
        make_features([], tokenizer, max_seq_length=10, max_query_length=7)
    with pytest.raises(ValueError, match="doc_stride"):
        make_features([], tokenizer, max_seq_length=30, doc_stride=0, max_query_length=7)
    unanswered = Example("u", "q", "a b", (), False, "test:3")
    with pytest.raises(ValueError, match="test:3 \\(id 'u'\\): an answerable training"):
        make_features([unanswered], tokenizer, max_seq_length=30, for_training=True,
                      max_query_length=7)


# ------------------------------------------------ windows in RoBERTa's template (BPE)


def learned_bpe(directory):
    """A byte-level BPE with RoBERTa's special tokens (its template: `<s> q </s></s> c </s>`),
    learned from text made of these contexts' and questions' words, and Hugging Face's pipeline
    over the same files with RobertaProcessing (offsets trimmed, as RoBERTa's fast tokenizer)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    rng = np.random.default_rng(3)
    words = [w for text in CONTEXTS + QUESTIONS for w in text.split()]
    texts = list(CONTEXTS + QUESTIONS) + [" ".join(rng.choice(words, 9)) for _ in range(150)]
    write_bpe_vocab(directory, texts, 300)
    tokenizer = BpeTokenizer.from_pretrained(directory)
    hf = Tokenizer(models.BPE.from_file(os.path.join(directory, "vocab.json"),
                                        os.path.join(directory, "merges.txt"), unk_token="<unk>"))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.sep_id), ("<s>", tokenizer.cls_id), trim_offsets=True)
    return tokenizer, hf


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    return learned_bpe(str(tmp_path_factory.mktemp("bpe")))


def test_roberta_windows_equal_roberta_processing(bpe):
    """Windows that hold a whole context are Hugging Face's encoding of the (question, context)
    pair: ids, segment ids (all 0) and the context tokens' character spans."""
    tokenizer, hf = bpe
    examples = examples_for(CONTEXTS)[::3]
    f = make_features(examples, tokenizer, max_seq_length=384, doc_stride=128,
                      max_query_length=200)
    assert len(f) == len(examples)  # one window each: nothing cut
    spans = 0
    for w, example in enumerate(examples):
        encoding = hf.encode(example.question, example.context)
        assert f.input_ids[w].tolist() == encoding.ids
        assert f.segment_ids[w].tolist() == encoding.type_ids == [0] * len(encoding.ids)
        in_context = np.array([k == 1 for k in encoding.sequence_ids])
        assert (f.char_start[w][~in_context] == -1).all()
        assert (f.char_end[w][~in_context] == -1).all()
        # Hugging Face trims a token of white space alone to an empty span; ours keeps it.
        for t in np.flatnonzero(in_context):
            theirs = encoding.offsets[t]
            if theirs[0] < theirs[1]:
                assert (f.char_start[w][t], f.char_end[w][t]) == theirs, (example.context, t)
                spans += 1
    assert spans > 1000


def test_roberta_windows_reproduce_answers_exactly(bpe):
    """`<s> q </s></s> c </s>` windows; a window holding an answer gives token positions whose
    offsets cut exactly the answer text (without the space its first token holds). Answers are
    runs of words between white space: a byte-level BPE token may hold several CJK ideographs."""
    tokenizer, _ = bpe
    s, e = tokenizer.cls_id, tokenizer.sep_id
    examples = examples_for(CONTEXTS, impossible_every=7, word=re.compile(r"\S+"))
    max_seq_length, doc_stride, max_query_length = 41, 5, 6
    f = make_features(examples, tokenizer, max_seq_length, doc_stride, max_query_length,
                      for_training=True)
    whole = make_features(examples, tokenizer, 512, 512, max_query_length)  # one window each
    question_ids = {q: tokenizer.tokenize(q).numpy()[:max_query_length] for q in QUESTIONS}
    found, starts_with_space = set(), 0
    for w in range(len(f)):
        example = examples[f.example_index[w]]
        ids = f.input_ids[w]
        q = question_ids[example.question]
        first = len(q) + 3
        assert len(ids) <= max_seq_length
        assert ids[:first].tolist() == [s, *q, e, e] and ids[-1] == e
        assert s not in ids[1:] and e not in ids[first:-1]
        np.testing.assert_array_equal(f.segment_ids[w], 0)
        assert (f.char_start[w][:first] == -1).all() and f.char_end[w][-1] == -1
        assert not f.is_max_context[w][:first].any() and not f.is_max_context[w][-1]
        start, end = f.start_position[w], f.end_position[w]
        if example.is_impossible:
            assert start == end == 0
            continue
        text, answer_start = example.answers[0]
        answer_end = answer_start + len(text)
        index = next(i for i, other in enumerate(examples) if other is example)
        overlapping = np.sum((whole.char_end[index] > answer_start)
                             & (whole.char_start[index] < answer_end))
        held = np.sum((f.char_end[w] > answer_start) & (f.char_start[w] < answer_end))
        assert (start > 0) == (held == overlapping), (example.qas_id, w)
        if start > 0:
            assert first <= start <= end < len(ids) - 1
            assert example.context[f.char_start[w][start]:f.char_end[w][end]] == text
            starts_with_space += tokenizer.id_to_token(int(ids[start])).startswith("Ġ")
            found.add(example.qas_id)
    answerable = [e for e in examples if not e.is_impossible]
    assert len(found) > 0.9 * len(answerable) and starts_with_space > 40


# -------------------------------------------------------------------------- postprocess


def brute_force_best(example, f, windows, start_logits, end_logits, max_answer_length):
    """The best valid span over all token pairs of the example's windows: (score, text)."""
    best = (-np.inf, "empty")
    for w in windows:
        length = len(f.input_ids[w])
        for s in range(length):
            for e in range(length):
                if (f.char_start[w][s] < 0 or f.char_start[w][e] < 0 or e < s
                        or e - s + 1 > max_answer_length or not f.is_max_context[w][s]):
                    continue
                score = start_logits[w, s] + end_logits[w, e]
                if score > best[0]:
                    best = (score, example.context[f.char_start[w][s]:f.char_end[w][e]])
    return best


@pytest.fixture(scope="module")
def eval_windows(tokenizer):
    examples = [Example(f"id{i}", QUESTIONS[i % 4], context, (), False, f"t:{i}")
                for i, context in enumerate(CONTEXTS)]
    return examples, make_features(examples, tokenizer, max_seq_length=21, doc_stride=4,
                                   max_query_length=5)


def test_postprocess_matches_brute_force(eval_windows):
    examples, f = eval_windows
    longest = max(len(ids) for ids in f.input_ids)
    rng = np.random.default_rng(3)
    for trial in range(4):
        # Padding columns get large logits: they must never count.
        start_logits = rng.normal(size=(len(f), longest + 6)).astype(np.float32)
        end_logits = rng.normal(size=(len(f), longest + 6)).astype(np.float32)
        # Non-context tokens ([CLS], question, both [SEP]) get the best logits of their rows.
        start_logits[:, :3] += 4
        end_logits[:, :3] += 4
        for w in range(len(f)):
            length = len(f.input_ids[w])
            start_logits[w, length - 1] += 4
            end_logits[w, length - 1] += 4
            start_logits[w, length:] = 50
            end_logits[w, length:] = 50
        max_answer_length = 1 + 2 * trial
        result = postprocess(examples, f, start_logits, end_logits, n_best_size=longest,
                             max_answer_length=max_answer_length)
        for index, example in enumerate(examples):
            windows = np.flatnonzero(f.example_index == index)
            score, text = brute_force_best(example, f, windows, start_logits.astype(np.float64),
                                           end_logits.astype(np.float64), max_answer_length)
            assert result.answers[example.qas_id] == text
            best = result.nbest[example.qas_id][0]
            assert best["text"] == text
            assert best["start_logit"] + best["end_logit"] == pytest.approx(score)
            begin, end = result.char_spans[example.qas_id]
            assert example.context[begin:end] == text


def set_span(f, start_logits, end_logits, w, text_start, text_end, value=10.0):
    """Gives window w's tokens starting at char text_start and ending at text_end a high logit."""
    s = int(np.flatnonzero(f.char_start[w] == text_start)[0])
    e = int(np.flatnonzero(f.char_end[w] == text_end)[0])
    start_logits[w, s] = value
    end_logits[w, e] = value
    return s, e


def test_postprocess_spans_and_n_best(eval_windows, tmp_path):
    examples, f = eval_windows
    start_logits = np.zeros((len(f), 21), np.float32)
    end_logits = np.zeros((len(f), 21), np.float32)
    # Example 0: "Zürich  était" in its original case, accents and double space; the
    # window chosen is one where its first token is scored (is_max_context).
    context = examples[0].context
    begin = context.index("Zürich")
    end = context.index("était") + len("était")
    for w in np.flatnonzero(f.example_index == 0):
        s = np.flatnonzero(f.char_start[w] == begin)
        if s.size and f.is_max_context[w][s[0]] and (f.char_end[w] == end).any():
            set_span(f, start_logits, end_logits, w, begin, end)
            break
    else:
        pytest.fail("no window holds the answer")
    # Example 1: starts rise and ends fall along each window, so every pair with start > end
    # outscores every valid one, and [CLS], question and [SEP] tokens outscore both.
    for w in np.flatnonzero(f.example_index == 1):
        ramp = 3.0 * np.arange(len(f.input_ids[w]))
        start_logits[w, :len(ramp)] = np.where(f.char_start[w] >= 0, ramp, 100)
        end_logits[w, :len(ramp)] = np.where(f.char_start[w] >= 0, -ramp, 100)
    result = postprocess(examples, f, start_logits, end_logits, n_best_size=3,
                         max_answer_length=4, output_dir=str(tmp_path))
    assert result.answers["id0"] == "Zürich  était"
    assert result.char_spans["id0"] == (begin, end)
    assert result.null_odds is None
    # The best valid pairs are single tokens, scoring 0.
    begin, end = result.char_spans["id1"]
    assert any(((c == begin) & (e == end)).any() for c, e in zip(f.char_start, f.char_end))
    assert all(e["start_logit"] + e["end_logit"] <= 0 for e in result.nbest["id1"])
    assert result.nbest["id1"][0]["start_logit"] + result.nbest["id1"][0]["end_logit"] == 0
    for qas_id, entries in result.nbest.items():
        assert 1 <= len(entries) <= 3
        assert len({e["text"] for e in entries}) == len(entries)
        scores = [e["start_logit"] + e["end_logit"] for e in entries]
        assert scores == sorted(scores, reverse=True)
        assert sum(e["probability"] for e in entries) == pytest.approx(1.0)
        expected = np.exp(scores) / np.exp(scores).sum()
        np.testing.assert_allclose([e["probability"] for e in entries], expected, rtol=1e-6)
    # max_answer_length=2 rules the 4-token answer out.
    short = postprocess(examples, f, start_logits, end_logits, n_best_size=3,
                        max_answer_length=2)
    assert short.answers["id0"] != "Zürich  était"
    # The files hold the in-memory dicts, and nothing else is left behind.
    assert sorted(os.listdir(tmp_path)) == ["nbest_predictions.json", "predictions.json"]
    with open(tmp_path / "predictions.json", encoding="utf-8") as fp:
        assert json.load(fp) == result.answers
    with open(tmp_path / "nbest_predictions.json", encoding="utf-8") as fp:
        nbest = json.load(fp)
    assert nbest == result.nbest
    assert list(nbest["id0"][0]) == ["text", "probability", "start_logit", "end_logit"]


def test_postprocess_nothing_survives(eval_windows):
    examples, f = eval_windows
    start_logits = np.zeros((len(f), 21), np.float32)
    end_logits = np.zeros((len(f), 21), np.float32)
    start_logits[:, 0] = end_logits[:, 0] = 5  # the single best start and end are [CLS]
    result = postprocess(examples, f, start_logits, end_logits, n_best_size=1)
    assert set(result.answers.values()) == {"empty"}
    assert result.nbest["id1"] == [{"text": "empty", "probability": 1.0, "start_logit": 0.0,
                                    "end_logit": 0.0}]
    assert result.char_spans["id1"] == (-1, -1)
    v2 = postprocess(examples, f, start_logits, end_logits, n_best_size=1,
                     version_2_with_negative=True)
    assert set(v2.answers.values()) == {""} and v2.null_odds["id1"] == np.inf


def test_postprocess_null_threshold(eval_windows, tmp_path):
    examples, f = eval_windows
    start_logits = np.zeros((len(f), 21), np.float32)
    end_logits = np.zeros((len(f), 21), np.float32)
    windows = np.flatnonzero(f.example_index == 0)
    context = examples[0].context
    set_span(f, start_logits, end_logits, windows[0], 0, context.index("Café") + 4,
             value=2.0)  # span score 4
    # The null score is the smallest [CLS] score over the windows: 1.5 + 1.25.
    start_logits[windows, 0] = 3.0
    end_logits[windows, 0] = 3.0
    start_logits[windows[1], 0], end_logits[windows[1], 0] = 1.5, 1.25
    for threshold, expected in ((-1.3, ""), (-1.2, "Le Café")):
        result = postprocess(examples, f, start_logits, end_logits, n_best_size=5,
                             version_2_with_negative=True, null_score_diff_threshold=threshold,
                             output_dir=str(tmp_path))
        assert result.null_odds["id0"] == pytest.approx(2.75 - 4.0)
        assert result.answers["id0"] == expected
        assert result.char_spans["id0"] == ((-1, -1) if expected == "" else (0, 7))
        texts = [entry["text"] for entry in result.nbest["id0"]]
        assert texts[0] == "Le Café" and "" in texts
        null = result.nbest["id0"][texts.index("")]
        assert (null["start_logit"], null["end_logit"]) == (1.5, 1.25)
    with open(tmp_path / "null_odds.json", encoding="utf-8") as fp:
        assert json.load(fp) == result.null_odds
    with open(tmp_path / "predictions.json", encoding="utf-8") as fp:
        assert json.load(fp)["id0"] == "Le Café"
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_postprocess_rejects_mismatched_logits(eval_windows):
    examples, f = eval_windows
    with pytest.raises(ValueError, match="windows"):
        postprocess(examples, f, np.zeros((len(f) + 1, 21)), np.zeros((len(f) + 1, 21)))
    with pytest.raises(ValueError, match="columns"):
        postprocess(examples, f, np.zeros((len(f), 5)), np.zeros((len(f), 5)))


# ---------------------------------------------------------------------------- reading


def write_json(path, value, bom=False):
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8") as fp:
        json.dump(value, fp, ensure_ascii=False)
    return str(path)


def squad(*paragraphs, title="T"):
    return {"version": "v2.0", "data": [{"title": title, "paragraphs": list(paragraphs)}]}


def test_read_v1_and_v2(tmp_path):
    context = "Zürich liegt am See. Es ist groß."
    v1 = write_json(tmp_path / "v1.json", {"version": "1.1", "data": [
        {"title": "A", "paragraphs": [{"context": context, "qas": [
            {"id": "a1", "question": "Wo?", "answers": [{"text": "am See", "answer_start": 13},
                                                         {"text": "See", "answer_start": 16}]}]}]},
        {"title": "B", "paragraphs": [{"context": "x y", "qas": [
            {"id": "b1", "question": "y?", "answers": [{"text": "y", "answer_start": 2}]}]}]}]},
        bom=True)
    examples = read_squad(v1, for_training=True)
    assert examples == [
        Example("a1", "Wo?", context, (("am See", 13), ("See", 16)), False,
                f"{v1}: data[0].paragraphs[0].qas[0]"),
        Example("b1", "y?", "x y", (("y", 2),), False, f"{v1}: data[1].paragraphs[0].qas[0]")]
    v2 = write_json(tmp_path / "v2.json", squad({"context": context, "qas": [
        {"id": "n", "question": "Wann?", "answers": [], "is_impossible": True,
         "plausible_answers": [{"text": "See", "answer_start": 16}]},
        {"id": "y", "question": "Was?", "answers": [{"text": "groß", "answer_start": 28}],
         "is_impossible": False}]}))
    train = read_squad(v2, for_training=True)
    assert [(e.qas_id, e.answers, e.is_impossible) for e in train] == [
        ("n", (), True), ("y", (("groß", 28),), False)]
    assert read_squad(v2) == train


def test_mismatched_answers(tmp_path, caplog):
    path = write_json(tmp_path / "m.json", squad({"context": "one two three", "qas": [
        {"id": "bad", "question": "q?", "answers": [{"text": "two", "answer_start": 3}]},
        {"id": "half", "question": "q?", "answers": [{"text": "tw", "answer_start": 5},
                                                     {"text": "three", "answer_start": 8}]},
        {"id": "blank", "question": "q?", "answers": [{"text": " ", "answer_start": 3}]}]}))
    with caplog.at_level(logging.WARNING):
        train = read_squad(path, for_training=True)
    assert [(e.qas_id, e.answers) for e in train] == [("half", (("three", 8),))]
    assert f"{path}: data[0].paragraphs[0].qas[0] (id 'bad')" in caplog.text
    assert "'half'" in caplog.text and "'blank'" in caplog.text and "skipped 2" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        evaluation = read_squad(path)
    assert [(e.qas_id, e.answers) for e in evaluation] == [
        ("bad", (("two", 3),)), ("half", (("tw", 5), ("three", 8))), ("blank", ((" ", 3),))]
    assert "'bad'" in caplog.text and "dropped" not in caplog.text


QA0 = r": data\[0\].paragraphs\[0\].qas\[0\]"


def qa(qas_id="q1", question="Why?", answers=({"text": "b", "answer_start": 2},), **extra):
    return {"id": qas_id, "question": question, "answers": list(answers), **extra}


@pytest.mark.parametrize("content, expected", [
    ('{"data": [\n  {"paragraphs": ]}', r":2:18: not JSON"),
    ({"version": "1.1"}, r": top level: has no 'data'"),
    ({"data": [{"title": "x"}]}, r": data\[0\]: has no 'paragraphs'"),
    (squad({"context": "a b"}), r": data\[0\].paragraphs\[0\]: has no 'qas'"),
    (squad({"qas": [qa()]}), r": data\[0\].paragraphs\[0\]: has no 'context'"),
    (squad({"context": "a b", "qas": [qa(), {"id": "q2", "answers": []}]}),
     r": data\[0\].paragraphs\[0\].qas\[1\] \(id 'q2'\): has no 'question'"),
    (squad({"context": "a b", "qas": [{"question": "x"}]}),
     r": data\[0\].paragraphs\[0\].qas\[0\]: has no 'id'"),
    (squad({"context": " \n\t", "qas": [qa("q7")]}),
     r": data\[0\].paragraphs\[0\] \(id 'q7'\): blank context"),
    (squad({"context": "a b", "qas": [qa("q8", question="  ")]}),
     QA0 + r" \(id 'q8'\): blank question"),
    ({"data": [{"paragraphs": [{"context": "a b", "qas": [qa("d")]}]},
               {"paragraphs": [{"context": "c d", "qas": [qa("e"), qa("d")]}]}]},
     r": data\[1\].paragraphs\[0\].qas\[1\] \(id 'd'\): id repeats data\[0\].paragraphs\[0\]"),
    (squad({"context": "a b", "qas": [qa("q9", answers=())]}),
     QA0 + r" \(id 'q9'\): an answerable training question has no answers"),
    (squad({"context": "a b", "qas": [qa("q3", answers=({"text": "b"},))]}),
     QA0 + r".answers\[0\] \(id 'q3'\): has no 'answer_start'"),
    (squad({"context": "a b", "qas": [qa("q4", answers=({"text": "b", "answer_start": "2"},))]}),
     QA0 + r".answers\[0\] \(id 'q4'\): 'answer_start' is not an integer"),
    (squad({"context": "a b", "qas": [qa("q5", is_impossible="no")]}),
     QA0 + r" \(id 'q5'\): 'is_impossible' is not true or false"),
    ({"data": {"paragraphs": []}}, r": top level: 'data' is not a list"),
])
def test_bad_files(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        write_json(path, content)
    with pytest.raises(DataError, match=re.escape(str(path)) + expected) as error:
        read_squad(str(path), for_training=True)
    assert "\n" not in str(error.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(MissingFileError, match="nope.json"):
        read_squad(tmp_path / "nope.json")
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"data": [\n"\xe9"]}')
    with pytest.raises(DataError, match=r"latin1.json:2: not UTF-8"):
        read_squad(path)
    # Evaluation files may leave answers out.
    path = write_json(tmp_path / "test.json", squad({"context": "a b", "qas": [
        {"id": "t", "question": "q?"}]}))
    assert read_squad(path)[0].answers == ()
