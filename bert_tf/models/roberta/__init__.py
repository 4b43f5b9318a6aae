"""RoBERTa: its config, encoder and checkpoint names."""

from bert_tf.models.roberta.config import RobertaConfig
from bert_tf.models.roberta.encoder import RobertaEncoder

__all__ = ["RobertaConfig", "RobertaEncoder"]
