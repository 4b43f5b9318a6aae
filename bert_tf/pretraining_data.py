"""Pretraining examples (masked LM + next sentence) from tokenized documents, as in BERT.

This module is pure Python and numpy, so worker processes can import it
without TensorFlow. It follows google-research/bert's create_pretraining_data
semantics:

- sentences of a document are packed into segment A and B up to a target
  length (`max_seq_length - 3`, or with probability `short_seq_prob` a random
  shorter one);
- B is the true continuation half the time, otherwise text from a random
  other document (next_sentence_label 1), and the unused sentences are
  returned to the pool;
- pairs that are too long are trimmed one token at a time from the longer
  segment, at its front or back at random;
- `min(max_predictions_per_seq, max(1, round(len(tokens) * masked_lm_prob)))`
  positions are masked, never [CLS] or [SEP]; each becomes [MASK] with
  probability 0.8, a uniformly random vocabulary id with 0.1, and stays with
  0.1. With whole-word masking, all pieces of a word are chosen together.

Records use exactly google-research/bert's feature names and types.
"""

# N=instances, T=max_seq_length, K=max_predictions_per_seq

import dataclasses

import numpy as np

# Feature name -> (dtype, length key) in google-research/bert's records.
FEATURES = (
    ("input_ids", "int64", "seq"),
    ("input_mask", "int64", "seq"),
    ("segment_ids", "int64", "seq"),
    ("masked_lm_positions", "int64", "pred"),
    ("masked_lm_ids", "int64", "pred"),
    ("masked_lm_weights", "float", "pred"),
    ("next_sentence_labels", "int64", "one"),
)
UNMASKED_FEATURES = ("input_ids", "input_mask", "segment_ids", "next_sentence_labels")


@dataclasses.dataclass(frozen=True)
class Options:
    """What create_pretraining_data's flags decide, plus the vocab facts masking needs."""

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    dupe_factor: int = 10
    do_whole_word_mask: bool = False
    mask: bool = True  # False: write unmasked records for dynamic masking
    vocab_size: int = 0
    cls_id: int = 0
    sep_id: int = 0
    mask_id: int = 0
    continuation_ids: tuple = ()  # ids of "##" pieces, for whole-word masking

    def __post_init__(self):
        if self.max_seq_length < 5:
            raise ValueError(f"max_seq_length must be at least 5, got {self.max_seq_length}")
        if not 0 < self.masked_lm_prob < 1:
            raise ValueError(f"masked_lm_prob must be in (0, 1), got {self.masked_lm_prob}")
        if self.max_predictions_per_seq < 1:
            raise ValueError("max_predictions_per_seq must be positive")
        if not 0 <= self.short_seq_prob <= 1:
            raise ValueError(f"short_seq_prob must be in [0, 1], got {self.short_seq_prob}")
        if self.dupe_factor < 1:
            raise ValueError(f"dupe_factor must be positive, got {self.dupe_factor}")


@dataclasses.dataclass
class Chunk:
    """Documents as flat arrays (cheap to send to a worker process).

    Sentence s holds tokens[sentence_splits[s]:sentence_splits[s + 1]];
    document d holds sentences document_splits[d] to document_splits[d + 1].
    """

    tokens: np.ndarray
    sentence_splits: np.ndarray
    document_splits: np.ndarray

    @classmethod
    def from_documents(cls, documents):
        """From a list of documents, each a list of int token arrays (empty ones dropped)."""
        documents = [d for d in documents if len(d)]
        sentences = [s for d in documents for s in d]
        lengths = np.fromiter((len(s) for s in sentences), np.int64, len(sentences))
        return cls(
            tokens=(np.concatenate(sentences).astype(np.int32) if sentences
                    else np.zeros(0, np.int32)),
            sentence_splits=np.concatenate([[0], np.cumsum(lengths)]),
            document_splits=np.concatenate([[0], np.cumsum([len(d) for d in documents])]),
        )

    @property
    def num_documents(self):
        return len(self.document_splits) - 1

    def document(self, d):
        first, last = self.document_splits[d], self.document_splits[d + 1]
        splits = self.sentence_splits
        return [self.tokens[splits[s]:splits[s + 1]] for s in range(first, last)]


@dataclasses.dataclass
class Instance:
    tokens: np.ndarray  # [CLS] A [SEP] B [SEP]
    segment_ids: np.ndarray
    is_random_next: bool


