"""XLM-RoBERTa: RoBERTa's encoder with a SentencePiece vocabulary; its config, encoder and checkpoint names."""

from bert_tf.models.xlm_roberta.config import XLMRobertaConfig
from bert_tf.models.xlm_roberta.encoder import XLMRobertaEncoder

__all__ = ["XLMRobertaConfig", "XLMRobertaEncoder"]
