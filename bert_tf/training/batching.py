"""Batches of encoded examples held in memory, padded to their own length, not to max_seq_length.

Fine-tuning and evaluation examples are tokenized once, up front, into
variable-length rows (ragged tensors). Each batch is then padded only to
its longest example, rounded up to one of a few bucket lengths (so a
`tf.function` or XLA sees a handful of shapes, not one per batch). For
training, examples of similar length are grouped into the same batch
(bucketing) within windows of consecutive shuffled batches, so shuffling
stays nearly as random as before while little compute goes to padding.
Evaluation and prediction batches are sorted by length, and carry
`example_index` so their outputs can be put back in input order.

The order of training batches is planned in numpy from the seed alone: a
run resumed at step N skips exactly N batches, and every input pipeline
of a multi-worker cluster derives the same plan and takes its own slices.
`pad_to_max_length=True` keeps every batch at max_seq_length (for TPUs,
which want static shapes).
"""

# N=examples, B=batch (per replica), T=padded length, R=replicas, S=steps

import dataclasses
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

INPUT_KEYS = ("input_ids", "segment_ids")


@dataclasses.dataclass
class EncodedExamples:
    """Examples as features, in example order.

    `sequences`: {name: int32 RaggedTensor [N, (T)]}, with at least
    "input_ids" and "segment_ids" (per-token labels go here too);
    `values`: {name: array [N, ...]} per-example features (labels, ...);
    `pad_values`: what pads each sequence feature (default 0).
    """

    sequences: Dict[str, tf.RaggedTensor]
    values: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    pad_values: Dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.lengths = self.sequences["input_ids"].row_lengths().numpy().astype(np.int64)
        for name, value in self.values.items():
            if len(value) != len(self.lengths):
                raise ValueError(f"feature {name} has {len(value)} rows, expected "
                                 f"{len(self.lengths)}")

    def __len__(self):
        return len(self.lengths)

    @classmethod
    def from_lists(cls, sequences, values=None, pad_values=None):
        """From {name: list of 1-D int arrays} and {name: list or array}."""
        ragged = {}
        for name, rows in sequences.items():
            rows = [np.asarray(r, np.int32) for r in rows]
            lengths = np.array([len(r) for r in rows], np.int64)
            flat = np.concatenate(rows) if rows else np.zeros([0], np.int32)
            ragged[name] = tf.RaggedTensor.from_row_lengths(flat, lengths)
        return cls(ragged, {k: np.asarray(v) for k, v in (values or {}).items()},
                   dict(pad_values or {}))


