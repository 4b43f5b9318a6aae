"""SavedModel export for TF Serving: raw strings in, tokenized in the graph, task outputs out.

Layout: export_dir/<version>/saved_model.pb, variables/, assets/vocab.txt and
assets.extra/tf_serving_warmup_requests. Signatures:

- serving_default: UTF-8 strings `text` [B] (and `text_pair` [B] for pair
  tasks) -> the task's outputs plus `truncated` [B] (the input lost tokens to
  max_seq_length);
- serve_ids: int32 `input_ids`, `input_mask`, `segment_ids` [B, T] -> the
  task's outputs (for clients that tokenize themselves).

A task is a TaskSignature (does it take pairs, and what it returns from
the model's outputs); adding one is a function and a registry line.
"""

# B=batch, T=tokens, M=masks in a text, L=labels, H=hidden size

import dataclasses
import os
import shutil
import time
from typing import Callable, Optional, Sequence

import tensorflow as tf

from bert_tf.encoder import mean_pool


class ExportError(ValueError):
    """An export that cannot be written as asked (an existing version, a missing label list)."""


@dataclasses.dataclass(frozen=True)
class TaskSignature:
    outputs: Callable  # (module, features) -> {name: tensor}
    pair_input: bool = False  # serving_default also takes text_pair
    masked_text: bool = False  # raw text may contain "[MASK]" markers


def _classifier(module, features):
    logits = module.model(features, training=False)["logits"]  # [B, L]
    probabilities = tf.nn.softmax(logits, axis=-1)
    return {"probabilities": probabilities,
            "label": tf.gather(module.labels, tf.argmax(logits, axis=-1, output_type=tf.int32))}


def _regression(module, features):
    return {"score": module.model(features, training=False)["score"]}  # [B]


def _encoder(module, features):
    out = module.model(features, training=False)
    sequence = tf.cast(out["sequence_output"], tf.float32)  # [B, T, H]
    return {"pooled_output": tf.cast(out["pooled_output"], tf.float32),
            "embedding": mean_pool(sequence, features["input_mask"]),
            "sequence_output": sequence}


def _masked_lm(module, features):
    """Top prediction for every [MASK] of each text, padded to the most masks in the batch."""
    ids = features["input_ids"]
    is_mask = tf.equal(ids, module.mask_id) & tf.cast(features["input_mask"], tf.bool)
    positions = tf.ragged.boolean_mask(
        tf.broadcast_to(tf.range(tf.shape(ids)[1]), tf.shape(ids)), is_mask)  # [B, (M)]
    valid = tf.ones_like(positions, dtype=tf.bool).to_tensor(False)  # [B, M]
    dense_positions = positions.to_tensor(0)
    out = module.model(dict(features, masked_lm_positions=dense_positions), training=False)
    probs = tf.nn.softmax(out["mlm_logits"], axis=-1)  # [B, M, V]
    best = tf.argmax(probs, axis=-1, output_type=tf.int32)  # [B, M]
    return {"mask_positions": tf.where(valid, dense_positions, -1),
            "predicted_ids": tf.where(valid, best, -1),
            "predicted_tokens": tf.where(valid, module.tokenizer.convert_ids_to_tokens(best), ""),
            "probabilities": tf.where(valid, tf.reduce_max(probs, axis=-1), 0.0)}


TASKS = {
    "classifier": TaskSignature(_classifier),
    "pair_classifier": TaskSignature(_classifier, pair_input=True),
    "regression": TaskSignature(_regression),
    "pair_regression": TaskSignature(_regression, pair_input=True),
    "encoder": TaskSignature(_encoder),
    "pretrainer": TaskSignature(_masked_lm, masked_text=True),
}
MASK_MARKER = "[MASK]"


