"""ElectraEncoder: the TransformerEncoder of an ElectraConfig, with Hugging Face's electra.* and google-research/electra's names."""

import keras

from bert_tf.models.electra import checkpoint_names
from bert_tf.models.electra.config import ElectraConfig
from bert_tf.models.transformer import TransformerEncoder


@keras.saving.register_keras_serializable(package="bert_tf")
class ElectraEncoder(TransformerEncoder):
    """ELECTRA's encoder, the discriminator's body (see TransformerEncoder for its call).

    Embedding tables of `embedding_size`, projected to `hidden_size` where the
    two differ; no pooler, so no "pooled_output" (sentence classifiers pool
    the first token with a layer of their own).
    """

    config_class = ElectraConfig
    names = checkpoint_names
