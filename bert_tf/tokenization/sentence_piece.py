"""SentencePiece tokenization inside the TensorFlow graph: ALBERT's (spiece.model) and XLM-RoBERTa's (sentencepiece.bpe.model, fairseq's ids)."""

# B=batch, C=characters of a batch, P=pieces, T=max_seq_length

import base64
import hashlib
import os
import unicodedata

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.python.ops import sentencepiece_tokenizer as sentencepiece_ops

from bert_tf.errors import MissingFileError, UserError
from bert_tf.tokenization.base import TemplateTokenizer, shared_parts
from bert_tf.tokenization.normalization import decode_utf8
from bert_tf.tokenization.template import Template
from bert_tf.tokenization.tokenizer import pieces_of_words
from bert_tf.tokenization.vocab import read_tokenizer_config

MODEL_NAME = "spiece.model"  # in releases, run directories and SavedModel assets
XLM_ROBERTA_MODEL_NAME = "sentencepiece.bpe.model"  # XLM-RoBERTa's releases
# ALBERT's spiece.model: <pad> 0, <unk> 1, [CLS] 2, [SEP] 3, [MASK] 4 (control symbols).
SPECIAL_TOKENS = {"pad_id": "<pad>", "unk_id": "<unk>", "cls_id": "[CLS]", "sep_id": "[SEP]",
                  "mask_id": "[MASK]"}
# Python's str.isspace(): what ALBERT's " ".join(text.split()) splits on.
_SPACE = "[\t-\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


class SentencePieceError(UserError):
    """A spiece.model that cannot serve as an ALBERT vocabulary."""


@tf.autograph.experimental.do_not_convert
def _combining_class():
    """A regular expression of one character of non-zero Unicode combining class, the marks
    ALBERT drops after NFKD (Python's unicodedata.combining); none lies beyond plane 1."""
    ranges, start, last = [], None, None
    for code in range(0x20000):
        if unicodedata.combining(chr(code)):
            if start is None or code != last + 1:
                if start is not None:
                    ranges.append((start, last))
                start = code
            last = code
    ranges.append((start, last))

    def escape(code):
        return f"\\x{{{code:x}}}"

    return "[" + "".join(escape(a) if a == b else f"{escape(a)}-{escape(b)}"
                         for a, b in ranges) + "]"


_COMBINING = None


class _ModelResource(sentencepiece_ops._SentencepieceModelResource):
    """tensorflow-text's SentencePiece model resource under a name of its content.

    tensorflow-text creates it unnamed, owned by the op's kernel: in eager mode that kernel
    lives in TensorFlow's kernel cache, which `tf.random.set_seed` (and so
    `keras.utils.set_random_seed`, run at the start of every run) clears, deleting the
    model under every tokenizer made before ("Resource .../_0_SentencepieceOp ... does not
    exist"). A named resource is not the kernel's: it stays while the process lives, and
    every tokenizer (and loaded SavedModel) of the same model shares the one copy.
    """

    def __init__(self, model):
        self._shared_name = "bert_tf_spiece_" + hashlib.sha256(model).hexdigest()[:32]
        super().__init__(model, None)

    def _create_resource(self):
        return sentencepiece_ops.gen_sentencepiece_tokenizer.sentencepiece_op(
            model=self._model, shared_name=self._shared_name)


class _Model(tf_text.SentencepieceTokenizer):
    """tensorflow-text's SentencePiece tokenizer on a `_ModelResource`, with the settings
    tensorflow-text's constructor gives by default (ids, no sampling, no <s> or </s>)."""

    def __init__(self, model):
        # Not tensorflow-text's constructor: it would load the model once more, unnamed.
        super(tf_text.SentencepieceTokenizer, self).__init__()
        self.nbest_size, self.alpha, self.out_type = 0, 1.0, tf.int32
        self.reverse = self.add_bos = self.add_eos = self.return_nbest = False
        self._model_resource = _ModelResource(model)


