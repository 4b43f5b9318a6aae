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
    threshold (a piece enters it when it is seen that often; a higher threshold,
    fewer pieces). The answer is that of the lowest threshold whose vocabulary
    fits: it, when it is within `slack_ratio` of `vocab_size`; otherwise the
    vocabulary of the threshold below it (the smallest that does not fit) cut
    to the size, its most frequent pieces kept, as tensorflow-text's learner
    does. Each try runs the whole learner (a second or two on a few megabytes of
    text), so the threshold is guessed from the word counts rather than halved
    from the whole range: a vocabulary has about as many tokens as there are
    words seen that often, times a ratio that changes slowly with the threshold
    and is measured at each try (1.17 at the Quick start's 8,192 tokens, 3 MB of
    docstrings). Two or three tries usually find the pair of adjacent thresholds
    on either side of the size, where halving the logarithm of the range took
    about 5 (a guess that does not cross the size is followed by one twice as far).
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
    highest, lowest = learner.get_search_threshs(words, params.upper_thresh, params.lower_thresh)
    lowest, highest = max(lowest, 1), max(highest, 1)
    candidates = learner.get_input_words(words, reserved, params.max_token_length)
    candidates = learner.filter_input_words(
        candidates, learner.get_allowed_chars(candidates, max_unique_chars),
        params.max_input_tokens)
    # counts[k] is the (k+1)-th largest count: more than k words are seen t times or more
    # exactly when t <= counts[k].
    counts = np.sort(np.fromiter((c for _, c in candidates), np.int64, len(candidates)))[::-1]

    def words_seen(thresh):
        return int(np.searchsorted(-counts, -thresh, side="right"))

    def guess(ratio):
        # The lowest threshold at which words seen that often, times `ratio`, fit the size.
        k = int(vocab_size / ratio)
        return int(counts[k]) + 1 if k < len(counts) else lowest

    # Every threshold up to `over` gives more than vocab_size pieces, every one from `fits`
    # on at most vocab_size (the bounds outside the range are never tried).
    over, fits, vocabs = lowest - 1, highest + 1, {}
    thresh, last = guess(1.0), None  # last: the threshold tried before
    while fits - over > 1:
        thresh = min(max(thresh, over + 1), fits - 1)
        vocab = vocabs[thresh] = learner.learn_with_thresh(candidates, thresh, params)
        too_large = len(vocab) > vocab_size
        if too_large:
            over = thresh
        else:
            fits = thresh
        if last is None:
            # One try: words seen that often times the ratio measured here fit the size.
            step = guess(len(vocab) / max(words_seen(thresh), 1))
        else:
            # Where the line through two tries (the last two, or one on each side once
            # there are both) meets the size on a log-log scale: a vocabulary's size falls
            # about like a power of the threshold.
            pair = (over, fits) if lowest <= over and fits <= highest else (last, thresh)
            (t0, v0), (t1, v1) = [(t, len(vocabs[t])) for t in pair]
            power = math.log(v1 / v0) / math.log(t1 / t0) if v1 != v0 else 0.0
            if power < 0:  # (the exponent bounded: a nearly flat line points far away)
                exponent = min(max(math.log(vocab_size / v0) / power, -50.0), 50.0)
                step = math.ceil(t0 * math.exp(exponent) - 1e-9)
            else:  # the size did not fall between them: no line to follow, halve the range
                step = int(math.sqrt((over + 1) * (fits - 1)))
        last = thresh
        thresh = max(step, thresh + 1) if too_large else min(step, thresh - 1)
    if fits <= highest and (over < lowest or vocab_size - len(vocabs[fits])
                            <= slack_ratio * vocab_size):
        return vocabs[fits]
    # No threshold lands within the slack: the next larger vocabulary, cut to the size
    # (it lists the characters first, then the pieces by how often they are seen).
    return vocabs[over][:vocab_size]
