"""BertClassifier: a classification or regression head over the first token, for every family."""

# B=batch, H=hidden size, L=labels

import keras
import tensorflow as tf

from bert_tf.layers import Dropout
from bert_tf.models.bert import BertConfigModel
from tasks.classification.objective import ClassificationObjective, RegressionObjective


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(BertConfigModel):
    """Dropout and a dense layer over the pooled first token: `num_labels` logits, or one score.

    The pooling is the family's (as its Hugging Face ...ForSequenceClassification):
    BERT's encoder pooler; RoBERTa's dropout + dense + tanh of the head
    (`pre_classifier`, Hugging Face's classifier.dense, then
    classifier.out_proj); ELECTRA's the same with the exact GELU; DistilBERT's
    dense + ReLU (pre_classifier).

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
        self.encoder = self.head_encoder()
        shape = self.encoder.shape
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.pooling = shape.classifier_pooling
        self.pre_classifier = None
        # A family whose classifier pools with its own layer (RoBERTa's classifier.dense), as
        # its ...ForSequenceClassification, which has no pooler, leaves the encoder's unused.
        self.freeze_unused_pooler()
        if self.pooling != "pooler":
            self.pre_classifier = keras.layers.Dense(
                shape.hidden_size, activation=self.pooling, dtype=policy,
                name="pre_classifier", kernel_initializer=init)
            self.pre_classifier.build((None, shape.hidden_size))
        dropout = shape.classifier_dropout
        self.dropout = Dropout(shape.hidden_dropout if dropout is None else dropout,
                               dtype=policy)
        self.classifier = keras.layers.Dense(
            num_labels, dtype=policy, name="classifier", kernel_initializer=init)
        self.classifier.build((None, shape.hidden_size))
        self.built = True

    def call(self, inputs, training=None):
        out = self.encoder(inputs, training=training)
        if self.pre_classifier is None:
            pooled = out["pooled_output"]  # [B, H]
        else:
            # [B, H]: a reshape, not [:, 0] (see TransformerEncoder.call).
            first = tf.reshape(out["sequence_output"][:, :1], [-1, self.encoder.shape.hidden_size])
            if self.pooling != "relu":  # RoBERTa and ELECTRA drop out before their dense too
                first = self.dropout(first, training=training)
            pooled = self.pre_classifier(first)
        logits = tf.cast(self.classifier(self.dropout(pooled, training=training)), tf.float32)
        if self.regression:
            return {"score": logits[:, 0]}  # [B]
        return {"logits": logits}  # [B, L]

    def uses_pooler(self):
        return self.pooling == "pooler"

    def head_weights(self):
        named = {"classifier/kernel": self.classifier.kernel,
                 "classifier/bias": self.classifier.bias}
        if self.pre_classifier is not None:
            named.update({"pre_classifier/kernel": self.pre_classifier.kernel,
                          "pre_classifier/bias": self.pre_classifier.bias})
        return named

    def head_rules(self, fmt):
        # google-research/bert's run_classifier.py head (output_weights [L, H]) for BERT;
        # each family's ...ForSequenceClassification names in Hugging Face's format.
        rules = self.encoder.names.HEADS["classifier"]
        if fmt not in rules:
            raise ValueError(f"a {self.config.family} classifier has no {fmt!r} format")
        return rules[fmt]

    def objective(self):
        return RegressionObjective() if self.regression else ClassificationObjective()

    def get_config(self):
        config = super().get_config()
        config.update(num_labels=self.num_labels, regression=self.regression)
        return config
