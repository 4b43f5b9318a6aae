"""Learning a BERT WordPiece vocabulary from a text corpus, streamed from disk."""

import collections

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


def learn_vocab(word_counts, vocab_size, num_unused=0, max_unique_chars=1000):
    """A WordPiece vocabulary of at most `vocab_size` tokens, special tokens first.

    Uses tensorflow-text's WordPiece learner (a binary search over the
    frequency threshold at which a piece enters the vocabulary).
    """
    reserved = reserved_tokens(num_unused)
    if vocab_size <= len(reserved):
        raise UserError(f"vocab_size {vocab_size} leaves no room beside {len(reserved)} "
                         "reserved tokens")
    if not word_counts:
        raise UserError("no words to learn a vocabulary from: is the input empty?")
    vocab = learner.learn(list(word_counts.items()), vocab_size=vocab_size,
                          reserved_tokens=reserved, max_unique_chars=max_unique_chars,
                          lower_thresh=1, upper_thresh=max(2, max(word_counts.values())))
    return vocab[:vocab_size]
