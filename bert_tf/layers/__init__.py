"""Transformer layers that any encoder family can use: activations, attention, the encoder block."""

from bert_tf.layers.attention import MultiHeadSelfAttention
from bert_tf.layers.encoder_block import TransformerEncoderBlock

__all__ = ["MultiHeadSelfAttention", "TransformerEncoderBlock"]
