"""DistilBERT's checkpoint names: Hugging Face's distilbert.* layout and keras-hub's DistilBertBackbone."""

from bert_tf.checkpoints import huggingface, keras_hub
from bert_tf.checkpoints.table import NameTable, Rule

FORMATS = ("huggingface", "keras_hub")

_LAYER = "transformer.layer.{i}"
_RULES = [
    Rule("embeddings.word_embeddings.weight", "embeddings/word_embeddings"),
    Rule("embeddings.position_embeddings.weight", "embeddings/position_embeddings"),
    *huggingface.layer_norm_rules("embeddings.LayerNorm", "embeddings/layer_norm"),
    *huggingface.linear_rules(f"{_LAYER}.attention.q_lin", "layer_{i}/attention/query"),
    *huggingface.linear_rules(f"{_LAYER}.attention.k_lin", "layer_{i}/attention/key"),
    *huggingface.linear_rules(f"{_LAYER}.attention.v_lin", "layer_{i}/attention/value"),
    *huggingface.linear_rules(f"{_LAYER}.attention.out_lin", "layer_{i}/attention/output"),
    *huggingface.layer_norm_rules(f"{_LAYER}.sa_layer_norm", "layer_{i}/attention_layer_norm"),
    *huggingface.linear_rules(f"{_LAYER}.ffn.lin1", "layer_{i}/intermediate"),
    *huggingface.linear_rules(f"{_LAYER}.ffn.lin2", "layer_{i}/output"),
    *huggingface.layer_norm_rules(f"{_LAYER}.output_layer_norm", "layer_{i}/output_layer_norm"),
]
_BUFFERS = Rule(r"(distilbert\.)?embeddings\.position_ids", None, reason="position_ids buffer")

_EMBEDDING = "token_and_position_embedding"
# keras-hub's DistilBertBackbone: no segments, no pooler, exact GELU, LayerNorm epsilon 1e-12.
KERAS_HUB = keras_hub.Layout("DistilBertBackbone", "DistilBertTokenizer", NameTable([
    Rule(f"{_EMBEDDING}/token_embedding/embeddings", "embeddings/word_embeddings"),
    Rule(f"{_EMBEDDING}/position_embedding/embeddings", "embeddings/position_embeddings"),
    *keras_hub.layer_norm_rules("embeddings_layer_norm", "embeddings/layer_norm"),
    *keras_hub.BLOCK_RULES,
]))

ENCODER = {
    "huggingface": NameTable(_RULES, skip=[_BUFFERS], optional_prefix="distilbert.",
                             namespace=r"(distilbert\.)?(embeddings|transformer)\..*"),
    "keras_hub": KERAS_HUB.table,
}


# DistilBertForSequenceClassification: pre_classifier + ReLU on [CLS], then classifier.
HEADS = {"classifier": {"huggingface": [
    *huggingface.linear_rules("pre_classifier", "pre_classifier"),
    *huggingface.linear_rules("classifier", "classifier")]}}


def encoder_names(fmt: str) -> NameTable:
    """The encoder's table for a checkpoint format ("huggingface", "keras_hub")."""
    if fmt not in ENCODER:
        raise ValueError(f"DistilBERT checkpoints come in {FORMATS} format only, not {fmt!r}")
    return ENCODER[fmt]
