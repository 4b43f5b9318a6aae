"""Google-format (google-research/bert) TF1 checkpoints: import, export, and bad checkpoints."""

import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import BertConfig, BertEncoder
from bert_tf.checkpoints import CheckpointMismatchError, resolve
from reference import forward, random_google_weights
from testing import random_inputs, tiny_config

CONFIG = tiny_config(num_hidden_layers=3)


def write_tf1_checkpoint(prefix, arrays):
    """Saves arrays as tf.compat.v1 variables under their names, as Google's Saver did."""
    graph = tf.Graph()
    with graph.as_default():
        for name, value in arrays.items():
            tf.compat.v1.get_variable(name, initializer=tf.constant(value))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, prefix)


def google_release(directory, config=CONFIG, extra=None, drop=(), seed=0):
    """Writes a Google-style release directory with random weights; returns the arrays."""
    os.makedirs(directory, exist_ok=True)
    arrays = random_google_weights(
        np.random.default_rng(seed), config.vocab_size, config.hidden_size,
        config.num_hidden_layers, config.intermediate_size, config.max_position_embeddings,
        config.type_vocab_size)
    full = dict(arrays)
    # What a pretraining run leaves beside the encoder: heads, Adam slots, the step.
    full["cls/predictions/output_bias"] = np.zeros(config.vocab_size, np.float32)
    full["cls/seq_relationship/output_weights"] = np.zeros((2, config.hidden_size), np.float32)
    full["bert/pooler/dense/kernel/adam_m"] = np.zeros((config.hidden_size,) * 2, np.float32)
    full["bert/pooler/dense/kernel/adam_v"] = np.zeros((config.hidden_size,) * 2, np.float32)
    full["global_step"] = np.int64(1000)
    full.update(extra or {})
    for name in drop:
        del full[name]
    write_tf1_checkpoint(os.path.join(directory, "bert_model.ckpt"), full)
    config.to_json_file(os.path.join(directory, "bert_config.json"))
    with open(os.path.join(directory, "vocab.txt"), "w") as f:
        f.write("\n".join(f"tok{i}" for i in range(config.vocab_size)) + "\n")
    return arrays


def assert_matches_reference(encoder, arrays, config=CONFIG):
    inputs = random_inputs(config)
    seq, pooled, layers = forward(arrays.__getitem__, inputs["input_ids"], inputs["input_mask"],
                                  inputs["segment_ids"], config.num_hidden_layers,
                                  config.num_attention_heads, config.hidden_act)
    out = encoder(inputs)
    np.testing.assert_allclose(out["sequence_output"], seq, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["pooled_output"], pooled, atol=1e-5, rtol=0)
    for ours, theirs in zip(out["encoder_outputs"], layers):
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


def test_google_release_loads_and_matches_reference(tmp_path):
    arrays = google_release(tmp_path / "release")
    release = resolve(str(tmp_path / "release"))
    assert release.format == "google" and BertConfig.from_release(release) == CONFIG
    assert release.vocab_file.endswith("vocab.txt")
    encoder = BertEncoder.from_pretrained(str(tmp_path / "release"))
    assert_matches_reference(encoder, arrays)
    # The checkpoint prefix, as google-research/bert's --init_checkpoint takes it, works too.
    by_prefix = BertEncoder.from_pretrained(str(tmp_path / "release" / "bert_model.ckpt"))
    for a, b in zip(by_prefix.weights, encoder.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_save_pretrained_round_trips_exactly(tmp_path):
    arrays = google_release(tmp_path / "release")
    encoder = BertEncoder.from_pretrained(str(tmp_path / "release"))
    encoder.save_pretrained(str(tmp_path / "saved"), vocab_file=str(tmp_path / "release" / "vocab.txt"))
    assert sorted(os.listdir(tmp_path / "saved")) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index",
        "vocab.txt"]
    # Same names, shapes and values as the release (minus heads and optimizer state).
    reader = tf.train.load_checkpoint(str(tmp_path / "saved" / "bert_model.ckpt"))
    assert reader.get_variable_to_shape_map() == {k: list(v.shape) for k, v in arrays.items()}
    for name, value in arrays.items():
        np.testing.assert_array_equal(reader.get_tensor(name), value)
    again = BertEncoder.from_pretrained(str(tmp_path / "saved"))
    assert again.config == encoder.config
    inputs = random_inputs(CONFIG)
    np.testing.assert_array_equal(again(inputs)["sequence_output"],
                                  encoder(inputs)["sequence_output"])


