"""Token tagging (named entities, CoNLL-2003): data, word alignment, tag schemes, windows, metrics,
the model and its loss, serving, and run_tagging.py's run."""
