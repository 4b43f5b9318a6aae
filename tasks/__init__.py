"""Downstream tasks built on bert_tf: one module per task (data, head, metrics, postprocessing)."""
