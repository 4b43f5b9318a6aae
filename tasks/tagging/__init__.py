"""Token tagging (named entities, CoNLL-2003): data, word alignment, tag schemes, windows and metrics."""
