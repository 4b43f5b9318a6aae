"""Sentences of words into model rows (one per window) with first-piece labels, and the rows' logits back to words.

run_tagging.py tokenizes every sentence once: each word's pieces
(`word_pieces.tokenize_words`), whole-word windows over sentences too long
for one row (`windows.split`), and for each window the row `[CLS] pieces
[SEP]` (`word_pieces.word_layout`, the tokenizer's template: `<s> pieces </s>`
for RoBERTa). A row's labels sit at the first piece
of each word the window owns (-1 elsewhere), so every word is trained and
predicted once, from the window where it has the most context.
"""

# S=sentences, N=words of all sentences, K=windows (rows), T=positions, W=words in a window,
# L=labels

import dataclasses
from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf

from bert_tf.training import batching
from tasks.tagging import windows as windows_lib
from tasks.tagging.word_pieces import select_words, word_layout

_CHUNK = 2048  # sentences per tokenizer call


@dataclasses.dataclass
class EncodedSentences:
    """Rows for the model and what is needed to map their outputs back to words."""

    examples: batching.EncodedExamples  # one row per window, in window order
    windows: List[windows_lib.Window]
    word_starts: List[np.ndarray]  # per window: the position of each of its words' first piece
    words_per_sentence: List[int]


def _ragged_words(sentences):
    lengths = np.array([len(words) for words in sentences], np.int64)
    flat = [word.encode("utf-8") for words in sentences for word in words]
    values = tf.constant(np.array(flat, dtype=object) if flat else np.zeros([0], object),
                         tf.string)
    return tf.RaggedTensor.from_row_lengths(values, lengths)


class SentenceEncoder:
    """Encodes lists of sentences for one tokenizer, max_seq_length and stride.

    The ops run eagerly: each is vectorized over a chunk of sentences, and
    tracing them into a graph would cost more (seconds) than running them.
    """

    def __init__(self, tokenizer, max_seq_length: int, stride: Optional[int] = None):
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.stride = stride

    def __call__(self, sentences: Sequence[Sequence[str]],
                 label_ids: Optional[Sequence[Sequence[int]]] = None) -> EncodedSentences:
        """Every sentence (a list of words) as rows of at most `max_seq_length` positions.

        `label_ids[i][w]` is the label id of word w of sentence i; with it the
        rows get "label_ids" (int32 `[K, (T)]`, -1 where nothing is predicted).
        """
        found_windows, ids, word_starts, labels = [], [], [], []
        for first in range(0, len(sentences), _CHUNK):
            part = sentences[first:first + _CHUNK]
            pieces = self.tokenizer.tokenize_words(_ragged_words(part))  # [S, (W), (P)]
            counts = pieces.values.row_lengths().numpy()  # [N] pieces per word
            splits = pieces.row_splits.numpy()
            per_sentence = [counts[splits[i]:splits[i + 1]] for i in range(len(part))]
            chunk_windows = windows_lib.split(
                per_sentence, self.max_seq_length, self.stride,
                special_tokens=self.tokenizer.template.special_count(pair=False))
            if not chunk_windows:
                continue
            where = (tf.constant([getattr(w, field) for w in chunk_windows], tf.int64)
                     for field in ("sentence", "start", "stop"))
            rows = word_layout(self.tokenizer, select_words(pieces, *where), self.max_seq_length)
            ids.append(rows["input_ids"])
            starts = rows["word_start"]
            starts = np.split(starts.values.numpy(), starts.row_splits.numpy()[1:-1])
            if label_ids is not None:
                lengths = rows["input_ids"].row_lengths().numpy()
                for window, length, positions in zip(chunk_windows, lengths, starts):
                    row = np.full(length, -1, np.int32)
                    owned = slice(window.owned_start - window.start,
                                  window.owned_stop - window.start)
                    row[positions[owned]] = label_ids[first + window.sentence][
                        window.owned_start:window.owned_stop]
                    labels.append(row)
            found_windows += [dataclasses.replace(w, sentence=w.sentence + first)
                              for w in chunk_windows]
            word_starts += starts
        words_per_sentence = [len(words) for words in sentences]
        pad_values = {"input_ids": self.tokenizer.pad_id, "label_ids": -1}
        if not found_windows:
            sequences = {"input_ids": [], "segment_ids": []}
            if label_ids is not None:
                sequences["label_ids"] = []
            examples = batching.EncodedExamples.from_lists(sequences, pad_values=pad_values)
            return EncodedSentences(examples, [], [], words_per_sentence)
        input_ids = tf.concat(ids, axis=0)
        sequences = {"input_ids": input_ids, "segment_ids": tf.zeros_like(input_ids)}
        if label_ids is not None:
            sequences["label_ids"] = tf.RaggedTensor.from_row_lengths(
                np.concatenate(labels), input_ids.row_lengths())
        examples = batching.EncodedExamples(sequences, pad_values=pad_values)
        return EncodedSentences(examples, found_windows, word_starts, words_per_sentence)


def word_logits(encoded: EncodedSentences, logits: np.ndarray) -> List[np.ndarray]:
    """Per sentence, float `[W, L]`: each word's logits at its first piece in the window owning it.

    `logits` is `[K, T, L]` in row order (`FineTuningRun.predict_outputs`).
    """
    if len(logits) != len(encoded.windows):
        raise ValueError(f"{len(logits)} rows of logits for {len(encoded.windows)} windows")
    per_window = [logits[k, starts] for k, starts in enumerate(encoded.word_starts)]  # [W, L]
    stitched = windows_lib.stitch(encoded.windows, per_window, encoded.words_per_sentence)
    num_labels = logits.shape[-1]
    return [np.stack(rows) if rows else np.zeros([0, num_labels], logits.dtype)
            for rows in stitched]
