"""Learning a BERT WordPiece vocabulary from a text corpus, streamed from disk."""

import collections
import math

import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from bert_tf.errors import DataError, UserError
from bert_tf.tokenization.normalization import Normalizer
from bert_tf.tokenization.vocab import SPECIAL_TOKENS


def reserved_tokens(num_unused=0):
    """The special tokens a BERT vocab starts with ([PAD] is id 0), plus [unusedN] slots."""
    return list(SPECIAL_TOKENS) + [f"[unused{i}]" for i in range(num_unused)]


def count_words(files, lower_case, batch_size=4096, max_distinct=20_000_000):
    """Counts the words of BERT's basic tokenizer over text files, one batch of lines at a time.

    Memory holds the counts, never the corpus. When the table exceeds
    `max_distinct` words, the rarest are dropped (their counts could not
    reach the vocabulary anyway). Returns a Counter of str -> count.
    """
    normalizer = Normalizer(lower_case, strip_accents=lower_case)
    split = tf.function(lambda lines: normalizer.split(lines).flat_values)
    counts = collections.Counter()
    total = 0
    for path in files:
        lines = tf.data.TextLineDataset(path).batch(batch_size).prefetch(2)
        try:
            for batch in lines:
                words, n = np.unique(split(batch).numpy(), return_counts=True)
                counts.update(dict(zip(words.tolist(), n.tolist())))
                total += int(n.sum())
                if len(counts) > max_distinct:
                    floor = np.sort(np.fromiter(counts.values(), np.int64))[-max_distinct // 2]
                    counts = collections.Counter({w: c for w, c in counts.items() if c > floor})
                    logging.info("dropped words seen %d times or fewer to bound memory", floor)
        except tf.errors.InvalidArgumentError:
            _raise_first_bad_line(path)
            raise
    logging.info("%d words, %d distinct", total, len(counts))
    return collections.Counter({w.decode("utf-8"): c for w, c in counts.items()})


def _raise_first_bad_line(path):
    """A DataError naming the first line of `path` that is not UTF-8 (if there is one)."""
    with tf.io.gfile.GFile(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path}:{number}: not valid UTF-8") from None


def learn_vocab(word_counts, vocab_size, num_unused=0, max_unique_chars=1000, slack_ratio=0.05):
    """A WordPiece vocabulary of at most `vocab_size` tokens, special tokens first.

    tensorflow-text's WordPiece learner gives the vocabulary of one frequency
    threshold (a piece enters it when it is seen that often); the threshold
    is searched for here, halving the range of its logarithm each time, until
    the vocabulary is within `slack_ratio` of `vocab_size` (when no threshold
    gets there, the next larger vocabulary is cut to the size, its most
    frequent pieces kept). Each try runs the whole learner, and the range
    runs from 1 to the commonest word's count (tens of thousands of times in a
    few megabytes of text), so halving the logarithm takes about 5 tries where
    halving the range itself took 15 (tensorflow-text's `learn`).
    """
    reserved = reserved_tokens(num_unused)
    if vocab_size <= len(reserved):
        raise UserError(f"vocab_size {vocab_size} leaves no room beside {len(reserved)} "
                         "reserved tokens")
    if not word_counts:
        raise UserError("no words to learn a vocabulary from: is the input empty?")
    words = list(word_counts.items())
    params = learner.Params(
        upper_thresh=max(2, max(word_counts.values())), lower_thresh=1, num_iterations=4,
        max_input_tokens=int(5e6), max_token_length=50, max_unique_chars=max_unique_chars,
        vocab_size=vocab_size, slack_ratio=slack_ratio, include_joiner_token=True,
        joiner="##", reserved_tokens=reserved)
    upper, lower = learner.get_search_threshs(words, params.upper_thresh, params.lower_thresh)
    candidates = learner.get_input_words(words, reserved, params.max_token_length)
    candidates = learner.filter_input_words(
        candidates, learner.get_allowed_chars(candidates, max_unique_chars),
        params.max_input_tokens)
    under = over = None  # the largest vocabulary that fits, the smallest that does not
    lower, upper = max(lower, 1), max(upper, 1)
    while lower <= upper:
        # The geometric middle: a vocabulary's size falls like a power of the threshold.
        thresh = min(max(int(round(math.sqrt(lower * upper))), lower), upper)
        vocab = learner.learn_with_thresh(candidates, thresh, params)
        if len(vocab) > vocab_size:
            if over is None or len(vocab) < len(over):
                over = vocab
            lower = thresh + 1  # too many pieces: a higher threshold
            continue
        if vocab_size - len(vocab) <= slack_ratio * vocab_size:
            return vocab
        if under is None or len(vocab) > len(under):
            under = vocab
        upper = thresh - 1
    # No threshold lands within the slack: the next larger vocabulary, cut to the size
    # (it lists the characters first, then the pieces by how often they are seen), as
    # tensorflow-text's learner does.
    return (over if over is not None else under)[:vocab_size]
