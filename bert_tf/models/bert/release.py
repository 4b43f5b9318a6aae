"""What a BERT model needs beside its weights, resolved from flags and a release or run directory.

Every script that reads a checkpoint directory (training, export, feature
extraction) resolves it here: the config (bert_config.json, a Hugging
Face config.json or a keras-hub preset's), the vocab, the casing, and for a
bert_tf run directory its label list and run.json.
"""

import dataclasses
import os
from typing import Optional

from absl import logging

from bert_tf import checkpoints
from bert_tf.errors import UserError
from bert_tf.models import registry
from bert_tf.models.bert.config import BertConfig
from bert_tf.tokenization import vocab as vocab_lib


@dataclasses.dataclass(frozen=True)
class ModelFiles:
    """A model's config, vocab and casing, and the checkpoint directory they came from."""

    config: object  # the family's config (BertConfig, RobertaConfig, ...)
    vocab_file: Optional[str]
    do_lower_case: Optional[bool]  # None only when there is no vocab
    strip_accents: Optional[bool]  # None: follows do_lower_case
    release: Optional[checkpoints.Release]
    labels: Optional[list]  # label_list.txt of a bert_tf run directory
    run_info: dict  # run.json of a bert_tf run directory
    add_prefix_space: Optional[bool] = None  # a BPE's; None: as its vocab's directory says

    def tokenizer(self, max_seq_length=128, wordpiece="text"):
        """The model's tokenizer: BertTokenizer on a vocab.txt, BpeTokenizer on a vocab.json or
        tokenizer.json, SentencePieceTokenizer on a spiece.model. `wordpiece` ("text" or
        "core") picks WordPiece's ops; the byte-level BPE has core ops only, SentencePiece
        tensorflow-text's op only."""
        from bert_tf.tokenization import BertTokenizer, BpeTokenizer, SentencePieceTokenizer

        if not self.vocab_file:
            raise UserError("no vocab file: pass --vocab_file")
        if vocab_kind(self.vocab_file) == "sentencepiece":
            family = registry.family_of(self.config)
            cls = (family.sentencepiece_tokenizer_class() if family.sentencepiece_tokenizer
                   else SentencePieceTokenizer)
            return cls.from_model_file(self.vocab_file, do_lower_case=self.do_lower_case,
                                       max_seq_length=max_seq_length)
        if vocab_kind(self.vocab_file) == "bpe":
            return BpeTokenizer.from_vocab_file(self.vocab_file, self.add_prefix_space,
                                                max_seq_length=max_seq_length)
        return BertTokenizer(self.vocab_file, do_lower_case=self.do_lower_case,
                             strip_accents=self.strip_accents, max_seq_length=max_seq_length,
                             wordpiece=wordpiece)


    def export_tokenizer(self, max_seq_length, ops):
        """The tokenizer an export serves with `ops` (--tokenizer_ops: "core" or "text")."""
        self.check_tokenizer_ops(ops)
        return self.tokenizer(max_seq_length, wordpiece=ops)

    def check_tokenizer_ops(self, ops):
        """UserError unless the tokenizer has a form in `ops` (--tokenizer_ops)."""
        if self.vocab_file and vocab_kind(self.vocab_file) == "bpe" and ops != "core":
            raise UserError(f"--tokenizer_ops={ops}: a byte-level BPE ({self.vocab_file}) has "
                            "core TensorFlow ops only; leave --tokenizer_ops at core")
        if self.vocab_file and vocab_kind(self.vocab_file) == "sentencepiece" and ops != "text":
            raise UserError(f"--tokenizer_ops={ops}: SentencePiece ({self.vocab_file}) runs as "
                            "tensorflow-text's op only (core TensorFlow ops cannot run a "
                            "unigram model); pass --tokenizer_ops=text")


def vocab_kind(vocab_file):
    """"wordpiece" for a vocab.txt, "bpe" for a vocab.json or tokenizer.json, "sentencepiece" for
    a spiece.model (keras-hub's vocabulary.spm) (the registry's names)."""
    name = os.path.basename(vocab_file)
    if name.endswith((".model", ".spm")):
        return "sentencepiece"
    return "bpe" if name.endswith(".json") else "wordpiece"


