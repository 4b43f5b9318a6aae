"""BertConfig: the model's hyper-parameters, read and written as the original bert_config.json."""

import dataclasses
import json
import os
from typing import Any, ClassVar, Mapping

from bert_tf.errors import MissingFileError, UserError
from bert_tf.layers import activations


class ConfigError(UserError):
    """A configuration file or dict that cannot describe a BERT model."""


# Keys found in some of Google's released bert_config.json files (the
# multilingual and Chinese models) that describe nothing this model uses. They
# are accepted and dropped so those releases load; any other unknown key is an
# error.
_GOOGLE_IGNORED_KEYS = frozenset({
    "directionality",
    "pooler_fc_size",
    "pooler_num_attention_heads",
    "pooler_num_fc_layers",
    "pooler_size_per_head",
    "pooler_type",
})


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Hyper-parameters of a BERT encoder, with the field names of bert_config.json.

    `hidden_act` follows Google's meaning: "gelu" is the tanh approximation
    used by google-research/bert; the exact erf form is "gelu_exact".
    """

    vocab_size: int  # rows of the word-embedding table
    hidden_size: int  # width H of every layer
    num_hidden_layers: int  # number of Transformer blocks
    num_attention_heads: int  # heads per attention layer; must divide hidden_size
    intermediate_size: int  # width of the feed-forward layer inside each block
    hidden_act: str = "gelu"  # feed-forward activation (see activations.NAMES)
    hidden_dropout_prob: float = 0.1  # dropout after embeddings, attention and feed-forward
    attention_probs_dropout_prob: float = 0.1  # dropout on the attention probabilities
    max_position_embeddings: int = 512  # longest sequence the model accepts
    type_vocab_size: int = 2  # number of segment ids
    initializer_range: float = 0.02  # stddev of the truncated-normal initializer
    layer_norm_eps: float = 1e-12  # epsilon of every LayerNorm

    family: ClassVar[str] = "bert"
    file_name: ClassVar[str] = "bert_config.json"  # in releases and run directories

    @property
    def max_length(self) -> int:
        """The longest sequence the model takes."""
        return self.max_position_embeddings

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check_type(field.name, getattr(self, field.name), field.type, None)
            if field.type is float:
                object.__setattr__(self, field.name, float(getattr(self, field.name)))
        for name in ("vocab_size", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "intermediate_size",
                     "max_position_embeddings", "type_vocab_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.initializer_range <= 0 or self.layer_norm_eps <= 0:
            raise ConfigError("initializer_range and layer_norm_eps must be positive")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not a multiple of "
                f"num_attention_heads {self.num_attention_heads}")
        try:
            activations.get(self.hidden_act)
        except ValueError as e:
            raise ConfigError(f"hidden_act: {e}") from None

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def encoder_shape(self):
        """The family-independent EncoderShape these hyper-parameters build."""
        from bert_tf.models.shape import EncoderShape

        return EncoderShape(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size,
            num_layers=self.num_hidden_layers, num_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size, activation=self.hidden_act,
            hidden_dropout=self.hidden_dropout_prob,
            attention_dropout=self.attention_probs_dropout_prob,
            position_rows=self.max_position_embeddings, type_vocab_size=self.type_vocab_size,
            initializer_range=self.initializer_range, layer_norm_eps=self.layer_norm_eps,
            pooler=True)

    # ------------------------------------------------------------------ dicts

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> "BertConfig":
        """Builds a config from a bert_config.json-style dict, strictly.

        Raises ConfigError naming the key and `source` for an unknown key, a
        missing key or a value of the wrong type.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields) - _GOOGLE_IGNORED_KEYS)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys are {sorted(fields)}")
        missing = [name for name, f in fields.items()
                   if f.default is dataclasses.MISSING and name not in values]
        # Google's files always carry these too; a file without them is not one.
        missing += [name for name in ("hidden_act", "max_position_embeddings", "type_vocab_size")
                    if name not in values]
        if missing:
            raise ConfigError(f"{source}: missing key(s) {missing}")
        kwargs = {}
        for name, value in values.items():
            if name in _GOOGLE_IGNORED_KEYS:
                continue
            check_type(name, value, fields[name].type, source)
            kwargs[name] = value
        try:
            return cls(**kwargs)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None

    def to_dict(self) -> dict:
        """The bert_config.json dict; `layer_norm_eps` only when not the original 1e-12."""
        values = dataclasses.asdict(self)
        if values["layer_norm_eps"] == 1e-12:
            del values["layer_norm_eps"]
        return values

    # ------------------------------------------------------------------ files

    @classmethod
    def from_json_file(cls, path: str) -> "BertConfig":
        """Reads a Google-format bert_config.json, strictly (see from_dict)."""
        return cls.from_dict(read_json(path), source=path)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str) -> None:
        """Writes bert_config.json atomically (a crash never leaves half of it)."""
        from bert_tf.data import files

        files.write_text(path, self.to_json())

    @classmethod
    def from_release(cls, release) -> "BertConfig":
        """The config of a resolved checkpoint directory (`bert_tf.checkpoints.Release`)."""
        if release.format == "keras_hub":
            from bert_tf.checkpoints import keras_hub

            name, values = keras_hub.backbone_config(release.config_file)
            if name != "BertBackbone":
                raise ConfigError(f"{release.config_file}: a keras-hub {name} preset, not a "
                                  "BertBackbone one")
            return cls.from_keras_hub(values, release.config_file)
        if release.format == "huggingface":
            return cls.from_hf_config_file(release.config_file)
        return cls.from_json_file(release.config_file)

    @classmethod
    def from_hf_config_file(cls, path: str) -> "BertConfig":
        """Reads a Hugging Face BERT config.json, translating its conventions.

        Hugging Face's "gelu" is the exact erf form and "gelu_new" the tanh
        approximation; keys that do not shape the network (architectures,
        label maps, ...) are ignored, keys that change it in ways this model
        does not implement are errors.
        """
        values = read_json(path)
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        model_type = values.get("model_type", "bert")
        if model_type != "bert":
            raise ConfigError(f"{path}: model_type is {model_type!r}; only 'bert' checkpoints load")
        unsupported = {
            "position_embedding_type": "absolute",
            "is_decoder": False,
            "add_cross_attention": False,
        }
        for key, supported in unsupported.items():
            if values.get(key, supported) != supported:
                raise ConfigError(f"{path}: {key}={values[key]!r} is not supported "
                                  f"(only {supported!r})")
        hf_act = values.get("hidden_act")
        if hf_act not in _HF_ACTIVATIONS:
            raise ConfigError(f"{path}: hidden_act {hf_act!r} is not supported; "
                              f"known: {sorted(_HF_ACTIVATIONS)}")
        required = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "intermediate_size", "max_position_embeddings")
        missing = [k for k in required if k not in values]
        if missing:
            raise ConfigError(f"{path}: missing key(s) {missing}")
        # Hugging Face's own defaults for the keys it may omit.
        optional = {"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
                    "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12}
        ours = {k: values[k] for k in required}
        ours.update({k: values.get(k, default) for k, default in optional.items()})
        ours["hidden_act"] = _HF_ACTIVATIONS[hf_act]
        return cls.from_dict(ours, source=path)

    @classmethod
    def from_keras_hub(cls, values, source="config.json") -> "BertConfig":
        """The config of a keras-hub BertBackbone (the "config" of its preset's config.json), strictly.

        keras-hub's BERT is Google's: the tanh GELU ("gelu" here) and
        LayerNorm epsilon 1e-12; its one `dropout` is both of ours.
        """
        v = keras_hub_values(values, KERAS_HUB_KEYS + ("num_segments",), source)
        return from_keras_hub_fields(
            cls, source, vocab_size=v["vocabulary_size"], hidden_size=v["hidden_dim"],
            num_hidden_layers=v["num_layers"], num_attention_heads=v["num_heads"],
            intermediate_size=v["intermediate_dim"], hidden_act="gelu",
            hidden_dropout_prob=v["dropout"], attention_probs_dropout_prob=v["dropout"],
            max_position_embeddings=v["max_sequence_length"], type_vocab_size=v["num_segments"])

    def to_keras_hub(self) -> dict:
        """The arguments of keras-hub's BertBackbone for this config (its `dropout` is
        hidden_dropout_prob); ConfigError for a config that backbone cannot express."""
        keras_hub_requires(self, "BertBackbone", hidden_act="gelu", layer_norm_eps=1e-12)
        return dict(vocabulary_size=self.vocab_size, num_layers=self.num_hidden_layers,
                    num_heads=self.num_attention_heads, hidden_dim=self.hidden_size,
                    intermediate_dim=self.intermediate_size, dropout=self.hidden_dropout_prob,
                    max_sequence_length=self.max_position_embeddings,
                    num_segments=self.type_vocab_size)

    # ---------------------------------------------------------------- presets

    @classmethod
    def preset(cls, name: str, **overrides) -> "BertConfig":
        """A standard size with the uncased 30,522 vocab: one of PRESETS."""
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        layers, hidden, heads = PRESETS[name]
        values = dict(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, intermediate_size=4 * hidden)
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes) -> "BertConfig":
        return dataclasses.replace(self, **changes)


