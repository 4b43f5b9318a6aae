"""BERT: its config, embedding sum, encoder, pretraining heads and checkpoint names."""

from bert_tf.models.bert.config import PRESETS, BertConfig, ConfigError
from bert_tf.models.bert.config_model import BertConfigModel
from bert_tf.models.embeddings import BertEmbeddings
from bert_tf.models.bert.encoder import BertEncoder
from bert_tf.models.transformer import mean_pool
from bert_tf.models.bert.pretrainer import BertPretrainer

__all__ = ["PRESETS", "BertConfig", "BertConfigModel", "BertEmbeddings", "BertEncoder",
           "BertPretrainer", "ConfigError", "mean_pool"]
