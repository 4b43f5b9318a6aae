"""ALBERT's checkpoint names: Hugging Face's albert.* layout, Google's TF1 releases (google-research/albert) and keras-hub's AlbertBackbone.

Our weight paths of a shared block are "group_{g}/inner_group_{j}/...":
group g's j-th block, whichever layers apply it.
"""

from bert_tf.checkpoints import google, huggingface, keras_hub
from bert_tf.checkpoints.table import NameTable, Rule
from bert_tf.models.bert import checkpoint_names as bert_names

FORMATS = ("huggingface", "google", "keras_hub")

_BLOCK = "group_{g}/inner_group_{j}"

_HF_BLOCK = "encoder.albert_layer_groups.{g}.albert_layers.{j}"
_HF_RULES = [
    Rule("embeddings.word_embeddings.weight", "embeddings/word_embeddings"),
    Rule("embeddings.token_type_embeddings.weight", "embeddings/token_type_embeddings"),
    Rule("embeddings.position_embeddings.weight", "embeddings/position_embeddings"),
    *huggingface.layer_norm_rules("embeddings.LayerNorm", "embeddings/layer_norm"),
    *huggingface.linear_rules("encoder.embedding_hidden_mapping_in", "embedding_projection"),
    *huggingface.linear_rules(f"{_HF_BLOCK}.attention.query", f"{_BLOCK}/attention/query"),
    *huggingface.linear_rules(f"{_HF_BLOCK}.attention.key", f"{_BLOCK}/attention/key"),
    *huggingface.linear_rules(f"{_HF_BLOCK}.attention.value", f"{_BLOCK}/attention/value"),
    *huggingface.linear_rules(f"{_HF_BLOCK}.attention.dense", f"{_BLOCK}/attention/output"),
    *huggingface.layer_norm_rules(f"{_HF_BLOCK}.attention.LayerNorm",
                                  f"{_BLOCK}/attention_layer_norm"),
    *huggingface.linear_rules(f"{_HF_BLOCK}.ffn", f"{_BLOCK}/intermediate"),
    *huggingface.linear_rules(f"{_HF_BLOCK}.ffn_output", f"{_BLOCK}/output"),
    *huggingface.layer_norm_rules(f"{_HF_BLOCK}.full_layer_layer_norm",
                                  f"{_BLOCK}/output_layer_norm"),
    *huggingface.linear_rules("pooler", "pooler"),
]
_HF_BUFFERS = Rule(r"(albert\.)?embeddings\.(position_ids|token_type_ids)", None,
                   reason="position_ids/token_type_ids buffer(s)")

_GOOGLE_BLOCK = "bert/encoder/transformer/group_{g}/inner_group_{j}"
_GOOGLE_RULES = [
    Rule("bert/embeddings/word_embeddings", "embeddings/word_embeddings"),
    Rule("bert/embeddings/token_type_embeddings", "embeddings/token_type_embeddings"),
    Rule("bert/embeddings/position_embeddings", "embeddings/position_embeddings"),
    *google.layer_norm_rules("bert/embeddings/LayerNorm", "embeddings/layer_norm"),
    *google.dense_rules("bert/encoder/embedding_hidden_mapping_in", "embedding_projection"),
    *google.dense_rules(f"{_GOOGLE_BLOCK}/attention_1/self/query", f"{_BLOCK}/attention/query"),
    *google.dense_rules(f"{_GOOGLE_BLOCK}/attention_1/self/key", f"{_BLOCK}/attention/key"),
    *google.dense_rules(f"{_GOOGLE_BLOCK}/attention_1/self/value", f"{_BLOCK}/attention/value"),
    *google.dense_rules(f"{_GOOGLE_BLOCK}/attention_1/output/dense",
                        f"{_BLOCK}/attention/output"),
    *google.layer_norm_rules(f"{_GOOGLE_BLOCK}/LayerNorm", f"{_BLOCK}/attention_layer_norm"),
    *google.dense_rules(f"{_GOOGLE_BLOCK}/ffn_1/intermediate/dense", f"{_BLOCK}/intermediate"),
    *google.dense_rules(f"{_GOOGLE_BLOCK}/ffn_1/intermediate/output/dense", f"{_BLOCK}/output"),
    *google.layer_norm_rules(f"{_GOOGLE_BLOCK}/LayerNorm_1", f"{_BLOCK}/output_layer_norm"),
    *google.dense_rules("bert/pooler/dense", "pooler"),
]
# google-research/albert trains with LAMB (lamb_m, lamb_v) or Adam.
_GOOGLE_OPTIMIZER = Rule(r".*/(adam|lamb)_[mv]|global_step", None, reason="optimizer variable(s)")

