"""RoBERTa's checkpoint names: Hugging Face's roberta.* layout (BERT's, under another prefix)."""

from bert_tf.checkpoints import huggingface
from bert_tf.checkpoints.table import NameTable, Rule
from bert_tf.models.bert import checkpoint_names as bert_names

FORMATS = ("huggingface",)

_BUFFERS = Rule(r"(roberta\.)?embeddings\.(position_ids|token_type_ids)", None,
                reason="position_ids/token_type_ids buffer(s)")

ENCODER = {
    # RobertaForSequenceClassification, ...ForQuestionAnswering and ...ForTokenClassification
    # are saved without the pooler.
    "huggingface": NameTable(bert_names.HF_ENCODER_RULES, skip=[_BUFFERS],
                             optional_prefix="roberta.",
                             namespace=r"(roberta\.)?(embeddings|encoder|pooler)\..*",
                             optional=[r"pooler/(kernel|bias)"]),
}


# RobertaForMaskedLM's head (RobertaLMHead): dense, GELU, LayerNorm, then the decoder tied to the
# word embeddings, with its own bias lm_head.bias.
MASKED_LM_HEAD = {"huggingface": [
    *huggingface.linear_rules("lm_head.dense", "mlm/transform"),
    *huggingface.layer_norm_rules("lm_head.layer_norm", "mlm/layer_norm"),
    Rule("lm_head.bias", "mlm/output_bias")]}
# Hugging Face ties lm_head.decoder.weight to the word embeddings and lm_head.decoder.bias to
# lm_head.bias, and saves neither (its safetensors writer drops the tied names); older
# releases hold both copies, which it overwrites with the ties when it loads them. So do we.
MASKED_LM_SKIP = {"huggingface": [
    Rule(r"lm_head\.decoder\.(weight|bias)", None,
         reason="tied decoder variable(s) (the word embeddings and lm_head.bias)")]}

# RobertaForSequenceClassification: dense + tanh on <s>, then out_proj (no pooler).
HEADS = {"classifier": {"huggingface": [
    *huggingface.linear_rules("classifier.dense", "pre_classifier"),
    *huggingface.linear_rules("classifier.out_proj", "classifier")]}}


def encoder_names(fmt: str) -> NameTable:
    """The encoder's table for a checkpoint format (Hugging Face's only: RoBERTa has no TF1 release)."""
    if fmt not in ENCODER:
        raise ValueError(f"RoBERTa checkpoints come in {FORMATS} format only, not {fmt!r}")
    return ENCODER[fmt]
