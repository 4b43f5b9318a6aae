"""AlbertConfig: ALBERT's hyper-parameters, with the field names of its Hugging Face config.json."""

import dataclasses

from bert_tf.models.bert.config import (ConfigError, from_keras_hub_fields, keras_hub_requires,
                                        keras_hub_values, read_json)
from bert_tf.models.family_config import FamilyConfig
from bert_tf.models.shape import EncoderShape

# Google's albert_config.json (google-research/albert): its activation names (its "gelu" is the
# tanh form, Hugging Face's "gelu_new") and the keys of structures it never released.
GOOGLE_ACTIVATIONS = {"gelu": "gelu_new", "relu": "relu", "tanh": "tanh"}
GOOGLE_UNSUPPORTED = {"net_structure_type": 0, "gap_size": 0, "num_memory_blocks": 0,
                      "down_scale_factor": 1}
KERAS_HUB_KEYS = ("vocabulary_size", "num_layers", "num_heads", "num_groups",
                  "num_inner_repetitions", "embedding_dim", "hidden_dim", "intermediate_dim",
                  "dropout", "max_sequence_length", "num_segments")


@dataclasses.dataclass(frozen=True)
class AlbertConfig(FamilyConfig):
    """ALBERT: factorized embeddings (`embedding_size` projected to `hidden_size`) and blocks
    shared across layers (`num_hidden_groups` groups of `inner_group_num` blocks, layer l using
    group l * num_hidden_groups // num_hidden_layers).

    Defaults are Hugging Face's AlbertConfig's (albert-xxlarge's sizes, no
    dropout); `hidden_act` has Hugging Face's meaning: "gelu_new" (ALBERT's)
    is the tanh form, "gelu" the exact one. `classifier_dropout_prob` is the
    dropout of the sentence classifier, which reads the pooler.
    """

    vocab_size: int  # 30,000 for albert-base-v2
    embedding_size: int = 128
    hidden_size: int = 4096
    num_hidden_layers: int = 12
    num_hidden_groups: int = 1
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    inner_group_num: int = 1
    hidden_act: str = "gelu_new"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    classifier_dropout_prob: float = 0.1

    family = "albert"
    model_types = ("albert",)
    google_file_name = "albert_config.json"  # google-research/albert's releases
    positive = ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
                "num_hidden_groups", "num_attention_heads", "intermediate_size",
                "inner_group_num", "max_position_embeddings", "type_vocab_size")
    probabilities = ("hidden_dropout_prob", "attention_probs_dropout_prob",
                     "classifier_dropout_prob")
    multiples = (("hidden_size", "num_attention_heads"),
                 ("num_hidden_layers", "num_hidden_groups"))
    hf_unsupported = {"position_embedding_type": "absolute"}

    def __post_init__(self):
        self._check()

    def encoder_shape(self) -> EncoderShape:
        return self.bert_named_shape(
            pooler=True, classifier_dropout=self.classifier_dropout_prob,
            embedding_size=self.embedding_size, shared_groups=self.num_hidden_groups,
            group_blocks=self.inner_group_num)

    @classmethod
    def from_google_json_file(cls, path):
        """Google's albert_config.json, strictly: its keys, "gelu" read as the tanh form, the
        structures ALBERT never released (net_structure_type, ...) an error unless off."""
        values = read_json(path)
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        values = dict(values)
        for key, supported in GOOGLE_UNSUPPORTED.items():
            value = values.pop(key, supported)
            if value != supported:
                raise ConfigError(f"{path}: {key}={value!r} is not supported (only "
                                  f"{supported!r})")
        act = values.get("hidden_act", "gelu")
        if act not in GOOGLE_ACTIVATIONS:
            raise ConfigError(f"{path}: hidden_act {act!r} is not one of Google's ALBERT "
                              f"activations {sorted(GOOGLE_ACTIVATIONS)}")
        values["hidden_act"] = GOOGLE_ACTIVATIONS[act]
        if "model_type" in values:
            raise ConfigError(f"{path}: unknown key(s) ['model_type'] in Google's "
                              "albert_config.json")
        return cls.from_dict(values, source=path)

    @classmethod
    def from_keras_hub(cls, values, source="config.json"):
        """The config of a keras-hub AlbertBackbone (the "config" of its preset's config.json),
        strictly: the tanh GELU, LayerNorm epsilon 1e-12; its one `dropout` is both of ours."""
        v = keras_hub_values(values, KERAS_HUB_KEYS, source)
        return from_keras_hub_fields(
            cls, source, vocab_size=v["vocabulary_size"], embedding_size=v["embedding_dim"],
            hidden_size=v["hidden_dim"], num_hidden_layers=v["num_layers"],
            num_hidden_groups=v["num_groups"], num_attention_heads=v["num_heads"],
            intermediate_size=v["intermediate_dim"], inner_group_num=v["num_inner_repetitions"],
            hidden_act="gelu_new", hidden_dropout_prob=v["dropout"],
            attention_probs_dropout_prob=v["dropout"],
            max_position_embeddings=v["max_sequence_length"], type_vocab_size=v["num_segments"])

    def to_keras_hub(self) -> dict:
        """The arguments of keras-hub's AlbertBackbone for this config (its `dropout` is
        hidden_dropout_prob); ConfigError for a config that backbone cannot express."""
        keras_hub_requires(self, "AlbertBackbone", hidden_act="gelu_new", layer_norm_eps=1e-12)
        return dict(vocabulary_size=self.vocab_size, num_layers=self.num_hidden_layers,
                    num_heads=self.num_attention_heads, num_groups=self.num_hidden_groups,
                    num_inner_repetitions=self.inner_group_num,
                    embedding_dim=self.embedding_size, hidden_dim=self.hidden_size,
                    intermediate_dim=self.intermediate_size, dropout=self.hidden_dropout_prob,
                    max_sequence_length=self.max_position_embeddings,
                    num_segments=self.type_vocab_size)