def test_saved_checkpoint_loads_with_tf1_init_from_checkpoint(tmp_path):
    """google-research/bert restores with tf.compat.v1.train.init_from_checkpoint; so can we."""
    arrays = google_release(tmp_path / "release")
    BertEncoder.from_pretrained(str(tmp_path / "release")).save_pretrained(str(tmp_path / "saved"))
    graph = tf.Graph()
    with graph.as_default():
        variables = {name: tf.compat.v1.get_variable(name, shape=value.shape,
                                                     initializer=tf.compat.v1.zeros_initializer())
                     for name, value in arrays.items()}
        tf.compat.v1.train.init_from_checkpoint(str(tmp_path / "saved" / "bert_model.ckpt"),
                                                {"bert/": "bert/"})
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for name, variable in variables.items():
                np.testing.assert_array_equal(session.run(variable), arrays[name])


def test_wrong_config_lists_mismatched_shapes(tmp_path):
    google_release(tmp_path / "release")
    wider = CONFIG.replace(intermediate_size=41)
    wider.to_json_file(str(tmp_path / "release" / "bert_config.json"))
    with pytest.raises(CheckpointMismatchError) as err:
        BertEncoder.from_pretrained(str(tmp_path / "release"))
    message = str(err.value)
    assert "bert_model.ckpt" in message and "shape mismatches" in message
    assert "bert/encoder/layer_0/intermediate/dense/kernel [12, 37] vs layer_0/intermediate/kernel [12, 41]" in message


def test_layer_count_mismatch_is_an_error(tmp_path):
    google_release(tmp_path / "release")
    CONFIG.replace(num_hidden_layers=2).to_json_file(str(tmp_path / "release" / "bert_config.json"))
    with pytest.raises(CheckpointMismatchError,
                       match="bert/encoder/layer_2/attention/output/LayerNorm/beta .would be layer_2"):
        BertEncoder.from_pretrained(str(tmp_path / "release"))


def test_unknown_and_missing_variables(tmp_path):
    extra = {"bert/encoder/layer_0/attention/self/relative_bias": np.zeros(3, np.float32)}
    arrays = google_release(tmp_path / "release", extra=extra, drop=["bert/pooler/dense/bias"])
    with pytest.raises(CheckpointMismatchError) as err:
        BertEncoder.from_pretrained(str(tmp_path / "release"))
    assert "relative_bias" in str(err.value) and "pooler/bias" in str(err.value)
    # Not strict: unknown names are skipped, missing weights keep their initial values.
    encoder = BertEncoder.from_pretrained(str(tmp_path / "release"), strict=False)
    np.testing.assert_array_equal(encoder.named_weights()["pooler/kernel"].numpy(),
                                  arrays["bert/pooler/dense/kernel"])


def test_nothing_is_assigned_when_loading_fails(tmp_path):
    google_release(tmp_path / "release", drop=["bert/pooler/dense/bias"])
    from bert_tf.checkpoints import google, load_into

    encoder = BertEncoder(CONFIG)
    before = [w.numpy() for w in encoder.weights]
    with pytest.raises(CheckpointMismatchError):
        load_into(encoder.named_weights(),
                  google.open_checkpoint(str(tmp_path / "release" / "bert_model.ckpt")),
                  encoder.checkpoint_names("google"))
    for b, w in zip(before, encoder.weights):
        np.testing.assert_array_equal(b, w.numpy())


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint directory or checkpoint prefix"):
        BertEncoder.from_pretrained(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither bert_config.json .* nor config.json"):
        BertEncoder.from_pretrained(str(tmp_path / "empty"))
    google_release(tmp_path / "release")
    for name in os.listdir(tmp_path / "release"):
        if name.startswith("bert_model.ckpt"):
            os.remove(tmp_path / "release" / name)
    with pytest.raises(FileNotFoundError, match="has bert_config.json but no checkpoint"):
        BertEncoder.from_pretrained(str(tmp_path / "release"))