def bucket_length(length, max_seq_length, pad_to_max_length=False):
    """The padded length of a batch whose longest example has `length` tokens.

    Multiples of max_seq_length / 8 (at least 8): at most eight shapes, and
    at most an eighth of the longest length wasted on padding.
    """
    if pad_to_max_length:
        return max_seq_length
    step = max(8, -(-max_seq_length // 8))
    return int(min(max_seq_length, -(-max(length, 1) // step) * step))


def plan_training_batches(lengths, global_batch_size, num_steps, seed, bucketing=True,
                          window_steps=50):
    """Example indices of every training step: int64 `[S, global_batch_size]`.

    Epochs are consecutive random permutations; with `bucketing`, each
    window of `window_steps` steps is sorted by length, cut into batches,
    and those batches are shuffled, so each batch holds similar lengths.
    """
    n = len(lengths)
    if n == 0:
        raise ValueError("no training examples")
    need = num_steps * global_batch_size
    epochs = []
    epoch = 0
    while sum(len(e) for e in epochs) < need:
        epochs.append(np.random.default_rng([seed, epoch]).permutation(n))
        epoch += 1
    order = np.concatenate(epochs)[:need] if epochs else np.zeros([0], np.int64)
    batches = order.reshape(num_steps, global_batch_size)
    if not bucketing:
        return batches
    planned = []
    for start in range(0, num_steps, window_steps):
        window = batches[start:start + window_steps].reshape(-1)
        window = window[np.argsort(lengths[window], kind="stable")]
        window = window.reshape(-1, global_batch_size)
        shuffle = np.random.default_rng([seed, 1 << 20, start]).permutation(len(window))
        planned.append(window[shuffle])
    return np.concatenate(planned)


def _pipeline_rows(global_batches, input_context):
    """The per-replica batches this input pipeline feeds, in the order it feeds them."""
    replicas = input_context.num_replicas_in_sync if input_context else 1
    pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline = input_context.input_pipeline_id if input_context else 0
    steps, global_batch = global_batches.shape
    rows = global_batches.reshape(steps * replicas, global_batch // replicas)
    local = replicas // pipelines
    owner = (np.arange(len(rows)) % replicas) // local
    return rows[owner == pipeline], local


def _padded_batch(examples, max_seq_length, pad_to_max_length):
    """The graph function gathering example indices `[B]` into a padded batch dict."""
    sequences, values = examples.sequences, examples.values

    def gather(indices):
        lengths = tf.gather(examples.sequences["input_ids"].row_lengths(), indices)
        if pad_to_max_length:
            width = tf.constant(max_seq_length, tf.int64)
        else:
            step = max(8, -(-max_seq_length // 8))
            longest = tf.maximum(tf.reduce_max(lengths), 1)
            width = tf.minimum(tf.cast(max_seq_length, tf.int64),
                               (longest + step - 1) // step * step)
        batch = {}
        for name, ragged in sequences.items():
            rows = tf.gather(ragged, indices)  # [B, (T)]
            batch[name] = rows.to_tensor(examples.pad_values.get(name, 0),
                                         shape=tf.stack([tf.size(indices, tf.int64), width]))
        mask = tf.sequence_mask(lengths, width, dtype=tf.int32)  # [B, T]
        batch["input_mask"] = mask
        for name, value in values.items():
            batch[name] = tf.gather(tf.constant(value), indices)
        batch["example_index"] = tf.cast(indices, tf.int32)
        return batch

    return gather


def dataset_fn(examples: EncodedExamples, global_batch_size, max_seq_length, training=False,
               num_steps: Optional[int] = None, seed=0, pad_to_max_length=False,
               bucketing=True):
    """`make(input_context, skip_batches=0)` -> a tf.data.Dataset of per-replica batches.

    Training: `num_steps` planned batches of `global_batch_size` (see
    plan_training_batches), each pipeline taking its replicas' slices, the
    first `skip_batches` steps skipped. Evaluation/prediction: every example
    once, sorted by length, in batches of `global_batch_size / replicas`
    (the last one smaller); every pipeline reads all of them.
    """
    too_long = examples.lengths > max_seq_length
    if too_long.any():
        index = int(np.flatnonzero(too_long)[0])
        raise ValueError(f"example {index} has {examples.lengths[index]} tokens, more than "
                         f"max_seq_length {max_seq_length}")
    if training:
        if num_steps is None:
            raise ValueError("training batches need num_steps")
        plan = plan_training_batches(examples.lengths, global_batch_size, num_steps, seed,
                                     bucketing=bucketing and not pad_to_max_length)

    def make(input_context=None, skip_batches=0):
        replicas = input_context.num_replicas_in_sync if input_context else 1
        if training:
            rows, local = _pipeline_rows(plan, input_context)
            rows = rows[skip_batches * local:]
            data = tf.data.Dataset.from_tensor_slices(rows)
        else:
            per_replica = max(1, global_batch_size // replicas)
            order = (np.arange(len(examples)) if pad_to_max_length
                     else np.argsort(examples.lengths, kind="stable"))
            data = tf.data.Dataset.from_tensor_slices(order).batch(per_replica)
        gather = _padded_batch(examples, max_seq_length, pad_to_max_length)
        return data.map(gather, num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True).prefetch(tf.data.AUTOTUNE)

    return make


def restore_order(outputs, count):
    """Outputs of a length-sorted prediction put back in example order (by `example_index`)."""
    index = outputs.pop("example_index")
    if len(index) != count or not np.array_equal(np.sort(index), np.arange(count)):
        raise ValueError(f"predictions cover {len(index)} rows, expected each of {count} once")
    order = np.argsort(index, kind="stable")
    return {name: value[order] for name, value in outputs.items()}
