"""Transformer layers that any encoder family can use: activations, dropout, attention, the encoder block."""

from bert_tf.layers.attention import MultiHeadSelfAttention
from bert_tf.layers.dropout import Dropout
from bert_tf.layers.encoder_block import TransformerEncoderBlock

__all__ = ["Dropout", "MultiHeadSelfAttention", "TransformerEncoderBlock"]
