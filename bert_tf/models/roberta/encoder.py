"""RobertaEncoder: the TransformerEncoder of a RobertaConfig, with Hugging Face's roberta.* names."""

import keras

from bert_tf.models.roberta import checkpoint_names
from bert_tf.models.roberta.config import RobertaConfig
from bert_tf.models.transformer import TransformerEncoder


@keras.saving.register_keras_serializable(package="bert_tf")
class RobertaEncoder(TransformerEncoder):
    """RoBERTa's encoder (see TransformerEncoder for its call and outputs).

    Positions start at row `pad_token_id + 1` of the position table; the
    one segment row is added to every token (segment ids may be left out).
    Inputs are padded with any id: the input mask, not the padding id,
    says which tokens are real.
    """

    config_class = RobertaConfig
    names = checkpoint_names
