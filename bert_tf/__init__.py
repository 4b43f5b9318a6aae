"""bert_tf: BERT as Keras 3 layers and models for TensorFlow."""

from bert_tf.attention import MultiHeadSelfAttention
from bert_tf.config import PRESETS, BertConfig, ConfigError
from bert_tf.embeddings import BertEmbeddings
from bert_tf.encoder import BertEncoder, mean_pool
from bert_tf.encoder_block import TransformerEncoderBlock

__all__ = [
    "BertConfig",
    "BertEmbeddings",
    "BertEncoder",
    "ConfigError",
    "MultiHeadSelfAttention",
    "PRESETS",
    "TransformerEncoderBlock",
    "mean_pool",
]
