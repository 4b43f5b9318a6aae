"""The pretraining input pipeline: TFRecords (google-research/bert's features) -> model batches.

Reads many shards interleaved, shuffles and repeats for training, and can
mask on the fly ("dynamic masking"): the masked positions are drawn anew
each time a sequence is seen, from records written unmasked
(`create_pretraining_data.py --dynamic_masking`) or from ordinary masked
records, whose original tokens are put back first. Records of sentence
pairs hold next_sentence_labels; full-sentence records (RoBERTa's, for a
masked-LM objective alone) do not.
"""

# B=batch, T=max_seq_length, K=max_predictions_per_seq

import dataclasses
import re
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from bert_tf.errors import MissingFileError, UserError
from tasks.pretraining.examples import FEATURES, NEXT_SENTENCE_FEATURE, UNMASKED_FEATURES


class RecordError(UserError):
    """A TFRecord file that is not what the pipeline expects; the message names file and feature."""


def feature_spec(max_seq_length, max_predictions_per_seq, masked=True, next_sentence=True):
    """The parsing spec of records masked or not, with next_sentence_labels or not."""
    lengths = {"seq": max_seq_length, "pred": max_predictions_per_seq, "one": 1}
    return {name: tf.io.FixedLenFeature([lengths[size]],
                                        tf.float32 if dtype == "float" else tf.int64)
            for name, dtype, size in _features(masked, next_sentence)}


def _features(masked, next_sentence):
    return [(name, dtype, size) for name, dtype, size in FEATURES
            if (masked or name in UNMASKED_FEATURES)
            and (next_sentence or name != NEXT_SENTENCE_FEATURE)]


@dataclasses.dataclass(frozen=True)
class RecordLayout:
    """What a set of pretraining record files holds (`inspect_records`)."""

    masked: bool  # masked_lm_positions, masked_lm_ids and masked_lm_weights are written
    next_sentence: bool  # next_sentence_labels (sentence pairs); False: full sentences


def _describe(example):
    """{feature: (kind, length)} of a tf.train.Example."""
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        out[name] = (kind, len(getattr(feature, kind).value) if kind else 0)
    return out


def check_records(files, max_seq_length, max_predictions_per_seq):
    """Reads the first record of each file and checks its features; returns True if masked.

    Raises RecordError naming the file and the feature for a missing
    feature, a wrong type or length (say records of another max_seq_length),
    FileNotFoundError for a missing file.
    """
    return inspect_records(files, max_seq_length, max_predictions_per_seq).masked


def inspect_records(files, max_seq_length, max_predictions_per_seq) -> RecordLayout:
    """check_records, returning the RecordLayout the files share (mixed layouts are an error)."""
    expected = {name: ("float_list" if dtype == "float" else "int64_list",
                       {"seq": max_seq_length, "pred": max_predictions_per_seq, "one": 1}[size])
                for name, dtype, size in FEATURES}
    masked_files, pair_files = set(), set()
    for path in files:
        if not tf.io.gfile.exists(path):
            raise MissingFileError(f"input file not found: {path}")
        try:
            first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        except tf.errors.OpError as e:
            raise RecordError(f"{path}: record 0 is not a readable TFRecord ({e.message})") from None
        if first is None:
            raise RecordError(f"{path} holds no records")
        try:
            found = _describe(tf.train.Example.FromString(first.numpy()))
        except Exception:  # protobuf's DecodeError
            raise RecordError(f"{path}: record 0 is not a tf.train.Example (is this a "
                              "TFRecord file of pretraining examples?)") from None
        masked = "masked_lm_ids" in found
        pairs = NEXT_SENTENCE_FEATURE in found
        for name, _, _ in _features(masked, pairs):
            if name not in found:
                raise RecordError(f"{path}: record 0 has no feature {name!r} "
                                  f"(it has {sorted(found)})")
            if found[name] != expected[name]:
                kind, length = expected[name]
                raise RecordError(
                    f"{path}: record 0: feature {name!r} is {found[name][0]} of length "
                    f"{found[name][1]}, expected {kind} of length {length} "
                    "(was it written with another max_seq_length / max_predictions_per_seq?)")
        if masked:
            masked_files.add(path)
        if pairs:
            pair_files.add(path)
    if masked_files and len(masked_files) != len(files):
        raise RecordError("inputs mix masked and unmasked records: "
                          f"{sorted(set(files) - masked_files)[:3]} are unmasked")
    if pair_files and len(pair_files) != len(files):
        raise RecordError("inputs mix sentence pairs and full sentences: "
                          f"{sorted(set(files) - pair_files)[:3]} hold no next_sentence_labels")
    return RecordLayout(masked=bool(masked_files), next_sentence=bool(pair_files))


