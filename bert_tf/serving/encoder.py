"""The encoder served as it is: sentence embeddings and per-token states from raw text."""

# B=batch, T=tokens, H=hidden size

import tensorflow as tf

from bert_tf.models.transformer import mean_pool
from bert_tf.serving import export


def _encoder_outputs(module, features):
    out = module.call_model(features)
    sequence = tf.cast(out["sequence_output"], tf.float32)  # [B, T, H]
    found = {"embedding": mean_pool(sequence, features["input_mask"]),
             "sequence_output": sequence}
    # The families with a pooler, where the weights came with the model.
    if "pooled_output" in out and getattr(module, "serves_pooled_output", True):
        found["pooled_output"] = tf.cast(out["pooled_output"], tf.float32)
    return found


ENCODER = export.ExportKind("encoder", _encoder_outputs)
