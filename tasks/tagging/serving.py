"""How a tagger is served: raw sentences (or pre-split words) in, each word's tag and the entities out.

Everything runs in the graph with core TensorFlow ops (unless the export
asks for tensorflow-text's WordPiece): BERT's basic tokenizer splits raw
text into words and keeps each word's character span in the input; each
word is tokenized on its own (`BertTokenizer.tokenize_words`); sentences too
long for one row are windowed exactly as run_tagging.py windows them
(`window_ops.split` = `windows.split`); each word is predicted at its first
piece in the window that owns it; predicted tags are repaired as
`schemes.repair_iob2` repairs them (an I-X that starts an entity becomes
B-X) and read into entities.

Signatures (B=sentences, W=most words in a sentence of the batch, E=most
entities, L=labels, T=positions):

- serving_default: `text` string [B] ->
  `words` string [B, W] (each word as it is written in the text), `tags`
  string [B, W] (IOB2), `tag_probability` float [B, W] (of the most likely
  label), `word_start`, `word_end` int32 [B, W] (character offsets of each
  word in its text, end exclusive, counted in Unicode characters as Python
  `str` indexes), `num_words` int32 [B]; `entity_text` string [B, E] (the
  text from the entity's first character to its last),
  `entity_type` string [B, E], `entity_start`, `entity_end` int32 [B, E]
  (characters), `entity_word_start`, `entity_word_end` int32 [B, E] (words,
  end exclusive), `num_entities` int32 [B]. Padding: "" for strings, -1
  for offsets, 0 for probabilities.
- serve_words: `words` string [B, W] and `num_words` int32 [B] (the words
  of sentence b are `words[b, :num_words[b]]`: a signature cannot take a
  ragged tensor, so sentences are padded, with anything) -> the same
  outputs without the character offsets (`word_start`, `word_end`,
  `entity_start`, `entity_end`); `entity_text` is the entity's words
  joined with spaces.
- serve_ids: int32 `input_ids`, `input_mask`, `segment_ids` [B, T] (rows
  already tokenized and windowed by the client) -> `probabilities` float
  [B, T, L] and `label` string [B, T] at every position.
"""

# B=sentences, N=words of the batch, K=windows, T=positions, L=labels, E=entities of the batch

import tensorflow as tf

from bert_tf.serving import export
from bert_tf.tokenization.normalization import Normalizer
from tasks.tagging import window_ops
from tasks.tagging.schemes import OUTSIDE, split_tag
from tasks.tagging.word_pieces import select_words, word_layout

_O, _B, _I = 0, 1, 2


def label_parts(labels):
    """Each label's prefix (0 O, 1 B, 2 I) and type index, and the types: an ExportError
    for a label that is not IOB2 (run_tagging.py always learns IOB2 labels)."""
    prefixes, type_ids, types = [], [], []
    for label in labels:
        try:
            prefix, kind = split_tag(label)
        except ValueError:
            prefix, kind = None, None
        if prefix not in (OUTSIDE, "B", "I"):
            raise export.ExportError(f"label {label!r} is not an IOB2 tag (O, B-<type> or "
                                     "I-<type>): a tagger export needs IOB2 labels")
        if kind is not None and kind not in types:
            types.append(kind)
        prefixes.append({OUTSIDE: _O, "B": _B, "I": _I}[prefix])
        type_ids.append(-1 if kind is None else types.index(kind))
    return prefixes, type_ids, types


def _labels(module):
    # module.labels is a constant made when the module was built: known while tracing.
    return [label.decode("utf-8") for label in module.labels.numpy()]


def _rows(module, features):
    return module.call_model(features)["logits"]  # [K, T, L]


def _outputs_of_ids(module, features):
    logits = _rows(module, features)  # [B, T, L]
    return {"probabilities": tf.nn.softmax(logits, axis=-1),
            "label": tf.gather(module.labels, tf.argmax(logits, axis=-1, output_type=tf.int32))}


