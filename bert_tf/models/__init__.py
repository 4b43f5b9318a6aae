"""Encoder families, one folder each (bert, roberta, distilbert, electra), and what they share.

`registry` maps a family name or a Hugging Face model_type to its config and
encoder classes; `transformer.TransformerEncoder` is every family's encoder,
built from its config's `encoder_shape()`.
"""
