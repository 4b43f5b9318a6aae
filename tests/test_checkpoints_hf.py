"""Hugging Face checkpoints (config.json + safetensors): synthetic ones and the real all-MiniLM-L6-v2."""

import json
import os

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer

from bert_tf import BertEncoder
from bert_tf.checkpoints import CheckpointMismatchError, resolve
from reference import forward, random_google_weights
from testing import minilm_dir, random_inputs, tiny_config


def hf_name(google_name):
    """Google TF1 name -> (Hugging Face name, whether the array is transposed)."""
    name = google_name[len("bert/"):].replace("/", ".").replace("layer_", "layer.")
    if name.endswith("embeddings"):
        return name + ".weight", False
    for old, new in ((".kernel", ".weight"), (".gamma", ".weight"), (".beta", ".bias")):
        if name.endswith(old):
            return name[: -len(old)] + new, old == ".kernel"
    return name, False


def hf_arrays_as_google(arrays):
    """An accessor in Google names over a dict of Hugging Face arrays (for the reference)."""
    def get(google_name):
        name, transposed = hf_name(google_name)
        value = arrays[name] if name in arrays else arrays["bert." + name]
        return value.T if transposed else value
    return get


def hf_release(directory, config, prefix="", shards=1, seed=0, dtype=np.float32):
    os.makedirs(directory, exist_ok=True)
    google = random_google_weights(np.random.default_rng(seed), config.vocab_size,
                                   config.hidden_size, config.num_hidden_layers,
                                   config.intermediate_size, config.max_position_embeddings,
                                   config.type_vocab_size)
    arrays = {}
    for name, value in google.items():
        hf, transposed = hf_name(name)
        arrays[prefix + hf] = np.ascontiguousarray(value.T if transposed else value).astype(dtype)
    arrays[prefix + "embeddings.position_ids"] = np.arange(config.max_position_embeddings)[None]
    names = sorted(arrays)
    if shards == 1:
        save_file(arrays, os.path.join(directory, "model.safetensors"))
    else:
        weight_map = {}
        for s in range(shards):
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = names[s::shards]
            save_file({n: arrays[n] for n in part}, os.path.join(directory, file))
            weight_map.update({n: file for n in part})
        with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
    hf_config = dict(config.to_dict(), hidden_act="gelu", model_type="bert",
                     architectures=["BertModel"], pad_token_id=0, layer_norm_eps=1e-12,
                     position_embedding_type="absolute", use_cache=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(hf_config, f)
    return arrays


@pytest.mark.parametrize("prefix,shards", [("", 1), ("bert.", 1), ("bert.", 3)])
def test_synthetic_release_matches_reference(tmp_path, prefix, shards):
    config = tiny_config(num_hidden_layers=2)
    arrays = hf_release(tmp_path / "hf", config, prefix=prefix, shards=shards)
    release = resolve(str(tmp_path / "hf"))
    assert release.format == "huggingface" and len(release.weights) == shards
    encoder = BertEncoder.from_pretrained(str(tmp_path / "hf"))
    assert encoder.config.hidden_act == "gelu_exact"  # Hugging Face's "gelu" is the erf form
    inputs = random_inputs(config)
    seq, pooled, _ = forward(hf_arrays_as_google(arrays), inputs["input_ids"], inputs["input_mask"],
                             inputs["segment_ids"], 2, 3, "gelu_exact")
    out = encoder(inputs)
    np.testing.assert_allclose(out["sequence_output"], seq, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["pooled_output"], pooled, atol=1e-5, rtol=0)


def test_float16_weights_are_widened(tmp_path):
    config = tiny_config()
    arrays = hf_release(tmp_path / "hf", config, dtype=np.float16)
    encoder = BertEncoder.from_pretrained(str(tmp_path / "hf"))
    kernel = encoder.named_weights()["layer_1/intermediate/kernel"]
    assert kernel.dtype == "float32"
    np.testing.assert_array_equal(kernel.numpy(),
                                  arrays["encoder.layer.1.intermediate.dense.weight"].T)


def test_other_heads_are_skipped_but_unknown_encoder_names_need_strict_false(tmp_path):
    """A BertForQuestionAnswering checkpoint loads strictly as an encoder (its head is
    another model's); a name inside the encoder that fits nothing is a config mismatch."""
    config = tiny_config()
    arrays = hf_release(tmp_path / "hf", config, prefix="bert.")
    arrays["qa_outputs.weight"] = np.zeros((2, 12), np.float32)
    arrays["qa_outputs.bias"] = np.zeros((2,), np.float32)
    save_file(arrays, str(tmp_path / "hf" / "model.safetensors"))
    encoder = BertEncoder.from_pretrained(str(tmp_path / "hf"))
    np.testing.assert_array_equal(encoder.embeddings.word_embeddings.numpy(),
                                  arrays["bert.embeddings.word_embeddings.weight"])
    arrays["bert.encoder.layer.0.attention.self.rotary.weight"] = np.zeros((3,), np.float32)
    save_file(arrays, str(tmp_path / "hf" / "model.safetensors"))
    with pytest.raises(CheckpointMismatchError, match="rotary.weight"):
        BertEncoder.from_pretrained(str(tmp_path / "hf"))
    # strict=False skips that name and loads everything else: the strict load's weights,
    # and its outputs.
    lenient = BertEncoder.from_pretrained(str(tmp_path / "hf"), strict=False)
    expected = encoder.named_weights()
    assert lenient.named_weights().keys() == expected.keys()
    for path, variable in lenient.named_weights().items():
        np.testing.assert_array_equal(variable.numpy(), expected[path].numpy(), err_msg=path)
    inputs = random_inputs(config)
    np.testing.assert_array_equal(lenient(inputs)["sequence_output"],
                                  encoder(inputs)["sequence_output"])


def test_sequence_classification_checkpoint(tmp_path):
    """BertForSequenceClassification: the encoder skips the head, BertClassifier loads it."""
    from tasks.classification.model import BertClassifier

    config = tiny_config()
    arrays = hf_release(tmp_path / "hf", config, prefix="bert.")
    head = np.random.default_rng(5).standard_normal((3, 12)).astype(np.float32)
    arrays["classifier.weight"], arrays["classifier.bias"] = head, np.ones(3, np.float32)
    save_file(arrays, str(tmp_path / "hf" / "model.safetensors"))
    encoder = BertEncoder.from_pretrained(str(tmp_path / "hf"))
    classifier = BertClassifier.from_pretrained(str(tmp_path / "hf"), num_labels=3)
    np.testing.assert_array_equal(classifier.classifier.kernel.numpy(), head.T)
    np.testing.assert_array_equal(classifier.classifier.bias.numpy(), np.ones(3))
    for path, variable in encoder.named_weights().items():  # the same encoder in both
        np.testing.assert_array_equal(classifier.encoder.named_weights()[path].numpy(),
                                      variable.numpy(), err_msg=path)
    layer = arrays["bert.encoder.layer.1.attention.self.key.weight"]
    np.testing.assert_array_equal(encoder.blocks[1].attention.key.kernel.numpy(), layer.T)
    # Without its head, a classifier takes the encoder and starts its head fresh (fine-tuning).
    del arrays["classifier.weight"], arrays["classifier.bias"]
    save_file(arrays, str(tmp_path / "hf" / "model.safetensors"))
    fresh = BertClassifier.from_pretrained(str(tmp_path / "hf"), num_labels=3)
    assert not np.array_equal(fresh.classifier.kernel.numpy(), head.T)
    np.testing.assert_array_equal(fresh.encoder.blocks[1].attention.key.kernel.numpy(), layer.T)


def test_torch_only_release_is_a_clear_error(tmp_path):
    hf_release(tmp_path / "hf", tiny_config())
    os.rename(tmp_path / "hf" / "model.safetensors", tmp_path / "hf" / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin: only safetensors is read"):
        BertEncoder.from_pretrained(str(tmp_path / "hf"))


def test_corrupt_safetensors_names_the_file(tmp_path):
    hf_release(tmp_path / "hf", tiny_config())
    (tmp_path / "hf" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="model.safetensors"):
        BertEncoder.from_pretrained(str(tmp_path / "hf"))


# ---------------------------------------------------------------- the real checkpoint

SENTENCES = ["A man is eating food.", "A man is eating a piece of bread.",
             "The girl is carrying a baby.", "A man is riding a horse."]


@pytest.fixture(scope="module")
def minilm():
    path = minilm_dir()
    tokenizer = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
    tokenizer.no_padding()  # the file pads to 128; pad to the longest sentence instead
    encodings = tokenizer.encode_batch(SENTENCES)
    length = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(SENTENCES), length), np.int32)
    mask = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        ids[row, :len(e.ids)] = e.ids
        mask[row, :len(e.ids)] = 1
    inputs = {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids)}
    return path, BertEncoder.from_pretrained(path), inputs


