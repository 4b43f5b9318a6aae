"""ELECTRA's other checkpoints: keras-hub's ElectraBackbone with copied weights (both ways), and google-research/electra's TF1 checkpoints read strictly."""

import numpy as np
import pytest

import hub_layouts
from bert_tf import (BertTokenizer, ElectraConfig, ElectraEncoder, ElectraPretrainer,
                     TransformerEncoder)
from bert_tf import build_encoder, checkpoints
from bert_tf.checkpoints import CheckpointMismatchError
from scipy.special import erf
from test_families import _layer_norm as layer_norm
from test_families import padded_inputs, reference_forward

ATOL = 1e-5


def _randomized(encoder, seed):
    rng = np.random.default_rng(seed)
    for path, variable in encoder.named_weights().items():
        value = rng.standard_normal(tuple(variable.shape)) * 0.3
        if path.endswith("gamma"):
            value = 1.0 + value / 3
        variable.assign(value.astype(np.float32))


def test_keras_hub_electra_backbone_with_copied_weights_both_ways(tmp_path):
    """Ours saved as a preset keras-hub's ElectraBackbone reads to our sequence output (its
    tanh GELU: hidden_act gelu_new); a preset keras-hub writes, read by us, to its outputs;
    segments included, factorized tables projected; keras-hub's ElectraTokenizer from the
    preset gives our WordPiece ids. Its pooled_dense, which ELECTRA has not, is written as
    zeros and skipped when read."""
    import keras_hub

    config = ElectraConfig(vocab_size=67, embedding_size=9, hidden_size=12, num_hidden_layers=2,
                           num_attention_heads=3, intermediate_size=37,
                           max_position_embeddings=11, hidden_act="gelu_new")
    ours = build_encoder(config)
    _randomized(ours, seed=1)
    ids, mask = padded_inputs(0, 67, seed=6)
    segments = (np.arange(9)[None, :] >= 3).astype(np.int32) * mask
    features = {"input_ids": ids, "input_mask": mask, "segment_ids": segments}
    given = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}
    directory = str(tmp_path / "ours")
    hub_layouts.write_wordpiece_vocab(str(tmp_path / "vocab"), ["cat", "river", "flows"])
    tokenizer = BertTokenizer(str(tmp_path / "vocab" / "vocab.txt"), do_lower_case=True)
    checkpoints.save_preset(ours, tokenizer, directory)
    backbone = keras_hub.models.Backbone.from_preset(directory)
    assert type(backbone) is keras_hub.models.ElectraBackbone
    texts = ["The cat, the river.", "Flows!"]
    theirs = keras_hub.models.Tokenizer.from_preset(directory)
    assert type(theirs) is keras_hub.models.ElectraTokenizer
    ours_ids = tokenizer.tokenize(texts).to_list()
    assert [[int(i) for i in row] for row in theirs(texts)] == ours_ids
    assert sum(map(len, ours_ids)) >= 7
    theirs = backbone(given)
    diff = np.abs(np.asarray(theirs["sequence_output"]) - ours(features)["sequence_output"])
    print("ours -> ElectraBackbone, max abs diff:", float(diff.max()))
    assert diff.max() <= ATOL
    np.testing.assert_array_equal(theirs["pooled_output"], 0.0)

    # keras-hub's own random backbone, saved by keras-hub, read by us.
    theirs = keras_hub.models.ElectraBackbone(
        vocab_size=67, num_layers=2, num_heads=3, hidden_dim=12, embedding_dim=9,
        intermediate_dim=37, max_sequence_length=11)
    rng = np.random.default_rng(2)
    for variable in theirs.weights:
        value = rng.standard_normal(tuple(variable.shape)) * 0.3
        variable.assign((1.0 + value / 3 if variable.path.endswith("gamma") else value)
                        .astype(np.float32))
    theirs.save_to_preset(str(tmp_path / "theirs"))
    encoder = TransformerEncoder.from_pretrained(str(tmp_path / "theirs"))
    assert type(encoder) is ElectraEncoder and encoder.config.to_keras_hub()["embedding_dim"] == 9
    diff = np.abs(np.asarray(theirs(given)["sequence_output"])
                  - encoder(features)["sequence_output"])
    print("ElectraBackbone -> ours, max abs diff:", float(diff.max()))
    assert diff.max() <= ATOL


