"""keras-hub presets: a BertBackbone, RobertaBackbone or DistilBertBackbone preset read into our encoders, ours written as one.

keras-hub is not a dependency of bert_tf: it is imported here, inside the
functions that read or write a preset. keras-hub's own classes read and write
the files (the .weights.h5 layout is keyed by layer class and order);
what this module adds is the strict table between a backbone's variable paths
and our weight paths, each family's in its checkpoint_names.py (`Layout`).
"""

# H=hidden size, N=heads, D=head size

import dataclasses
import json
import os
import re
from typing import Callable, Optional

import numpy as np
from absl import logging

from bert_tf.checkpoints.table import (TRANSFORMS, CheckpointMismatchError, NameTable, Rule,
                                       Source, listing, load_into)
from bert_tf.errors import MissingFileError, UserError

REQUIREMENT = "keras-hub==0.32.0"
CONFIG_NAME = "config.json"
# One weights file, or the index of keras-hub's shards.
WEIGHTS_NAMES = ("model.weights.h5", "model.weights.json")
_REGISTERED = "keras_hub>"  # config.json's "registered_name" of a keras-hub class


@dataclasses.dataclass(frozen=True)
class Layout:
    """How one family's encoder sits in its keras-hub backbone.

    `table` maps the backbone's variable paths (`variable.path`, attention
    kernels with their head axes merged: see `merged_shape`) to our weight
    paths; it is the family's `encoder_names("keras_hub")`. Where the backbone
    lays a weight out otherwise than by name and shape (RoBERTa's position
    rows), `to_ours` and `to_keras_hub` are functions `(arrays, config) ->
    arrays` over {keras-hub path: array}: `to_ours` turns the backbone's
    arrays into ours before the table places them, `to_keras_hub` ours, once
    the table has named them, into the backbone's.
    """

    backbone: str  # the keras-hub class ("BertBackbone"), as a preset's config.json names it
    tokenizer: str  # the keras-hub tokenizer class of the family's presets
    table: NameTable
    to_ours: Optional[Callable] = None
    to_keras_hub: Optional[Callable] = None

    def has(self, path) -> bool:
        """Whether the backbone has a variable for our weight `path` ("pooler/kernel")."""
        return self.table.has_source_name(path)


def dense_rules(source, ours):
    return [Rule(f"{source}/kernel", f"{ours}/kernel"), Rule(f"{source}/bias", f"{ours}/bias")]


def layer_norm_rules(source, ours):
    return [Rule(f"{source}/gamma", f"{ours}/gamma"), Rule(f"{source}/beta", f"{ours}/beta")]


def block_rules(layer, ours):
    """keras_hub.layers.TransformerEncoder `layer` ("transformer_layer_{i}") as our block `ours`."""
    return [
        *dense_rules(f"{layer}/self_attention_layer/query", f"{ours}/attention/query"),
        *dense_rules(f"{layer}/self_attention_layer/key", f"{ours}/attention/key"),
        *dense_rules(f"{layer}/self_attention_layer/value", f"{ours}/attention/value"),
        *dense_rules(f"{layer}/self_attention_layer/attention_output", f"{ours}/attention/output"),
        *layer_norm_rules(f"{layer}/self_attention_layer_norm", f"{ours}/attention_layer_norm"),
        *dense_rules(f"{layer}/feedforward_intermediate_dense", f"{ours}/intermediate"),
        *dense_rules(f"{layer}/feedforward_output_dense", f"{ours}/output"),
        *layer_norm_rules(f"{layer}/feedforward_layer_norm", f"{ours}/output_layer_norm"),
    ]


# keras_hub.layers.TransformerEncoder, every family's block.
BLOCK_RULES = block_rules("transformer_layer_{i}", "layer_{i}")

# keras-hub's attention keeps a head axis: query/key/value kernels [H, N, D] and biases [N, D],
# the output kernel [N, D, H]. Ours are one Dense each: [H, N*D], [N*D], [N*D, H].
_HEADS_LAST = re.compile(r".*/self_attention_layer/(query|key|value)/(kernel|bias)")
_HEADS_FIRST = re.compile(r".*/self_attention_layer/attention_output/kernel")


