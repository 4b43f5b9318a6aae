"""vocab.txt: reading and checking a BERT vocabulary, and the casing a checkpoint directory states."""

import hashlib
import json
import os
import re

from bert_tf.errors import MissingFileError, UserError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_CHARS_PER_WORD = 100  # longer words become [UNK], as in the reference


class VocabError(UserError):
    """A vocab.txt that cannot serve as a BERT vocabulary."""


# A keras-hub preset's tokenizer, as keras_hub's Tokenizer.save_to_preset writes it: tokenizer.json
# (its class and config: lowercase, strip_accents, add_prefix_space) and the vocabulary under
# assets/tokenizer/: vocabulary.txt (WordPiece) or vocabulary.json with merges.txt (byte-level BPE).
KERAS_HUB_TOKENIZER = "tokenizer.json"
KERAS_HUB_ASSETS = os.path.join("assets", "tokenizer")
KERAS_HUB_VOCABS = ("vocabulary.txt", "vocabulary.json", "vocabulary.spm")


def read_lines(path, error=None, what="file"):
    """The lines of a UTF-8 text file, a byte-order mark (as some editors write) dropped and a
    final newline allowed ("\r" is left to the caller). MissingFileError "{what} not found"
    when absent; `error` (a UserError class, VocabError by default) naming path:line where the
    file is not UTF-8."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"{what} not found: {path}")
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise (error or VocabError)(f"{path}:{line}: not UTF-8") from None
    lines = text.removeprefix("\ufeff").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def load_vocab(vocab_file):
    """Reads a vocab.txt (one token per line, id = line number) into a list."""
    vocab_file = os.fspath(vocab_file)
    tokens = read_lines(vocab_file, VocabError, "vocab file")
    tokens = [t.rstrip("\r") for t in tokens]
    check_vocab(tokens, vocab_file)
    return tokens


def check_vocab(tokens, origin="vocabulary"):
    if not tokens:
        raise VocabError(f"{origin} is empty")
    seen = {}
    for line, token in enumerate(tokens, start=1):
        if not token.strip():
            raise VocabError(f"{origin}:{line}: empty token")
        if token in seen:
            raise VocabError(f"{origin}:{line}: token {token!r} repeats line {seen[token]}")
        seen[token] = line
    missing = [t for t in SPECIAL_TOKENS if t not in seen]
    if missing:
        raise VocabError(f"{origin} lacks the special token(s) {missing}")


def vocab_digest(tokens) -> str:
    """A digest of a vocabulary's tokens in order: equal for equal vocabularies."""
    digest = hashlib.sha256()
    for token in tokens:
        digest.update(token.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def vocab_is_cased(tokens) -> bool:
    """Whether a vocabulary holds upper-case word pieces (an uncased one has none)."""
    words = [t for t in tokens if not (t.startswith("[") and t.endswith("]"))]
    upper = sum(1 for t in words if t != t.lower())
    return upper > max(10, len(words) // 200)


def casing_from_directory(directory):
    """do_lower_case as a checkpoint directory states it: tokenizer_config.json (a keras-hub
    preset's tokenizer.json), else its name.

    Returns None when the directory says nothing.
    """
    config = os.path.join(directory, "tokenizer_config.json")
    if os.path.isfile(config):
        value = read_tokenizer_config(config).get("do_lower_case")
        if isinstance(value, bool):
            return value
    value = (keras_hub_tokenizer_config(directory) or {}).get("lowercase")
    if isinstance(value, bool):
        return value
    name = os.path.basename(os.path.normpath(directory)).lower()
    if re.search(r"(^|[^a-z])uncased", name):
        return True
    if re.search(r"(^|[^a-z])cased", name):
        return False
    return None


def resolve_casing(directory, vocab_file, do_lower_case=None):
    """do_lower_case: as given, else as the checkpoint directory states, else as the vocab implies."""
    if do_lower_case is not None:
        return bool(do_lower_case)
    stated = casing_from_directory(directory) if directory else None
    if stated is not None:
        return stated
    return not vocab_is_cased(load_vocab(vocab_file))


def read_tokenizer_config(path):
    """A tokenizer_config.json as a dict (Hugging Face's, or a bert_tf run's)."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            values = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(values, dict):
        raise UserError(f"{path}: expected a JSON object")
    return values


def keras_hub_tokenizer_config(directory):
    """The config of a keras-hub preset's tokenizer (the "config" of its tokenizer.json), or None
    for a directory without one (a Hugging Face tokenizer.json is another file of that name)."""
    path = os.path.join(os.fspath(directory), KERAS_HUB_TOKENIZER)
    if not os.path.isfile(path):
        return None
    values = read_tokenizer_config(path)
    name = values.get("registered_name")
    if not (isinstance(name, str) and name.startswith("keras_hub>")):
        return None
    config = values.get("config")
    if not isinstance(config, dict):
        raise UserError(f"{path}: a keras-hub tokenizer without a \"config\" object")
    return config


def keras_hub_vocab(directory):
    """A keras-hub preset's vocabulary file (assets/tokenizer/vocabulary.txt or vocabulary.json),
    or None."""
    for name in KERAS_HUB_VOCABS:
        path = os.path.join(os.fspath(directory), KERAS_HUB_ASSETS, name)
        if os.path.isfile(path):
            return path
    return None
