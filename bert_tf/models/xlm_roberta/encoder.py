"""XLMRobertaEncoder: the TransformerEncoder of an XLMRobertaConfig, with RoBERTa's roberta.* names."""

import keras

from bert_tf.models.roberta.encoder import RobertaEncoder
from bert_tf.models.xlm_roberta import checkpoint_names
from bert_tf.models.xlm_roberta.config import XLMRobertaConfig


@keras.saving.register_keras_serializable(package="bert_tf")
class XLMRobertaEncoder(RobertaEncoder):
    """XLM-RoBERTa's encoder: RoBERTa's (see RobertaEncoder)."""

    config_class = XLMRobertaConfig
    names = checkpoint_names
