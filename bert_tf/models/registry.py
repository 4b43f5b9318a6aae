"""The encoder families: a family name, a Hugging Face model_type or a keras-hub backbone -> its config, encoder, tokenizer and pretraining model.

Adding a family is its folder under bert_tf/models/, one entry in FAMILIES
and its tests (CONTRIBUTING.md has the checklist).
"""

import dataclasses
import importlib
import os
from typing import Optional

from bert_tf.errors import UserError


@dataclasses.dataclass(frozen=True)
class Family:
    """One family's classes, by import path (the registry imports a family only when used)."""

    name: str
    title: str  # as users write it
    config: str  # "module:Class"
    encoder: str  # "module:Class"
    hf_model_types: tuple  # the Hugging Face config.json model_type values it reads
    tokenizer: str  # "wordpiece" (vocab.txt), "bpe" (vocab.json + merges.txt), "sentencepiece"
    formats: tuple  # checkpoint formats it reads and writes; releases are in the first
    pretrainer: Optional[str] = None  # "module:Class" run_pretraining.py trains, if any
    # "module:Class" of a SentencePiece family's tokenizer (the model file alone does not say)
    sentencepiece_tokenizer: Optional[str] = None

    def config_class(self):
        return _load(self.config)

    def encoder_class(self):
        return _load(self.encoder)

    def keras_hub_backbone(self):
        """The keras-hub backbone class of the family's presets ("BertBackbone")."""
        return self.encoder_class().names.KERAS_HUB.backbone

    def sentencepiece_tokenizer_class(self):
        """The SentencePiece tokenizer class of a family whose tokenizer is "sentencepiece"."""
        return _load(self.sentencepiece_tokenizer)

    def pretrainer_class(self):
        """The model run_pretraining.py trains for this family (UserError if none)."""
        if self.pretrainer is None:
            raise UserError(f"there is no {self.title} pretraining model: run_pretraining.py "
                            "pretrains " + ", ".join(f.title for f in FAMILIES.values()
                                                     if f.pretrainer))
        return _load(self.pretrainer)


FAMILIES = {
    "bert": Family("bert", "BERT", "bert_tf.models.bert.config:BertConfig",
                   "bert_tf.models.bert.encoder:BertEncoder", ("bert",), "wordpiece",
                   ("google", "huggingface", "keras_hub"),
                   "bert_tf.models.bert.pretrainer:BertPretrainer"),
    "roberta": Family("roberta", "RoBERTa", "bert_tf.models.roberta.config:RobertaConfig",
                      "bert_tf.models.roberta.encoder:RobertaEncoder", ("roberta",), "bpe",
                      ("huggingface", "keras_hub"),
                      "bert_tf.models.roberta.masked_lm:RobertaMaskedLM"),
    "distilbert": Family("distilbert", "DistilBERT",
                         "bert_tf.models.distilbert.config:DistilBertConfig",
                         "bert_tf.models.distilbert.encoder:DistilBertEncoder",
                         ("distilbert",), "wordpiece", ("huggingface", "keras_hub")),
    "electra": Family("electra", "ELECTRA", "bert_tf.models.electra.config:ElectraConfig",
                      "bert_tf.models.electra.encoder:ElectraEncoder", ("electra",), "wordpiece",
                      ("huggingface", "google", "keras_hub"),
                      "bert_tf.models.electra.pretrainer:ElectraPretrainer"),
    "albert": Family("albert", "ALBERT", "bert_tf.models.albert.config:AlbertConfig",
                     "bert_tf.models.albert.encoder:AlbertEncoder", ("albert",), "sentencepiece",
                     ("huggingface", "google", "keras_hub"),
                     "bert_tf.models.albert.pretrainer:AlbertPretrainer",
                     "bert_tf.tokenization.sentence_piece:SentencePieceTokenizer"),
    "xlm-roberta": Family("xlm-roberta", "XLM-RoBERTa",
                          "bert_tf.models.xlm_roberta.config:XLMRobertaConfig",
                          "bert_tf.models.xlm_roberta.encoder:XLMRobertaEncoder",
                          ("xlm-roberta",), "sentencepiece", ("huggingface", "keras_hub"),
                          sentencepiece_tokenizer="bert_tf.tokenization.sentence_piece:"
                                                  "XlmRobertaTokenizer"),
}


