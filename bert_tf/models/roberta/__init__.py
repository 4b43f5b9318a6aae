"""RoBERTa: its config, encoder, masked-LM model and checkpoint names."""

from bert_tf.models.roberta.config import RobertaConfig
from bert_tf.models.roberta.encoder import RobertaEncoder
from bert_tf.models.roberta.masked_lm import RobertaMaskedLM

__all__ = ["RobertaConfig", "RobertaEncoder", "RobertaMaskedLM"]