def _predict_words(module, words):
    """The most likely label id `[N]`, its probability, and each word's index in its sentence,
    for every word of ragged `words` `[B, (W)]`."""
    tokenizer = module.tokenizer
    pieces = tokenizer.tokenize_words(words)  # [B, (W), (P)]
    counts = tf.RaggedTensor.from_row_splits(pieces.values.row_lengths(), pieces.row_splits)
    found = window_ops.split(counts, module.max_seq_length, module.window_stride,
                             special_tokens=tokenizer.template.special_count(pair=False))
    rows = word_layout(tokenizer, select_words(pieces, found["sentence"], found["start"],
                                                found["stop"]), module.max_seq_length)
    ids = rows["input_ids"]  # [K, (T)]
    features = export.at_least_two_positions({
        "input_ids": ids.to_tensor(tokenizer.pad_id),
        "input_mask": tf.ones_like(ids).to_tensor(0),
        "segment_ids": tf.zeros_like(ids).to_tensor(0)})
    logits = _rows(module, features)  # [K, T, L]
    # Word n of the batch sits in its owner window at local word (its index - the window's start).
    sentence_of_word = counts.value_rowids()  # [N]
    word_in_sentence = tf.range(tf.size(counts.values, out_type=tf.int64)) - tf.gather(
        counts.row_starts(), sentence_of_word)  # [N]
    owner = found["owner"]  # [N]
    local = word_in_sentence - tf.gather(found["start"], owner)
    word_start = rows["word_start"]  # [K, (W in window)]
    position = tf.gather(word_start.values, tf.gather(word_start.row_starts(), owner) + local)
    word_logits = tf.gather_nd(logits, tf.stack([owner, tf.cast(position, tf.int64)], 1))  # [N, L]
    label = tf.argmax(word_logits, axis=-1, output_type=tf.int32)
    probability = tf.reduce_max(tf.nn.softmax(word_logits, axis=-1), axis=-1)
    return label, probability, word_in_sentence


def read_tags(labels, label, word_in_sentence):
    """Predicted label ids `[N]` of the words of a batch -> their tags and entities.

    `labels` is the label list (IOB2), `word_in_sentence` int64 `[N]` each
    word's index in its sentence. Returns (tags string `[N]`, repaired as
    `schemes.repair_iob2` repairs them, and the entities conlleval reads in
    them: type string `[E]`, first and last word int64 `[E]` as indices
    into N), in word order.
    """
    prefixes, type_ids, types = label_parts(labels)
    prefix = tf.gather(tf.constant(prefixes, tf.int32), label)  # [N]
    kind = tf.gather(tf.constant(type_ids, tf.int32), label)  # [N]
    first_word = tf.equal(word_in_sentence, 0)
    previous_kind = tf.where(first_word, -1, tf.concat([[-1], kind], 0)[:-1])
    # An I-X not after B-X or I-X starts an entity, as conlleval reads it: write it B-X.
    repaired = tf.equal(prefix, _I) & tf.not_equal(previous_kind, kind)
    type_names = tf.constant(types if types else [""], tf.string)
    kind_name = tf.gather(type_names, tf.maximum(kind, 0))
    tags = tf.where(repaired, tf.strings.join(["B-", kind_name]),
                    tf.gather(tf.constant(labels, tf.string), label))
    starts = tf.equal(prefix, _B) | repaired  # [N]
    inside = tf.not_equal(prefix, _O)
    index = tf.range(tf.size(label, out_type=tf.int64))
    entity_of_word = tf.cumsum(tf.cast(starts, tf.int64)) - 1  # [N], meaningful where inside
    num_entities = tf.reduce_sum(tf.cast(starts, tf.int64))
    first = tf.boolean_mask(index, starts)  # [E]
    last = tf.math.unsorted_segment_max(tf.boolean_mask(index, inside),
                                        tf.boolean_mask(entity_of_word, inside), num_entities)
    return tags, tf.gather(kind_name, first), first, last


def _padded(values, row_ids, nrows, default):
    return tf.RaggedTensor.from_value_rowids(values, row_ids, nrows=nrows).to_tensor(default)


def _read_words(module, words):
    label, probability, word_in_sentence = _predict_words(module, words)
    tags, entity_type, first, last = read_tags(_labels(module), label, word_in_sentence)
    return {"probability": probability, "word_in_sentence": word_in_sentence, "tags": tags,
            "entity_type": entity_type, "first": first, "last": last}


def _reader(module):
    """Words `[B, (W)]` -> per-word and per-entity predictions, as one function of the module
    that both text signatures call: the tokenizer and the model are traced once, not twice."""
    if getattr(module, "read_words", None) is None:
        module.read_words = tf.function(
            lambda words: _read_words(module, words), autograph=False,
            input_signature=[tf.RaggedTensorSpec([None, None], tf.string, 1, tf.int64)])
    return module.read_words


