"""ALBERT: its config, encoder and checkpoint names."""

from bert_tf.models.albert.config import AlbertConfig
from bert_tf.models.albert.encoder import AlbertEncoder

__all__ = ["AlbertConfig", "AlbertEncoder"]
