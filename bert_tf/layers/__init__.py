"""Transformer layers for any encoder family: activations, dropout, LayerNorm, attention, the block."""

from bert_tf.layers.attention import MultiHeadSelfAttention
from bert_tf.layers.dropout import Dropout
from bert_tf.layers.layer_norm import LayerNormalization
from bert_tf.layers.encoder_block import TransformerEncoderBlock

__all__ = ["Dropout", "LayerNormalization", "MultiHeadSelfAttention", "TransformerEncoderBlock"]
