"""vocab.json, merges.txt and tokenizer.json: reading and checking a byte-level BPE vocabulary."""

import json
import os

from bert_tf.errors import MissingFileError, UserError
from bert_tf.tokenization.vocab import read_lines

# RoBERTa's special tokens, by the BertTokenizer attribute each sets: cls_id is <s>, sep_id </s>.
SPECIAL_TOKENS = {"cls_id": "<s>", "pad_id": "<pad>", "sep_id": "</s>", "unk_id": "<unk>",
                  "mask_id": "<mask>"}


class BpeVocabError(UserError):
    """A vocab.json, merges.txt or tokenizer.json that cannot serve as a byte-level BPE vocabulary."""


def _read_json(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"file not found: {path}")
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BpeVocabError(f"{path}: not valid JSON ({e})") from None


def load_vocab_json(path):
    """Reads a vocab.json (token -> id) into a list of tokens by id."""
    return check_vocab(_read_json(path), os.fspath(path))


def check_vocab(token_to_id, origin="vocabulary"):
    """A token -> id dict as a list of tokens by id: ids 0 to n - 1, each once, specials present."""
    if not isinstance(token_to_id, dict) or not token_to_id:
        raise BpeVocabError(f"{origin}: expected a non-empty object of token -> id")
    tokens = [None] * len(token_to_id)
    for token, index in token_to_id.items():
        if not isinstance(index, int) or isinstance(index, bool):
            raise BpeVocabError(f"{origin}: token {token!r} has id {index!r}, not an integer")
        if not 0 <= index < len(tokens):
            raise BpeVocabError(f"{origin}: token {token!r} has id {index}; ids must run from 0 "
                                f"to {len(tokens) - 1}, one per token")
        if tokens[index] is not None:
            raise BpeVocabError(f"{origin}: tokens {tokens[index]!r} and {token!r} share id {index}")
        tokens[index] = token
    missing = [t for t in SPECIAL_TOKENS.values() if t not in token_to_id]
    if missing:
        raise BpeVocabError(f"{origin} lacks the special token(s) {missing}")
    return tokens


def load_merges_txt(path):
    """Reads a merges.txt into (pairs, line numbers): one "left right" pair a line, by rank.

    A first line starting with "#version" is a header; a blank last line is
    allowed.
    """
    path = os.fspath(path)
    lines = read_lines(path, BpeVocabError)
    pairs, numbers = [], []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if number == 1 and line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise BpeVocabError(f"{path}:{number}: expected two tokens separated by one space, "
                                f"got {line[:80]!r}")
        pairs.append(tuple(parts))
        numbers.append(number)
    return pairs, numbers


def load_tokenizer_json(path):
    """Reads a Hugging Face tokenizer.json's byte-level BPE: (tokens by id, merges, add_prefix_space).

    Merges may be "left right" strings or [left, right] lists. Added tokens
    missing from the model's vocabulary join it. add_prefix_space is the
    ByteLevel pre-tokenizer's (None if it names none). Options bert_tf does
    not implement (a normalizer, dropout, subword prefixes, byte fallback,
    ignore_merges) are an error rather than silently different ids.
    """
    path = os.fspath(path)
    config = _read_json(path)
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict) or model.get("type", "BPE") != "BPE":
        raise BpeVocabError(f"{path}: expected a BPE model under \"model\"")
    unsupported = {"dropout": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                   "byte_fallback": False, "ignore_merges": False}
    for key, default in unsupported.items():
        if model.get(key) not in (default, None):
            raise BpeVocabError(f"{path}: model.{key}={model[key]!r} is not supported")
    if config.get("normalizer") is not None:
        raise BpeVocabError(f"{path}: normalizer {config['normalizer'].get('type')!r} is not "
                            "supported (byte-level BPE as RoBERTa's has none)")
    token_to_id = dict(model.get("vocab") or {})
    for added in config.get("added_tokens") or []:
        if isinstance(added, dict) and added.get("content") not in token_to_id:
            token_to_id[added.get("content")] = added.get("id")
    tokens = check_vocab(token_to_id, f"{path}: model.vocab")
    pairs = as_pairs(model.get("merges") or [], f"{path}: model.merges")
    return tokens, pairs, _add_prefix_space(config.get("pre_tokenizer"))


def _add_prefix_space(pre_tokenizer):
    """The add_prefix_space of a ByteLevel pre-tokenizer, alone or in a Sequence."""
    if not isinstance(pre_tokenizer, dict):
        return None
    if pre_tokenizer.get("type") == "ByteLevel":
        return pre_tokenizer.get("add_prefix_space")
    for inner in pre_tokenizer.get("pretokenizers") or []:
        found = _add_prefix_space(inner)
        if found is not None:
            return found
    return None


def as_pairs(merges, origin="merges"):
    """Merges given as (left, right) pairs or "left right" strings -> a list of pairs."""
    pairs = []
    for index, merge in enumerate(merges):
        parts = merge.split(" ") if isinstance(merge, str) else merge
        if not isinstance(parts, (list, tuple)) or len(parts) != 2 or not all(
                isinstance(p, str) and p for p in parts):
            raise BpeVocabError(f"{origin}[{index}] is not a pair of tokens: {merge!r}")
        pairs.append(tuple(parts))
    return pairs


def merge_ids(tokens, pairs, origin="merges", line_numbers=None):
    """Merges as (left id, right id, merged id) by rank; every token of each must be in the vocabulary.

    Errors name `origin` and the line (from `line_numbers`) or the index of the merge.
    """
    token_to_id = {t: i for i, t in enumerate(tokens)}
    merges = []
    for index, (left, right) in enumerate(pairs):
        for token in (left, right, left + right):
            if token not in token_to_id:
                where = (f"{origin}:{line_numbers[index]}" if line_numbers
                         else f"{origin}[{index}]")
                raise BpeVocabError(f"{where}: {token!r} of the merge {left!r} {right!r} is not "
                                    "in the vocabulary")
        merges.append((token_to_id[left], token_to_id[right], token_to_id[left + right]))
    return merges
