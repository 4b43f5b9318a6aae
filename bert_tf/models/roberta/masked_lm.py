"""RobertaMaskedLM: the RoBERTa encoder with its masked-LM head (Hugging Face's RobertaForMaskedLM)."""

# B=batch, T=sequence, K=masked positions, H=hidden size, V=vocab size

import keras
import tensorflow as tf

from bert_tf.layers import LayerNormalization, activations
from bert_tf.models.bert.pretraining_objective import MaskedLMObjective
from bert_tf.models.config_model import ConfigModel
from bert_tf.models.masked_lm import tied_logits
from bert_tf.models.roberta import checkpoint_names
from bert_tf.models.roberta.config import RobertaConfig


@keras.saving.register_keras_serializable(package="bert_tf")
class RobertaMaskedLM(ConfigModel):
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
        policy = self.dtype_policy
        self.encoder = self.head_encoder()
        self.freeze_unused_pooler()
        shape = self.encoder.shape
        init = keras.initializers.TruncatedNormal(stddev=shape.initializer_range)
        self.mlm_transform = keras.layers.Dense(
            shape.hidden_size, kernel_initializer=init, dtype=policy, name="mlm_transform")
        self.mlm_activation = activations.get("gelu_exact")  # RobertaLMHead's, always
        self.mlm_layer_norm = LayerNormalization(
            epsilon=shape.layer_norm_eps, dtype=policy, name="mlm_layer_norm")
        self.build()

    def build(self, input_shape=None):
        h = self.encoder.shape.hidden_size
        self.mlm_transform.build((None, None, h))
        self.mlm_layer_norm.build((None, None, h))
        self.mlm_output_bias = self.add_weight(
            name="output_bias", shape=(self.encoder.shape.vocab_size,), initializer="zeros",
            autocast=False)  # added to float32 logits
        self.built = True

    @property
    def word_embeddings(self):
        """The one variable shared by the input embedding and the masked-LM decoder."""
        return self.encoder.embeddings.word_embeddings

    def call(self, inputs, training=None):
        out = self.encoder(inputs, training=training)
        hidden = tf.gather(out["sequence_output"], inputs["masked_lm_positions"],
                           batch_dims=1)  # [B, K, H]
        hidden = self.mlm_layer_norm(self.mlm_activation(self.mlm_transform(hidden)))
        return {"mlm_logits": tied_logits(hidden, self.word_embeddings, self.mlm_output_bias)}

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
