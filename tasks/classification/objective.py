"""The objectives of classification and regression: their losses and metrics, as sums over a batch."""

# B=batch, L=labels

import tensorflow as tf

from bert_tf.training.objective import Objective


class ClassificationObjective(Objective):
    """Softmax cross-entropy, averaged over the global batch; accuracy."""

    losses = {"loss": ("loss_sum", "examples")}
    metrics = {"accuracy": ("correct", "examples")}
    label_keys = ("label_ids",)  # int32 [B]
    passthrough_keys = ("label_ids",)
    sum_names = ("loss_sum", "correct", "examples")
    soft_target_names = ("logits",)  # distillation: the class distribution of each example

    def counts(self, batch):
        return {"examples": tf.cast(tf.shape(batch["label_ids"])[0], tf.float32)}

    def soft_targets(self, batch, outputs):
        return {"logits": outputs["logits"]}  # [B, L]

    def soft_target_weights(self, batch):
        return {"logits": tf.ones(tf.shape(batch["label_ids"])[:1], tf.float32)}  # [B]

    def sums(self, batch, outputs):
        labels = batch["label_ids"]
        logits = outputs["logits"]
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
        return {"loss_sum": tf.reduce_sum(loss),
                "correct": tf.reduce_sum(tf.cast(correct, tf.float32)),
                "examples": tf.cast(tf.shape(labels)[0], tf.float32)}


class RegressionObjective(Objective):
    """Mean squared error over the global batch."""

    losses = {"loss": ("squared_error_sum", "examples")}
    metrics = {"mean_squared_error": ("squared_error_sum", "examples")}
    label_keys = ("label_ids",)  # float32 [B]
    passthrough_keys = ("label_ids",)
    sum_names = ("squared_error_sum", "examples")

    def counts(self, batch):
        return {"examples": tf.cast(tf.shape(batch["label_ids"])[0], tf.float32)}

    def sums(self, batch, outputs):
        error = outputs["score"] - tf.cast(batch["label_ids"], tf.float32)
        return {"squared_error_sum": tf.reduce_sum(error * error),
                "examples": tf.cast(tf.shape(error)[0], tf.float32)}
