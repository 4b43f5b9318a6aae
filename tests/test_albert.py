"""ALBERT beyond the hub layouts of test_families: Google's TF1 releases, keras-hub's AlbertBackbone both ways, its config.

The checkpoints are random, in the exact layouts: google-research/albert's
(albert_config.json, model.ckpt-best with bert/... and cls/... names and
optimizer slots) and keras-hub 0.32's AlbertBackbone (save_to_preset).
"""

import json

import keras_hub
import numpy as np
import pytest

import hub_layouts
from bert_tf import TransformerEncoder, build_encoder, checkpoints
from bert_tf.models.albert import AlbertConfig, AlbertEncoder
from bert_tf.models.bert.config import ConfigError
from test_families import padded_inputs, reference_forward

SIZES = dict(vocab_size=67, embedding_size=10, hidden_size=12, num_hidden_layers=4,
             num_hidden_groups=2, inner_group_num=2, num_attention_heads=3, intermediate_size=37,
             max_position_embeddings=13)


def as_hugging_face(arrays):
    """Google's ALBERT names -> Hugging Face's (AlbertModel under "albert."), [out, in] kernels:
    written out here from the two layouts, independently of our tables."""
    out = {}
    for name, value in arrays.items():
        hf = (name.replace("bert/", "albert.", 1).replace("/", ".")
              .replace("encoder.transformer.group_", "encoder.albert_layer_groups.")
              .replace(".inner_group_", ".albert_layers.")
              .replace("attention_1.self.", "attention.").replace("attention_1.output.dense",
                                                                  "attention.dense")
              .replace("ffn_1.intermediate.output.dense", "ffn_output")
              .replace("ffn_1.intermediate.dense", "ffn").replace("LayerNorm_1",
                                                                  "full_layer_layer_norm")
              .replace("pooler.dense", "pooler").replace("gamma", "weight")
              .replace("beta", "bias"))
        hf = hf.replace("albert_layers.0.LayerNorm", "albert_layers.0.attention.LayerNorm")
        hf = hf.replace("albert_layers.1.LayerNorm", "albert_layers.1.attention.LayerNorm")
        if hf.endswith(".kernel"):
            hf, value = hf[:-len(".kernel")] + ".weight", value.T
        if "embeddings" in hf and not hf.startswith("albert.embeddings.LayerNorm"):
            hf += ".weight"
        out[hf] = value
    return out


def test_google_release_loads_strictly_and_matches_the_float64_reference(tmp_path):
    directory, arrays = hub_layouts.write_albert_google(tmp_path / "albert_base")
    release = checkpoints.resolve(directory)
    assert (release.format, release.config_file) == ("google", f"{directory}/albert_config.json")
    encoder = TransformerEncoder.from_pretrained(directory)
    assert type(encoder) is AlbertEncoder and encoder.config.hidden_act == "gelu_new"
    ids, mask = padded_inputs(0, 67, seed=6)
    out = encoder({"input_ids": ids, "input_mask": mask})
    encoder_arrays = {k: v for k, v in arrays.items() if k.startswith("bert/")}
    expected = reference_forward(as_hugging_face(encoder_arrays), "albert", ids, mask, 4, 3)
    real = mask[..., None] > 0
    np.testing.assert_allclose(np.where(real, out["sequence_output"], 0),
                               np.where(real, expected, 0), atol=2e-5)
    pooled = np.tanh(expected[:, 0] @ arrays["bert/pooler/dense/kernel"]
                     + arrays["bert/pooler/dense/bias"])
    np.testing.assert_allclose(out["pooled_output"], pooled, atol=2e-5)
    # Layers 0 and 1 run group 0, layers 2 and 3 group 1: four blocks, eight applications.
    assert len(encoder.blocks) == 4 and len(out["encoder_outputs"]) == 4
    # Strict: Google's config keys, and structures ALBERT never released, are checked.
    config = json.load(open(f"{directory}/albert_config.json"))
    for key, value, message in [("net_structure_type", 1, "net_structure_type=1 is not "
                                 "supported"), ("hidden_act", "gelu_fast", "hidden_act "
                                 "'gelu_fast' is not one of Google's"),
                                ("num_hidden_groups", 3, "num_hidden_layers 4 is not a "
                                 "multiple of num_hidden_groups 3"),
                                ("attention_window", 5,
                                 r"unknown key\(s\) \['attention_window'\]")]:
        json.dump(dict(config, **{key: value}), open(tmp_path / "albert_config.json", "w"))
        with pytest.raises(ConfigError, match=message):
            AlbertConfig.from_google_json_file(str(tmp_path / "albert_config.json"))