def _trim_pair(a, b, max_tokens, rng):
    """Trims the longer segment one token at a time, from its front or back at random.

    Which segment loses each token depends only on the lengths (the longer
    one, the second on ties), so the totals have a closed form; the front or
    back choices are then a binomial draw per segment.
    """
    keep_b = min(len(b), max(max_tokens // 2, max_tokens - len(a)))
    keep_a = min(len(a), max_tokens - keep_b)
    cut_a, cut_b = len(a) - keep_a, len(b) - keep_b
    front_a, front_b = (int(rng.binomial(n, 0.5)) if n else 0 for n in (cut_a, cut_b))
    return a[front_a:front_a + keep_a], b[front_b:front_b + keep_b]


def instances_from_document(documents, d, options, rng):
    """The instances google-research/bert's create_instances_from_document makes from document d."""
    document = documents[d]
    max_tokens = options.max_seq_length - 3
    target = max_tokens
    if rng.random() < options.short_seq_prob:
        target = int(rng.integers(2, max_tokens + 1))
    instances = []
    current, current_length = [], 0
    i = 0
    while i < len(document):
        current.append(document[i])
        current_length += len(document[i])
        if i == len(document) - 1 or current_length >= target:
            if current:
                a_end = int(rng.integers(1, len(current))) if len(current) >= 2 else 1
                a = np.concatenate(current[:a_end])
                if len(current) == 1 or rng.random() < 0.5:
                    is_random_next = True
                    b_target = target - len(a)
                    other = d
                    for _ in range(10):  # a document other than this one, if there is any
                        other = int(rng.integers(0, len(documents)))
                        if other != d:
                            break
                    other_doc = documents[other]
                    start = int(rng.integers(0, len(other_doc)))
                    pieces, length = [], 0
                    for sentence in other_doc[start:]:
                        pieces.append(sentence)
                        length += len(sentence)
                        if length >= b_target:
                            break
                    b = np.concatenate(pieces)
                    i -= len(current) - a_end  # the unused sentences go back to the pool
                else:
                    is_random_next = False
                    b = np.concatenate(current[a_end:])
                a, b = _trim_pair(a, b, max_tokens, rng)
                if len(a) >= 1 and len(b) >= 1:
                    tokens = np.concatenate([[options.cls_id], a, [options.sep_id], b,
                                             [options.sep_id]]).astype(np.int32)
                    segments = np.zeros(len(tokens), np.int32)
                    segments[len(a) + 2:] = 1
                    instances.append(Instance(tokens, segments, is_random_next))
            current, current_length = [], 0
        i += 1
    return instances


def num_to_predict(lengths, options):
    """Masked positions per example: min(max_predictions, max(1, round(length * prob)))."""
    rounded = np.round(np.asarray(lengths) * options.masked_lm_prob).astype(np.int64)
    return np.minimum(options.max_predictions_per_seq, np.maximum(1, rounded))


def _word_groups(tokens, candidates, continuation):
    """Candidate positions grouped into whole words ("##" pieces join the piece before)."""
    groups = []
    for p in candidates:
        if groups and continuation[tokens[p]] and groups[-1][-1] == p - 1:
            groups[-1].append(int(p))
        else:
            groups.append([int(p)])
    return groups


def _choose_whole_words(tokens, candidates, budget, rng, continuation):
    groups = _word_groups(tokens, candidates, continuation)
    chosen = []
    for g in rng.permutation(len(groups)):
        if len(chosen) >= budget:
            break
        if len(chosen) + len(groups[g]) > budget:
            continue  # a word that does not fit; a shorter one later may
        chosen.extend(groups[g])
    return chosen


def mask_batch(tokens, lengths, options, rng, continuation=None):
    """Masks a batch of examples.

    tokens: int `[N, T]` padded examples; lengths: `[N]`. Returns (masked
    tokens `[N, T]`, positions `[N, K]`, original ids `[N, K]`, weights `[N, K]`),
    positions sorted and zero-padded. Without whole-word masking the chosen
    positions are the candidates with the smallest random keys, which is a
    uniformly random subset, as shuffling the candidates is.
    """
    n, t = tokens.shape
    k_max = options.max_predictions_per_seq
    in_example = np.arange(t)[None, :] < np.asarray(lengths)[:, None]
    candidate = in_example & (tokens != options.cls_id) & (tokens != options.sep_id)
    budget = np.minimum(num_to_predict(lengths, options), candidate.sum(1))
    if options.do_whole_word_mask:
        chosen = np.zeros((n, t), bool)
        for row in range(n):
            picked = _choose_whole_words(tokens[row], np.flatnonzero(candidate[row]),
                                         budget[row], rng, continuation)
            chosen[row, picked] = True
    else:
        keys = np.where(candidate, rng.random((n, t)), np.inf)
        rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
        chosen = candidate & (rank < budget[:, None])
    count = chosen.sum(1)
    # Positions of the chosen tokens in order, padded with zeros to K.
    order = np.argsort(~chosen, axis=1, kind="stable")[:, :k_max]
    weights = (np.arange(k_max)[None, :] < count[:, None])
    if order.shape[1] < k_max:
        order = np.pad(order, ((0, 0), (0, k_max - order.shape[1])))
    positions = np.where(weights, order, 0)
    labels = np.where(weights, np.take_along_axis(tokens, positions, 1), 0)
    draw = rng.random((n, k_max))
    replacement = np.where(draw < 0.8, options.mask_id, labels)
    random_ids = rng.integers(0, options.vocab_size, (n, k_max))
    replacement = np.where(draw >= 0.9, random_ids, replacement)  # 0.8-0.9 keeps the token
    masked = tokens.copy()
    rows = np.repeat(np.arange(n), k_max)[weights.reshape(-1)]
    masked[rows, positions[weights]] = replacement[weights]
    return masked, positions, labels, weights.astype(np.float32)


def process_chunk(chunk, seed, options, batch_size=1024):
    """All serialized tf.train.Examples for one chunk of documents, shuffled.

    A pure function of its arguments: the same chunk, seed and options give
    the same bytes in any process.
    """
    rng = np.random.default_rng(seed)
    continuation = np.zeros(max(options.vocab_size, 1), bool)
    continuation[list(options.continuation_ids)] = True
    documents = [chunk.document(d) for d in range(chunk.num_documents)]
    instances = []
    for _ in range(options.dupe_factor):
        for d in range(chunk.num_documents):
            instances.extend(instances_from_document(documents, d, options, rng))
    order = rng.permutation(len(instances))
    out = []
    for first in range(0, len(order), batch_size):
        batch = [instances[i] for i in order[first:first + batch_size]]
        tokens = np.zeros((len(batch), options.max_seq_length), np.int64)
        segments = np.zeros_like(tokens)
        lengths = np.array([len(x.tokens) for x in batch])
        for row, instance in enumerate(batch):
            tokens[row, :lengths[row]] = instance.tokens
            segments[row, :lengths[row]] = instance.segment_ids
        features = {
            "input_mask": (np.arange(options.max_seq_length)[None, :] < lengths[:, None]),
            "segment_ids": segments,
            "next_sentence_labels": np.array([[x.is_random_next] for x in batch]),
        }
        if options.mask:
            (features["input_ids"], features["masked_lm_positions"], features["masked_lm_ids"],
             features["masked_lm_weights"]) = mask_batch(tokens, lengths, options, rng,
                                                         continuation)
        else:
            features["input_ids"] = tokens
        out.extend(serialize_batch(features))
    return out


# ------------------------------------------------------------ serialization
# tf.train.Example written directly in protobuf wire format, so workers need
# no TensorFlow. Example{features: Features{feature: map<string, Feature>}},
# Feature{float_list=2 | int64_list=3}, lists packed in their field 1.


def _varint(n):
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _varint_rows(values):
    """Packed varints of each row of non-negative ints `[N, L]`: (flat bytes, bytes per row)."""
    v = np.asarray(values).astype(np.uint64)
    width = max(1, (int(v.max(initial=0)).bit_length() + 6) // 7)  # bytes of the largest value
    groups = (v[..., None] >> (np.arange(width, dtype=np.uint64) * np.uint64(7))) & np.uint64(0x7F)
    count = np.ones(v.shape, np.int64)
    for k in range(1, width):
        count[groups[..., k] != 0] = k + 1
    index = np.arange(width)
    more = index < (count - 1)[..., None]  # continuation bit on all but a value's last byte
    data = groups.astype(np.uint8) | (more.astype(np.uint8) << 7)
    return data[index < count[..., None]].tobytes(), count.sum(axis=-1)


def _field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _entry_prefix(name, dtype, payload_length):
    """Bytes of a map entry {name: Feature{list{packed}}} that come before the packed values."""
    list_header = _varint(1 << 3 | 2) + _varint(payload_length)
    kind = 2 if dtype == "float" else 3
    list_length = len(list_header) + payload_length
    feature_header = _varint(kind << 3 | 2) + _varint(list_length)
    key = _field(1, name.encode())
    body_length = len(key) + 1 + len(_varint(len(feature_header) + list_length)) + len(
        feature_header) + list_length
    return (_varint(1 << 3 | 2) + _varint(body_length) + key + _varint(2 << 3 | 2)
            + _varint(len(feature_header) + list_length) + feature_header + list_header)


def serialize_batch(features):
    """tf.train.Examples for a batch: {name: `[N, L]` array} -> N serialized bytes.

    Features are written in google-research/bert's order; int64 values as
    packed varints, floats as packed little-endian float32.
    """
    columns, prefixes = [], {}
    for name, dtype, _ in FEATURES:
        if name not in features:
            continue
        values = np.asarray(features[name])
        if dtype == "float":
            data = values.astype("<f4")
            flat, sizes = data.tobytes(), np.full(len(data), data.shape[1] * 4)
        else:
            flat, sizes = _varint_rows(values)
        ends = np.cumsum(sizes).tolist()
        columns.append((name, dtype, flat, [0] + ends[:-1], ends, sizes.tolist()))
    examples = []
    for row in range(len(columns[0][3])):
        parts = []
        for name, dtype, flat, starts, ends, sizes in columns:
            key = (name, sizes[row])
            prefix = prefixes.get(key)
            if prefix is None:
                prefix = prefixes[key] = _entry_prefix(name, dtype, sizes[row])
            parts.append(prefix)
            parts.append(flat[starts[row]:ends[row]])
        body = b"".join(parts)
        examples.append(b"\x0a" + _varint(len(body)) + body)
    return examples
