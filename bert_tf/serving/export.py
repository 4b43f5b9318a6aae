"""SavedModel export for TF Serving: raw strings in, tokenized in the graph, the model's outputs out.

Layout: export_dir/<version>/saved_model.pb, variables/, assets/vocab.txt and
assets.extra/tf_serving_warmup_requests (and assets.extra/serving_precision in an
export that computes in bfloat16 or float16: see precision.py; assets.extra/serving_xla
in one whose model function XLA compiles: see xla.py). Signatures:

- serving_default: UTF-8 strings (`text` [B], and whatever else the kind of
  export takes) -> its outputs, plus `truncated` [B] where text was cut to
  max_seq_length;
- serve_ids: int32 `input_ids`, `input_mask`, `segment_ids` [B, T] -> its
  outputs (for clients that tokenize themselves); without `segment_ids` for
  a family that has no segments (DistilBERT);
- and any others the kind of export adds.

This module knows no task: an ExportKind describes the signatures of one
kind of export, and `export` takes one (tasks/<family>/serving.py define
theirs, encoder.py the encoder's). Their functions call the model through
`ServingModule.call_model`, plain or XLA-compiled.
"""

# B=batch, T=tokens

import dataclasses
import os
import time
from typing import Callable, Optional, Sequence, Tuple

import tensorflow as tf

from bert_tf.data import files
from bert_tf.errors import UserError
from bert_tf.serving import precision as precision_lib
from bert_tf.serving import xla as xla_lib


class ExportError(UserError):
    """An export that cannot be written as asked (an existing version, a missing label list)."""


def encode_text(module, text, text_pair=None):
    """[CLS] text [SEP] (text_pair [SEP]), padded to the batch's longest, with `truncated`.

    At least two positions wide, so an empty batch still has a [CLS] column.
    """
    features = module.tokenizer.encode(text, text_pair, module.max_seq_length,
                                       pad_to_max_length=False, return_truncated=True)
    return at_least_two_positions(features)


def at_least_two_positions(features):
    """Pads [B, T] model inputs to T >= 2: an empty batch densifies to [0, 0], and the
    encoder reads position 0 (the pooler's [CLS])."""
    width = tf.shape(features["input_ids"])[1]
    pad = [[0, 0], [0, tf.maximum(0, 2 - width)]]
    for name in ("input_ids", "input_mask", "segment_ids"):
        features[name] = tf.pad(features[name], pad)
    return features


def serve_encoded(module, **texts):
    """serving_default of a model that reads one encoded example per input row."""
    features = encode_text(module, *(texts[name] for name in module.kind.text_inputs))
    truncated = features.pop("truncated")
    outputs = module.kind.outputs(module, features)
    outputs["truncated"] = truncated
    return outputs


def default_warmup(kind, texts, tokenizer):
    """serving_default inputs for the warmup requests: the texts, and reversed for a second input."""
    del tokenizer
    example = {kind.text_inputs[0]: list(texts)}
    for name in kind.text_inputs[1:]:
        example[name] = list(reversed(texts))
    return [example]


@dataclasses.dataclass(frozen=True)
class ExportKind:
    """The signatures of one kind of export (`name`: encoder, classifier, pair_classifier, ...).

    `outputs(module, features)` maps the model's inputs (int32 [B, T]
    input_ids, input_mask, segment_ids) to the served outputs: serve_ids
    uses it, and so does serving_default unless the kind gives its own
    `serve_text(module, **strings)`. `text_inputs` names serving_default's
    [B] string inputs. `extra_signatures(module)` returns more
    {name: concrete function}. `needs_labels`: the export must be given the
    label list (module.labels, a string tensor). `warmup(kind, texts,
    tokenizer)` gives the warmup requests' inputs.
    """

    name: str
    outputs: Callable
    text_inputs: Tuple[str, ...] = ("text",)
    serve_text: Callable = serve_encoded
    needs_labels: bool = False
    warmup: Callable = default_warmup
    extra_signatures: Optional[Callable] = None


