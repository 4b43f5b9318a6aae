"""Hugging Face BERT checkpoints (config.json + model.safetensors): names and reading."""

import json
import os

from safetensors import safe_open

from bert_tf.checkpoints.table import NameTable, Rule, Source


def _linear(source, ours):
    # PyTorch stores linear weights [out, in]; ours (and Google's) are [in, out].
    return [Rule(f"{source}.weight", f"{ours}/kernel", "transpose"),
            Rule(f"{source}.bias", f"{ours}/bias")]


def _layer_norm(source, ours):
    # Checkpoints converted from TF long ago still say gamma/beta.
    return [Rule(f"{source}.weight", f"{ours}/gamma"), Rule(f"{source}.bias", f"{ours}/beta"),
            Rule(f"{source}.gamma", f"{ours}/gamma"), Rule(f"{source}.beta", f"{ours}/beta")]


_LAYER = "encoder.layer.{i}"
ENCODER_RULES = [
        Rule("embeddings.word_embeddings.weight", "embeddings/word_embeddings"),
        Rule("embeddings.token_type_embeddings.weight", "embeddings/token_type_embeddings"),
        Rule("embeddings.position_embeddings.weight", "embeddings/position_embeddings"),
        *_layer_norm("embeddings.LayerNorm", "embeddings/layer_norm"),
        *_linear(f"{_LAYER}.attention.self.query", "layer_{i}/attention/query"),
        *_linear(f"{_LAYER}.attention.self.key", "layer_{i}/attention/key"),
        *_linear(f"{_LAYER}.attention.self.value", "layer_{i}/attention/value"),
        *_linear(f"{_LAYER}.attention.output.dense", "layer_{i}/attention/output"),
        *_layer_norm(f"{_LAYER}.attention.output.LayerNorm", "layer_{i}/attention_layer_norm"),
        *_linear(f"{_LAYER}.intermediate.dense", "layer_{i}/intermediate"),
        *_linear(f"{_LAYER}.output.dense", "layer_{i}/output"),
        *_layer_norm(f"{_LAYER}.output.LayerNorm", "layer_{i}/output_layer_norm"),
        *_linear("pooler.dense", "pooler"),
]
PRETRAINING_HEAD_RULES = [
    *_linear("cls.predictions.transform.dense", "mlm/transform"),
    *_layer_norm("cls.predictions.transform.LayerNorm", "mlm/layer_norm"),
    Rule("cls.predictions.bias", "mlm/output_bias"),
    *_linear("cls.seq_relationship", "nsp"),
]
_BUFFERS = Rule(r"(bert\.)?embeddings\.position_ids", None, reason="position_ids buffer(s)")
# The decoder is tied to the word embeddings, and its bias is cls.predictions.bias.
_TIED = Rule(r"cls\.predictions\.decoder\.(weight|bias)", None,
             reason="tied decoder variable(s) (the word embeddings and output bias)")
_HEADS = Rule(r"cls\..*", None, reason="pretraining-head variable(s) (cls.*)")
# BertForSequenceClassification's head.
CLASSIFIER_HEAD_RULES = _linear("classifier", "classifier")
_CLASSIFIER = Rule(r"classifier\..*", None, reason="classifier-head variable(s)")

ENCODER_TABLE = NameTable(ENCODER_RULES, skip=[_BUFFERS, _HEADS, _CLASSIFIER],
                          optional_prefix="bert.")
PRETRAINER_TABLE = NameTable(ENCODER_RULES + PRETRAINING_HEAD_RULES,
                             skip=[_BUFFERS, _TIED, _CLASSIFIER], optional_prefix="bert.")
CLASSIFIER_TABLE = NameTable(ENCODER_RULES + CLASSIFIER_HEAD_RULES, skip=[_BUFFERS, _HEADS],
                             optional_prefix="bert.")

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
    raise FileNotFoundError(f"{directory} has config.json but no {WEIGHTS_NAME}{hint}")


def open_safetensors(files: list) -> Source:
    """Opens one or more safetensors files (numpy API, no torch) as one Source."""
    shapes, owner = {}, {}
    for path in files:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weights file not found: {path}")
        try:
            with safe_open(path, framework="np") as f:
                for name in f.keys():
                    shapes[name] = tuple(f.get_slice(name).get_shape())
                    owner[name] = path
        except Exception as e:  # safetensors raises its own error types
            raise ValueError(f"cannot read {path}: {e}") from None

    def read(name):
        with safe_open(owner[name], framework="np") as f:
            return f.get_tensor(name)

    return Source(origin=", ".join(files), shapes=shapes, read=read)