def merged_shape(path, shape):
    """The shape of keras-hub variable `path` with its head axes merged (as ours)."""
    shape = tuple(int(n) for n in shape)
    if _HEADS_LAST.fullmatch(path) and len(shape) >= 2:
        return shape[:-2] + (shape[-2] * shape[-1],)
    if _HEADS_FIRST.fullmatch(path) and len(shape) >= 2:
        return (shape[0] * shape[1],) + shape[2:]
    return shape


# ------------------------------------------------------------------ files


def registered_class(path) -> Optional[str]:
    """The keras-hub class a preset file registers ("BertBackbone" for a config.json saved by
    BertBackbone.save_to_preset); None for a file that is not keras-hub's."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            values = json.load(f)
    except (OSError, ValueError):
        return None
    name = values.get("registered_name") if isinstance(values, dict) else None
    if isinstance(name, str) and name.startswith(_REGISTERED):
        return name[len(_REGISTERED):]
    return None


def is_preset(directory) -> bool:
    """Whether a directory is a keras-hub preset (its config.json registers a keras-hub class)."""
    return registered_class(os.path.join(directory, CONFIG_NAME)) is not None


def backbone_config(config_file):
    """A preset's config.json -> (the keras-hub class it registers, its "config" dict)."""
    name = registered_class(config_file)
    if name is None:
        raise UserError(f"{config_file} is not a keras-hub preset's config.json (no "
                        f"\"registered_name\" starting with {_REGISTERED!r})")
    with open(config_file, encoding="utf-8-sig") as f:
        values = json.load(f).get("config")
    if not isinstance(values, dict):
        raise UserError(f"{config_file}: {name} without a \"config\" object")
    return name, values


def find_weights(directory) -> str:
    """A preset's model.weights.h5 (or model.weights.json, the index of its shards)."""
    for name in WEIGHTS_NAMES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise MissingFileError(f"{directory} is a keras-hub preset without {WEIGHTS_NAMES[0]} "
                           f"(nor {WEIGHTS_NAMES[1]})")


def find_vocab(directory) -> Optional[str]:
    """A preset's vocabulary: assets/tokenizer/vocabulary.txt (WordPiece) or vocabulary.json
    (byte-level BPE, merges.txt beside it); None if it has no tokenizer."""
    from bert_tf.tokenization.vocab import keras_hub_vocab

    return keras_hub_vocab(directory)


def import_keras_hub(directory):
    """keras_hub, or a one-line UserError naming the preset `directory` that needs it."""
    try:
        import keras_hub
    except ImportError:
        raise UserError(f"{directory}: keras-hub presets need the keras-hub package: "
                        f"pip install {REQUIREMENT}") from None
    return keras_hub


# ---------------------------------------------------------------- reading


def open_preset(directory, backbone=None) -> Source:
    """A preset's backbone weights as a Source: {variable path: float32 array}, heads merged.

    The backbone is built and loaded by keras-hub's own
    `Backbone.from_preset`; `backbone` is the class it must be (None: any).
    Weights that do not fit the backbone its config.json builds are a
    CheckpointMismatchError naming the file and the variables.
    """
    keras_hub = import_keras_hub(directory)
    weights = find_weights(directory)
    try:
        model = keras_hub.models.Backbone.from_preset(os.path.abspath(directory))
    except ValueError as e:
        raise CheckpointMismatchError(_load_error(directory, weights, e)) from None
    found = type(model).__name__
    if backbone is not None and found != backbone:
        raise UserError(f"{os.path.join(directory, CONFIG_NAME)}: a {found} preset, not a "
                        f"{backbone} one")
    _check_count(weights, model)
    arrays = {}
    for variable in model.weights:
        if variable.path in arrays:
            raise CheckpointMismatchError(f"{weights}: two variables of {found} are both "
                                          f"called {variable.path}")
        value = np.asarray(variable.numpy(), np.float32)
        arrays[variable.path] = value.reshape(merged_shape(variable.path, value.shape))
    return Source(origin=weights, shapes={name: a.shape for name, a in arrays.items()},
                  read=arrays.__getitem__)


