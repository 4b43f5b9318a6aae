"""ELECTRA's checkpoint names: Hugging Face's electra.* layout, google-research/electra's TF1 names and keras-hub's ElectraBackbone.

The encoder is the discriminator's body (or a generator's: ElectraForMaskedLM
saves its body under electra.* too). Names of the pretraining heads and of
the generator inside a google-research/electra checkpoint are in PRETRAINING.
"""

# H=hidden size

import numpy as np

from bert_tf.checkpoints import google, huggingface, keras_hub
from bert_tf.checkpoints.table import NameTable, Rule
from bert_tf.models.bert import checkpoint_names as bert_names

FORMATS = ("huggingface", "google", "keras_hub")

# BERT's names without the pooler (ELECTRA has none), plus the projection of factorized tables.
_HF_RULES = [rule for rule in bert_names.HF_ENCODER_RULES
             if not rule.source.startswith("pooler.")] + huggingface.linear_rules(
    "embeddings_project", "embedding_projection")
HF_BUFFERS = Rule(r"(electra\.)?embeddings\.(position_ids|token_type_ids)", None,
                   reason="position_ids/token_type_ids buffer(s)")


def _google_encoder(scope, ours=""):
    """google-research/electra's names of one Transformer under `scope` ("electra", "generator")
    as our paths under `ours` ("" for the encoder, "generator/")."""
    layer = f"{scope}/encoder/layer_{{i}}"
    to = f"{ours}layer_{{i}}"
    return [
        *google.dense_rules(f"{scope}/embeddings_project", f"{ours}embedding_projection"),
        *google.dense_rules(f"{layer}/attention/self/query", f"{to}/attention/query"),
        *google.dense_rules(f"{layer}/attention/self/key", f"{to}/attention/key"),
        *google.dense_rules(f"{layer}/attention/self/value", f"{to}/attention/value"),
        *google.dense_rules(f"{layer}/attention/output/dense", f"{to}/attention/output"),
        *google.layer_norm_rules(f"{layer}/attention/output/LayerNorm",
                                 f"{to}/attention_layer_norm"),
        *google.dense_rules(f"{layer}/intermediate/dense", f"{to}/intermediate"),
        *google.dense_rules(f"{layer}/output/dense", f"{to}/output"),
        *google.layer_norm_rules(f"{layer}/output/LayerNorm", f"{to}/output_layer_norm"),
    ]


# The embedding tables sit under electra/embeddings/ whichever model reads them: the generator
# shares the discriminator's (google-research/electra's untied_generator_embeddings=False).
_GOOGLE_ENCODER = [
    Rule("electra/embeddings/word_embeddings", "embeddings/word_embeddings"),
    Rule("electra/embeddings/token_type_embeddings", "embeddings/token_type_embeddings"),
    Rule("electra/embeddings/position_embeddings", "embeddings/position_embeddings"),
    *google.layer_norm_rules("electra/embeddings/LayerNorm", "embeddings/layer_norm"),
    *_google_encoder("electra"),
]

# keras-hub's ElectraBackbone: the tanh GELU, LayerNorm epsilon 1e-12, and a tanh pooled_dense
# that ELECTRA does not have (Hugging Face's ElectraModel has none): skipped when read, written
# as zeros (its pooled output is then 0).
_POOLED = "pooled_dense"


def _to_keras_hub(arrays, config):
    arrays = dict(arrays)
    arrays[f"{_POOLED}/kernel"] = np.zeros((config.hidden_size, config.hidden_size), np.float32)
    arrays[f"{_POOLED}/bias"] = np.zeros(config.hidden_size, np.float32)  # [H]
    return arrays


KERAS_HUB = keras_hub.Layout("ElectraBackbone", "ElectraTokenizer", NameTable([
    Rule("token_embedding/embeddings", "embeddings/word_embeddings"),
    Rule("segment_embedding/embeddings", "embeddings/token_type_embeddings"),
    Rule("position_embedding/embeddings", "embeddings/position_embeddings"),
    *keras_hub.layer_norm_rules("embeddings_layer_norm", "embeddings/layer_norm"),
    *keras_hub.dense_rules("embeddings_projection", "embedding_projection"),
    *keras_hub.BLOCK_RULES,
], skip=[Rule(f"{_POOLED}/(kernel|bias)", None, reason="pooled_dense variable(s) (ELECTRA has "
                                                        "no pooler)")]),
    to_keras_hub=_to_keras_hub)

