"""BertSpanLabeler: start and end logits over every token (the SQuAD head of google-research/bert)."""

# B=batch, T=sequence, H=hidden size

import keras
import tensorflow as tf

from bert_tf.checkpoints import huggingface
from bert_tf.checkpoints.table import Rule
from bert_tf.models.bert import BertConfigModel
from tasks.question_answering.objective import SpanObjective


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSpanLabeler(BertConfigModel):
    """A dense layer of two units over `sequence_output`: each token's start and end logit.

    Call: `model({"input_ids", "input_mask", "segment_ids"}, training=None)`
    -> {"start_logits", "end_logits"}: float32 `[B, T]` (padding positions
    included; the loss and the span search ignore them). As in
    google-research/bert's run_squad.py there is no dropout on the head and
    the pooler is not used. In Google's format the head is
    `cls/squad/output_weights` `[2, H]` and `cls/squad/output_bias` `[2]`;
    in Hugging Face's (BertForQuestionAnswering) `qa_outputs.weight` and
    `qa_outputs.bias`.

    `compile()` defaults to the SpanObjective run_squad.py trains: the mean
    of the start and end cross-entropies, each over the window's real tokens
    (input_mask), and the start and end accuracies. Fit on (inputs,
    {"start_positions", "end_positions"}: int32 `[B]` token indices; 0,
    the start token ([CLS], <s>), for a window without the answer).
    """

    head_checkpoint_names = {
        "google": [Rule("cls/squad/output_weights", "span/kernel", "transpose"),
                   Rule("cls/squad/output_bias", "span/bias")],
        "huggingface": huggingface.linear_rules("qa_outputs", "span"),
    }

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        policy = self.dtype_policy
        self.encoder = self.head_encoder()
        self.span = keras.layers.Dense(
            2, dtype=policy, name="span",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        self.span.build((None, None, self.encoder.shape.hidden_size))
        self.built = True

    def call(self, inputs, training=None):
        sequence = self.encoder(inputs, training=training)["sequence_output"]  # [B, T, H]
        logits = tf.cast(self.span(sequence), tf.float32)  # [B, T, 2]
        return {"start_logits": logits[:, :, 0], "end_logits": logits[:, :, 1]}

    def head_weights(self):
        return {"span/kernel": self.span.kernel, "span/bias": self.span.bias}

    def objective(self):
        return SpanObjective()
