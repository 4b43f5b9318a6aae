"""DistilBERT: its config, encoder and checkpoint names."""

from bert_tf.models.distilbert.config import DistilBertConfig
from bert_tf.models.distilbert.encoder import DistilBertEncoder

__all__ = ["DistilBertConfig", "DistilBertEncoder"]
