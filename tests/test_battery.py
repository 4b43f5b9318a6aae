"""The shared battery (testing.check_battery) on every layer and every model."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import (BertEmbeddings, DistilBertConfig, ElectraConfig, ElectraPretrainer,
                     MultiHeadSelfAttention, RobertaConfig, TransformerEncoderBlock, build_encoder)
from bert_tf.models.bert import BertEncoder, BertPretrainer
from bert_tf.models.albert import AlbertConfig, AlbertPretrainer
from bert_tf.models.roberta import RobertaMaskedLM
from tasks.classification.model import BertClassifier
from tasks.question_answering.model import BertSpanLabeler
from tasks.tagging.model import BertTagger
from testing import (BATCH, SEQ, check_battery, random_inputs, random_pretraining_batch,
                     tiny_config)

# Outputs are LayerNorm-scaled (about 1) or small logits: bfloat16 keeps ~3 significant
# digits, and its rounding compounds over layers. Largest differences measured on an AMX
# machine (native bfloat16), 2026-12-02: embeddings 0.007, attention 0.010, block 0.022,
# encoder 0.045, pretrainer 0.041, classifier 0.0009. The bounds leave at least 4x for
# other CPUs (emulated bfloat16 on AVX2 rounds differently: ~2x the error seen on MiniLM).
CONFIG = tiny_config(hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.15,
                     hidden_act="gelu_exact", initializer_range=0.3)
INPUTS = random_inputs(CONFIG)
HIDDEN = CONFIG.hidden_size
X = np.random.default_rng(0).standard_normal((BATCH, SEQ, HIDDEN)).astype(np.float32)
MASK = INPUTS["input_mask"]


def total(outputs):
    """A loss that reaches every float output: each one against a fixed pattern.

    (Not a sum of squares: that of a LayerNorm output is constant, so it would
    reach nothing below the last LayerNorm.)
    """
    def against_pattern(t):
        t = tf.cast(t, tf.float32)
        pattern = tf.reshape(tf.sin(tf.range(tf.size(t), dtype=tf.float32) * 1.7), tf.shape(t))
        return tf.reduce_sum(t * pattern)

    return tf.add_n([against_pattern(t) for t in tf.nest.flatten(outputs)
                     if t.dtype.is_floating])


def pattern_loss(y_true, y_pred):
    """`total` as a Keras loss of one output (for compile; the target is ignored)."""
    del y_true
    return total(y_pred)


def pattern_fit(inputs, outputs):
    """fit=(x, y, loss) for a model without targets of its own: `pattern_loss` on each output."""
    return (inputs, {name: np.zeros(outputs[name].shape, np.float32) for name in outputs},
            {name: pattern_loss for name in outputs})


LABELS = np.random.default_rng(4).integers(0, 5, (BATCH, SEQ)).astype(np.int32)


def with_padding(inputs, extra=3):
    """The inputs with `extra` more padded positions of junk ids."""
    pad = lambda a, v: np.pad(a, [(0, 0), (0, extra)], constant_values=v)  # noqa: E731
    return {"input_ids": pad(inputs["input_ids"], 7), "input_mask": pad(inputs["input_mask"], 0),
            "segment_ids": pad(inputs["segment_ids"], 1)}


def real_positions(outputs):
    """Sequence outputs cut to the unpadded length of the original inputs, padding zeroed."""
    def cut(t):
        if t.shape.rank == 3 and t.shape[1] >= SEQ:
            return t[:, :SEQ] * tf.cast(MASK[:, :, None], t.dtype)
        return t
    return tf.nest.map_structure(cut, outputs)


def test_embeddings():
    def build(dtype=None):
        return BertEmbeddings(vocab_size=53, hidden_size=HIDDEN, max_position_embeddings=11,
                              type_vocab_size=3, initializer_range=0.3, layer_norm_eps=1e-6,
                              hidden_dropout=0.2, dtype=dtype)

    check_battery(build, lambda e, training=False: e(INPUTS["input_ids"], INPUTS["segment_ids"],
                                                     training=training),
                  total, tolerance_bf16=0.05, stochastic=True)


def test_layer_norm():
    from bert_tf.layers import LayerNormalization

    def build(dtype=None):
        layer = LayerNormalization(epsilon=1e-6, dtype=dtype)
        layer.build(X.shape)
        return layer

    # Outputs of order 1: bfloat16 rounding alone (measured 0.007 on Intel AMX).
    check_battery(build, lambda n, training=False: n(X * 3.0 + 1.0), total, tolerance_bf16=0.05)


def test_attention():
    def build(dtype=None):
        return MultiHeadSelfAttention(num_attention_heads=3, attention_dropout=0.2,
                                      initializer_range=0.3, dtype=dtype)

    def padded(layer):
        wide = np.pad(X, [(0, 0), (0, 3), (0, 0)], constant_values=5.0)
        return (layer(wide, padding_mask=np.pad(MASK, [(0, 0), (0, 3)])), real_positions)

    check_battery(build, lambda a, training=False: a(X, padding_mask=MASK, training=training),
                  total, tolerance_bf16=0.05, stochastic=True, padded=padded)


def test_encoder_block():
    def build(dtype=None):
        return TransformerEncoderBlock(num_attention_heads=3, intermediate_size=37,
                                       hidden_act="relu", hidden_dropout=0.2,
                                       attention_dropout=0.1, layer_norm_eps=1e-6,
                                       initializer_range=0.3, dtype=dtype)

    def padded(block):
        wide = np.pad(X, [(0, 0), (0, 3), (0, 0)], constant_values=-2.0)
        return block(wide, padding_mask=np.pad(MASK, [(0, 0), (0, 3)])), real_positions

    check_battery(build, lambda b, training=False: b(X, padding_mask=MASK, training=training),
                  total, tolerance_bf16=0.1, stochastic=True, padded=padded,
                  frozen=lambda b: b.attention)


def test_dropout():
    from bert_tf.layers import Dropout

    # Inference is the identity, in bfloat16 too (the tolerance is that of the rounding of
    # X to bfloat16 and back: 2^-8 relative, X within 4).
    check_battery(lambda dtype=None: Dropout(0.3, seed=5, dtype=dtype),
                  lambda d, training=False: d(X, training=training), total,
                  tolerance_bf16=0.02, stochastic=True)


def test_encoder(tmp_path):
    def padded(encoder):
        return encoder(with_padding(INPUTS)), real_positions

    outputs = BertEncoder(CONFIG)(INPUTS)
    check_battery(lambda dtype=None: BertEncoder(CONFIG, dtype=dtype),
                  lambda e, training=False: e(INPUTS, training=training), total,
                  tolerance_bf16=0.2, stochastic=True, padded=padded,
                  frozen=lambda e: e.embeddings, keras_file=str(tmp_path / "encoder.keras"),
                  fit=pattern_fit(INPUTS, {k: outputs[k] for k in ("sequence_output",
                                                                   "pooled_output")}))


def test_pretrainer(tmp_path):
    batch = random_pretraining_batch(CONFIG)

    def padded(model):
        return model(dict(batch, **with_padding(batch))), lambda out: out

    # Its own compile() losses: masked-LM and next-sentence cross-entropy.
    targets = {"mlm_logits": batch["masked_lm_ids"], "nsp_logits": batch["next_sentence_labels"]}
    check_battery(lambda dtype=None: BertPretrainer(CONFIG, dtype=dtype),
                  lambda m, training=False: m(batch, training=training),
                  lambda out: total(out) * 1e-2, tolerance_bf16=0.2, stochastic=True,
                  padded=padded, frozen=lambda m: m.encoder.layer_0,
                  keras_file=str(tmp_path / "pretrainer.keras"), fit=(batch, targets, "auto"))


@pytest.mark.parametrize("regression", [False, True])
def test_classifier(tmp_path, regression):
    def padded(model):
        return model(with_padding(INPUTS)), lambda out: out

    # The head reads the pooled [CLS] vector only: every encoder weight is still reached.
    # Its own compile() loss: squared error, or cross-entropy over 4 labels.
    labels = (np.linspace(-1, 2, BATCH).astype(np.float32) if regression
              else np.arange(BATCH, dtype=np.int32) % 4)
    check_battery(lambda dtype=None: BertClassifier(CONFIG, 1 if regression else 4, regression,
                                                    dtype=dtype),
                  lambda m, training=False: m(INPUTS, training=training), total,
                  tolerance_bf16=0.05, stochastic=True, padded=padded,
                  frozen=lambda m: m.encoder.layer_1,
                  keras_file=str(tmp_path / "classifier.keras"),
                  fit=(INPUTS, labels, "auto"))


def test_span_labeler(tmp_path):
    def padded(model):
        # Logits per position, [B, T]: the real positions of each row.
        return model(with_padding(INPUTS)), lambda out: {
            name: logits[:, :SEQ] * MASK for name, logits in out.items()}

    # Its own compile() loss: start and end cross-entropy over each row's real tokens. The
    # pooler is not reached.
    positions = {"start_positions": np.array([0, 1, 2, 1, 0], np.int32),
                 "end_positions": np.array([3, 2, 4, 1, 1], np.int32)}
    check_battery(lambda dtype=None: BertSpanLabeler(CONFIG, dtype=dtype),
                  lambda m, training=False: m(INPUTS, training=training), total,
                  tolerance_bf16=0.05, stochastic=True, padded=padded,
                  frozen=lambda m: m.encoder.layer_0, unreached=("pooler",),
                  keras_file=str(tmp_path / "span.keras"),
                  fit=(INPUTS, positions, "auto"))


def test_tagger(tmp_path):
    def padded(model):
        return model(with_padding(INPUTS)), real_positions

    # Its own compile() loss: a label per position (-1: none). Its pooler is frozen: not
    # trainable at all.
    check_battery(lambda dtype=None: BertTagger(CONFIG, 5, dtype=dtype),
                  lambda m, training=False: m(INPUTS, training=training), total,
                  tolerance_bf16=0.05, stochastic=True, padded=padded,
                  frozen=lambda m: m.encoder.layer_1, keras_file=str(tmp_path / "tagger.keras"),
                  fit=(INPUTS, np.where(MASK > 0, LABELS, -1).astype(np.int32), "auto"))


def test_a_loss_on_the_sequence_output_leaves_the_pooler_unreached():
    """What a token-level head sees: the pooler gets no gradient, and the battery says so."""
    outputs = BertEncoder(CONFIG)(INPUTS)
    check_battery(lambda dtype=None: BertEncoder(CONFIG, dtype=dtype),
                  lambda e, training=False: e(INPUTS, training=training),
                  lambda out: total(out["sequence_output"]), tolerance_bf16=0.2,
                  stochastic=True, unreached=("pooler",),
                  fit=pattern_fit(INPUTS, {"sequence_output": outputs["sequence_output"]}))


# The families after BERT: RoBERTa (position offset, one segment row), DistilBERT (no
# segments, no pooler) and ELECTRA (factorized embeddings, no pooler), on inputs without
# segment ids.
FAMILY_CONFIGS = {
    "roberta": RobertaConfig(vocab_size=53, hidden_size=12, num_hidden_layers=2,
                             num_attention_heads=3, intermediate_size=37,
                             max_position_embeddings=13, hidden_dropout_prob=0.2,
                             attention_probs_dropout_prob=0.15, initializer_range=0.3),
    "distilbert": DistilBertConfig(vocab_size=53, dim=12, n_layers=2, n_heads=3, hidden_dim=37,
                                   max_position_embeddings=11, dropout=0.2,
                                   attention_dropout=0.15, initializer_range=0.3),
    # Factorized: tables 9 wide, projected to 12; no pooler.
    "electra": ElectraConfig(vocab_size=53, embedding_size=9, hidden_size=12,
                             num_hidden_layers=2, num_attention_heads=3, intermediate_size=37,
                             max_position_embeddings=11, hidden_dropout_prob=0.2,
                             attention_probs_dropout_prob=0.15, initializer_range=0.3),
}
NO_SEGMENTS = {k: v for k, v in INPUTS.items() if k != "segment_ids"}


@pytest.mark.parametrize("family", sorted(FAMILY_CONFIGS))
def test_family_encoders(tmp_path, family):
    config = FAMILY_CONFIGS[family]

    def padded(encoder):
        inputs = {k: v for k, v in with_padding(INPUTS).items() if k != "segment_ids"}
        return encoder(inputs), real_positions

    outputs = build_encoder(config)(NO_SEGMENTS)
    floats = {k: v for k, v in outputs.items() if k != "encoder_outputs"}
    check_battery(lambda dtype=None: build_encoder(config, dtype=dtype),
                  lambda e, training=False: e(NO_SEGMENTS, training=training), total,
                  tolerance_bf16=0.2, stochastic=True, padded=padded,
                  frozen=lambda e: e.embeddings,
                  keras_file=str(tmp_path / f"{family}.keras"),
                  fit=pattern_fit(NO_SEGMENTS, floats))


@pytest.mark.parametrize("family", sorted(FAMILY_CONFIGS))
def test_family_classifiers(tmp_path, family):
    # The head's own pooling (RoBERTa: dense + tanh; DistilBERT: dense + ReLU) and its
    # compile() defaults.
    config = FAMILY_CONFIGS[family]

    def padded(model):
        inputs = {k: v for k, v in with_padding(INPUTS).items() if k != "segment_ids"}
        return model(inputs), lambda out: out

    labels = np.arange(BATCH, dtype=np.int32) % 4
    check_battery(lambda dtype=None: BertClassifier(config, 4, dtype=dtype),
                  lambda m, training=False: m(NO_SEGMENTS, training=training), total,
                  tolerance_bf16=0.05, stochastic=True, padded=padded,
                  frozen=lambda m: m.encoder.layer_1,
                  keras_file=str(tmp_path / f"{family}_classifier.keras"),
                  fit=(NO_SEGMENTS, labels, "auto"))


def test_roberta_masked_lm(tmp_path):
    config = FAMILY_CONFIGS["roberta"]
    batch = {k: v for k, v in random_pretraining_batch(config).items()
             if k not in ("segment_ids", "next_sentence_labels")}

    def padded(model):
        inputs = {k: v for k, v in with_padding(dict(batch, segment_ids=MASK)).items()
                  if k != "segment_ids"}
        return model(dict(batch, **inputs)), lambda out: out

    # Its own compile() loss: masked-LM cross-entropy. Its pooler is frozen (the head reads
    # the masked positions only).
    check_battery(lambda dtype=None: RobertaMaskedLM(config, dtype=dtype),
                  lambda m, training=False: m(batch, training=training),
                  lambda out: total(out) * 1e-2, tolerance_bf16=0.2, stochastic=True,
                  padded=padded, frozen=lambda m: m.encoder.layer_0,
                  keras_file=str(tmp_path / "roberta_masked_lm.keras"),
                  fit=(batch, {"mlm_logits": batch["masked_lm_ids"]}, "auto"))


def test_electra_pretrainer(tmp_path):
    """The generator, the sampling (at inference from a fixed seed) and the discriminator;
    its own compile() loss (ElectraObjective), which reaches every weight: the generator's
    through the masked-LM loss, the discriminator's through its own."""
    config = FAMILY_CONFIGS["electra"]
    batch = {k: v for k, v in random_pretraining_batch(config).items()
             if k not in ("segment_ids", "next_sentence_labels")}

    def padded(model):
        inputs = {k: v for k, v in with_padding(dict(batch, segment_ids=MASK)).items()
                  if k != "segment_ids"}
        def real(out):  # the discriminator's [B, T] outputs at the unpadded positions
            return dict(out, disc_logits=out["disc_logits"][:, :SEQ],
                        disc_labels=out["disc_labels"][:, :SEQ])
        return model(dict(batch, **inputs)), real

    labels = {k: batch[k] for k in ("masked_lm_ids", "masked_lm_weights")}
    check_battery(lambda dtype=None: ElectraPretrainer(config, seed=11, dtype=dtype),
                  lambda m, training=False: m(batch, training=training),
                  lambda out: total(out) * 1e-2, stochastic=True,
                  # bfloat16: the generator's logits measured 0.21 off (Zen 5), and a token
                  # sampled at a near-tie may differ, which flips a 0/1 label.
                  tolerance_bf16=1.0,
                  padded=padded, frozen=lambda m: m.encoder.layer_0,
                  keras_file=str(tmp_path / "electra_pretrainer.keras"),
                  fit=(batch, labels, "auto"))