def _hf_names(arrays, scope):
    """google-research/electra's arrays of one Transformer under `scope` (and the shared
    electra/embeddings/) under Hugging Face's ElectraModel names, for the float64 reference:
    dense kernels [in, out] become [out, in] weights."""
    out = {}
    for name, value in arrays.items():
        if "adam_" in name or not name.startswith(
                (f"{scope}/encoder/", f"{scope}/embeddings_project/", "electra/embeddings/")):
            continue
        parts = name.split("/")[1:]  # without the scope
        last = {"kernel": "weight", "gamma": "weight", "beta": "bias", "bias": "bias"}
        parts = parts[:-1] + [last[parts[-1]]] if parts[-1] in last else parts + ["weight"]
        hf = "electra." + ".".join(parts).replace("layer_", "layer.")
        out[hf] = value.T if name.endswith("/kernel") else value
    return out


def test_google_research_electra_checkpoint_reads_strictly(tmp_path):
    """A google-research/electra pretraining checkpoint (discriminator, generator, both heads,
    Adam slots, global step) with its discriminator's config.json: the encoder reads electra/
    to the float64 reference; ElectraPretrainer reads all of it, each array in its place; a
    name no rule places is an error naming it."""
    directory, arrays = hub_layouts.write_electra_google(tmp_path / "electra")
    release = checkpoints.resolve(directory)
    assert release.format == "google" and release.weights[0].endswith("model.ckpt-7")
    encoder = TransformerEncoder.from_pretrained(directory)
    assert type(encoder) is ElectraEncoder
    ids, mask = padded_inputs(0, 67, seed=7)
    expected = reference_forward(_hf_names(arrays, "electra"), "electra", ids, mask, 2, 3)
    real = mask[..., None] > 0
    out = encoder({"input_ids": ids, "input_mask": mask})["sequence_output"]
    np.testing.assert_allclose(np.where(real, out, 0), np.where(real, expected, 0), atol=2e-5)

    model = ElectraPretrainer.from_pretrained(directory)
    named = dict(model.encoder.named_weights(), **model.head_weights())
    table = model.checkpoint_names("google")
    for path, variable in named.items():
        name, _ = table.source_name(path)
        np.testing.assert_allclose(variable.numpy(), arrays[name], atol=1e-7, err_msg=path)
    assert model.generator_config.hidden_size == 3 and len(named) == len(
        [n for n in arrays if "adam_" not in n and n != "global_step"])
    # The generator's logits against float64: its body (generator/..., on the shared
    # electra/embeddings/, one head) and generator_predictions' dense, GELU, LayerNorm and
    # decoder tied to the word table.
    positions = np.array([[1, 2]] * 5, np.int32)
    batch = {"input_ids": ids, "input_mask": mask, "masked_lm_positions": positions}
    hidden = reference_forward(_hf_names(arrays, "generator"), "electra", ids, mask, 2, 1)
    hidden = np.take_along_axis(hidden, positions[..., None], 1)  # [B, K, G]
    a = {k: np.asarray(v, np.float64) for k, v in arrays.items()}
    x = hidden @ a["generator_predictions/dense/kernel"] + a["generator_predictions/dense/bias"]
    x = 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    x = layer_norm(x, a["generator_predictions/LayerNorm/gamma"],
                   a["generator_predictions/LayerNorm/beta"], 1e-12)
    expected_logits = (x @ a["electra/embeddings/word_embeddings"].T
                       + a["generator_predictions/output_bias"])
    np.testing.assert_allclose(model.generator_logits(batch), expected_logits, atol=2e-5)

    import tensorflow as tf

    bad = tmp_path / "bad"
    bad.mkdir()
    extra = dict(arrays, **{"generator/encoder/layer_9/output/dense/bias": np.zeros(3)})
    names = sorted(extra)
    tf.raw_ops.SaveV2(prefix=str(bad / "model.ckpt-7"), tensor_names=names,
                      shape_and_slices=[""] * len(names),
                      tensors=[np.asarray(extra[n], np.int64 if n == "global_step"
                                          else np.float32) for n in names])
    with pytest.raises(CheckpointMismatchError, match=r"generator/encoder/layer_9"):
        checkpoints.load_weights(model, checkpoints.Release(
            "google", str(bad), release.config_file, (str(bad / "model.ckpt-7"),), None))


