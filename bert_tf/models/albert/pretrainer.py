"""AlbertPretrainer: the ALBERT encoder with its masked-LM and sentence-order heads (Hugging Face's AlbertForPreTraining)."""

# B=batch, T=sequence, K=masked positions, H=hidden size, E=embedding size, V=vocab size

import keras
import tensorflow as tf

from bert_tf.layers.dropout import Dropout
from bert_tf.models.albert import checkpoint_names
from bert_tf.models.albert.config import AlbertConfig
from bert_tf.models.bert.pretraining_objective import SentenceOrderObjective
from bert_tf.models.config_model import ConfigModel
from bert_tf.models.masked_lm import MaskedLMHead


@keras.saving.register_keras_serializable(package="bert_tf")
class AlbertPretrainer(MaskedLMHead, ConfigModel):
    """AlbertEncoder plus ALBERT's masked-LM head and its sentence-order head.

    Call: `model(batch, training=None)` with int `[B, T]` input_ids,
    input_mask, segment_ids and int `[B, K]` masked_lm_positions. Returns
    float32 "mlm_logits" `[B, K, V]` and "sop_logits" `[B, 2]` (1: the two
    segments are swapped). The masked-LM head is AlbertMLMHead: dense H -> E,
    hidden_act, LayerNorm at E, the decoder tied to the E-wide word
    embeddings plus a bias; the sentence-order head is dropout
    (classifier_dropout_prob) and one layer on the pooler.
    `compile()` defaults to the SentenceOrderObjective (what run_pretraining.py
    trains an ALBERT on): fit on (inputs, {"masked_lm_ids", "masked_lm_weights",
    "next_sentence_labels"}).

    Checkpoint names are AlbertForPreTraining's (albert.*, predictions.*,
    sop_classifier.classifier.*; an AlbertForMaskedLM release, without the
    sentence-order head and pooler, loads too) and google-research/albert's
    (bert/..., cls/predictions/..., cls/seq_relationship/...).
    """

    config_class = AlbertConfig
    head_checkpoint_names = checkpoint_names.PRETRAINING_HEADS
    head_checkpoint_skip = checkpoint_names.PRETRAINING_SKIP
    objective_class = SentenceOrderObjective  # what run_pretraining.py trains it on

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.encoder = self.head_encoder()
        shape = self.encoder.shape
        self.add_masked_lm_head(shape, shape.activation)
        self.sop_dropout = Dropout(self.config.classifier_dropout_prob, dtype=self.dtype_policy,
                                   name="sop_dropout")
        self.sop = keras.layers.Dense(
            2, kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=shape.initializer_range), dtype=self.dtype_policy, name="sop")
        self.build()

    def build(self, input_shape=None):
        self.build_masked_lm_head(self.encoder.shape)
        self.sop.build((None, self.encoder.shape.hidden_size))
        self.built = True

    def call(self, inputs, training=None):
        out = self.encoder(inputs, training=training)
        mlm_logits = self.masked_lm_logits(out["sequence_output"], inputs["masked_lm_positions"])
        pooled = self.sop_dropout(out["pooled_output"], training=training)  # [B, H]
        return {"mlm_logits": mlm_logits,
                "sop_logits": tf.cast(self.sop(pooled), tf.float32)}  # [B, 2]

    def objective(self):
        return self.objective_class()

    def checkpoint_names(self, fmt):
        table = super().checkpoint_names(fmt)
        if fmt != "huggingface":
            return table
        # AlbertForMaskedLM releases hold predictions.* but no sentence-order head: it keeps
        # its initial values, with a warning.
        return table.extended(optional=[r"sop/(kernel|bias)"])

    def head_weights(self):
        return {
            "mlm/transform/kernel": self.mlm_transform.kernel,
            "mlm/transform/bias": self.mlm_transform.bias,
            "mlm/layer_norm/gamma": self.mlm_layer_norm.gamma,
            "mlm/layer_norm/beta": self.mlm_layer_norm.beta,
            "mlm/output_bias": self.mlm_output_bias,
            "sop/kernel": self.sop.kernel,
            "sop/bias": self.sop.bias,
        }
