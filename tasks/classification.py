"""Sentence(-pair) classification and regression heads over BERT's pooled output, and their losses."""

# B=batch, H=hidden size, L=labels

import keras
import tensorflow as tf

from bert_tf.config_model import BertConfigModel
from bert_tf.encoder import BertEncoder


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(BertConfigModel):
    """Dropout and a dense layer over the pooled output: `num_labels` logits, or one score.

    Single texts and text pairs differ only in their inputs. Call:
    `model({"input_ids", "input_mask", "segment_ids"}, training=None)` ->
    {"logits": float32 `[B, L]`} (classification) or {"score": float32 `[B]`}
    (regression, `num_labels=1`). In Google's format the head is
    google-research/bert's `output_weights` `[L, H]` and `output_bias` `[L]`.
    """

    checkpoint_kind = "classifier"

    def __init__(self, config, num_labels, regression=False, **kwargs):
        super().__init__(config, **kwargs)
        config = self.config
        if regression and num_labels != 1:
            raise ValueError("a regression head has num_labels=1")
        if num_labels < 1:
            raise ValueError(f"num_labels must be positive, got {num_labels}")
        self.num_labels = num_labels
        self.regression = regression
        policy = self.dtype_policy
        self.encoder = BertEncoder(config, dtype=policy, name="encoder")
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob, dtype=policy)
        self.classifier = keras.layers.Dense(
            num_labels, dtype=policy, name="classifier",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        self.classifier.build((None, config.hidden_size))
        self.built = True

    def call(self, inputs, training=None):
        pooled = self.encoder(inputs, training=training)["pooled_output"]  # [B, H]
        logits = tf.cast(self.classifier(self.dropout(pooled, training=training)), tf.float32)
        if self.regression:
            return {"score": logits[:, 0]}  # [B]
        return {"logits": logits}  # [B, L]

    def named_weights(self):
        named = self.encoder.named_weights()
        named["classifier/kernel"] = self.classifier.kernel
        named["classifier/bias"] = self.classifier.bias
        return named

    @classmethod
    def from_pretrained(cls, path, num_labels, regression=False, strict=True, dtype=None):
        """A fine-tuned classifier from a Google, Hugging Face or bert_tf checkpoint directory."""
        from bert_tf import checkpoints

        model = cls(checkpoints.resolve(path).config, num_labels, regression, dtype=dtype)
        checkpoints.load_weights(model, path, strict=strict)
        return model

    def save_pretrained(self, directory, vocab_file=None):
        """Google's format: the encoder under bert/..., the head as output_weights/output_bias."""
        from bert_tf import checkpoints

        return checkpoints.save_google(self, directory, vocab_file=vocab_file)

    def get_config(self):
        config = super().get_config()
        config.update(num_labels=self.num_labels, regression=self.regression)
        return config


class ClassificationTask:
    """Softmax cross-entropy, averaged over the global batch; accuracy."""

    losses = {"loss": ("loss_sum", "examples")}
    metrics = {"accuracy": ("correct", "examples")}
    sum_names = ("loss_sum", "correct", "examples")

    def counts(self, batch):
        return {"examples": tf.cast(tf.shape(batch["label_ids"])[0], tf.float32)}

    def sums(self, batch, outputs):
        labels = batch["label_ids"]
        logits = outputs["logits"]
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
        return {"loss_sum": tf.reduce_sum(loss),
                "correct": tf.reduce_sum(tf.cast(correct, tf.float32)),
                "examples": tf.cast(tf.shape(labels)[0], tf.float32)}


class RegressionTask:
    """Mean squared error over the global batch."""

    losses = {"loss": ("squared_error_sum", "examples")}
    metrics = {"mean_squared_error": ("squared_error_sum", "examples")}
    sum_names = ("squared_error_sum", "examples")

    def counts(self, batch):
        return {"examples": tf.cast(tf.shape(batch["label_ids"])[0], tf.float32)}

    def sums(self, batch, outputs):
        error = outputs["score"] - tf.cast(batch["label_ids"], tf.float32)
        return {"squared_error_sum": tf.reduce_sum(error * error),
                "examples": tf.cast(tf.shape(error)[0], tf.float32)}
