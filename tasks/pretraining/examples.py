"""Pretraining examples from tokenized documents: BERT's sentence pairs, or RoBERTa's full sentences.

This module is pure Python and numpy, so worker processes can import it
without TensorFlow. Sentence pairs follow google-research/bert's
create_pretraining_data semantics:

- sentences of a document are packed into segment A and B up to a target
  length (`max_seq_length` less the template's special tokens of a pair, 3
  for `[CLS] A [SEP] B [SEP]`, or with probability `short_seq_prob` a random
  shorter one);
- B is the true continuation half the time, otherwise text from a random
  other document (next_sentence_label 1), and the unused sentences are
  returned to the pool;
- with `sentence_order` (ALBERT's sentence-order prediction, as
  google-research/albert's create_pretraining_data writes it), B is never
  drawn from another document when A and B can be cut from the group: half
  the time the two consecutive segments are swapped (label 1, "B A"), else
  kept in order (label 0); a group of one sentence still takes B from
  another document (label 1), as ALBERT's does;
- pairs that are too long are trimmed one token at a time from the longer
  segment, at its front or back at random;
- `min(max_predictions_per_seq, max(1, round(len(tokens) * masked_lm_prob)))`
  positions are masked, never a special token of the template ([CLS] or
  [SEP]); each becomes [MASK] with probability 0.8, a uniformly random
  vocabulary id with 0.1, and stays with 0.1. With whole-word masking, all
  pieces of a word are chosen together.

Full sentences (`Options.full_sentences`) are RoBERTa's FULL-SENTENCES
inputs, for a masked-LM objective without next-sentence prediction:

- the chunk's sentences, in order, are packed into blocks of at most
  `max_seq_length` less the template's special tokens of one text (2 for
  `<s> ... </s>`), each sentence whole; packing crosses document boundaries,
  with the template's end token (`</s>`) between two documents (the RoBERTa
  paper's "extra separator token"), counted in the block;
- a sentence longer than a whole block is cut wherever a block is full: it
  starts in the block being filled and runs on into the next ones, and its
  last piece packs with the sentences after it;
- each block is framed by the template's single-text layout (`<s> block
  </s>`), segment ids 0, and written without next_sentence_labels; unmasked
  (for dynamic masking) it is written once, masked offline `dupe_factor`
  times with different masks (as pairs are masked).

Records use exactly google-research/bert's feature names and types. The
layout is the tokenizer's template (Options.template): BERT's gives
google-research/bert's records; another (RoBERTa's `<s> A </s></s> B </s>`,
segment ids 0) lays out the same features its way.
"""

# N=instances, T=max_seq_length, K=max_predictions_per_seq

import dataclasses

import numpy as np

from bert_tf.errors import UserError
from bert_tf.tokenization.template import Template  # numpy only: no TensorFlow in workers

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
NEXT_SENTENCE_FEATURE = "next_sentence_labels"  # what full-sentence records leave out


@dataclasses.dataclass(frozen=True)
class Options:
    """What create_pretraining_data's flags decide, plus the tokenizer's template and the vocab
    facts masking needs."""

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    dupe_factor: int = 10
    do_whole_word_mask: bool = False
    mask: bool = True  # False: write unmasked records for dynamic masking
    vocab_size: int = 0
    template: Template = None  # the tokenizer's: where the special tokens go around a pair
    mask_id: int = 0
    continuation_ids: tuple = ()  # ids of "##" pieces, for whole-word masking
    # RoBERTa's FULL-SENTENCES blocks (no pair, no next_sentence_labels) instead of pairs.
    full_sentences: bool = False
    # ALBERT's sentence-order labels (swapped consecutive segments) instead of next-sentence.
    sentence_order: bool = False

    def __post_init__(self):
        if self.template is None:
            raise ValueError("Options needs the tokenizer's template (records.options_for)")
        if self.full_sentences:
            least = self.template.special_count(pair=False) + 1  # one token in a block
        else:
            least = self.template.special_count(pair=True) + 2  # two tokens: one per segment
        if self.max_seq_length < least:
            raise UserError(f"--max_seq_length must be at least {least}, got "
                            f"{self.max_seq_length}")
        if not 0 < self.masked_lm_prob < 1:
            raise UserError(f"--masked_lm_prob must be in (0, 1), got {self.masked_lm_prob}")
        if self.max_predictions_per_seq < 1:
            raise UserError("--max_predictions_per_seq must be positive")
        if not 0 <= self.short_seq_prob <= 1:
            raise UserError(f"--short_seq_prob must be in [0, 1], got {self.short_seq_prob}")
        if self.dupe_factor < 1:
            raise UserError(f"--dupe_factor must be positive, got {self.dupe_factor}")
        if self.full_sentences and self.sentence_order:
            raise UserError("--sentence_order_prediction labels sentence pairs; "
                            "--full_sentences writes no pairs")


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


