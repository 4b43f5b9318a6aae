"""The objective of extractive QA: the span loss and accuracies, as sums over a batch."""

# B=batch (windows), T=tokens

import tensorflow as tf

from bert_tf.training.objective import Objective

# Logit given to padding positions: far below any real logit, finite so no NaN can appear.
_PADDING_LOGIT = -1e9


class SpanObjective(Objective):
    """google-research/bert's run_squad loss: the mean of the start and end cross-entropies.

    Each window's softmax runs over its own tokens only (padding is masked
    out), so the loss does not depend on how far a batch is padded. The
    metrics are the fractions of windows whose most likely start (end)
    token is the labelled one.
    """

    losses = {"loss": ("loss_sum", "windows")}
    metrics = {"start_accuracy": ("start_correct", "windows"),
               "end_accuracy": ("end_correct", "windows")}
    label_keys = ("start_positions", "end_positions")  # int32 [B]
    sum_names = ("loss_sum", "start_correct", "end_correct", "windows")
    # Distillation: each window's start and end distributions over its own tokens.
    soft_target_names = ("start_logits", "end_logits")

    def counts(self, batch):
        return {"windows": tf.cast(tf.shape(batch["input_ids"])[0], tf.float32)}

    def soft_targets(self, batch, outputs):
        real = tf.cast(batch["input_mask"], tf.bool)  # [B, T]
        return {name: tf.where(real, tf.cast(outputs[name], tf.float32), _PADDING_LOGIT)
                for name in self.soft_target_names}  # [B, T] each

    def soft_target_weights(self, batch):
        windows = tf.ones(tf.shape(batch["input_ids"])[:1], tf.float32)  # [B]
        return {name: windows for name in self.soft_target_names}

    def sums(self, batch, outputs):
        real = tf.cast(batch["input_mask"], tf.bool)  # [B, T]
        found = {"windows": tf.cast(tf.shape(batch["input_ids"])[0], tf.float32)}
        losses = []
        for side in ("start", "end"):
            logits = tf.where(real, outputs[f"{side}_logits"], _PADDING_LOGIT)  # [B, T]
            labels = tf.cast(batch[f"{side}_positions"], tf.int32)  # [B]
            losses.append(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=logits))
            correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
            found[f"{side}_correct"] = tf.reduce_sum(tf.cast(correct, tf.float32))
        found["loss_sum"] = tf.reduce_sum((losses[0] + losses[1]) / 2.0)
        return found
