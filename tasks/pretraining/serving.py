"""The pretrained model served as a masked-token predictor: raw text with the tokenizer's mask token
spelled out in it ("[MASK]" for BERT, "<mask>" for RoBERTa)."""

# B=batch, T=tokens, M=masks in a text, S=parts of a text between masks, P=pieces, V=vocab size

import tensorflow as tf

from bert_tf.errors import UserError
from bert_tf.models import registry
from bert_tf.serving import export

# Whitespace before a mask token belongs to it, as Hugging Face's RoBERTa `<mask>` (lstrip):
# the byte-level BPE would otherwise give the space a token of its own ("Ġ") where training
# masked whole "Ġword" tokens. WordPiece drops whitespace anyway, so BERT's ids are unchanged.
_SPACE_BEFORE_MASK = r"[\t\n\v\f\r\p{Zs}]+$"


def mask_token(tokenizer):
    """The text of the tokenizer's mask token, as a request spells it: "[MASK]", "<mask>"."""
    return tokenizer.id_to_token(tokenizer.mask_id)


def _masked_lm(module, features):
    """Top prediction for every mask of each text, padded to the most masks in the batch."""
    ids = features["input_ids"]
    mask_id = module.tokenizer.mask_id
    is_mask = tf.equal(ids, mask_id) & tf.cast(features["input_mask"], tf.bool)
    positions = tf.ragged.boolean_mask(
        tf.broadcast_to(tf.range(tf.shape(ids)[1]), tf.shape(ids)), is_mask)  # [B, (M)]
    valid = tf.ones_like(positions, dtype=tf.bool).to_tensor(False)  # [B, M]
    dense_positions = positions.to_tensor(0)
    out = module.call_model(dict(features, masked_lm_positions=dense_positions))
    probs = tf.nn.softmax(out["mlm_logits"], axis=-1)  # [B, M, V]
    best = tf.argmax(probs, axis=-1, output_type=tf.int32)  # [B, M]
    return {"mask_positions": tf.where(valid, dense_positions, -1),
            "predicted_ids": tf.where(valid, best, -1),
            "predicted_tokens": tf.where(valid, module.tokenizer.convert_ids_to_tokens(best), ""),
            "probabilities": tf.where(valid, tf.reduce_max(probs, axis=-1), 0.0)}


def _encode_masked(module, text):
    """The tokenizer's template around each text (`[CLS] text [SEP]`, `<s> text </s>`), where
    each literal mask token in the text (mask_token) is the mask id."""
    tokenizer = module.tokenizer
    parts = tf.strings.split(text, mask_token(tokenizer))  # [B, (S)]
    # A mask id after every part but each text's last.
    last = tf.equal(tf.range(tf.size(parts.flat_values, out_type=tf.int64)),
                    tf.gather(parts.row_limits(), parts.value_rowids()) - 1)
    before_mask = tf.where(last, parts.flat_values,
                           tf.strings.regex_replace(parts.flat_values, _SPACE_BEFORE_MASK, ""))
    pieces = tokenizer.tokenize(before_mask)  # [S, (P)]
    marker = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(~last, tf.int32))], tokenizer.mask_id),
        tf.cast(~last, tf.int64))
    with_marks = tf.concat([pieces, marker], axis=1)  # [S, (P+1)]
    ids = parts.with_flat_values(with_marks).merge_dims(1, 2)  # [B, (P)]
    template = tokenizer.template
    encoded = template.encode_ragged(ids, None, module.max_seq_length)  # truncated to fit
    return export.at_least_two_positions(template.pad(encoded, return_truncated=True))


def _serve_masked_text(module, text):
    features = _encode_masked(module, text)
    truncated = features.pop("truncated")
    outputs = _masked_lm(module, features)
    outputs["truncated"] = truncated
    return outputs


def _warmup(kind, texts, tokenizer):
    return [{"text": [t + " " + mask_token(tokenizer) for t in texts]}]


PRETRAINER = export.ExportKind("pretrainer", _masked_lm, serve_text=_serve_masked_text,
                               warmup=_warmup)


def pretrainer_exporter(settings, files):
    """export_model.py --task=pretrainer: the family's pretraining model (BertPretrainer,
    RobertaMaskedLM)."""
    try:
        model_class = registry.family_of(files.config).pretrainer_class()
    except UserError as e:
        raise export.ExportError(f"--task=pretrainer: {e}") from None
    return model_class.from_pretrained(
        files.release, require_head=not settings.allow_untrained_head), PRETRAINER, {}
