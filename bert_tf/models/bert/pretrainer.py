"""BertPretrainer: the encoder with BERT's masked-LM and next-sentence heads."""

# B=batch, T=sequence, K=masked positions, H=hidden size, V=vocab size

import keras
import tensorflow as tf

from bert_tf.models.bert import checkpoint_names
from bert_tf.models.bert.config_model import BertConfigModel
from bert_tf.models.bert.encoder import BertEncoder
from bert_tf.models.bert.pretraining_objective import PretrainingObjective
from bert_tf.models.masked_lm import MaskedLMHead


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainer(MaskedLMHead, BertConfigModel):
    """BertEncoder plus the masked-LM head (tied to the word embeddings) and the NSP head.

    Call: `model(batch, training=None)` with int `[B, T]` input_ids,
    input_mask, segment_ids and int `[B, K]` masked_lm_positions. Returns
    float32 "mlm_logits" `[B, K, V]` and "nsp_logits" `[B, 2]`.
    `compile()` defaults to the PretrainingObjective's loss (masked-LM plus
    next-sentence cross-entropy, as run_pretraining.py trains) and metrics:
    fit on (inputs, {"masked_lm_ids" int [B, K], "masked_lm_weights" float
    [B, K], "next_sentence_labels" int [B, 1]}).
    Google checkpoints name the heads cls/predictions/* and
    cls/seq_relationship/*.
    """

    head_checkpoint_names = checkpoint_names.PRETRAINING_HEADS
    head_checkpoint_skip = checkpoint_names.PRETRAINING_SKIP
    objective_class = PretrainingObjective  # what run_pretraining.py trains it on

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        config = self.config
        policy = self.dtype_policy
        init = keras.initializers.TruncatedNormal(stddev=config.initializer_range)
        self.encoder = BertEncoder(config, dtype=policy, name="encoder")
        self.add_masked_lm_head(self.encoder.shape, config.hidden_act)
        self.nsp = keras.layers.Dense(2, kernel_initializer=init, dtype=policy, name="nsp")
        self.build()

    def build(self, input_shape=None):
        self.build_masked_lm_head(self.encoder.shape)
        self.nsp.build((None, self.config.hidden_size))
        self.built = True

    def call(self, inputs, training=None):
        out = self.encoder(inputs, training=training)
        mlm_logits = self.masked_lm_logits(out["sequence_output"], inputs["masked_lm_positions"])
        nsp_logits = tf.cast(self.nsp(out["pooled_output"]), tf.float32)  # [B, 2]
        return {"mlm_logits": mlm_logits, "nsp_logits": nsp_logits}

    def objective(self):
        return self.objective_class()

    def head_weights(self):
        return {
            "mlm/transform/kernel": self.mlm_transform.kernel,
            "mlm/transform/bias": self.mlm_transform.bias,
            "mlm/layer_norm/gamma": self.mlm_layer_norm.gamma,
            "mlm/layer_norm/beta": self.mlm_layer_norm.beta,
            "mlm/output_bias": self.mlm_output_bias,
            "nsp/kernel": self.nsp.kernel,
            "nsp/bias": self.nsp.bias,
        }
