"""bert_tf: BERT as Keras 3 layers and models for TensorFlow."""

from bert_tf.attention import MultiHeadSelfAttention
from bert_tf.config import PRESETS, BertConfig, ConfigError
from bert_tf.embeddings import BertEmbeddings
from bert_tf.encoder import BertEncoder, mean_pool
from bert_tf.encoder_block import TransformerEncoderBlock
from bert_tf.tokenization import BertTokenizer

__all__ = [
    "BertConfig",
    "BertEmbeddings",
    "BertEncoder",
    "BertTokenizer",
    "ConfigError",
    "MultiHeadSelfAttention",
    "PRESETS",
    "TransformerEncoderBlock",
    "mean_pool",
]