# name -> (layers, hidden size, heads), as in Google's BERT and compact BERT releases.
PRESETS = {
    "tiny": (2, 128, 2),
    "mini": (4, 256, 4),
    "small": (4, 512, 8),
    "medium": (8, 512, 8),
    "base": (12, 768, 12),
    "large": (24, 1024, 16),
}

# Hugging Face activation name -> ours.
_HF_ACTIVATIONS = {
    "gelu": "gelu_exact",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_fast": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "silu": "silu",
    "swish": "silu",
}


# The keys of keras-hub's BertBackbone, RobertaBackbone and DistilBertBackbone configs (BERT's
# adds num_segments), and Keras' own keys of any layer config, which do not shape the network.
KERAS_HUB_KEYS = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim",
                  "dropout", "max_sequence_length")
_KERAS_LAYER_KEYS = frozenset({"name", "trainable", "dtype"})


def keras_hub_values(values, keys, source):
    """A keras-hub backbone's config, strictly: every one of `keys`, no other key but Keras' own
    (name, trainable, dtype); ConfigError naming `source` otherwise."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
    unknown = sorted(set(values) - set(keys) - _KERAS_LAYER_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys are {sorted(keys)}")
    missing = [key for key in keys if key not in values]
    if missing:
        raise ConfigError(f"{source}: missing key(s) {missing}")
    return {key: values[key] for key in keys}


def from_keras_hub_fields(cls, source, **fields):
    """cls(**fields), a config error naming `source`."""
    try:
        return cls(**fields)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def keras_hub_requires(config, backbone, **required):
    """ConfigError unless each field of `config` has the one value keras-hub's `backbone` has."""
    for name, value in required.items():
        if getattr(config, name) != value:
            raise ConfigError(f"keras-hub's {backbone} has {name}={value!r} only; this model "
                              f"has {getattr(config, name)!r}")


def read_json(path: str):
    """A JSON file's value; ConfigError naming the file when it is missing or not JSON."""
    if not os.path.isfile(path):
        raise MissingFileError(f"config file not found: {path}")
    with open(path, encoding="utf-8-sig") as f:  # -sig: a byte-order mark is allowed
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None


def check_type(name, value, expected, source):
    """ConfigError unless `value` is of the dataclass field type `expected` (bool is no int)."""
    # bool is an int subclass in Python; a config saying `true` for a size is an error.
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not ok:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}key {name!r} must be {expected.__name__}, "
                          f"got {value!r} ({type(value).__name__})")
