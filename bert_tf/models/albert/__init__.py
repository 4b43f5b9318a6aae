"""ALBERT: its config, encoder, pretraining model and checkpoint names."""

from bert_tf.models.albert.config import AlbertConfig
from bert_tf.models.albert.encoder import AlbertEncoder
from bert_tf.models.albert.pretrainer import AlbertPretrainer

__all__ = ["AlbertConfig", "AlbertEncoder", "AlbertPretrainer"]