def instances_from_document(chunk, d, options, rng):
    """What google-research/bert's create_instances_from_document makes of document d.

    Sentences of a document are contiguous in `chunk.tokens`, so every
    segment is one slice of it. Returns rows of (a_start, a_end, b_start,
    b_end, label), token offsets before trimming; the label is 1 for a
    random next segment (or, with sentence_order, a swapped pair).
    """
    splits = chunk.sentence_splits
    first, last = int(chunk.document_splits[d]), int(chunk.document_splits[d + 1])
    max_tokens = options.max_seq_length - options.template.special_count(pair=True)
    target = max_tokens
    if rng.random() < options.short_seq_prob:
        target = int(rng.integers(2, max_tokens + 1))
    rows = []
    group_start, length = first, 0  # the sentences gathered so far: group_start..i
    i = first
    while i < last:
        length += splits[i + 1] - splits[i]
        if i == last - 1 or length >= target:
            n = i - group_start + 1
            a_end = group_start + (int(rng.integers(1, n)) if n >= 2 else 1)  # sentence index
            a = (splits[group_start], splits[a_end])
            if n == 1 or (not options.sentence_order and rng.random() < 0.5):
                other = d
                for _ in range(10):  # a document other than this one, if there is any
                    other = int(rng.integers(0, chunk.num_documents))
                    if other != d:
                        break
                o_first, o_last = chunk.document_splits[other], chunk.document_splits[other + 1]
                start = int(rng.integers(o_first, o_last))
                # Sentences from `start` until they reach the length A leaves (at least one).
                wanted = splits[start] + target - (a[1] - a[0])
                end = int(np.searchsorted(splits, wanted, side="left"))
                end = min(max(end, start + 1), o_last)
                rows.append((a[0], a[1], splits[start], splits[end], True))
                i = a_end - 1  # the unused sentences go back to the pool
            elif options.sentence_order and rng.random() < 0.5:
                # ALBERT's negative: the rest of the group first, then A.
                rows.append((splits[a_end], splits[i + 1], a[0], a[1], True))
            else:
                rows.append((a[0], a[1], splits[a_end], splits[i + 1], False))
            group_start, length = i + 1, 0
        i += 1
    return rows


