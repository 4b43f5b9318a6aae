"""DistilBertEncoder: the TransformerEncoder of a DistilBertConfig, with Hugging Face's distilbert.* names."""

import keras

from bert_tf.models.distilbert import checkpoint_names
from bert_tf.models.distilbert.config import DistilBertConfig
from bert_tf.models.transformer import TransformerEncoder


@keras.saving.register_keras_serializable(package="bert_tf")
class DistilBertEncoder(TransformerEncoder):
    """DistilBERT's encoder (see TransformerEncoder): no segment ids, no pooled output."""

    config_class = DistilBertConfig
    names = checkpoint_names