def tag(module, words, text=None, word_start=None, word_end=None):
    """Every output of serving_default (given `text` and the words' character spans) or of
    serve_words."""
    batch = words.nrows()
    read = _reader(module)(words)
    probability, word_in_sentence, tags = (read[k] for k in ("probability", "word_in_sentence",
                                                             "tags"))
    entity_type, first, last = read["entity_type"], read["first"], read["last"]
    sentence_of_word = words.value_rowids()
    entity_sentence = tf.gather(sentence_of_word, first)  # [E]

    def per_word(values, default):
        return words.with_flat_values(values).to_tensor(default)

    def per_entity(values, default):
        return _padded(values, entity_sentence, batch, default)

    def as_int32(values):
        return tf.cast(values, tf.int32)

    outputs = {
        "words": words.to_tensor(""),
        "tags": per_word(tags, ""),
        "tag_probability": per_word(probability, 0.0),
        "num_words": as_int32(words.row_lengths()),
        "entity_type": per_entity(entity_type, ""),
        "entity_word_start": per_entity(as_int32(tf.gather(word_in_sentence, first)), -1),
        "entity_word_end": per_entity(as_int32(tf.gather(word_in_sentence, last) + 1), -1),
        "num_entities": as_int32(tf.math.bincount(as_int32(entity_sentence),
                                                  minlength=as_int32(batch),
                                                  maxlength=as_int32(batch))),
    }
    if text is None:
        span = tf.ragged.range(first, last + 1)  # [E, (words)]
        outputs["entity_text"] = per_entity(tf.strings.reduce_join(
            tf.gather(words.values, span), axis=1, separator=" "), "")
    else:
        start, end = tf.gather(word_start, first), tf.gather(word_end, last)
        outputs["entity_text"] = per_entity(tf.strings.substr(
            tf.gather(text, entity_sentence), start, end - start, unit="UTF8_CHAR"), "")
        outputs["entity_start"] = per_entity(as_int32(start), -1)
        outputs["entity_end"] = per_entity(as_int32(end), -1)
        outputs["word_start"] = per_word(as_int32(word_start), -1)
        outputs["word_end"] = per_word(as_int32(word_end), -1)
    return outputs


def words_of_text(tokenizer, text):
    """BERT's basic-tokenizer words of `text` [B] as written there: ragged string `[B, (W)]`,
    and each word's first and one-past-last character (int64 `[N]`)."""
    normalizer = Normalizer(tokenizer.do_lower_case, tokenizer.strip_accents)
    words, sources = normalizer.words(text)  # [B, (W), (C)] code points and source characters
    chars = sources.values  # [N, (C)] every word has at least one character
    start = tf.cast(tf.gather(chars.values, chars.row_starts()), tf.int64)
    end = tf.cast(tf.gather(chars.values, chars.row_limits() - 1), tf.int64) + 1
    sentence = words.value_rowids()
    written = tf.strings.substr(tf.gather(text, sentence), start, end - start, unit="UTF8_CHAR")
    return tf.RaggedTensor.from_row_splits(written, words.row_splits), start, end


def _serve_text(module, text):
    words, start, end = words_of_text(module.tokenizer, text)
    return tag(module, words, text, start, end)


def _serve_words(module, words, num_words):
    words = tf.ensure_shape(words, [None, None], name="words")
    num_words = tf.ensure_shape(num_words, [None], name="num_words")
    shape = tf.shape(words, out_type=tf.int32)
    valid = tf.debugging.Assert(
        tf.equal(tf.size(num_words), shape[0])
        & tf.reduce_all((num_words >= 0) & (num_words <= shape[1])),
        ["num_words must have one count per row of words, each between 0 and the number of "
         "columns; got num_words", num_words, "for words of shape", shape], summarize=20)
    with tf.control_dependencies([valid]):
        lengths = tf.cast(tf.identity(num_words), tf.int64)
    return tag(module, tf.RaggedTensor.from_tensor(words, lengths=lengths))


def _extra_signatures(module):
    return {"serve_words": tf.function(
        lambda words, num_words: _serve_words(module, words, num_words),
        autograph=False).get_concrete_function(
            tf.TensorSpec([None, None], tf.string, name="words"),
            tf.TensorSpec([None], tf.int32, name="num_words"))}


TAGGER = export.ExportKind(
    "tagger", _outputs_of_ids, serve_text=_serve_text, needs_labels=True,
    extra_signatures=_extra_signatures)


def tagger_exporter(settings, files):
    """export_model.py --task=tagger: the run's labels and, at its max_seq_length, its stride."""
    from tasks.tagging.model import BertTagger

    labels = settings.label_list(files, "tagger")
    label_parts(labels)
    info = files.run_info
    # The run's stride, when the export windows as the run did; else half a window.
    same = info.get("max_seq_length") == settings.max_seq_length
    stride = info.get("window_stride") if same else None
    model = BertTagger.from_pretrained(files.release, len(labels),
                                       require_head=not settings.allow_untrained_head)
    return model, TAGGER, {"labels": labels, "window_stride": stride}
