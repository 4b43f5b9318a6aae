"""BertClassifier: a classification or regression head over BERT's pooled output."""

# B=batch, H=hidden size, L=labels

import keras
import tensorflow as tf

from bert_tf.checkpoints import huggingface
from bert_tf.checkpoints.table import Rule
from bert_tf.layers import Dropout
from bert_tf.models.bert import BertConfigModel, BertEncoder
from tasks.classification.objective import ClassificationObjective, RegressionObjective


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(BertConfigModel):
    """Dropout and a dense layer over the pooled output: `num_labels` logits, or one score.

    Single texts and text pairs differ only in their inputs. Call:
    `model({"input_ids", "input_mask", "segment_ids"}, training=None)` ->
    {"logits": float32 `[B, L]`} (classification) or {"score": float32 `[B]`}
    (regression, `num_labels=1`). In Google's format the head is
    google-research/bert's `output_weights` `[L, H]` and `output_bias` `[L]`.

    `compile()` defaults to the objective run_classifier.py trains
    (ClassificationObjective: cross-entropy, accuracy; RegressionObjective:
    mean squared error): fit on (inputs, label_ids) with int32 `[B]` class
    ids or float32 `[B]` targets.
    """

    head_checkpoint_names = {
        # google-research/bert's run_classifier.py head (top-level names, [L, H]).
        "google": [Rule("output_weights", "classifier/kernel", "transpose"),
                   Rule("output_bias", "classifier/bias")],
        # BertForSequenceClassification's.
        "huggingface": huggingface.linear_rules("classifier", "classifier"),
    }

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
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=policy)
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

    def head_weights(self):
        return {"classifier/kernel": self.classifier.kernel,
                "classifier/bias": self.classifier.bias}

    def objective(self):
        return RegressionObjective() if self.regression else ClassificationObjective()

    def get_config(self):
        config = super().get_config()
        config.update(num_labels=self.num_labels, regression=self.regression)
        return config
