"""The objective of tagging: the loss and accuracy over labelled words, as sums over a batch."""

# B=batch, T=sequence, L=labels

import tensorflow as tf

from bert_tf.training.objective import Objective


class TaggingObjective(Objective):
    """Softmax cross-entropy at each labelled position (a word's first piece), averaged over the
    labelled words of the global batch; word accuracy.

    `label_ids` int32 `[B, T]` holds a label id at the first piece of each word
    the row predicts and -1 everywhere else (other pieces, special tokens,
    padding): those positions count nowhere.
    """

    losses = {"loss": ("loss_sum", "words")}
    metrics = {"accuracy": ("correct", "words")}
    label_keys = ("label_ids",)
    sum_names = ("loss_sum", "correct", "words")
    # Distillation: the label distribution at each labelled position, the only positions the
    # teacher was trained (and is scored) at.
    soft_target_names = ("logits",)

    def counts(self, batch):
        return {"words": tf.reduce_sum(tf.cast(batch["label_ids"] >= 0, tf.float32))}

    def soft_targets(self, batch, outputs):
        return {"logits": outputs["logits"]}  # [B, T, L]

    def soft_target_weights(self, batch):
        return {"logits": tf.cast(batch["label_ids"] >= 0, tf.float32)}  # [B, T]

    def sums(self, batch, outputs):
        labels = batch["label_ids"]  # [B, T]
        logits = outputs["logits"]  # [B, T, L]
        labelled = labels >= 0
        weight = tf.cast(labelled, tf.float32)
        safe = tf.where(labelled, labels, 0)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
        correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
        return {"loss_sum": tf.reduce_sum(loss * weight),
                "correct": tf.reduce_sum(tf.cast(correct, tf.float32) * weight),
                "words": tf.reduce_sum(weight)}