def test_pretrainer_releases_are_the_hubs_two_models(tmp_path):
    """save_pretrained writes an ElectraForPreTraining release and, in generator/, an
    ElectraForMaskedLM one whose body is an ElectraModel of the generator's config (the hub's
    electra-*-generator layout: the word table copied, the decoder's weight tied, unsaved);
    from_pretrained reads both back to every weight. A hub-layout ElectraForMaskedLM reads as
    its encoder to the float64 reference."""
    from safetensors.numpy import load_file

    config = ElectraConfig(vocab_size=67, embedding_size=9, hidden_size=12, num_hidden_layers=2,
                           num_attention_heads=3, intermediate_size=37,
                           max_position_embeddings=11)
    model = ElectraPretrainer(config, generator_hidden_size=0.5, seed=2)
    for i, variable in enumerate(model.trainable_weights):
        variable.assign(np.random.default_rng(i).standard_normal(variable.shape) * 0.2)
    model.save_pretrained(str(tmp_path / "release"))
    generator = load_file(str(tmp_path / "release" / "generator" / "model.safetensors"))
    assert "generator_lm_head.weight" not in generator
    assert generator["generator_predictions.dense.weight"].shape == (9, 6)  # [E, G]
    assert generator["electra.embeddings_project.weight"].shape == (6, 9)
    again = ElectraPretrainer.from_pretrained(str(tmp_path / "release"), generator_hidden_size=0.5)
    ours = dict(model.encoder.named_weights(), **model.head_weights())
    for path, variable in dict(again.encoder.named_weights(), **again.head_weights()).items():
        np.testing.assert_array_equal(variable.numpy(), ours[path].numpy(), err_msg=path)
    # The generator's copy of the shared tables must be the discriminator's.
    from safetensors.numpy import save_file
    changed = dict(generator, **{"electra.embeddings.word_embeddings.weight":
                                 generator["electra.embeddings.word_embeddings.weight"] + 0.1})
    save_file(changed, str(tmp_path / "release" / "generator" / "model.safetensors"))
    with pytest.raises(CheckpointMismatchError, match="the generator's "
                                                      "embeddings/word_embeddings differs"):
        ElectraPretrainer.from_pretrained(str(tmp_path / "release"), generator_hidden_size=0.5)
    save_file(generator, str(tmp_path / "release" / "generator" / "model.safetensors"))
    body = TransformerEncoder.from_pretrained(str(tmp_path / "release" / "generator"))
    assert body.config == model.generator_config
    np.testing.assert_array_equal(body.blocks[1].intermediate.kernel.numpy(),
                                  model.generator_blocks[1].intermediate.kernel.numpy())

    hub = hub_layouts.write_electra(tmp_path / "hub_generator", head="generator")
    encoder = TransformerEncoder.from_pretrained(hub)
    ids, mask = padded_inputs(0, 67, seed=8)
    arrays = load_file(f"{hub}/model.safetensors")
    expected = reference_forward(arrays, "electra", ids, mask, 2, 3)
    real = mask[..., None] > 0
    np.testing.assert_allclose(
        np.where(real, encoder({"input_ids": ids, "input_mask": mask})["sequence_output"], 0),
        np.where(real, expected, 0), atol=2e-5)