class ServingModule(tf.Module):
    """The model, its tokenizer and the export kind's outputs, as a saveable module.

    `constants` become attributes (tf constants) the kind's functions read.
    `xla`: the model's forward pass runs XLA-compiled, on bucketed lengths
    (see xla.py).
    """

    def __init__(self, model, kind: ExportKind, tokenizer, max_seq_length, labels=None,
                 vocab_file=None, xla=False, **constants):
        super().__init__(name="bert_tf_serving")
        if not isinstance(kind, ExportKind):
            raise TypeError(f"an export takes an ExportKind, got {kind!r}")
        if kind.needs_labels and not labels:
            raise ExportError(f"a {kind.name} export needs its label list")
        xla_lib.check(xla)
        self.kind = kind
        self.model = model
        self.xla = xla
        self.compiled_model = xla_lib.compiled(model) if xla else None
        self.tokenizer = tokenizer
        self.tokenizer_tables = tokenizer.tables  # tracked here so its tables are saved
        self.max_seq_length = int(max_seq_length)
        self.labels = tf.constant(list(labels)) if labels else None
        self.vocab_asset = tf.saved_model.Asset(vocab_file) if vocab_file else None
        merges_file = getattr(tokenizer, "merges_file", None)  # a byte-level BPE's
        self.merges_asset = tf.saved_model.Asset(merges_file) if merges_file else None
        for name, value in constants.items():
            setattr(self, name, value)

    def call_model(self, features, training=False):
        """The model's outputs for `features` (int32 [B, T] input_ids, input_mask,
        segment_ids, and whatever else the model reads): every export function calls the
        model here. `training` is there for code written against a Keras model (QA's
        graph.py); a served model never trains."""
        if training:
            raise ValueError("a served model runs with training=False")
        if not self.xla:
            return self.model(features, training=False)
        return xla_lib.call_bucketed(self.compiled_model, features, self.max_seq_length,
                                     self.tokenizer.pad_id)

    def serve_ids(self, input_ids, input_mask, segment_ids):
        # Signature shapes are not enforced when a signature is called: check what matters.
        input_ids, input_mask, segment_ids = (
            tf.ensure_shape(t, [None, None], name=name) for t, name in
            ((input_ids, "input_ids"), (input_mask, "input_mask"), (segment_ids, "segment_ids")))
        same = tf.debugging.Assert(
            tf.reduce_all(tf.equal(tf.shape(input_ids), tf.shape(input_mask)))
            & tf.reduce_all(tf.equal(tf.shape(input_ids), tf.shape(segment_ids))),
            ["input_ids, input_mask and segment_ids must have the same shape; got",
             tf.shape(input_ids), tf.shape(input_mask), tf.shape(segment_ids)])
        # A tokenized text holds at least [CLS] [SEP]: a row without a real token is no
        # request (an empty text goes to serving_default, which tokenizes it).
        tokens = tf.reduce_sum(tf.cast(tf.not_equal(input_mask, 0), tf.int32), axis=-1)  # [B]
        nonempty = tf.debugging.Assert(
            tf.reduce_all(tokens > 0),
            ["every row of serve_ids needs at least one real token (input_mask 1); rows with "
             "none:", tf.where(tokens <= 0)[:, 0]])
        with tf.control_dependencies([same, nonempty]):
            input_ids = tf.identity(input_ids)
        return self.kind.outputs(self, at_least_two_positions(
            {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}))

    def serve_ids_without_segments(self, input_ids, input_mask):
        # The serve_ids of a family without segment embeddings (DistilBERT): no segment_ids.
        return self.serve_ids(input_ids, input_mask, tf.zeros_like(input_ids))

    def serve_strings(self, *strings):
        # A signature call does not check ranks against its TensorSpecs, and every
        # rank test traced here would be folded to the declared rank: EnsureShape
        # checks the tensor that actually arrives.
        texts = {name: tf.ensure_shape(value, [None], name=name)
                 for name, value in zip(self.kind.text_inputs, strings)}
        return self.kind.serve_text(self, **texts)

    def signatures(self):
        text_sig = tf.function(self.serve_strings).get_concrete_function(
            *(tf.TensorSpec([None], tf.string, name=name) for name in self.kind.text_inputs))
        ids = {name: tf.TensorSpec([None, None], tf.int32, name=name)
               for name in ("input_ids", "input_mask", "segment_ids")}
        if getattr(self.model, "encoder", self.model).has_segments:
            ids_sig = tf.function(self.serve_ids).get_concrete_function(**ids)
        else:
            del ids["segment_ids"]
            ids_sig = tf.function(self.serve_ids_without_segments).get_concrete_function(**ids)
        found = {"serving_default": text_sig, "serve_ids": ids_sig}
        if self.kind.extra_signatures:
            found.update(self.kind.extra_signatures(self))
        return found


def write_warmup(version_dir, model_name, examples: Sequence[dict]):
    """TF Serving's assets.extra/tf_serving_warmup_requests: PredictionLog records.

    `examples` are {input name: list of values} for serving_default.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    directory = os.path.join(version_dir, "assets.extra")
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, "tf_serving_warmup_requests")
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name,
                                               signature_name="serving_default"))
            for name, values in example.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


WARMUP_TEXTS = ("A first example.", "Ein zweites Beispiel, mit Umlauten.", "")


def export(model, kind: ExportKind, tokenizer, export_dir, max_seq_length=128, labels=None,
           vocab_file=None, version: Optional[int] = None, warmup_texts=None,
           precision="float32", xla=False, **constants):
    """Writes export_dir/<version>/ for TF Serving and returns its path.

    `kind` says which signatures (an ExportKind). `version` defaults to the
    current time in seconds; an existing version is never overwritten
    (ExportError). The export is written beside the final directory and
    renamed into place, so a polling server never sees half of it.
    `precision` (float32, bfloat16, float16) is what the served model computes
    in: a model of another dtype policy is rebuilt under Keras mixed precision
    with its weights (precision.with_precision); the signatures are the same.
    `xla`: the model's forward pass runs XLA-compiled inside the SavedModel, on
    sequence lengths padded to buckets (xla.py); the signatures are the same.
    """
    precision_lib.check(precision)
    xla_lib.check(xla)
    version = int(version) if version is not None else int(time.time())
    if version <= 0:
        raise ExportError(f"the export version must be a positive integer, got {version}")
    final = os.path.join(export_dir, str(version))
    if tf.io.gfile.exists(final):
        raise ExportError(f"{final} exists already; pass another version")
    model = precision_lib.with_precision(model, precision)
    module = ServingModule(model, kind, tokenizer, max_seq_length, labels, vocab_file, xla,
                           **constants)
    tf.io.gfile.makedirs(export_dir)
    staging = files.temporary_name(final, "incomplete")
    try:
        tf.saved_model.save(module, staging, signatures=module.signatures())
        examples = kind.warmup(kind, list(warmup_texts or WARMUP_TEXTS), tokenizer)
        write_warmup(staging, os.path.basename(os.path.normpath(export_dir)), examples)
        precision_lib.record(staging, precision)
        xla_lib.record(staging, xla, module.max_seq_length)
        try:
            os.rename(staging, final)  # fails if another export took the version meanwhile
        except OSError:
            raise ExportError(f"{final} exists already; pass another version") from None
    finally:
        files.remove_quietly(staging)
    return final
