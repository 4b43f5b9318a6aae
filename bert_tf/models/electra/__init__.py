"""ELECTRA: its config, encoder (the discriminator's body), pretraining model and checkpoint names."""

from bert_tf.models.electra.config import ElectraConfig
from bert_tf.models.electra.encoder import ElectraEncoder

__all__ = ["ElectraConfig", "ElectraEncoder"]
