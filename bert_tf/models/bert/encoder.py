"""BertEncoder: the TransformerEncoder of a BertConfig, with BERT's checkpoint names."""

import keras

from bert_tf.models.bert import checkpoint_names
from bert_tf.models.bert.config import BertConfig
from bert_tf.models.transformer import TransformerEncoder, mean_pool

__all__ = ["BertEncoder", "mean_pool"]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEncoder(TransformerEncoder):
    """The BERT encoder network (see TransformerEncoder for its call and outputs).

    Reads and writes Google's (bert/...) and Hugging Face's (bert.*) names.
    """

    config_class = BertConfig
    names = checkpoint_names