def test_keras_hub_albert_backbone_both_ways_with_copied_weights(tmp_path):
    """keras-hub's AlbertBackbone (random weights, saved by keras-hub) read by us, and ours
    saved as a preset keras-hub reads: the same outputs, pooled ones too."""
    from test_keras_hub_presets import inputs, keras_hub_outputs, max_diffs, randomized

    backbone = keras_hub.models.AlbertBackbone(
        vocabulary_size=67, num_layers=4, num_heads=3, num_groups=2, num_inner_repetitions=2,
        embedding_dim=10, hidden_dim=12, intermediate_dim=37, dropout=0.0,
        max_sequence_length=13, num_segments=2)
    randomized({v.path: v for v in backbone.weights}, seed=4)
    backbone.save_to_preset(str(tmp_path / "theirs"))
    encoder = TransformerEncoder.from_pretrained(str(tmp_path / "theirs"))
    assert type(encoder) is AlbertEncoder and encoder.config == AlbertConfig(**SIZES)
    features = inputs(67, seed=5)
    features["segment_ids"] = features["input_mask"] * np.array([0] * 5 + [1] * 4)
    diffs = max_diffs(encoder(features), keras_hub_outputs(backbone, features))
    print("keras-hub AlbertBackbone -> ours, max abs diff:", diffs)
    assert sorted(diffs) == ["pooled_output", "sequence_output"]
    assert max(diffs.values()) <= 1e-5, diffs

    ours = build_encoder(AlbertConfig(**dict(SIZES, num_hidden_groups=1, num_hidden_layers=3)))
    randomized(ours.named_weights(), seed=6)
    checkpoints.save_preset(ours, None, str(tmp_path / "ours"))
    theirs = keras_hub.models.Backbone.from_preset(str(tmp_path / "ours"))
    assert type(theirs) is keras_hub.models.AlbertBackbone
    diffs = max_diffs(ours(features), keras_hub_outputs(theirs, features))
    print("ours -> keras-hub AlbertBackbone, max abs diff:", diffs)
    assert max(diffs.values()) <= 1e-5, diffs


def test_config_round_trips_and_albert_base_v2_has_its_parameter_count():
    config = AlbertConfig(**SIZES)
    assert AlbertConfig.from_dict(config.to_dict()) == config
    shape = config.encoder_shape()
    assert (shape.embedding_width, shape.shared_groups, shape.group_blocks) == (10, 2, 2)
    assert shape.activation == "gelu" and shape.pooler  # ALBERT's gelu_new: the tanh form
    # Hugging Face's AlbertModel("albert-base-v2").num_parameters(): 11,683,584.
    base = AlbertConfig(vocab_size=30000, hidden_size=768, num_attention_heads=12,
                        intermediate_size=3072)
    assert build_encoder(base).count_params() == 11_683_584
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['dim'\]"):
        AlbertConfig.from_dict({"vocab_size": 5, "dim": 12}, source="x.json")
    with pytest.raises(ConfigError, match="hidden_size 12 is not a multiple of "
                                          "num_attention_heads 5"):
        AlbertConfig(**dict(SIZES, num_attention_heads=5))


