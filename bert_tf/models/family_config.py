"""FamilyConfig: what the configs of the families after BERT share (strict dicts, Hugging Face files).

A family's config is a frozen dataclass with the field names of the family's
own config.json (RoBERTa's `hidden_size`, DistilBERT's `dim`), read strictly:
our own form (`to_dict`, with its "model_type") rejects unknown keys, and a
Hugging Face config.json is read for the keys that shape the network, with
keys that would change it in ways we do not implement an error.
"""

import dataclasses
import json
from typing import Any, ClassVar, Mapping

from bert_tf.layers import activations
from bert_tf.models.bert.config import ConfigError, check_type, read_json
from bert_tf.models.shape import EncoderShape

# Hugging Face activation names -> ours ("gelu" is the exact erf form there).
HF_ACTIVATIONS = {"gelu": "gelu_exact", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu",
                  "gelu_fast": "gelu", "relu": "relu", "tanh": "tanh", "silu": "silu",
                  "swish": "silu"}


class FamilyConfig:
    """Mixin of a family's config dataclass; see the module docstring."""

    family: ClassVar[str]  # the registry's name
    file_name: ClassVar[str] = "config.json"  # in releases and run directories
    model_types: ClassVar[tuple]  # Hugging Face model_type values it reads
    positive: ClassVar[tuple] = ()  # int fields that must be > 0
    probabilities: ClassVar[tuple] = ()  # dropout fields, in [0, 1)
    multiples: ClassVar[tuple] = ()  # (field, other): field must be a multiple of other
    activation_field: ClassVar[str] = "hidden_act"
    layers_field: ClassVar[str] = "num_hidden_layers"  # the encoder's layer count
    # Hugging Face keys whose values this model cannot honour: key -> the one value it can.
    hf_unsupported: ClassVar[dict] = {}

    def _check(self):
        for field in dataclasses.fields(self):
            check_type(field.name, getattr(self, field.name), field.type, None)
            if field.type is float:
                object.__setattr__(self, field.name, float(getattr(self, field.name)))
        for name in self.positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in self.probabilities:
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.encoder_activation not in activations.NAMES:
            raise ConfigError(f"{self.activation_field}: {getattr(self, self.activation_field)!r}"
                              f" is not supported; known: {sorted(HF_ACTIVATIONS)}")
        for name, other in self.multiples:
            if getattr(self, name) % getattr(self, other):
                raise ConfigError(f"{name} {getattr(self, name)} is not a multiple of "
                                  f"{other} {getattr(self, other)}")

    def bert_named_shape(self, **family) -> EncoderShape:
        """The EncoderShape of a config with Hugging Face's BERT field names (hidden_size,
        num_hidden_layers, ... layer_norm_eps); `family` gives the rest (pooler and what
        differs from the defaults)."""
        return EncoderShape(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size,
            num_layers=self.num_hidden_layers, num_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size, activation=self.encoder_activation,
            hidden_dropout=self.hidden_dropout_prob,
            attention_dropout=self.attention_probs_dropout_prob,
            position_rows=self.max_position_embeddings, type_vocab_size=self.type_vocab_size,
            initializer_range=self.initializer_range, layer_norm_eps=self.layer_norm_eps,
            **family)

    @property
    def encoder_activation(self) -> str:
        """The feed-forward activation in our names (the config holds Hugging Face's)."""
        name = getattr(self, self.activation_field)
        return HF_ACTIVATIONS.get(name, f"unknown {name}")

    @property
    def max_length(self) -> int:
        """The longest sequence the model takes."""
        return self.encoder_shape().max_length

    # ------------------------------------------------------------------ dicts

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config"):
        """Our own form (to_dict's), strictly: unknown or missing keys are errors naming `source`."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
        values = dict(values)
        model_type = values.pop("model_type", cls.model_types[0])
        if model_type not in cls.model_types:
            raise ConfigError(f"{source}: model_type {model_type!r} is not a {cls.family} model")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys are "
                              f"{sorted(fields)}")
        missing = [name for name, f in fields.items()
                   if f.default is dataclasses.MISSING and name not in values]
        if missing:
            raise ConfigError(f"{source}: missing key(s) {missing}")
        for name, value in values.items():
            check_type(name, value, fields[name].type, source)
        try:
            return cls(**values)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None

    def to_dict(self) -> dict:
        """Every field, and the family's Hugging Face model_type: a config.json of the family."""
        return {"model_type": self.model_types[0], **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str) -> None:
        """Writes config.json atomically."""
        from bert_tf.data import files

        files.write_text(path, self.to_json())

    @classmethod
    def from_json_file(cls, path: str):
        return cls.from_dict(read_json(path), source=path)

    @classmethod
    def from_hf_config_file(cls, path: str):
        """A Hugging Face config.json of the family: the fields it holds, its defaults for the rest.

        Keys that do not shape the network (architectures, label maps, token
        ids other than the padding id, ...) are ignored.
        """
        values = read_json(path)
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        if values.get("model_type") not in cls.model_types:
            raise ConfigError(f"{path}: model_type {values.get('model_type')!r} is not a "
                              f"{cls.family} model ({', '.join(cls.model_types)})")
        for key, supported in cls.hf_unsupported.items():
            if values.get(key, supported) != supported:
                raise ConfigError(f"{path}: {key}={values[key]!r} is not supported "
                                  f"(only {supported!r})")
        act = values.get(cls.activation_field, "gelu")
        if act not in HF_ACTIVATIONS:
            raise ConfigError(f"{path}: {cls.activation_field} {act!r} is not supported; "
                              f"known: {sorted(HF_ACTIVATIONS)}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls.from_dict({k: v for k, v in values.items() if k in names},
                             source=path)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)