@keras.saving.register_keras_serializable(package="bert_tf")
class SentencePieceTokenizer(TemplateTokenizer):
    """ALBERT's tokenizer: its text normalization, then a SentencePiece model, as TensorFlow ops.

    `model` is a spiece.model path or its serialized bytes. The normalization
    is ALBERT's (google-research/albert's and Hugging Face's AlbertTokenizer):
    with `remove_space`, runs of white space become one space and the ends
    are stripped; "``" and "''" become '"'; unless `keep_accents`, NFKD
    and the combining marks dropped; with `do_lower_case`, lower case. It is
    done one character at a time, so that every piece maps back to the
    characters it came from (Python lower-cases a final capital sigma to "ς"
    from its context; here it becomes "σ"). Then tensorflow-text's
    SentencepieceTokenizer op runs the model, with the model's own
    normalization rules, as the `sentencepiece` package does. `ops` is "text":
    there is no core-ops SentencePiece (a unigram model's Viterbi search has
    no core TensorFlow form), so an export needs tensorflow-text's op library.

    Text that spells a control symbol ("[MASK]") is plain text. ALBERT's
    template is BERT's: `[CLS] a [SEP] b [SEP]`, the second segment's ids 1.
    Calling the layer on `[B]` strings (and optionally `[B]` second segments)
    returns `encode(...)` with this layer's `max_seq_length`.
    """

    special_tokens = SPECIAL_TOKENS
    model_name = MODEL_NAME
    replace_quotes = True  # ALBERT's "``" and "''" -> '"'
    lower_cases = True  # as do_lower_case says

    def __init__(self, model, do_lower_case=True, keep_accents=False, remove_space=True,
                 max_seq_length=128, ops="text", **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if ops != "text":
            raise ValueError(f"ops must be 'text' (SentencePiece runs as tensorflow-text's op), "
                             f"got {ops!r}")
        if isinstance(model, (str, os.PathLike)):
            self.vocab_file = os.fspath(model)
            if not os.path.isfile(self.vocab_file):
                raise MissingFileError(f"SentencePiece model not found: {self.vocab_file}")
            with open(self.vocab_file, "rb") as f:
                proto = f.read()
        else:
            self.vocab_file = None
            proto = bytes(model)
        origin = self.vocab_file or "the SentencePiece model"
        self.model_proto = proto
        self.do_lower_case = bool(do_lower_case)
        self.keep_accents = bool(keep_accents)
        self.strip_accents = not self.keep_accents
        self.remove_space = bool(remove_space)
        # Tokenizers of the same model, class and options share the model and their graphs.
        self.graph_key = (type(self).__module__, type(self).__qualname__,
                          hashlib.sha256(proto).hexdigest(),
                          self.do_lower_case, self.keep_accents, self.remove_space)
        self._shared = shared_parts(self.graph_key, lambda: self._build_parts(proto, origin))
        self._sentencepiece, tokens, self._tokens = self._shared.parts
        self.vocab = tokens = list(tokens)  # its own: a caller may change it
        self.max_seq_length = int(max_seq_length)
        if max_seq_length < 3:
            raise ValueError(f"max_seq_length must be at least 3, got {max_seq_length}")
        self.ops = ops
        self._token_to_id = {t: i for i, t in enumerate(tokens)}
        missing = [t for t in self.special_tokens.values() if t not in self._token_to_id]
        if missing:
            raise SentencePieceError(f"{origin} lacks the special token(s) {missing}")
        for attribute, token in self.special_tokens.items():
            setattr(self, attribute, self._token_to_id[token])
        self.template = self._template()
        global _COMBINING
        if _COMBINING is None:  # here, not where a tf.function traces the normalization
            _COMBINING = _combining_class()

    def _build_parts(self, proto, origin):
        """The model as tensorflow-text's op, our tokens by id, and those as a tensor."""
        try:
            model = _Model(proto)
            size = int(model.vocab_size())
            pieces = [t.decode("utf-8") for t in model.id_to_string(tf.range(size)).numpy()]
        except (tf.errors.OpError, ValueError) as e:
            message = str(getattr(e, "message", e)).strip().splitlines()[0]
            raise SentencePieceError(f"{origin} is not a SentencePiece model: {message}") from None
        tokens = self._vocabulary(pieces, origin)
        return model, tokens, tf.constant(tokens)

    def _vocabulary(self, pieces, origin):
        """Our tokens by id, from the model's pieces by id (ALBERT: the same)."""
        return pieces

    def _template(self):
        return Template.bert(self.cls_id, self.sep_id, self.pad_id)

    def _ids(self, piece_ids):
        """Our ids of the model's piece ids (ALBERT: the same)."""
        return piece_ids

    def _piece_ids(self, ids):
        """The model's piece ids of our ids (ALBERT: the same)."""
        return ids

    @classmethod
    def from_pretrained(cls, directory, **kwargs):
        """Reads spiece.model from a checkpoint directory, with the do_lower_case, keep_accents
        and remove_space its tokenizer_config.json states (else ALBERT's: True, False, True)."""
        path = os.path.join(os.fspath(directory), cls.model_name)
        if not os.path.isfile(path):
            raise MissingFileError(f"{directory} has no {cls.model_name}")
        return cls.from_model_file(path, **kwargs)

    @classmethod
    def from_model_file(cls, path, do_lower_case=None, **kwargs):
        """From a spiece.model, with the settings the tokenizer_config.json beside it states."""
        config = os.path.join(os.path.dirname(os.fspath(path)) or ".", "tokenizer_config.json")
        stated = read_tokenizer_config(config) if os.path.isfile(config) else {}
        for name in ("keep_accents", "remove_space"):
            if name not in kwargs and isinstance(stated.get(name), bool):
                kwargs[name] = stated[name]
        if do_lower_case is None:
            do_lower_case = stated.get("do_lower_case", True)
        return cls(path, do_lower_case=bool(do_lower_case), **kwargs)

    @property
    def tables(self):
        """What holds this tokenizer's model (for a tf.Module that saves it)."""
        return self._sentencepiece

    # ---------------------------------------------------------- normalizing

    def _normalized(self, texts):
        """`[B]` texts -> (normalized `[B]` texts, int64 `[C]` byte length of each source
        character's normalized form, the source characters `[B, (C)]`)."""
        code_points = decode_utf8(texts)  # [B, (C)]; validates
        flat = code_points.flat_values  # [C]
        chars = tf.strings.unicode_encode(flat[:, None], "UTF-8")  # [C], one string each
        index = tf.range(tf.size(flat, out_type=tf.int64))  # [C]
        row_start = tf.gather(code_points.row_starts(), code_points.value_rowids())  # [C]
        row_limit = tf.gather(code_points.row_limits(), code_points.value_rowids())  # [C]
        if self.remove_space:
            # " ".join(text.split()): a run of white space between words becomes its first
            # character, as a space; runs at either end vanish.
            space = tf.strings.regex_full_match(chars, _SPACE)  # [C]
            words = tf.cumsum(tf.cast(~space, tf.int64))  # [C] inclusive
            before = tf.where(row_start > 0, tf.gather(words, tf.maximum(row_start - 1, 0)), 0)
            word_before = words - tf.cast(~space, tf.int64) - before > 0
            word_after = tf.gather(words, row_limit - 1) - words > 0
            previous_space = tf.gather(space, tf.maximum(index - 1, 0)) & (index > row_start)
            kept = word_before & word_after & ~previous_space
            chars = tf.where(space, tf.where(kept, " ", ""), chars)
        for quote in ("`", "'") if self.replace_quotes else ():
            chars = self._pairs_to_quote(chars, flat, index, row_start, row_limit, quote)
        if not self.keep_accents:
            chars = tf.strings.regex_replace(tf_text.normalize_utf8(chars, "NFKD"), _COMBINING,
                                             "")
        if self.do_lower_case:
            # tf.strings.lower drops a NUL character, which has no case to change.
            chars = tf.where(tf.equal(chars, "\x00"), chars,
                             tf.strings.lower(chars, encoding="utf-8"))
        normalized = tf.strings.reduce_join(code_points.with_flat_values(chars), axis=1)  # [B]
        return normalized, tf.cast(tf.strings.length(chars), tf.int64), code_points

    @staticmethod
    def _pairs_to_quote(chars, flat, index, row_start, row_limit, quote):
        """str.replace(quote * 2, '"'), left to right: in each run of `quote`s, every pair from
        the run's start becomes '"' (its second character nothing)."""
        is_quote = tf.equal(flat, ord(quote))  # [C]
        previous = tf.gather(is_quote, tf.maximum(index - 1, 0)) & (index > row_start)
        following = tf.gather(is_quote, tf.minimum(index + 1, tf.size(index, tf.int64) - 1)) & (
            index + 1 < row_limit)
        starts = is_quote & ~previous
        run = tf.cumsum(tf.cast(starts, tf.int64))  # [C] run of each quote, from 1
        # Row 0 stands for "no run yet", so that a batch without the quote gathers nothing.
        start_of_run = tf.gather(tf.concat([[0], tf.boolean_mask(index, starts)], 0), run)
        in_run = index - start_of_run  # [C] position inside its run
        first = is_quote & (in_run % 2 == 0) & following
        second = is_quote & (in_run % 2 == 1)
        return tf.where(first, '"', tf.where(second, "", chars))

    # ------------------------------------------------------------- tokenizing

    def tokenize(self, texts):
        """Piece ids without special tokens: int32 ragged `[B, (P)]` (`[(P)]` for one string)."""
        return self.per_text(self._tokenize, texts)

    def _tokenize(self, texts):
        normalized, _, _ = self._normalized(texts)
        ids = self._sentencepiece.tokenize(normalized)
        return ids.with_flat_values(self._ids(ids.flat_values))

    def tokenize_words(self, words):
        """Piece ids of pre-split words (for tagging), one row of pieces per word.

        `words` is a string `tf.RaggedTensor` `[B, (W)]`. Returns an int32
        `tf.RaggedTensor` `[B, (W), (P)]` where `result[b, w]` equals
        `self.tokenize(words[b, w])` (each word starts a new "▁" piece), except
        that a word giving no piece (an empty string) becomes one `<unk>`:
        every word keeps a position, so labels stay aligned with words.
        """
        return pieces_of_words(words, self.tokenize, self.unk_id)

    def tokenize_with_offsets(self, texts):
        """Piece ids and character offsets into the original texts.

        Returns (ids, starts, ends), each ragged `[B, (P)]`: piece p of text b
        came from `texts[b][starts[b, p]:ends[b, p]]` (indices count Unicode
        characters, as Python `str` does). The spans are SentencePiece's (a
        piece's span includes the space its "▁" stands for), carried back
        through the normalization: a piece covers every source character
        whose normalized form it holds part of; a piece of no text (a lone
        "▁" before a word) has an empty span.
        """
        return self.per_text(self._tokenize_with_offsets, texts)

    def _tokenize_with_offsets(self, texts):
        normalized, lengths, code_points = self._normalized(texts)
        ids, begins, ends = self._sentencepiece.tokenize_with_offsets(normalized)  # bytes
        ids = ids.with_flat_values(self._ids(ids.flat_values))
        # Byte positions in the batch's normalized texts one after another.
        text_start = tf.cumsum(tf.cast(tf.strings.length(normalized), tf.int64),
                               exclusive=True)  # [B]
        row = tf.gather(text_start, ids.value_rowids())  # [P]
        begin = row + tf.cast(begins.flat_values, tf.int64)
        end = row + tf.cast(ends.flat_values, tf.int64)
        char_start = tf.cumsum(lengths, exclusive=True)  # [C] first byte of each character's form
        first_char = tf.gather(code_points.row_starts(), ids.value_rowids())  # [P]

        def character(byte):  # the source character whose normalized form holds `byte`
            return tf.searchsorted(char_start, byte, side="right", out_type=tf.int64) - 1

        start = character(begin) - first_char
        stop = tf.where(end > begin, character(end - 1) + 1 - first_char, start)
        return ids, ids.with_flat_values(start), ids.with_flat_values(stop)

    def detokenize(self, ids):
        """Ids back to (normalized) text, as SentencePiece decodes them; <pad> is dropped.

        `ids` is `[B, (P)]` (ragged or dense) or `[(P)]`.
        """
        ids = tf.convert_to_tensor(ids) if not isinstance(ids, tf.RaggedTensor) else ids
        scalar = ids.shape.rank == 1
        if scalar:
            ids = ids[None]
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.ragged.boolean_mask(ids, tf.not_equal(ids, self.pad_id))
        text = self._sentencepiece.detokenize(ids.with_flat_values(
            self._piece_ids(ids.flat_values)))
        return text[0] if scalar else text

    def get_config(self):
        config = super().get_config()
        config.update(model=None, serialized_model=base64.b64encode(self.model_proto).decode(),
                      do_lower_case=self.do_lower_case, keep_accents=self.keep_accents,
                      remove_space=self.remove_space, max_seq_length=self.max_seq_length,
                      ops=self.ops)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        serialized = config.pop("serialized_model", None)
        if config.get("model") is None and serialized is not None:
            config["model"] = base64.b64decode(serialized)
        return cls(**config)


@keras.saving.register_keras_serializable(package="bert_tf")
class XlmRobertaTokenizer(SentencePieceTokenizer):
    """XLM-RoBERTa's tokenizer: its SentencePiece model with fairseq's ids, RoBERTa's template.

    The text goes to the model as it is (no lower-casing, accents kept,
    white space left to the model's own normalization). Ids are fairseq's
    dictionary over the model's pieces, as Hugging Face's and keras-hub's
    XLM-RoBERTa tokenizers give them: `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3
    (the model's <unk>, its id 0), piece k >= 3 of the model at k + 1, and
    `<mask>` last (vocabulary: the model's size + 2). The template is
    RoBERTa's: `<s> a </s>` / `<s> a </s></s> b </s>`, every segment id 0.
    """

    special_tokens = {"cls_id": "<s>", "pad_id": "<pad>", "sep_id": "</s>", "unk_id": "<unk>",
                      "mask_id": "<mask>"}
    model_name = XLM_ROBERTA_MODEL_NAME
    replace_quotes = False
    lower_cases = False  # never: do_lower_case does not apply
    _FAIRSEQ = ("<s>", "<pad>", "</s>", "<unk>")

    def __init__(self, model, max_seq_length=128, ops="text", **kwargs):
        for name in ("do_lower_case", "keep_accents", "remove_space"):
            kwargs.pop(name, None)  # a config round trip's: always the values below
        super().__init__(model, do_lower_case=False, keep_accents=True, remove_space=False,
                         max_seq_length=max_seq_length, ops=ops, **kwargs)

    def _vocabulary(self, pieces, origin):
        if pieces[:3] != ["<unk>", "<s>", "</s>"]:
            raise SentencePieceError(f"{origin} does not start with <unk>, <s>, </s> as "
                                     f"XLM-RoBERTa's model does: {pieces[:3]}")
        return list(self._FAIRSEQ) + pieces[3:] + ["<mask>"]

    def _template(self):
        return Template.roberta(self.cls_id, self.sep_id, self.pad_id)

    def _ids(self, piece_ids):
        return tf.where(tf.equal(piece_ids, 0), tf.constant(3, piece_ids.dtype), piece_ids + 1)

    def _piece_ids(self, ids):
        # <s> -> 1, </s> -> 2, <unk> -> 0, pieces back by one; <mask> has no piece: <unk>.
        special = tf.gather(tf.constant([1, 0, 2, 0], ids.dtype), tf.minimum(ids, 3))
        piece = tf.where(tf.equal(ids, self.mask_id), tf.zeros_like(ids), ids - 1)
        return tf.where(ids < 4, special, piece)

    @classmethod
    def from_model_file(cls, path, do_lower_case=None, **kwargs):
        """From a sentencepiece.bpe.model (the text is never lower-cased)."""
        if do_lower_case:
            raise UserError(f"do_lower_case does not apply to XLM-RoBERTa's {path}: its "
                            "SentencePiece model reads text as it is")
        return cls(path, **kwargs)