def mean_pool(sequence, mask):
    mask = mask[..., None].astype(np.float64)
    return (np.asarray(sequence, np.float64) * mask).sum(1) / mask.sum(1)


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_minilm_reproduces_published_similarity(minilm):
    _, encoder, inputs = minilm
    emb = mean_pool(encoder(inputs)["sequence_output"], inputs["input_mask"])
    assert abs(cosine(emb[0], emb[1]) - 0.7553) < 5e-4
    # And the obvious ordering: the two eating sentences are the closest pair.
    sims = [[cosine(a, b) for b in emb] for a in emb]
    assert max((sims[i][j], (i, j)) for i in range(4) for j in range(i + 1, 4))[1] == (0, 1)


def test_minilm_matches_float64_forward_from_raw_arrays(minilm):
    path, encoder, inputs = minilm
    arrays = load_file(os.path.join(path, "model.safetensors"))
    seq, pooled, _ = forward(hf_arrays_as_google(arrays), inputs["input_ids"], inputs["input_mask"],
                             inputs["segment_ids"], 6, 12, "gelu_exact")
    out = encoder(inputs)
    real = inputs["input_mask"] > 0
    assert np.abs(out["sequence_output"].numpy()[real] - seq[real]).max() <= 1e-4
    assert np.abs(out["pooled_output"].numpy() - pooled).max() <= 1e-4