def _load_error(directory, weights, error):
    """One line from Keras' message on weights that do not fit the model their config builds."""
    message = str(error)
    count = re.search(r"A total of (\d+) objects could not be loaded", message)
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))\. "
                       r"Target variable: <Variable path=([^,\s]+)", message)
    layers = re.search(r"List of objects that could not be loaded:\s*\[(.*)\]", message, re.S)
    config = os.path.join(directory, CONFIG_NAME)
    parts = []
    if shapes:
        parts.append(f"{shapes.group(3)} is {shapes.group(1)} in the backbone {config} builds "
                     f"but {shapes.group(2)} in the weights")
    if layers:
        parts.append("layers not loaded: " + ", ".join(re.findall(r"name=([\w.-]+)",
                                                                  layers.group(1))))
    if count and not parts:
        parts.append(f"{count.group(1)} layer(s) could not be loaded")
    if not parts:
        parts.append(message.strip().splitlines()[0] if message.strip() else type(error).__name__)
    return f"{weights} does not fit the backbone {config} describes: " + "; ".join(parts)


def _check_count(weights, model):
    # Keras loads a file with more layers than the config builds without a word: the arrays
    # the file holds are counted against the backbone's variables.
    if not weights.endswith(".h5"):
        return
    import h5py

    found = []
    with h5py.File(weights, "r") as f:
        f.visititems(lambda name, item: found.append(name) if isinstance(
            item, h5py.Dataset) else None)
    if len(found) != len(model.weights):
        raise CheckpointMismatchError(
            f"{weights} holds {len(found)} arrays but the {type(model).__name__} its config.json "
            f"builds has {len(model.weights)} variables (does num_layers match the weights?)")


def load_preset(model, release, strict=True):
    """Assigns `model`'s weights (an encoder, or a model with an `encoder`) from a preset, by its
    family's Layout; the strict loader's rules apply (see table.load_into). Returns the paths filled."""
    encoder = model if model.is_encoder else model.encoder
    layout = encoder.keras_hub_layout()
    source = open_preset(release.directory, layout.backbone)
    if layout.to_ours is not None:
        arrays = layout.to_ours({name: source.read(name) for name in source.shapes},
                                encoder.config)
        source = Source(source.origin, {name: a.shape for name, a in arrays.items()},
                        arrays.__getitem__)
    return load_into(model.named_weights(), source, model.checkpoint_names("keras_hub"),
                     strict=strict)


# ---------------------------------------------------------------- writing


def backbone_arrays(encoder) -> dict:
    """{keras-hub variable path: array} of an encoder's weights, heads merged, by its Layout.
    Weights the backbone has no place for (RoBERTa's pooler) are left out, with a log line."""
    layout = encoder.keras_hub_layout()
    arrays, left_out = {}, []
    for path, variable in encoder.named_weights().items():
        try:
            name, transform = layout.table.source_name(path)
        except KeyError:
            if not layout.table.is_optional(path):
                raise
            left_out.append(path)
            continue
        arrays[name] = TRANSFORMS[transform](np.asarray(variable.numpy(), np.float32))
    if left_out:
        logging.info("keras-hub's %s has no place for %s: left out of the preset",
                     layout.backbone, ", ".join(left_out))
    if layout.to_keras_hub is not None:
        arrays = layout.to_keras_hub(arrays, encoder.config)
    return arrays


