"""Sentence and sentence-pair classification and regression (GLUE, XNLI, your own files)."""