# Measured max abs diff and min cosine: bfloat16 0.033 and 0.99995 (Zen 4, native
# bfloat16, 2026-11-28), cosine 0.99986 (Zen 3, emulated bfloat16, which rounds
# differently); float16 0.0033 and 0.9999993. The bounds allow 3x the worst distance
# seen (1 - cosine, max abs diff) on any of these CPUs. With GELU fused into the
# feed-forward matmul and bert_tf's LayerNorm (2026-12-03, Intel AMX): bfloat16 0.030
# and 0.99995, float16 0.0033 and 0.9999993 (0.0047 with the fusion and keras's LayerNorm).
@pytest.mark.parametrize("policy,atol,min_cosine", [("mixed_bfloat16", 0.1, 0.9995),
                                                    ("mixed_float16", 0.01, 0.99999)])
def test_minilm_under_mixed_precision_stays_close(minilm, policy, atol, min_cosine):
    """Against float32 on the real model: the max abs diff of the sequence
    output (values up to about 5) and the cosine of mean-pooled embeddings."""
    path, encoder, inputs = minilm
    mixed = BertEncoder.from_pretrained(path, dtype=policy)
    full = encoder(inputs)["sequence_output"].numpy()
    half = mixed(inputs)["sequence_output"]
    assert half.dtype == policy.split("_")[1]
    half = np.asarray(half, np.float32)
    real = inputs["input_mask"] > 0
    assert np.abs(half[real] - full[real]).max() <= atol
    a, b = mean_pool(full, inputs["input_mask"]), mean_pool(half, inputs["input_mask"])
    assert min(cosine(x, y) for x, y in zip(a, b)) >= min_cosine
