"""RobertaConfig: RoBERTa's hyper-parameters, with the field names of its Hugging Face config.json."""

import dataclasses

from bert_tf.models.bert.config import (KERAS_HUB_KEYS, ConfigError, from_keras_hub_fields,
                                        keras_hub_requires, keras_hub_values)
from bert_tf.models.family_config import FamilyConfig
from bert_tf.models.shape import EncoderShape


@dataclasses.dataclass(frozen=True)
class RobertaConfig(FamilyConfig):
    """RoBERTa: BERT's encoder with positions counted from `pad_token_id + 1`, one segment type.

    Defaults are roberta-base's (Hugging Face's RobertaConfig). `hidden_act`
    has Hugging Face's meaning: "gelu" is the exact erf form.
    """

    vocab_size: int  # rows of the word-embedding table (50,265 for roberta-base)
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 514  # rows of the position table: 512 positions + 2
    type_vocab_size: int = 1  # one row, added to every token
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1  # positions start at pad_token_id + 1

    family = "roberta"
    model_types = ("roberta",)
    positive = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "max_position_embeddings", "type_vocab_size")
    probabilities = ("hidden_dropout_prob", "attention_probs_dropout_prob")
    multiples = (("hidden_size", "num_attention_heads"),)
    hf_unsupported = {"position_embedding_type": "absolute", "is_decoder": False,
                      "add_cross_attention": False}

    def __post_init__(self):
        self._check()
        if not 0 <= self.pad_token_id < min(self.vocab_size, self.max_position_embeddings - 1):
            raise ConfigError(f"pad_token_id {self.pad_token_id} leaves no position of the "
                              f"{self.max_position_embeddings}-row table")

    def encoder_shape(self) -> EncoderShape:
        return self.bert_named_shape(
            pooler=True, position_offset=self.pad_token_id + 1, classifier_pooling="tanh")

    @classmethod
    def from_keras_hub(cls, values, source="config.json"):
        """The config of a keras-hub RobertaBackbone (the "config" of its preset's config.json),
        strictly: exact GELU, LayerNorm epsilon 1e-5; positions after pad_token_id 1, as keras-hub
        counts them from Hugging Face's table (max_sequence_length + 2 rows)."""
        v = keras_hub_values(values, KERAS_HUB_KEYS, source)
        return from_keras_hub_fields(
            cls, source, vocab_size=v["vocabulary_size"], hidden_size=v["hidden_dim"],
            num_hidden_layers=v["num_layers"], num_attention_heads=v["num_heads"],
            intermediate_size=v["intermediate_dim"], hidden_act="gelu",
            hidden_dropout_prob=v["dropout"], attention_probs_dropout_prob=v["dropout"],
            max_position_embeddings=_add(v["max_sequence_length"], 2), type_vocab_size=1,
            layer_norm_eps=1e-5, pad_token_id=1)

    def to_keras_hub(self) -> dict:
        """The arguments of keras-hub's RobertaBackbone for this config (its `dropout` is
        hidden_dropout_prob; it takes the positions after pad_token_id + 1); ConfigError for a
        config that backbone cannot express."""
        keras_hub_requires(self, "RobertaBackbone", hidden_act="gelu", layer_norm_eps=1e-5,
                           type_vocab_size=1)
        return dict(vocabulary_size=self.vocab_size, num_layers=self.num_hidden_layers,
                    num_heads=self.num_attention_heads, hidden_dim=self.hidden_size,
                    intermediate_dim=self.intermediate_size, dropout=self.hidden_dropout_prob,
                    max_sequence_length=self.max_position_embeddings - self.pad_token_id - 1)


def _add(value, offset):
    # A wrong type is left for the config's own check to name.
    return value + offset if isinstance(value, int) and not isinstance(value, bool) else value
