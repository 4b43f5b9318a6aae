"""AlbertEncoder: the TransformerEncoder of an AlbertConfig, with ALBERT's checkpoint names."""

import keras

from bert_tf.models.albert import checkpoint_names
from bert_tf.models.albert.config import AlbertConfig
from bert_tf.models.transformer import TransformerEncoder


@keras.saving.register_keras_serializable(package="bert_tf")
class AlbertEncoder(TransformerEncoder):
    """ALBERT's encoder (see TransformerEncoder): embeddings of width embedding_size projected to
    hidden_size, and blocks shared across layers; "encoder_outputs" has one entry per layer
    (num_hidden_layers), each the output of its group's blocks."""

    config_class = AlbertConfig
    names = checkpoint_names
