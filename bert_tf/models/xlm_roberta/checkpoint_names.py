"""XLM-RoBERTa's checkpoint names: RoBERTa's (Hugging Face's XLMRoberta* classes keep the roberta.* names) and keras-hub's XLMRobertaBackbone."""

import dataclasses

from bert_tf.checkpoints.table import NameTable
from bert_tf.models.roberta import checkpoint_names as roberta_names

FORMATS = roberta_names.FORMATS

# XLMRobertaBackbone is a RobertaBackbone: the same variables, positions and token type.
KERAS_HUB = dataclasses.replace(roberta_names.KERAS_HUB, backbone="XLMRobertaBackbone",
                                tokenizer="XLMRobertaTokenizer")
ENCODER = {"huggingface": roberta_names.ENCODER["huggingface"], "keras_hub": KERAS_HUB.table}
MASKED_LM_HEAD = roberta_names.MASKED_LM_HEAD
MASKED_LM_SKIP = roberta_names.MASKED_LM_SKIP
HEADS = roberta_names.HEADS


def encoder_names(fmt: str) -> NameTable:
    """The encoder's table for a checkpoint format ("huggingface", "keras_hub")."""
    if fmt not in ENCODER:
        raise ValueError(f"XLM-RoBERTa checkpoints come in {FORMATS} format only, not {fmt!r}")
    return ENCODER[fmt]
