"""BertTagger: a token classification head over BERT's sequence output (named entities, CoNLL-2003)."""

# B=batch, T=sequence, H=hidden size, L=labels

import keras
import tensorflow as tf

from bert_tf.checkpoints import huggingface
from bert_tf.checkpoints.table import Rule
from bert_tf.layers import Dropout
from bert_tf.models.bert import BertConfigModel
from tasks.tagging.objective import TaggingObjective


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTagger(BertConfigModel):
    """Dropout and a dense layer over every position's final hidden state: `num_labels` logits.

    Call: `model({"input_ids", "input_mask", "segment_ids"}, training=None)`
    -> {"logits": float32 `[B, T, L]`}. Each word's label is predicted at its
    first wordpiece; the pipeline ignores the other positions (see
    `tasks.tagging.features`). `compile()` defaults to the TaggingObjective
    run_tagging.py trains: fit on (inputs, label_ids) with int32 `[B, T]`
    label ids at each word's first piece and -1 elsewhere; the loss and the
    accuracy count the labelled positions only.

    Checkpoint names: in Google's format the head is `output_weights` `[L, H]`
    and `output_bias` `[L]`, the layout of google-research/bert's classifier
    (google-research/bert has no tagging head; this is the layout its NER
    forks use). In Hugging Face's it is `classifier.weight` `[L, H]` and
    `classifier.bias` of `BertForTokenClassification`. The pooler is not part
    of a tagger, as in `BertForTokenClassification`: it is frozen, not saved,
    and a checkpoint's pooler (if it has one) is skipped when loading.
    """

    head_checkpoint_names = {
        "google": [Rule("output_weights", "classifier/kernel", "transpose"),
                   Rule("output_bias", "classifier/bias")],
        "huggingface": huggingface.linear_rules("classifier", "classifier"),
    }

    def __init__(self, config, num_labels, **kwargs):
        super().__init__(config, **kwargs)
        config = self.config
        if num_labels < 1:
            raise ValueError(f"num_labels must be positive, got {num_labels}")
        self.num_labels = num_labels
        policy = self.dtype_policy
        self.encoder = self.head_encoder()
        self.freeze_unused_pooler()
        self.dropout = Dropout(self.encoder.shape.hidden_dropout, dtype=policy)
        self.classifier = keras.layers.Dense(
            num_labels, dtype=policy, name="classifier",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        self.classifier.build((None, None, self.encoder.shape.hidden_size))
        self.built = True

    def call(self, inputs, training=None):
        sequence = self.encoder(inputs, training=training)["sequence_output"]  # [B, T, H]
        logits = self.classifier(self.dropout(sequence, training=training))  # [B, T, L]
        return {"logits": tf.cast(logits, tf.float32)}

    def uses_pooler(self):
        return False

    def head_weights(self):
        return {"classifier/kernel": self.classifier.kernel,
                "classifier/bias": self.classifier.bias}

    def objective(self):
        return TaggingObjective()

    def get_config(self):
        config = super().get_config()
        config.update(num_labels=self.num_labels)
        return config
