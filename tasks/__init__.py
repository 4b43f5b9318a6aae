"""Task families, one folder each: data, model (head), task (losses and metrics), serving, run."""