def assign_backbone(backbone, arrays, origin):
    """Assigns every variable of a keras-hub backbone from {path: array (heads merged)}, strictly:
    an array without a variable, a variable without an array or a shape that differs is a
    CheckpointMismatchError listing them, and then nothing is assigned."""
    variables = {variable.path: variable for variable in backbone.weights}
    unknown = [name for name in arrays if name not in variables]
    unfilled = [name for name in variables if name not in arrays]
    mismatched = [f"{name} {list(value.shape)} vs {list(merged_shape(name, variables[name].shape))}"
                  for name, value in arrays.items() if name in variables
                  and tuple(value.shape) != merged_shape(name, variables[name].shape)]
    errors = []
    if mismatched:
        errors.append(f"shape mismatches (ours vs keras-hub's):{listing(mismatched)}")
    if unknown:
        errors.append(f"weights with no place in {type(backbone).__name__}:{listing(unknown)}")
    if unfilled:
        errors.append(f"{type(backbone).__name__} variables we have no weight for:"
                      f"{listing(unfilled)}")
    if errors:
        raise CheckpointMismatchError(f"{origin} does not fit keras-hub's "
                                      f"{type(backbone).__name__}:\n" + "\n".join(errors))
    for name, value in arrays.items():
        variable = variables[name]
        variable.assign(np.asarray(value, np.float32).reshape(tuple(variable.shape)))


def keras_hub_tokenizer(keras_hub, layout, tokenizer):
    """The family's keras-hub tokenizer with our tokenizer's vocabulary and settings."""
    cls = getattr(keras_hub.models, layout.tokenizer)
    if issubclass(cls, keras_hub.tokenizers.SentencePieceTokenizer) != hasattr(
            tokenizer, "model_proto"):
        raise UserError(f"keras-hub's {layout.tokenizer} and a {type(tokenizer).__name__} are "
                        "not the same kind of tokenizer: it cannot be saved as one")
    if hasattr(tokenizer, "model_proto"):  # SentencePiece (ALBERT): the model itself
        return cls(proto=tokenizer.model_proto)
    bpe = issubclass(cls, keras_hub.tokenizers.BytePairTokenizer)
    if bpe != hasattr(tokenizer, "merges"):
        raise UserError(f"keras-hub's {layout.tokenizer} is a "
                        f"{'byte-level BPE' if bpe else 'WordPiece'} tokenizer: a "
                        f"{type(tokenizer).__name__} cannot be saved as one")
    if bpe:
        return cls(vocabulary={token: i for i, token in enumerate(tokenizer.vocab)},
                   merges=[f"{left} {right}" for left, right in tokenizer.merges],
                   add_prefix_space=tokenizer.add_prefix_space)
    return cls(vocabulary=list(tokenizer.vocab), lowercase=tokenizer.do_lower_case,
               strip_accents=tokenizer.strip_accents)


def save_preset(model, tokenizer, directory) -> str:
    """Writes a model's encoder (and its tokenizer) as a keras-hub preset: config.json,
    model.weights.h5, metadata.json, tokenizer.json and assets/tokenizer/.

    `model` is an encoder of any family or a model with an `encoder`;
    `tokenizer` our BertTokenizer (BERT, DistilBERT) or BpeTokenizer
    (RoBERTa), or None for the backbone alone. The family's keras-hub
    backbone is built from the config's `to_keras_hub()`, every variable
    assigned from our weights by the family's table (strictly, shapes
    checked), then saved by keras-hub's own `save_to_preset`, as is the
    family's keras-hub tokenizer; `keras_hub.models.Backbone.from_preset`
    and the tokenizer's `from_preset` read it back. The directory appears
    only once complete. Returns it.
    """
    from bert_tf.data import files

    keras_hub = import_keras_hub(directory)
    encoder = model if model.is_encoder else model.encoder
    layout = encoder.keras_hub_layout()
    backbone = getattr(keras_hub.models, layout.backbone)(**encoder.config.to_keras_hub(),
                                                          dtype="float32")
    assign_backbone(backbone, backbone_arrays(encoder), encoder.name)
    converted = None
    if tokenizer is not None:
        if tokenizer.vocab_size > encoder.config.vocab_size:
            raise UserError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                            f"only {encoder.config.vocab_size} word embeddings")
        converted = keras_hub_tokenizer(keras_hub, layout, tokenizer)
    with files.atomic_directory(directory) as staging:
        backbone.save_to_preset(staging)
        if converted is not None:
            converted.save_to_preset(staging)
    return os.fspath(directory)