def find_bad_record(files, spec, vocab_size=None, type_vocab_size=None):
    """Scans every record; raises RecordError naming the first bad file, record and reason.

    Besides records that are cut or do not parse, ids outside the model's
    vocabulary (`vocab_size`) or segment range (`type_vocab_size`) are
    reported. Returns normally when every record is fine (the trouble was
    elsewhere).
    """
    limits = {"input_ids": vocab_size, "masked_lm_ids": vocab_size,
              "segment_ids": type_vocab_size}
    for path in files:
        index = -1
        try:
            for index, record in enumerate(tf.data.TFRecordDataset(path)):
                try:
                    parsed = tf.io.parse_single_example(record, spec)
                except tf.errors.InvalidArgumentError as e:
                    raise RecordError(f"{path}: record {index}: {_op_message(e)}") from None
                except Exception:  # bytes that are not a protobuf can break the message itself
                    raise RecordError(f"{path}: record {index} is not a tf.train.Example") \
                        from None
                for name, limit in limits.items():
                    if limit is None or name not in parsed:
                        continue
                    values = parsed[name].numpy()
                    if values.size and (values.max() >= limit or values.min() < 0):
                        bad = int(values[(values >= limit) | (values < 0)][0])
                        raise RecordError(f"{path}: record {index}: {name} holds {bad}, outside "
                                          f"the model's range [0, {limit}) (records made with "
                                          "another vocab?)")
        except tf.errors.DataLossError as e:
            raise RecordError(f"{path}: truncated or corrupted after record {index} "
                              f"({_op_message(e)})") from None


def _op_message(error):
    """A TensorFlow op error's message without the function-node and op decorations."""
    try:
        text = error.message
    except Exception:  # a message holding bytes that are not UTF-8
        return type(error).__name__
    text = re.sub(r"\{\{[^}]*\}\}", "", text)
    return re.sub(r"\s*\[Op:[^\]]*\]", "", text).strip().splitlines()[0][:300]


@dataclasses.dataclass(frozen=True)
class MaskingOptions:
    """What dynamic masking needs to know about the vocabulary and the tokenizer's template."""

    vocab_size: int
    special_ids: Sequence[int]  # the template's special tokens: never masked
    mask_id: int
    masked_lm_prob: float = 0.15
    whole_word: bool = False
    continuation_ids: Sequence[int] = ()  # "##" pieces, for whole-word masking

    @classmethod
    def from_tokenizer(cls, tokenizer, **kwargs):
        ids = tuple(i for i, t in enumerate(tokenizer.vocab) if t.startswith("##"))
        return cls(vocab_size=tokenizer.vocab_size, special_ids=tokenizer.template.special_ids,
                   mask_id=tokenizer.mask_id, continuation_ids=ids, **kwargs)


def unmask(batch):
    """Puts the original tokens back at the masked positions of masked records."""
    ids = batch["input_ids"]
    real = batch["masked_lm_weights"] > 0  # [B, K]
    rows = tf.broadcast_to(tf.range(tf.shape(ids)[0])[:, None], tf.shape(real))
    where = tf.stack([tf.boolean_mask(rows, real),
                      tf.boolean_mask(batch["masked_lm_positions"], real)], axis=1)
    return tf.tensor_scatter_nd_update(ids, where, tf.boolean_mask(batch["masked_lm_ids"], real))