def _load(path):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def get(name) -> Family:
    """The family called `name` ("bert", "roberta", "distilbert", "electra")."""
    if name not in FAMILIES:
        raise UserError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def for_hf_model_type(model_type, source="config.json") -> Family:
    """The family that reads a Hugging Face config.json's `model_type`."""
    for family in FAMILIES.values():
        if model_type in family.hf_model_types:
            return family
    known = sorted(t for f in FAMILIES.values() for t in f.hf_model_types)
    raise UserError(f"{source}: model_type {model_type!r} is not a family bert_tf reads "
                    f"(known: {', '.join(known)})")


def for_keras_hub_backbone(name, source="config.json") -> Family:
    """The family that reads a keras-hub preset of backbone class `name` ("RobertaBackbone")."""
    for family in FAMILIES.values():
        if family.keras_hub_backbone() == name:
            return family
    known = ", ".join(family.keras_hub_backbone() for family in FAMILIES.values())
    raise UserError(f"{source}: keras-hub's {name} is not a backbone bert_tf reads (supported: "
                    f"{known})")


def as_config(config):
    """A family's config object, or a dict: our form with "model_type", else bert_config.json's."""
    from bert_tf.models.bert.config import BertConfig

    if hasattr(config, "encoder_shape"):
        return config
    if isinstance(config, dict) and config.get("model_type", "bert") != "bert":
        family = for_hf_model_type(config["model_type"], "config")
        return family.config_class().from_dict(config)
    if isinstance(config, dict):
        config = {k: v for k, v in config.items() if k != "model_type"}
    return BertConfig.from_dict(config)


def config_from_release(release):
    """The config of a resolved checkpoint directory (`bert_tf.checkpoints.Release`), any family."""
    from bert_tf.models.bert.config import BertConfig, read_json

    if release.format == "keras_hub":
        from bert_tf.checkpoints import keras_hub

        name, values = keras_hub.backbone_config(release.config_file)
        family = for_keras_hub_backbone(name, release.config_file)
        return family.config_class().from_keras_hub(values, release.config_file)
    if os.path.basename(release.config_file) == BertConfig.file_name:
        return BertConfig.from_json_file(release.config_file)
    for family in FAMILIES.values():  # another family's Google release (albert_config.json)
        config_class = family.config_class()
        if os.path.basename(release.config_file) == getattr(config_class, "google_file_name", 0):
            return config_class.from_google_json_file(release.config_file)
    # config.json: a Hugging Face release, or a bert_tf run of another family (whose
    # config.json is in the family's Hugging Face form).
    values = read_json(release.config_file)
    model_type = values.get("model_type", "bert") if isinstance(values, dict) else "bert"
    family = for_hf_model_type(model_type, release.config_file)
    return family.config_class().from_hf_config_file(release.config_file)


def config_from_file(path):
    """A config file of any family: bert_config.json's form (Google's activation names) when it
    has no "model_type", else a Hugging Face config.json (or ours) of the family it names."""
    from bert_tf.models.bert.config import BertConfig, read_json

    values = read_json(path)
    if not isinstance(values, dict) or "model_type" not in values:
        return BertConfig.from_json_file(path)
    return for_hf_model_type(values["model_type"], path).config_class().from_hf_config_file(path)


def family_of(config) -> Family:
    """The family of a config object."""
    return get(config.family)


def build_encoder(config, **kwargs):
    """The family's encoder (BertEncoder, RobertaEncoder, ...) for a config of any family."""
    config = as_config(config)
    return family_of(config).encoder_class()(config, **kwargs)