def reference_pretraining(arrays, ids, mask, positions):
    """AlbertForPreTraining's masked-LM logits at `positions` and sentence-order logits, in
    float64: AlbertMLMHead (dense H -> E, gelu_new, LayerNorm, the decoder tied to the word
    embeddings plus predictions.bias) and the pooler's tanh into sop_classifier."""
    from test_families import _layer_norm

    a = {k: np.asarray(v, np.float64) for k, v in arrays.items()}
    x = reference_forward(arrays, "albert", ids, mask, 4, 3)  # [B, T, H]
    h = np.take_along_axis(x, np.asarray(positions)[..., None], 1)
    h = h @ a["predictions.dense.weight"].T + a["predictions.dense.bias"]  # [B, K, E]
    h = 0.5 * h * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (h + 0.044715 * h ** 3)))
    h = _layer_norm(h, a["predictions.LayerNorm.weight"], a["predictions.LayerNorm.bias"], 1e-12)
    mlm = h @ a["albert.embeddings.word_embeddings.weight"].T + a["predictions.bias"]
    pooled = np.tanh(x[:, 0] @ a["albert.pooler.weight"].T + a["albert.pooler.bias"])
    sop = pooled @ a["sop_classifier.classifier.weight"].T + a["sop_classifier.classifier.bias"]
    return mlm, sop


def test_pretraining_releases_load_strictly_and_match_the_float64_reference(tmp_path):
    """AlbertForPreTraining's directory and google-research/albert's release (cls/predictions,
    cls/seq_relationship) into AlbertPretrainer: both heads as the hub model computes them;
    an AlbertForMaskedLM directory (albert-base-v2's layout) loads its masked-LM head."""
    from safetensors.numpy import load_file

    from bert_tf.models.albert import AlbertPretrainer

    ids, mask = padded_inputs(0, 67, seed=8)
    positions = (np.random.default_rng(9).random((5, 3)) * mask.sum(1)[:, None]).astype(np.int32)
    batch = {"input_ids": ids, "input_mask": mask, "masked_lm_positions": positions}
    directory = hub_layouts.write_albert(tmp_path / "pretraining", pretraining=True)
    arrays = load_file(f"{directory}/model.safetensors")
    model = AlbertPretrainer.from_pretrained(directory, require_head=True)
    out = model(batch)
    mlm, sop = reference_pretraining(arrays, ids, mask, positions)
    np.testing.assert_allclose(out["mlm_logits"], mlm, atol=2e-5)
    np.testing.assert_allclose(out["sop_logits"], sop, atol=2e-5)

    google, g = hub_layouts.write_albert_google(tmp_path / "google", seed=3)
    hf = as_hugging_face({k: v for k, v in g.items() if k.startswith("bert/")})
    hf.update({"predictions.dense.weight": g["cls/predictions/transform/dense/kernel"].T,
               "predictions.dense.bias": g["cls/predictions/transform/dense/bias"],
               "predictions.LayerNorm.weight": g["cls/predictions/transform/LayerNorm/gamma"],
               "predictions.LayerNorm.bias": g["cls/predictions/transform/LayerNorm/beta"],
               "predictions.bias": g["cls/predictions/output_bias"],
               "sop_classifier.classifier.weight": g["cls/seq_relationship/output_weights"],
               "sop_classifier.classifier.bias": g["cls/seq_relationship/output_bias"]})
    out = AlbertPretrainer.from_pretrained(google, require_head=True)(batch)
    mlm, sop = reference_pretraining(hf, ids, mask, positions)
    np.testing.assert_allclose(out["mlm_logits"], mlm, atol=2e-5)
    np.testing.assert_allclose(out["sop_logits"], sop, atol=2e-5)

    masked_lm = hub_layouts.write_albert(tmp_path / "masked_lm", lm_head=True)
    arrays = load_file(f"{masked_lm}/model.safetensors")
    model = AlbertPretrainer.from_pretrained(masked_lm, require_head=True)
    np.testing.assert_array_equal(model.mlm_output_bias.numpy(), arrays["predictions.bias"])