def dynamic_mask(input_ids, input_mask, options, max_predictions_per_seq, seed):
    """Masks a batch as create_pretraining_data does, in the graph.

    input_ids, input_mask: int32 `[B, T]`; seed: int `[2]` (stateless).
    Returns masked `input_ids` and `masked_lm_positions`, `masked_lm_ids`
    (int32 `[B, K]`), `masked_lm_weights` (float32 `[B, K]`). With
    whole-word masking, words are taken in random order while they fit the
    budget (the offline writer also tries shorter words after one that
    does not fit).
    """
    k = max_predictions_per_seq
    seeds = tf.random.experimental.stateless_split(seed, 4)
    shape = tf.shape(input_ids)
    batch, length = shape[0], shape[1]
    real = tf.cast(input_mask, tf.bool)
    candidate = real
    for special in options.special_ids:
        candidate &= tf.not_equal(input_ids, special)
    n_real = tf.reduce_sum(tf.cast(real, tf.float32), axis=1)
    budget = tf.cast(tf.round(n_real * options.masked_lm_prob), tf.int32)
    budget = tf.minimum(k, tf.maximum(1, budget))
    budget = tf.minimum(budget, tf.reduce_sum(tf.cast(candidate, tf.int32), axis=1))  # [B]
    keys = tf.random.stateless_uniform(shape, seeds[0])  # [B, T]
    if options.whole_word:
        chosen = _whole_words(input_ids, candidate, keys, budget, options)
    else:
        keys = tf.where(candidate, keys, 2.0)
        rank = tf.argsort(tf.argsort(keys, axis=1, stable=True), axis=1, stable=True)
        chosen = candidate & (rank < budget[:, None])
    # Chosen positions in order, padded to K.
    position_key = tf.where(chosen, tf.range(length)[None, :], length)
    positions = tf.sort(position_key, axis=1)
    positions = tf.pad(positions, [[0, 0], [0, tf.maximum(0, k - length)]], constant_values=length)
    positions = positions[:, :k]
    weights = positions < length
    positions = tf.where(weights, positions, 0)
    labels = tf.where(weights, tf.gather(input_ids, positions, batch_dims=1), 0)
    draw = tf.random.stateless_uniform([batch, k], seeds[1])
    random_ids = tf.random.stateless_uniform([batch, k], seeds[2], 0, options.vocab_size,
                                             dtype=tf.int32)
    replacement = tf.where(draw < 0.8, options.mask_id, tf.where(draw < 0.9, labels, random_ids))
    rows = tf.broadcast_to(tf.range(batch)[:, None], [batch, k])
    where = tf.stack([tf.boolean_mask(rows, weights), tf.boolean_mask(positions, weights)], 1)
    masked = tf.tensor_scatter_nd_update(input_ids, where, tf.boolean_mask(replacement, weights))
    return {"input_ids": masked, "masked_lm_positions": positions, "masked_lm_ids": labels,
            "masked_lm_weights": tf.cast(weights, tf.float32)}


def _whole_words(input_ids, candidate, keys, budget, options):
    """Chooses whole words in random order while their total size fits `budget`: bool `[B, T]`."""
    shape = tf.shape(input_ids)
    batch, length = shape[0], shape[1]
    is_cont = np.zeros(options.vocab_size, bool)
    is_cont[list(options.continuation_ids)] = True
    continuation = tf.gather(tf.constant(is_cont), input_ids) & candidate
    previous = tf.pad(candidate[:, :-1], [[0, 0], [1, 0]])
    starts = candidate & ~(continuation & previous)  # [B, T] first piece of each word
    word = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1  # [B, T] word index in its row
    segment = tf.reshape(tf.range(batch)[:, None] * length + tf.maximum(word, 0), [-1])
    # Every piece of a word takes the key drawn at the word's first piece.
    word_key = tf.math.unsorted_segment_max(
        tf.reshape(tf.where(starts, keys, -1.0), [-1]), segment, batch * length)
    keys = tf.where(candidate, tf.reshape(tf.gather(word_key, segment), [batch, length]), 2.0)
    # Tokens in key order (the pieces of a word stay together), counting as we go.
    order = tf.argsort(keys, axis=1, stable=True)
    taken = tf.cumsum(tf.cast(tf.gather(candidate, order, batch_dims=1), tf.int32), axis=1)
    taken = tf.gather(taken, tf.argsort(order, axis=1), batch_dims=1)  # back to token order
    # A word is taken if the count at its last piece is within the budget.
    word_end = tf.math.unsorted_segment_max(tf.reshape(taken, [-1]), segment, batch * length)
    fits = tf.reshape(tf.gather(word_end, segment), [batch, length]) <= budget[:, None]
    return candidate & fits