# keras-hub's AlbertBackbone: the tanh GELU, LayerNorm epsilon 1e-12, pooler included.
KERAS_HUB = keras_hub.Layout("AlbertBackbone", "AlbertTokenizer", NameTable([
    Rule("token_embedding/embeddings", "embeddings/word_embeddings"),
    Rule("segment_embedding/embeddings", "embeddings/token_type_embeddings"),
    Rule("position_embedding/embeddings", "embeddings/position_embeddings"),
    *keras_hub.layer_norm_rules("embeddings_layer_norm", "embeddings/layer_norm"),
    *keras_hub.dense_rules("embedding_projection", "embedding_projection"),
    *keras_hub.block_rules("group_{g}_inner_layer_{j}", _BLOCK),
    *keras_hub.dense_rules("pooled_dense", "pooler"),
]))

ENCODER = {
    # AlbertForMaskedLM, ...ForQuestionAnswering and ...ForTokenClassification are saved
    # without the pooler.
    "huggingface": NameTable(_HF_RULES, skip=[_HF_BUFFERS], optional_prefix="albert.",
                             namespace=r"(albert\.)?(embeddings|encoder|pooler)\..*",
                             optional=[r"pooler/(kernel|bias)"]),
    # Anything outside bert/ (cls/..., output_weights, ...) belongs to some head.
    "google": NameTable(_GOOGLE_RULES, skip=[_GOOGLE_OPTIMIZER], namespace=r"bert/.*"),
    "keras_hub": KERAS_HUB.table,
}

# AlbertForPreTraining's heads: the masked LM (dense H -> E, activation, LayerNorm, decoder tied
# to the E-wide word embeddings plus a bias) and sentence-order prediction (two classes on the
# pooler). Google's names are BERT's pretraining heads'.
PRETRAINING_HEADS = {
    "huggingface": [
        *huggingface.linear_rules("predictions.dense", "mlm/transform"),
        *huggingface.layer_norm_rules("predictions.LayerNorm", "mlm/layer_norm"),
        Rule("predictions.bias", "mlm/output_bias"),
        *huggingface.linear_rules("sop_classifier.classifier", "sop"),
    ],
    "google": [
        *google.dense_rules("cls/predictions/transform/dense", "mlm/transform"),
        *google.layer_norm_rules("cls/predictions/transform/LayerNorm", "mlm/layer_norm"),
        Rule("cls/predictions/output_bias", "mlm/output_bias"),
        Rule("cls/seq_relationship/output_weights", "sop/kernel", "transpose"),
        Rule("cls/seq_relationship/output_bias", "sop/bias"),
    ],
}
# Hugging Face ties predictions.decoder.weight to the word embeddings and its bias to
# predictions.bias; releases that hold the copies have them overwritten by the ties.
PRETRAINING_SKIP = {
    "huggingface": [Rule(r"predictions\.decoder\.(weight|bias)", None,
                         reason="tied decoder variable(s) (the word embeddings and "
                                "predictions.bias)")],
    "google": [],
}

# AlbertForSequenceClassification: dropout and one layer over the pooler, as BERT's;
# google-research/albert's classifier names it output_weights / output_bias, as BERT's.
HEADS = {"classifier": bert_names.HEADS["classifier"]}


def encoder_names(fmt: str) -> NameTable:
    """The encoder's table for a checkpoint format ("huggingface", "google", "keras_hub")."""
    if fmt not in ENCODER:
        raise ValueError(f"ALBERT checkpoints come in {FORMATS} format only, not {fmt!r}")
    return ENCODER[fmt]
