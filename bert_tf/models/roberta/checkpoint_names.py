"""RoBERTa's checkpoint names: Hugging Face's roberta.* layout (BERT's, under another prefix) and keras-hub's RobertaBackbone."""

# P=positions, H=hidden size

import numpy as np

from bert_tf.checkpoints import huggingface, keras_hub
from bert_tf.checkpoints.table import NameTable, Rule
from bert_tf.models.bert import checkpoint_names as bert_names

FORMATS = ("huggingface", "keras_hub")

_BUFFERS = Rule(r"(roberta\.)?embeddings\.(position_ids|token_type_ids)", None,
                reason="position_ids/token_type_ids buffer(s)")

_POSITIONS = "embeddings/position_embedding/embeddings"
# Not a keras-hub variable: the token-type row RobertaBackbone lacks (see _from_keras_hub).
_TOKEN_TYPE = "embeddings/token_type_embedding/embeddings"


def _from_keras_hub(arrays, config):
    """keras-hub's RobertaBackbone counts positions from its table's first row and has no
    token-type row (fairseq's RoBERTa had none; keras-hub's converter drops Hugging Face's zero
    row and its first pad_token_id + 1 position rows). Ours start at row pad_token_id + 1 and add
    one token-type row to every token: zero rows in both places."""
    arrays = dict(arrays)
    positions = arrays[_POSITIONS]  # [P, H]
    unused = np.zeros((config.pad_token_id + 1, positions.shape[1]), positions.dtype)
    arrays[_POSITIONS] = np.concatenate([unused, positions])
    arrays[_TOKEN_TYPE] = np.zeros((1, positions.shape[1]), positions.dtype)
    return arrays


def _to_keras_hub(arrays, config):
    """Ours as RobertaBackbone's: our token-type row, added to every token, joins every
    position row; the rows before pad_token_id + 1 are never used."""
    arrays = dict(arrays)
    token_type = arrays.pop(_TOKEN_TYPE)  # [1, H]
    arrays[_POSITIONS] = arrays[_POSITIONS][config.pad_token_id + 1:] + token_type[0]
    return arrays


# keras-hub's RobertaBackbone: no pooler (ours is left out of a preset, and keeps its initial
# values when read from one), exact GELU, LayerNorm epsilon 1e-5.
KERAS_HUB = keras_hub.Layout("RobertaBackbone", "RobertaTokenizer", NameTable([
    Rule("embeddings/token_embedding/embeddings", "embeddings/word_embeddings"),
    Rule(_POSITIONS, "embeddings/position_embeddings"),
    Rule(_TOKEN_TYPE, "embeddings/token_type_embeddings"),
    *keras_hub.layer_norm_rules("embeddings_layer_norm", "embeddings/layer_norm"),
    *keras_hub.BLOCK_RULES,
], optional=[r"pooler/(kernel|bias)"]), to_ours=_from_keras_hub, to_keras_hub=_to_keras_hub)

ENCODER = {
    # RobertaForSequenceClassification, ...ForQuestionAnswering and ...ForTokenClassification
    # are saved without the pooler.
    "huggingface": NameTable(bert_names.HF_ENCODER_RULES, skip=[_BUFFERS],
                             optional_prefix="roberta.",
                             namespace=r"(roberta\.)?(embeddings|encoder|pooler)\..*",
                             optional=[r"pooler/(kernel|bias)"]),
    "keras_hub": KERAS_HUB.table,
}


# RobertaForMaskedLM's head (RobertaLMHead): dense, GELU, LayerNorm, then the decoder tied to the
# word embeddings, with its own bias lm_head.bias.
MASKED_LM_HEAD = {"huggingface": [
    *huggingface.linear_rules("lm_head.dense", "mlm/transform"),
    *huggingface.layer_norm_rules("lm_head.layer_norm", "mlm/layer_norm"),
    Rule("lm_head.bias", "mlm/output_bias")]}
# Hugging Face ties lm_head.decoder.weight to the word embeddings and lm_head.decoder.bias to
# lm_head.bias, and saves neither (its safetensors writer drops the tied names); older
# releases hold both copies, which it overwrites with the ties when it loads them. So do we.
MASKED_LM_SKIP = {"huggingface": [
    Rule(r"lm_head\.decoder\.(weight|bias)", None,
         reason="tied decoder variable(s) (the word embeddings and lm_head.bias)")]}

# RobertaForSequenceClassification: dense + tanh on <s>, then out_proj (no pooler).
HEADS = {"classifier": {"huggingface": [
    *huggingface.linear_rules("classifier.dense", "pre_classifier"),
    *huggingface.linear_rules("classifier.out_proj", "classifier")]}}


def encoder_names(fmt: str) -> NameTable:
    """The encoder's table for a checkpoint format ("huggingface", "keras_hub"; RoBERTa has no TF1
    release)."""
    if fmt not in ENCODER:
        raise ValueError(f"RoBERTa checkpoints come in {FORMATS} format only, not {fmt!r}")
    return ENCODER[fmt]
