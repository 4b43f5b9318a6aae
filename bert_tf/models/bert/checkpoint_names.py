"""BERT's checkpoint names: where each weight of ours sits in Google's and Hugging Face's checkpoints and keras-hub's BertBackbone.

A model declares its names as a NameTable per format (`model.checkpoint_names(format)`):
the encoder's table below, extended by each head with the head's own rules.
"""

from bert_tf.checkpoints import google, huggingface, keras_hub
from bert_tf.checkpoints.table import NameTable, Rule

FORMATS = ("google", "huggingface", "keras_hub")

_LAYER = "bert/encoder/layer_{i}"
_GOOGLE_ENCODER = [
    Rule("bert/embeddings/word_embeddings", "embeddings/word_embeddings"),
    Rule("bert/embeddings/token_type_embeddings", "embeddings/token_type_embeddings"),
    Rule("bert/embeddings/position_embeddings", "embeddings/position_embeddings"),
    *google.layer_norm_rules("bert/embeddings/LayerNorm", "embeddings/layer_norm"),
    *google.dense_rules(f"{_LAYER}/attention/self/query", "layer_{i}/attention/query"),
    *google.dense_rules(f"{_LAYER}/attention/self/key", "layer_{i}/attention/key"),
    *google.dense_rules(f"{_LAYER}/attention/self/value", "layer_{i}/attention/value"),
    *google.dense_rules(f"{_LAYER}/attention/output/dense", "layer_{i}/attention/output"),
    *google.layer_norm_rules(f"{_LAYER}/attention/output/LayerNorm",
                             "layer_{i}/attention_layer_norm"),
    *google.dense_rules(f"{_LAYER}/intermediate/dense", "layer_{i}/intermediate"),
    *google.dense_rules(f"{_LAYER}/output/dense", "layer_{i}/output"),
    *google.layer_norm_rules(f"{_LAYER}/output/LayerNorm", "layer_{i}/output_layer_norm"),
    *google.dense_rules("bert/pooler/dense", "pooler"),
]

_HF_LAYER = "encoder.layer.{i}"
# Also RoBERTa's, under its own prefix.
HF_ENCODER_RULES = [
    Rule("embeddings.word_embeddings.weight", "embeddings/word_embeddings"),
    Rule("embeddings.token_type_embeddings.weight", "embeddings/token_type_embeddings"),
    Rule("embeddings.position_embeddings.weight", "embeddings/position_embeddings"),
    *huggingface.layer_norm_rules("embeddings.LayerNorm", "embeddings/layer_norm"),
    *huggingface.linear_rules(f"{_HF_LAYER}.attention.self.query", "layer_{i}/attention/query"),
    *huggingface.linear_rules(f"{_HF_LAYER}.attention.self.key", "layer_{i}/attention/key"),
    *huggingface.linear_rules(f"{_HF_LAYER}.attention.self.value", "layer_{i}/attention/value"),
    *huggingface.linear_rules(f"{_HF_LAYER}.attention.output.dense",
                              "layer_{i}/attention/output"),
    *huggingface.layer_norm_rules(f"{_HF_LAYER}.attention.output.LayerNorm",
                                  "layer_{i}/attention_layer_norm"),
    *huggingface.linear_rules(f"{_HF_LAYER}.intermediate.dense", "layer_{i}/intermediate"),
    *huggingface.linear_rules(f"{_HF_LAYER}.output.dense", "layer_{i}/output"),
    *huggingface.layer_norm_rules(f"{_HF_LAYER}.output.LayerNorm", "layer_{i}/output_layer_norm"),
    *huggingface.linear_rules("pooler.dense", "pooler"),
]
_HF_BUFFERS = Rule(r"(bert\.)?embeddings\.position_ids", None, reason="position_ids buffer(s)")

# keras-hub's BertBackbone: Google's BERT (tanh GELU, LayerNorm epsilon 1e-12), pooler included.
KERAS_HUB = keras_hub.Layout("BertBackbone", "BertTokenizer", NameTable([
    Rule("token_embedding/embeddings", "embeddings/word_embeddings"),
    Rule("segment_embedding/embeddings", "embeddings/token_type_embeddings"),
    Rule("position_embedding/embeddings", "embeddings/position_embeddings"),
    *keras_hub.layer_norm_rules("embeddings_layer_norm", "embeddings/layer_norm"),
    *keras_hub.BLOCK_RULES,
    *keras_hub.dense_rules("pooled_dense", "pooler"),
]))

ENCODER = {
    # Anything outside bert/ (cls/..., output_weights, ...) belongs to some head.
    "google": NameTable(_GOOGLE_ENCODER, skip=[google.OPTIMIZER_SKIP], namespace=r"bert/.*"),
    # BertForQuestionAnswering and BertForTokenClassification are saved without the pooler.
    "huggingface": NameTable(HF_ENCODER_RULES, skip=[_HF_BUFFERS], optional_prefix="bert.",
                             namespace=r"(bert\.)?(embeddings|encoder|pooler)\..*",
                             optional=[r"pooler/(kernel|bias)"]),
    "keras_hub": KERAS_HUB.table,
}

# The pretraining heads (BertForPreTraining): masked LM tied to the word embeddings, and NSP.
PRETRAINING_HEADS = {
    "google": [
        *google.dense_rules("cls/predictions/transform/dense", "mlm/transform"),
        *google.layer_norm_rules("cls/predictions/transform/LayerNorm", "mlm/layer_norm"),
        Rule("cls/predictions/output_bias", "mlm/output_bias"),
        # Google stores the next-sentence weights [2, H]; ours are a Dense kernel [H, 2].
        Rule("cls/seq_relationship/output_weights", "nsp/kernel", "transpose"),
        Rule("cls/seq_relationship/output_bias", "nsp/bias"),
    ],
    "huggingface": [
        *huggingface.linear_rules("cls.predictions.transform.dense", "mlm/transform"),
        *huggingface.layer_norm_rules("cls.predictions.transform.LayerNorm", "mlm/layer_norm"),
        Rule("cls.predictions.bias", "mlm/output_bias"),
        *huggingface.linear_rules("cls.seq_relationship", "nsp"),
    ],
}
# The decoder is tied to the word embeddings, and its bias is cls.predictions.bias.
PRETRAINING_SKIP = {
    "google": [],
    "huggingface": [Rule(r"cls\.predictions\.decoder\.(weight|bias)", None,
                         reason="tied decoder variable(s) (the word embeddings and output bias)")],
}


# Task heads whose names differ between families: {head: {format: [Rule]}}. BERT's sentence
# classifier is one layer over the encoder's pooler (BertForSequenceClassification).
HEADS = {"classifier": {"google": [Rule("output_weights", "classifier/kernel", "transpose"),
                                   Rule("output_bias", "classifier/bias")],
                        "huggingface": huggingface.linear_rules("classifier", "classifier")}}


def encoder_names(fmt: str) -> NameTable:
    """The encoder's table for a checkpoint format ("google", "huggingface", "keras_hub")."""
    if fmt not in ENCODER:
        raise ValueError(f"unknown checkpoint format {fmt!r}; known: {FORMATS}")
    return ENCODER[fmt]


def head_names(fmt: str, google_rules, huggingface_rules, skip=None) -> NameTable:
    """The encoder's table extended by a head's rules for each format."""
    rules = {"google": google_rules, "huggingface": huggingface_rules}
    return encoder_names(fmt).extended(rules[fmt], (skip or {}).get(fmt, []))
