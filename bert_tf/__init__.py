"""bert_tf: BERT as Keras 3 layers and models for TensorFlow.

Names are imported on first use, so that pure-Python modules such as
`bert_tf.pretraining_data` (used in worker processes) load without TensorFlow.
"""

import importlib

_EXPORTS = {
    "BertConfig": "bert_tf.config",
    "ConfigError": "bert_tf.config",
    "PRESETS": "bert_tf.config",
    "BertEmbeddings": "bert_tf.embeddings",
    "BertEncoder": "bert_tf.encoder",
    "mean_pool": "bert_tf.encoder",
    "BertTokenizer": "bert_tf.tokenization",
    "MultiHeadSelfAttention": "bert_tf.attention",
    "TransformerEncoderBlock": "bert_tf.encoder_block",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bert_tf' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
