"""Hugging Face checkpoints (config.json + model.safetensors): name conventions and reading."""

import json
import os

from safetensors import safe_open

from bert_tf.checkpoints.table import Rule, Source
from bert_tf.errors import MissingFileError, UserError


def linear_rules(source, ours):
    """A PyTorch linear layer: weights are stored `[out, in]`, ours (and Google's) `[in, out]`."""
    return [Rule(f"{source}.weight", f"{ours}/kernel", "transpose"),
            Rule(f"{source}.bias", f"{ours}/bias")]


def layer_norm_rules(source, ours):
    # Checkpoints converted from TF long ago still say gamma/beta.
    return [Rule(f"{source}.weight", f"{ours}/gamma"), Rule(f"{source}.bias", f"{ours}/beta"),
            Rule(f"{source}.gamma", f"{ours}/gamma"), Rule(f"{source}.beta", f"{ours}/beta")]


WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"


def find_weights(directory: str) -> list:
    """The safetensors file(s) of a Hugging Face release directory."""
    single = os.path.join(directory, WEIGHTS_NAME)
    if os.path.isfile(single):
        return [single]
    index = os.path.join(directory, INDEX_NAME)
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            weight_map = json.load(f).get("weight_map", {})
        return sorted({os.path.join(directory, shard) for shard in weight_map.values()})
    others = [n for n in ("pytorch_model.bin", "tf_model.h5") if os.path.exists(
        os.path.join(directory, n))]
    hint = (f" (found {', '.join(others)}: only safetensors is read, so that no torch is "
            "needed; re-save the model with safe_serialization=True)") if others else ""
    raise MissingFileError(f"{directory} has config.json but no {WEIGHTS_NAME}{hint}")


def open_safetensors(files: list) -> Source:
    """Opens one or more safetensors files (numpy API, no torch) as one Source."""
    shapes, owner = {}, {}
    for path in files:
        if not os.path.isfile(path):
            raise MissingFileError(f"weights file not found: {path}")
        try:
            with safe_open(path, framework="np") as f:
                for name in f.keys():
                    shapes[name] = tuple(f.get_slice(name).get_shape())
                    owner[name] = path
        except Exception as e:  # safetensors raises its own error types
            raise UserError(f"cannot read {path}: {e}") from None

    def read(name):
        try:
            with safe_open(owner[name], framework="np") as f:
                return f.get_tensor(name)
        except Exception as e:  # a truncated file fails only when its data is read
            raise UserError(f"cannot read {name} from {owner[name]}: {e} (is the file "
                            "truncated?)") from None

    return Source(origin=", ".join(files), shapes=shapes, read=read)
