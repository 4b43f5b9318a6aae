"""bert_tf: BERT and its family (RoBERTa, DistilBERT, ELECTRA, ALBERT, XLM-RoBERTa) as Keras 3 layers and models for TensorFlow.

Names are imported on first use, so that pure-Python modules such as
`tasks.pretraining.examples` (used in worker processes) load without TensorFlow.
"""

import importlib

_EXPORTS = {
    "BertConfig": "bert_tf.models.bert.config",
    "ConfigError": "bert_tf.models.bert.config",
    "PRESETS": "bert_tf.models.bert.config",
    "BertEmbeddings": "bert_tf.models.embeddings",
    "BertEncoder": "bert_tf.models.bert.encoder",
    "BertPretrainer": "bert_tf.models.bert.pretrainer",
    "mean_pool": "bert_tf.models.transformer",
    "TransformerEncoder": "bert_tf.models.transformer",
    "ConfigModel": "bert_tf.models.config_model",
    "build_encoder": "bert_tf.models.registry",
    "RobertaConfig": "bert_tf.models.roberta.config",
    "RobertaEncoder": "bert_tf.models.roberta.encoder",
    "RobertaMaskedLM": "bert_tf.models.roberta.masked_lm",
    "DistilBertConfig": "bert_tf.models.distilbert.config",
    "DistilBertEncoder": "bert_tf.models.distilbert.encoder",
    "ElectraConfig": "bert_tf.models.electra.config",
    "ElectraEncoder": "bert_tf.models.electra.encoder",
    "ElectraPretrainer": "bert_tf.models.electra.pretrainer",
    "AlbertConfig": "bert_tf.models.albert.config",
    "AlbertEncoder": "bert_tf.models.albert.encoder",
    "AlbertPretrainer": "bert_tf.models.albert.pretrainer",
    "XLMRobertaConfig": "bert_tf.models.xlm_roberta.config",
    "XLMRobertaEncoder": "bert_tf.models.xlm_roberta.encoder",
    "BertTokenizer": "bert_tf.tokenization.tokenizer",
    "BpeTokenizer": "bert_tf.tokenization.bpe",
    "SentencePieceTokenizer": "bert_tf.tokenization.sentence_piece",
    "XlmRobertaTokenizer": "bert_tf.tokenization.sentence_piece",
    "MultiHeadSelfAttention": "bert_tf.layers.attention",
    "TransformerEncoderBlock": "bert_tf.layers.encoder_block",
    "UserError": "bert_tf.errors",
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