ENCODER = {
    "huggingface": NameTable(_HF_RULES, skip=[HF_BUFFERS], optional_prefix="electra.",
                             namespace=r"(electra\.)?(embeddings|embeddings_project|encoder)\..*"),
    # Anything outside electra/ (generator/..., the prediction heads) belongs to another model.
    "google": NameTable(_GOOGLE_ENCODER, skip=[google.OPTIMIZER_SKIP], namespace=r"electra/.*"),
    "keras_hub": KERAS_HUB.table,
}


# ElectraForSequenceClassification's ElectraClassificationHead: dense + GELU on the first token,
# then out_proj (no pooler).
HEADS = {"classifier": {"huggingface": [
    *huggingface.linear_rules("classifier.dense", "pre_classifier"),
    *huggingface.linear_rules("classifier.out_proj", "classifier")]}}


# The pretraining model (ElectraPretrainer): the generator's body, its masked-LM head (tied to
# the shared word embeddings, with a bias of its own) and the discriminator's head.
PRETRAINING = {
    "google": [
        *_google_encoder("generator", "generator/"),
        *google.dense_rules("generator_predictions/dense", "mlm/transform"),
        *google.layer_norm_rules("generator_predictions/LayerNorm", "mlm/layer_norm"),
        Rule("generator_predictions/output_bias", "mlm/output_bias"),
        *google.dense_rules("discriminator_predictions/dense", "discriminator/dense"),
        *google.dense_rules("discriminator_predictions/dense_1", "discriminator/prediction"),
    ],
}
# ElectraForPreTraining: the discriminator's head.
DISCRIMINATOR_HEAD = {"huggingface": [
    *huggingface.linear_rules("discriminator_predictions.dense", "discriminator/dense"),
    *huggingface.linear_rules("discriminator_predictions.dense_prediction",
                              "discriminator/prediction")]}
# ElectraForMaskedLM (a generator): its masked-LM head; the decoder generator_lm_head.weight
# is tied to the word embeddings (saved by older releases only).
GENERATOR_HEAD = {"huggingface": [
    *huggingface.linear_rules("generator_predictions.dense", "mlm/transform"),
    *huggingface.layer_norm_rules("generator_predictions.LayerNorm", "mlm/layer_norm"),
    Rule("generator_lm_head.bias", "mlm/output_bias")]}
GENERATOR_SKIP = {"huggingface": [
    Rule(r"generator_lm_head\.weight", None, reason="tied decoder weight (the word embeddings)")]}


def pretraining_names(fmt: str) -> NameTable:
    """ElectraPretrainer's table. google: a whole google-research/electra checkpoint, every
    name under its four scopes placed. huggingface: an ElectraForPreTraining release, which
    has no generator (that is a release of its own: ElectraPretrainer.load_generator)."""
    if fmt == "google":
        return NameTable(
            _GOOGLE_ENCODER + PRETRAINING["google"], skip=[google.OPTIMIZER_SKIP],
            namespace=r"(electra|generator|generator_predictions|discriminator_predictions)/.*")
    if fmt == "huggingface":
        return NameTable(
            _HF_RULES + DISCRIMINATOR_HEAD["huggingface"], skip=[HF_BUFFERS],
            optional_prefix="electra.",
            namespace=r"(electra\.)?(embeddings|embeddings_project|encoder)\..*"
                      r"|discriminator_predictions\..*",
            optional=[r"generator/.*", r"mlm/.*"])
    raise ValueError(f"an ELECTRA pretraining model has no {fmt!r} checkpoint names")


def encoder_names(fmt: str) -> NameTable:
    """The encoder's table for a checkpoint format ("huggingface", "google", "keras_hub")."""
    if fmt not in ENCODER:
        raise ValueError(f"ELECTRA checkpoints come in {FORMATS} format only, not {fmt!r}")
    return ENCODER[fmt]