def resolve_model_files(checkpoint=None, vocab_file=None, bert_config_file=None,
                        do_lower_case=None, checkpoint_flag="init_checkpoint",
                        require_vocab=True) -> ModelFiles:
    """Flags and a checkpoint directory -> ModelFiles; flags win over the directory's files.

    `do_lower_case` that contradicts what the checkpoint directory states
    (its tokenizer_config.json or a Google release name such as
    "uncased_L-12_H-768_A-12") is an error, as in google-research/bert: the
    tokens would not be those the model learned.
    """
    from bert_tf.training.run_directory import LABELS_FILE, read_label_list, read_run_info

    release = checkpoints.resolve(checkpoint) if checkpoint else None
    vocab_file = vocab_file or (release.vocab_file if release else None)
    if require_vocab and not vocab_file:
        raise UserError(f"--vocab_file is required (or a --{checkpoint_flag} directory with a "
                        "vocab.txt)")
    if bert_config_file:
        config = BertConfig.from_json_file(bert_config_file)
    elif release:
        config = registry.config_from_release(release)
    else:
        raise UserError(f"--bert_config_file is required (or a --{checkpoint_flag})")
    directory = release.directory if release else None
    stated = vocab_lib.casing_from_directory(directory) if directory else None
    if do_lower_case is not None and stated is not None and bool(do_lower_case) != stated:
        raise UserError(
            f"--do_lower_case={bool(do_lower_case)} but {checkpoint} is "
            f"{'uncased' if stated else 'cased'}: its tokens would not match what the model "
            f"learned. Pass --do_lower_case={stated} (or leave it out).")
    lower = None
    family = registry.family_of(config)
    if vocab_file and vocab_kind(vocab_file) != family.tokenizer:
        raise UserError(
            f"{vocab_file} is a {vocab_kind(vocab_file)} vocabulary but {family.title} models "
            f"use {family.tokenizer} (" + _VOCAB_FILES[family.tokenizer] + ")")
    if vocab_file and family.tokenizer == "bpe":
        if do_lower_case:
            raise UserError(f"--do_lower_case=true does not apply to {family.title}: its "
                            "byte-level BPE reads text as it is (leave the flag out)")
        lower = False
    elif vocab_file and family.tokenizer == "sentencepiece" and not getattr(
            family.sentencepiece_tokenizer_class(), "lower_cases", True):
        if do_lower_case:
            raise UserError(f"--do_lower_case=true does not apply to {family.title}: its "
                            "SentencePiece model reads text as it is (leave the flag out)")
        lower = False
    elif vocab_file and family.tokenizer == "sentencepiece":
        # ALBERT's releases lower-case (their tokenizer_config.json says so); a model that does
        # not says do_lower_case false there.
        lower = True if do_lower_case is None and stated is None else bool(
            stated if do_lower_case is None else do_lower_case)
    elif vocab_file:
        lower = vocab_lib.resolve_casing(directory, vocab_file, do_lower_case)
    strip_accents = add_prefix_space = None
    tokenizer_config = release.file("tokenizer_config.json") if release else None
    if tokenizer_config:
        strip = vocab_lib.read_tokenizer_config(tokenizer_config).get("strip_accents")
        strip_accents = strip if isinstance(strip, bool) else None
    elif release and release.format == "keras_hub":
        # The preset's tokenizer.json: keras-hub's names for the same settings.
        stated = vocab_lib.keras_hub_tokenizer_config(directory) or {}
        strip = stated.get("strip_accents")
        strip_accents = strip if isinstance(strip, bool) else None
        prefix = stated.get("add_prefix_space")
        add_prefix_space = prefix if isinstance(prefix, bool) else None
    labels = None
    if release and release.file(LABELS_FILE):
        labels = read_label_list(release.file(LABELS_FILE))
    info = read_run_info(directory) if directory else {}
    if release:
        logging.info("resolved %s: %s format, vocab %s, do_lower_case=%s", checkpoint,
                     release.format, vocab_file, lower)
    return ModelFiles(config, vocab_file, lower, strip_accents, release, labels, info,
                      add_prefix_space)


_VOCAB_FILES = {"wordpiece": "vocab.txt", "bpe": "vocab.json with merges.txt, or tokenizer.json",
                "sentencepiece": "spiece.model"}


def checkpoint_directory(path):
    """The directory of a checkpoint directory or prefix."""
    return path if os.path.isdir(path) else (os.path.dirname(path) or ".")
