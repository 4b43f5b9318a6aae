"""DistilBertConfig: DistilBERT's hyper-parameters, with the field names of its Hugging Face config.json."""

import dataclasses

from bert_tf.models.bert.config import (KERAS_HUB_KEYS, ConfigError, from_keras_hub_fields,
                                        keras_hub_requires, keras_hub_values)
from bert_tf.models.family_config import FamilyConfig
from bert_tf.models.shape import EncoderShape


@dataclasses.dataclass(frozen=True)
class DistilBertConfig(FamilyConfig):
    """DistilBERT: BERT's encoder without segment embeddings or pooler (LayerNorm eps 1e-12).

    Field names and defaults are distilbert-base-uncased's (Hugging Face's
    DistilBertConfig): `dim` is the hidden size, `hidden_dim` the
    feed-forward width, `activation` has Hugging Face's meaning ("gelu" is
    the exact erf form). The dropouts of the task heads are kept for them.
    """

    vocab_size: int  # 30,522 for distilbert-base-uncased
    dim: int = 768
    n_layers: int = 6
    n_heads: int = 12
    hidden_dim: int = 3072
    activation: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.1
    max_position_embeddings: int = 512
    initializer_range: float = 0.02
    sinusoidal_pos_embds: bool = False
    qa_dropout: float = 0.1
    seq_classif_dropout: float = 0.2
    pad_token_id: int = 0

    family = "distilbert"
    model_types = ("distilbert",)
    positive = ("vocab_size", "dim", "n_layers", "n_heads", "hidden_dim",
                "max_position_embeddings")
    probabilities = ("dropout", "attention_dropout", "qa_dropout", "seq_classif_dropout")
    multiples = (("dim", "n_heads"),)
    activation_field = "activation"
    layers_field = "n_layers"

    def __post_init__(self):
        self._check()
        if self.sinusoidal_pos_embds:
            raise ConfigError("sinusoidal_pos_embds=true is not supported (only learned "
                              "positions)")

    def encoder_shape(self) -> EncoderShape:
        return EncoderShape(
            vocab_size=self.vocab_size, hidden_size=self.dim, num_layers=self.n_layers,
            num_heads=self.n_heads, intermediate_size=self.hidden_dim,
            activation=self.encoder_activation, hidden_dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            position_rows=self.max_position_embeddings, type_vocab_size=0,
            initializer_range=self.initializer_range, layer_norm_eps=1e-12, pooler=False,
            classifier_pooling="relu", classifier_dropout=self.seq_classif_dropout)

    @classmethod
    def from_keras_hub(cls, values, source="config.json"):
        """The config of a keras-hub DistilBertBackbone (the "config" of its preset's
        config.json), strictly: exact GELU; its one `dropout` is both of ours."""
        v = keras_hub_values(values, KERAS_HUB_KEYS, source)
        return from_keras_hub_fields(
            cls, source, vocab_size=v["vocabulary_size"], dim=v["hidden_dim"],
            n_layers=v["num_layers"], n_heads=v["num_heads"], hidden_dim=v["intermediate_dim"],
            activation="gelu", dropout=v["dropout"], attention_dropout=v["dropout"],
            max_position_embeddings=v["max_sequence_length"])

    def to_keras_hub(self) -> dict:
        """The arguments of keras-hub's DistilBertBackbone for this config (its `dropout` is
        ours); ConfigError for a config that backbone cannot express."""
        keras_hub_requires(self, "DistilBertBackbone", activation="gelu")
        return dict(vocabulary_size=self.vocab_size, num_layers=self.n_layers,
                    num_heads=self.n_heads, hidden_dim=self.dim, intermediate_dim=self.hidden_dim,
                    dropout=self.dropout, max_sequence_length=self.max_position_embeddings)