class ServingModule(tf.Module):
    """The model, its tokenizer and the task's outputs, as a saveable module."""

    def __init__(self, model, task, tokenizer, max_seq_length, labels=None, vocab_file=None):
        super().__init__(name="bert_tf_serving")
        if task not in TASKS:
            raise ExportError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
        self.task = TASKS[task]
        if self.task.outputs is _classifier and not labels:
            raise ExportError("a classifier export needs its label list")
        self.model = model
        self.tokenizer = tokenizer
        self.wordpiece = tokenizer._wordpiece  # tracked here so its tables are saved
        self.max_seq_length = int(max_seq_length)
        self.labels = tf.constant(list(labels)) if labels else None
        self.mask_id = tokenizer.mask_id
        self.vocab_asset = tf.saved_model.Asset(vocab_file) if vocab_file else None

    def serve_text(self, text, text_pair=None):
        # A signature call does not check ranks against its TensorSpecs, and every
        # rank test traced here would be folded to the declared rank: EnsureShape
        # checks the tensor that actually arrives.
        text = tf.ensure_shape(text, [None], name="text")
        if text_pair is not None:
            text_pair = tf.ensure_shape(text_pair, [None], name="text_pair")
        if self.task.masked_text:
            features = self._encode_masked(text)
        else:
            features = self.tokenizer.encode(text, text_pair, self.max_seq_length,
                                             pad_to_max_length=False, return_truncated=True)
        truncated = features.pop("truncated")
        outputs = self.task.outputs(self, features)
        outputs["truncated"] = truncated
        return outputs

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
        with tf.control_dependencies([same]):
            input_ids = tf.identity(input_ids)
        return self.task.outputs(self, {"input_ids": input_ids, "input_mask": input_mask,
                                        "segment_ids": segment_ids})

    def _encode_masked(self, text):
        """[CLS] text [SEP], where each literal "[MASK]" in the text is the mask token."""
        parts = tf.strings.split(text, MASK_MARKER)  # [B, (S)]
        pieces = self.tokenizer.tokenize(parts.flat_values)  # [S, (P)]
        # A mask id after every part but each text's last.
        last = tf.equal(tf.range(tf.size(parts.flat_values, out_type=tf.int64)),
                        tf.gather(parts.row_limits(), parts.value_rowids()) - 1)
        marker = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tf.cast(~last, tf.int32))], self.mask_id),
            tf.cast(~last, tf.int64))
        with_marks = tf.concat([pieces, marker], axis=1)  # [S, (P+1)]
        ids = parts.with_flat_values(with_marks).merge_dims(1, 2)  # [B, (P)]
        budget = self.max_seq_length - 2
        truncated = ids.row_lengths() > budget
        ids = ids[:, :budget]
        batch = ids.nrows()
        ids = tf.concat([tf.fill([batch, 1], self.tokenizer.cls_id), ids,
                         tf.fill([batch, 1], self.tokenizer.sep_id)], axis=1)
        return {"input_ids": ids.to_tensor(self.tokenizer.pad_id),
                "input_mask": tf.ones_like(ids).to_tensor(0),
                "segment_ids": tf.zeros_like(ids).to_tensor(0),
                "truncated": truncated}

    def signatures(self):
        if self.task.pair_input:
            text_fn = tf.function(lambda text, text_pair: self.serve_text(text, text_pair))
            text_sig = text_fn.get_concrete_function(
                text=tf.TensorSpec([None], tf.string, name="text"),
                text_pair=tf.TensorSpec([None], tf.string, name="text_pair"))
        else:
            text_fn = tf.function(lambda text: self.serve_text(text))
            text_sig = text_fn.get_concrete_function(text=tf.TensorSpec([None], tf.string,
                                                                        name="text"))
        ids_fn = tf.function(self.serve_ids)
        ids_sig = ids_fn.get_concrete_function(
            input_ids=tf.TensorSpec([None, None], tf.int32, name="input_ids"),
            input_mask=tf.TensorSpec([None, None], tf.int32, name="input_mask"),
            segment_ids=tf.TensorSpec([None, None], tf.int32, name="segment_ids"))
        return {"serving_default": text_sig, "serve_ids": ids_sig}


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


def export(model, task, tokenizer, export_dir, max_seq_length=128, labels=None,
           vocab_file=None, version: Optional[int] = None, warmup_texts=None):
    """Writes export_dir/<version>/ for TF Serving and returns its path.

    `version` defaults to the current time in seconds; an existing version is
    never overwritten (ExportError). The export is written beside the final
    directory and renamed into place, so a polling server never sees half of it.
    """
    version = int(version) if version is not None else int(time.time())
    if version <= 0:
        raise ExportError(f"the export version must be a positive integer, got {version}")
    final = os.path.join(export_dir, str(version))
    if tf.io.gfile.exists(final):
        raise ExportError(f"{final} exists already; pass another version")
    module = ServingModule(model, task, tokenizer, max_seq_length, labels, vocab_file)
    tf.io.gfile.makedirs(export_dir)
    staging = os.path.join(export_dir, f".{version}.incomplete")
    shutil.rmtree(staging, ignore_errors=True)
    tf.saved_model.save(module, staging, signatures=module.signatures())
    texts = list(warmup_texts or ["A first example.", "Ein zweites Beispiel, mit Umlauten.",
                                  ""])
    example = {"text": texts}
    if module.task.pair_input:
        example["text_pair"] = list(reversed(texts))
    if module.task.masked_text:
        example = {"text": [t + " " + MASK_MARKER for t in texts]}
    write_warmup(staging, os.path.basename(os.path.normpath(export_dir)), [example])
    os.rename(staging, final)
    return final