def assemble(chunk, rows, options, rng):
    """Trims pairs and lays them out as the template does (`[CLS] A [SEP] B [SEP]`), vectorized
    over a batch.

    rows: int `[N, 5]` from instances_from_document. Too-long pairs lose
    tokens from the longer segment (the second on ties) until they fit, each
    from the front or the back at random. Returns (tokens `[N, T]`, padded
    with the template's pad id, segment_ids `[N, T]`, lengths `[N]`).
    """
    template = options.template
    rows = np.asarray(rows, np.int64).reshape(-1, 5)
    m = options.max_seq_length - template.special_count(pair=True)
    la, lb = rows[:, 1] - rows[:, 0], rows[:, 3] - rows[:, 2]
    keep_b = np.minimum(lb, np.maximum(m // 2, m - la))
    keep_a = np.minimum(la, m - keep_b)
    a0 = rows[:, 0] + rng.binomial(la - keep_a, 0.5)
    b0 = rows[:, 2] + rng.binomial(lb - keep_b, 0.5)
    lengths = template.length(keep_a, keep_b)
    pos = np.arange(options.max_seq_length)[None, :]
    a_at, b_at = template.segment_starts(keep_a[:, None])  # int, [N, 1]
    in_a = (pos >= a_at) & (pos < a_at + keep_a[:, None])
    in_b = (pos >= b_at) & (pos < b_at + keep_b[:, None])
    index = np.where(in_a, a0[:, None] + pos - a_at, np.where(in_b, b0[:, None] + pos - b_at, 0))
    special, segments = template.layout_rows(keep_a, keep_b, options.max_seq_length)
    tokens = np.where(in_a | in_b, chunk.tokens[index],
                      np.where(special >= 0, special, template.pad_id)).astype(np.int64)
    return tokens, segments, lengths


def full_sentence_cuts(chunk, options):
    """Where the full-sentence blocks cut the chunk's token stream: int `[N + 1]` offsets.

    Block n holds chunk.tokens[cuts[n]:cuts[n + 1]] (every token is in one
    block, in order), with the separator before each document that starts
    inside it. Sentences are added while the block, separators included,
    fits `max_seq_length` less the template's special tokens of one text; a
    sentence longer than a block runs on into the next block(s).
    """
    budget = options.max_seq_length - options.template.special_count(pair=False)
    separator = len(options.template.end)
    splits = chunk.sentence_splits
    starts_document = np.zeros(len(splits) - 1, bool)
    starts_document[chunk.document_splits[:-1]] = True
    cuts, used = [0], 0  # used: tokens and separators in the block being filled
    for s in range(len(splits) - 1):
        length = int(splits[s + 1] - splits[s])
        extra = separator if used and starts_document[s] else 0
        # A sentence that does not fit starts the next block, unless it is longer than a
        # block: cut anyway, it fills this one first (if a token of it fits).
        if used and (used + extra + length > budget) and (
                length <= budget or used + extra >= budget):
            cuts.append(int(splits[s]))
            used, extra = 0, 0
        used += extra
        start, rest = int(splits[s]), length
        while used + rest > budget:
            start, rest = start + budget - used, rest - (budget - used)
            cuts.append(start)
            used = 0
        used += rest
    if used:
        cuts.append(len(chunk.tokens))
    return np.asarray(cuts, np.int64)


def assemble_full_sentences(chunk, cuts, options):
    """Blocks laid out as the template frames one text (`<s> block </s>`), vectorized.

    cuts: full_sentence_cuts' `[N + 1]` offsets. Returns (tokens `[N, T]`,
    padded with the template's pad id, lengths `[N]`); segment ids are all 0.
    """
    template = options.template
    starts, ends = cuts[:-1], cuts[1:]
    inside = chunk.sentence_splits[chunk.document_splits[1:-1]]  # [D] later documents' starts
    # Separators of block n: the documents starting in (starts[n], ends[n]).
    before_start = np.searchsorted(inside, starts, side="right")  # [N]
    separators = np.searchsorted(inside, ends, side="left") - before_start  # [N]
    sep = np.asarray(template.end, np.int64)
    lengths_a = ends - starts + separators * len(sep)
    special, _ = template.layout_rows(lengths_a, None, options.max_seq_length)
    tokens = np.where(special >= 0, special, template.pad_id)
    offset = len(template.start)
    t = np.arange(len(chunk.tokens))
    block = np.searchsorted(cuts, t, side="right") - 1  # [tokens]
    seps_up_to = np.searchsorted(inside, t, side="right") - before_start[block]
    tokens[block, offset + t - starts[block] + seps_up_to * len(sep)] = chunk.tokens
    at = inside[(inside > starts[0]) & (inside < ends[-1])]  # documents that start inside a block
    at = at[np.isin(at, starts, invert=True)]
    sep_block = np.searchsorted(cuts, at, side="right") - 1
    column = (offset + at - starts[sep_block]
              + (np.searchsorted(inside, at, side="left") - before_start[sep_block]) * len(sep))
    for k, token in enumerate(sep):
        tokens[sep_block, column + k] = token
    return tokens.astype(np.int64), template.length(lengths_a)


def _full_sentence_examples(chunk, rng, options, continuation, batch_size):
    """process_chunk's serialized examples of full-sentence blocks, shuffled."""
    tokens, lengths = assemble_full_sentences(chunk, full_sentence_cuts(chunk, options), options)
    copies = options.dupe_factor if options.mask else 1  # unmasked copies would be identical
    rows = np.tile(np.arange(len(tokens)), copies)[rng.permutation(len(tokens) * copies)]
    out = []
    for first in range(0, len(rows), batch_size):
        batch = rows[first:first + batch_size]
        features = {
            "input_mask": np.arange(options.max_seq_length)[None, :] < lengths[batch, None],
            "segment_ids": np.zeros((len(batch), options.max_seq_length), np.int64),
        }
        if options.mask:
            (features["input_ids"], features["masked_lm_positions"], features["masked_lm_ids"],
             features["masked_lm_weights"]) = mask_batch(tokens[batch], lengths[batch], options,
                                                         rng, continuation)
        else:
            features["input_ids"] = tokens[batch]
        out.extend(serialize_batch(features))
    return out


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
    candidate = in_example & ~np.isin(tokens, options.template.special_ids)
    budget = np.minimum(num_to_predict(lengths, options), candidate.sum(1))
    if options.do_whole_word_mask:
        chosen = np.zeros((n, t), bool)
        for row in range(n):
            picked = _choose_whole_words(tokens[row], np.flatnonzero(candidate[row]),
                                         budget[row], rng, continuation)
            chosen[row, picked] = True
    else:
        keys = np.where(candidate, rng.random((n, t)), np.inf)
        by_key = np.argsort(keys, axis=1)  # candidates first, in random order
        take = np.arange(t)[None, :] < budget[:, None]
        chosen = np.zeros((n, t), bool)
        np.put_along_axis(chosen, by_key, take, axis=1)
    count = chosen.sum(1)
    # Positions of the chosen tokens in increasing order, padded with zeros to K.
    weights = np.arange(k_max)[None, :] < count[:, None]
    marked = np.where(chosen, np.arange(t)[None, :], t)
    positions = np.sort(marked, axis=1)[:, :k_max]
    if positions.shape[1] < k_max:
        positions = np.pad(positions, ((0, 0), (0, k_max - positions.shape[1])))
    positions = np.where(weights, positions, 0)
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
    if options.full_sentences:
        return _full_sentence_examples(chunk, rng, options, continuation, batch_size)
    rows = []
    for _ in range(options.dupe_factor):
        for d in range(chunk.num_documents):
            rows.extend(instances_from_document(chunk, d, options, rng))
    rows = np.asarray(rows, np.int64).reshape(-1, 5)[rng.permutation(len(rows))]
    out = []
    for first in range(0, len(rows), batch_size):
        batch = rows[first:first + batch_size]
        tokens, segments, lengths = assemble(chunk, batch, options, rng)
        features = {
            "input_mask": np.arange(options.max_seq_length)[None, :] < lengths[:, None],
            "segment_ids": segments,
            "next_sentence_labels": batch[:, 4:5],
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
    """Packed varints of each row of non-negative ints `[N, L]`: (flat uint8, bytes per row)."""
    largest = int(np.max(values, initial=0))
    v = np.asarray(values).astype(np.uint32 if largest < 2 ** 32 else np.uint64)
    width = max(1, (largest.bit_length() + 6) // 7)  # bytes of the largest value
    groups = (v[..., None] >> (np.arange(width, dtype=v.dtype) * 7).astype(v.dtype)) & 0x7F
    count = np.ones(v.shape, np.int64)
    for k in range(1, width):
        count += v >= (1 << (7 * k))
    index = np.arange(width)
    more = index < (count - 1)[..., None]  # continuation bit on all but a value's last byte
    data = groups.astype(np.uint8) | (more.astype(np.uint8) << 7)
    return data[index < count[..., None]], count.sum(axis=-1)


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


def _table(make, keys):
    """Byte strings make(k) for each distinct key: (buffer, start and length per key)."""
    unique, inverse = np.unique(keys, return_inverse=True)
    parts = [make(int(k)) for k in unique]
    lengths = np.array([len(p) for p in parts], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.frombuffer(b"".join(parts), np.uint8), starts[inverse], lengths[inverse]


def serialize_batch(features):
    """tf.train.Examples for a batch: {name: `[N, L]` array} -> N serialized bytes.

    Features are written in google-research/bert's order; int64 values as
    packed varints, floats as packed little-endian float32. Each example is
    a sequence of byte segments (headers that depend only on a length, and
    the packed values), gathered for the whole batch at once.
    """
    segments = []  # (buffer, start per row, length per row), in output order
    for name, dtype, _ in FEATURES:
        if name not in features:
            continue
        values = np.asarray(features[name])
        if dtype == "float":
            payload = np.frombuffer(values.astype("<f4").tobytes(), np.uint8)
            sizes = np.full(len(values), values.shape[1] * 4, np.int64)
        else:
            payload, sizes = _varint_rows(values)
        segments.append(_table(lambda size: _entry_prefix(name, dtype, size), sizes))
        segments.append((payload, np.cumsum(sizes) - sizes, sizes))
    body = sum(length for _, _, length in segments)
    segments.insert(0, _table(lambda size: b"\x0a" + _varint(size), body))

    bases = np.cumsum([0] + [len(buffer) for buffer, _, _ in segments[:-1]])
    source = np.concatenate([buffer for buffer, _, _ in segments])
    starts = np.stack([base + start for base, (_, start, _) in zip(bases, segments)], 1).ravel()
    lengths = np.stack([length for _, _, length in segments], 1).ravel()
    out_starts = np.cumsum(lengths) - lengths
    index = np.repeat(starts - out_starts, lengths) + np.arange(lengths.sum())
    data = source[index].tobytes()
    ends = np.cumsum(lengths.reshape(len(body), -1).sum(1)).tolist()
    return [data[a:b] for a, b in zip([0] + ends[:-1], ends)]