# ALBERT: embeddings narrower than the hidden size with their projection, and one group of
# two blocks shared by two layers (each shared block gets both layers' gradients).
ALBERT_CONFIG = AlbertConfig(vocab_size=53, embedding_size=10, hidden_size=12,
                             num_hidden_layers=2, num_hidden_groups=1, inner_group_num=2,
                             num_attention_heads=3, intermediate_size=37,
                             max_position_embeddings=11, hidden_dropout_prob=0.2,
                             attention_probs_dropout_prob=0.15, initializer_range=0.3)


def test_albert_pretrainer(tmp_path):
    # The encoder's battery too: its weights (the shared blocks, the embedding projection,
    # the pooler the sentence-order head reads) are all reached, saved and reloaded here.
    batch = random_pretraining_batch(ALBERT_CONFIG)

    def padded(model):
        return model(dict(batch, **with_padding(batch))), lambda out: out

    # Its own compile() loss: masked LM + sentence order (on next_sentence_labels).
    check_battery(lambda dtype=None: AlbertPretrainer(ALBERT_CONFIG, dtype=dtype),
                  lambda m, training=False: m(batch, training=training),
                  lambda out: total(out) * 1e-2, tolerance_bf16=0.2, stochastic=True,
                  padded=padded, frozen=lambda m: m.encoder.embeddings,
                  keras_file=str(tmp_path / "albert_pretrainer.keras"),
                  fit=(batch, {"mlm_logits": batch["masked_lm_ids"],
                               "sop_logits": batch["next_sentence_labels"]}, "auto"))
