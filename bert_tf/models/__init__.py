"""Encoder families, one folder each (BERT today)."""
