"""RobertaMaskedLM: the RoBERTa encoder with its masked-LM head (Hugging Face's RobertaForMaskedLM)."""

# B=batch, T=sequence, K=masked positions, H=hidden size, V=vocab size

import keras

from bert_tf.models.bert.pretraining_objective import MaskedLMObjective
from bert_tf.models.config_model import ConfigModel
from bert_tf.models.masked_lm import MaskedLMHead
from bert_tf.models.roberta import checkpoint_names
from bert_tf.models.roberta.config import RobertaConfig


@keras.saving.register_keras_serializable(package="bert_tf")
class RobertaMaskedLM(MaskedLMHead, ConfigModel):
    """RobertaEncoder plus RoBERTa's masked-LM head; no next-sentence head (RoBERTa has none).

    Call: `model(batch, training=None)` with int `[B, T]` input_ids and
    input_mask (segment_ids may be left out: RoBERTa has one segment) and
    int `[B, K]` masked_lm_positions. Returns float32 "mlm_logits" `[B, K, V]`.
    The head is Hugging Face's RobertaLMHead: dense `[H, H]`, the exact GELU
    (whatever hidden_act says), LayerNorm (layer_norm_eps), and the decoder
    tied to the word embeddings plus a bias of its own.
    `compile()` defaults to the MaskedLMObjective (what run_pretraining.py
    trains a RoBERTa on): fit on (inputs, {"masked_lm_ids" int [B, K],
    "masked_lm_weights" float [B, K]}).

    Checkpoint names are RobertaForMaskedLM's: roberta.* for the encoder,
    lm_head.dense.*, lm_head.layer_norm.* and lm_head.bias; the tied
    lm_head.decoder.* copies some releases hold are skipped. The head does
    not read the pooler: the encoder's is frozen, not saved, and skipped
    where a release holds one (roberta-base does).
    """

    config_class = RobertaConfig
    head_checkpoint_names = checkpoint_names.MASKED_LM_HEAD
    head_checkpoint_skip = checkpoint_names.MASKED_LM_SKIP
    objective_class = MaskedLMObjective  # what run_pretraining.py trains it on

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.encoder = self.head_encoder()
        self.freeze_unused_pooler()
        self.add_masked_lm_head(self.encoder.shape, "gelu_exact")  # RobertaLMHead's, always
        self.build()

    def build(self, input_shape=None):
        self.build_masked_lm_head(self.encoder.shape)
        self.built = True

    def call(self, inputs, training=None):
        out = self.encoder(inputs, training=training)
        return {"mlm_logits": self.masked_lm_logits(out["sequence_output"],
                                                    inputs["masked_lm_positions"])}

    def uses_pooler(self):
        return False

    def objective(self):
        return self.objective_class()

    def head_weights(self):
        return {
            "mlm/transform/kernel": self.mlm_transform.kernel,
            "mlm/transform/bias": self.mlm_transform.bias,
            "mlm/layer_norm/gamma": self.mlm_layer_norm.gamma,
            "mlm/layer_norm/beta": self.mlm_layer_norm.beta,
            "mlm/output_bias": self.mlm_output_bias,
        }