def pretraining_dataset(files, batch_size, max_seq_length, max_predictions_per_seq,
                        is_training=True, masking: Optional[MaskingOptions] = None, seed=None,
                        input_context: Optional[tf.distribute.InputContext] = None,
                        shuffle_buffer=10_000, cycle_length=8, skip_batches=0):
    """Batches for the pretraining model from TFRecord files.

    Each batch is a dict of int32 `input_ids`, `input_mask`, `segment_ids`
    `[B, T]`, `masked_lm_positions`, `masked_lm_ids` `[B, K]`,
    float32 `masked_lm_weights` `[B, K]` and, from records of sentence
    pairs, int32 `next_sentence_labels` `[B, 1]`. `masking` turns on
    dynamic masking (required for unmasked records). With an `input_context` (tf.distribute) each input pipeline
    reads its own share of the files, or of the records if there are fewer
    files than pipelines. A bad record raises an error whose example name
    is "file:record N"; `find_bad_record` finds corrupted files.
    """
    files = list(files)
    layout = inspect_records(files, max_seq_length, max_predictions_per_seq)
    masked = layout.masked
    if not masked and masking is None:
        raise RecordError(f"{files[0]} holds unmasked records: pass dynamic masking options")
    spec = feature_spec(max_seq_length, max_predictions_per_seq, masked, layout.next_sentence)

    names = tf.data.Dataset.from_tensor_slices(files)
    shard_records = False
    if input_context and input_context.num_input_pipelines > 1:
        if len(files) >= input_context.num_input_pipelines:
            names = names.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        else:
            shard_records = True
    if is_training:
        names = names.shuffle(len(files), seed=seed).repeat()

    def read(path):
        # (record, its index, its file): zipped, not mapped, so that no function runs per
        # record (a per-record map cost about 0.1 ms each, as much as the training step's
        # share on a small model); the names are joined per batch in `parse`.
        return tf.data.Dataset.zip((tf.data.TFRecordDataset(path), tf.data.Dataset.range(
            tf.int64.max), tf.data.Dataset.from_tensors(path).repeat()))

    data = names.interleave(read, cycle_length=min(cycle_length, len(files)),
                            num_parallel_calls=tf.data.AUTOTUNE,
                            deterministic=seed is not None or not is_training)
    if shard_records:
        data = data.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if is_training:
        data = data.shuffle(shuffle_buffer, seed=seed)
    if skip_batches:
        data = data.skip(skip_batches * batch_size)  # records are cheaper to skip than batches
    data = data.batch(batch_size, drop_remainder=is_training)

    def parse(records, indices, paths):
        record_names = tf.strings.join([paths, ":record ", tf.strings.as_string(indices)])
        parsed = tf.io.parse_example(records, spec, example_names=record_names)
        return {k: (v if v.dtype == tf.float32 else tf.cast(v, tf.int32)) for k, v in parsed.items()}

    data = data.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if masking is not None:
        def remask(batch, batch_seed):
            ids = unmask(batch) if masked else batch["input_ids"]
            out = dict(batch)
            out.update(dynamic_mask(ids, batch["input_mask"], masking, max_predictions_per_seq,
                                    batch_seed))
            return out

        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        seeds = seeds.skip(skip_batches)
        data = tf.data.Dataset.zip((data, seeds)).map(remask, num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)
