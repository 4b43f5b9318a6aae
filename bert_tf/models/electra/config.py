"""ElectraConfig: ELECTRA's hyper-parameters, with the field names of its Hugging Face config.json."""

import dataclasses

from bert_tf.models.bert.config import (ConfigError, from_keras_hub_fields, keras_hub_requires,
                                        keras_hub_values)
from bert_tf.models.family_config import FamilyConfig
from bert_tf.models.shape import EncoderShape

# keras-hub's ElectraBackbone arguments (it says vocab_size and embedding_dim, not BERT's names).
KERAS_HUB_KEYS = ("vocab_size", "num_layers", "num_heads", "hidden_dim", "embedding_dim",
                  "intermediate_dim", "dropout", "max_sequence_length", "num_segments")


@dataclasses.dataclass(frozen=True)
class ElectraConfig(FamilyConfig):
    """ELECTRA: BERT's encoder with factorized embeddings and no pooler.

    Field names and defaults are Hugging Face's ElectraConfig (those of
    electra-small-discriminator, embedding_size 128 < hidden_size 256);
    `hidden_act` has Hugging Face's meaning ("gelu" is the exact erf form,
    as google-research/electra's). Embedding tables are `embedding_size`
    wide and projected to `hidden_size` where the two differ (Hugging Face's
    embeddings_project). A discriminator and a generator (ElectraForMaskedLM)
    are both ElectraConfigs; the sentence classifier pools the first token
    with a dense layer and GELU of its own (ElectraClassificationHead),
    with hidden_dropout_prob's dropout.
    """

    vocab_size: int = 30522
    embedding_size: int = 128
    hidden_size: int = 256
    num_hidden_layers: int = 12
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    family = "electra"
    model_types = ("electra",)
    positive = ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
                "num_attention_heads", "intermediate_size", "max_position_embeddings",
                "type_vocab_size")
    probabilities = ("hidden_dropout_prob", "attention_probs_dropout_prob")
    multiples = (("hidden_size", "num_attention_heads"),)
    hf_unsupported = {"position_embedding_type": "absolute", "is_decoder": False,
                      "add_cross_attention": False}

    def __post_init__(self):
        self._check()

    def encoder_shape(self) -> EncoderShape:
        return self.bert_named_shape(
            pooler=False, classifier_pooling="gelu", embedding_size=self.embedding_size)

    def generator(self, generator_hidden_size=0.25, generator_layers=1.0) -> "ElectraConfig":
        """The generator's config for this discriminator, as google-research/electra sizes it:
        hidden size round(hidden_size * generator_hidden_size), round(num_hidden_layers *
        generator_layers) layers, a 4x feed-forward, one head per 64 hidden units (at least one);
        the same embedding_size (the tables are shared)."""
        hidden = int(round(self.hidden_size * generator_hidden_size))
        layers = int(round(self.num_hidden_layers * generator_layers))
        if hidden < 1 or layers < 1:
            raise ConfigError(f"generator_hidden_size {generator_hidden_size} and "
                              f"generator_layers {generator_layers} leave a generator of "
                              f"hidden size {hidden} and {layers} layers")
        return self.replace(hidden_size=hidden, num_hidden_layers=layers,
                            intermediate_size=4 * hidden, num_attention_heads=max(1, hidden // 64))

    @classmethod
    def from_keras_hub(cls, values, source="config.json"):
        """The config of a keras-hub ElectraBackbone (the "config" of its preset's config.json),
        strictly: the tanh GELU (keras-hub's), LayerNorm epsilon 1e-12."""
        v = keras_hub_values(values, KERAS_HUB_KEYS, source)
        return from_keras_hub_fields(
            cls, source, vocab_size=v["vocab_size"], embedding_size=v["embedding_dim"],
            hidden_size=v["hidden_dim"], num_hidden_layers=v["num_layers"],
            num_attention_heads=v["num_heads"], intermediate_size=v["intermediate_dim"],
            hidden_act="gelu_new", hidden_dropout_prob=v["dropout"],
            attention_probs_dropout_prob=v["dropout"],
            max_position_embeddings=v["max_sequence_length"], type_vocab_size=v["num_segments"])

    def to_keras_hub(self) -> dict:
        """The arguments of keras-hub's ElectraBackbone for this config (its `dropout` is
        hidden_dropout_prob); ConfigError for a config that backbone cannot express."""
        keras_hub_requires(self, "ElectraBackbone", hidden_act="gelu_new", layer_norm_eps=1e-12)
        return dict(vocab_size=self.vocab_size, num_layers=self.num_hidden_layers,
                    num_heads=self.num_attention_heads, hidden_dim=self.hidden_size,
                    embedding_dim=self.embedding_size, intermediate_dim=self.intermediate_size,
                    dropout=self.hidden_dropout_prob,
                    max_sequence_length=self.max_position_embeddings,
                    num_segments=self.type_vocab_size)
