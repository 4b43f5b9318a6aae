import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import BertConfig, BertEncoder
from testing import BATCH, SEQ, random_inputs, tiny_config


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(1)
    return BertEncoder(tiny_config(num_hidden_layers=3, hidden_act="gelu_exact",
                                   layer_norm_eps=1e-7, initializer_range=0.3))


def test_outputs(encoder):
    out = encoder(random_inputs(encoder.config))
    assert out["sequence_output"].shape == (BATCH, SEQ, 12)
    assert out["pooled_output"].shape == (BATCH, 12)
    assert len(out["encoder_outputs"]) == 3
    np.testing.assert_array_equal(out["encoder_outputs"][-1], out["sequence_output"])
    kernel, bias = encoder.pooler.kernel.numpy(), encoder.pooler.bias.numpy()
    np.testing.assert_allclose(
        out["pooled_output"], np.tanh(out["sequence_output"].numpy()[:, 0] @ kernel + bias),
        atol=1e-6)


def test_named_weights_cover_every_weight_once(encoder):
    named = encoder.named_weights()
    assert len(named) == len(encoder.weights) == 5 + 16 * 3 + 2
    assert {id(v) for v in named.values()} == {id(v) for v in encoder.weights}
    assert named["layer_2/attention/query/kernel"].shape == (12, 12)
    assert named["layer_1/intermediate/kernel"].shape == (12, 37)


def test_config_round_trip_and_keras_file(encoder, tmp_path):
    inputs = random_inputs(encoder.config)
    expected = encoder(inputs)
    clone = BertEncoder.from_config(encoder.get_config())
    assert clone.config == encoder.config
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, BertEncoder) and reloaded.config == encoder.config
    got = reloaded(inputs)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(got[key], expected[key])


def test_padding_does_not_change_real_positions(encoder):
    inputs = random_inputs(encoder.config)
    out = encoder(inputs)
    mask = inputs["input_mask"]
    changed = dict(inputs)
    rng = np.random.default_rng(7)
    changed["input_ids"] = np.where(mask > 0, inputs["input_ids"],
                                    rng.integers(0, 53, mask.shape)).astype(np.int32)
    changed["segment_ids"] = np.where(mask > 0, inputs["segment_ids"], 2).astype(np.int32)
    assert not np.array_equal(changed["input_ids"], inputs["input_ids"])
    got = encoder(changed)
    real = mask > 0
    np.testing.assert_allclose(got["sequence_output"].numpy()[real],
                               out["sequence_output"].numpy()[real], atol=1e-6)
    np.testing.assert_allclose(got["pooled_output"], out["pooled_output"], atol=1e-6)
    # Trimming the padding away entirely gives the same result for a row.
    row = 3
    length = mask[row].sum()
    short = {k: v[row:row + 1, :length] for k, v in inputs.items()}
    np.testing.assert_allclose(encoder(short)["sequence_output"][0],
                               out["sequence_output"][row, :length], atol=1e-5)


def test_batch_slice_equals_slice_of_batch(encoder):
    inputs = random_inputs(encoder.config)
    full = encoder(inputs)["sequence_output"].numpy()
    part = encoder({k: v[1:3] for k, v in inputs.items()})["sequence_output"].numpy()
    # oneDNN blocks a batch of 2 and of 5 differently: float32 sums in another order differ
    # by up to 1.2e-6 (seen on an AMX machine); a wrong slice would differ by ~1.
    np.testing.assert_allclose(part, full[1:3], atol=1e-5)


def test_defaults_for_mask_and_segments(encoder):
    ids = random_inputs(encoder.config)["input_ids"]
    explicit = encoder({"input_ids": ids, "input_mask": np.ones_like(ids),
                        "segment_ids": np.zeros_like(ids)})
    np.testing.assert_array_equal(encoder({"input_ids": ids})["sequence_output"],
                                  explicit["sequence_output"])


def test_dropout_only_in_training(encoder):
    inputs = random_inputs(encoder.config)
    a = encoder(inputs)["sequence_output"]
    np.testing.assert_array_equal(a, encoder(inputs, training=False)["sequence_output"])
    assert not np.allclose(a, encoder(inputs, training=True)["sequence_output"])


def test_too_long_sequence_is_an_error(encoder):
    ids = np.ones((2, 12), np.int32)  # max_position_embeddings is 11
    with pytest.raises(ValueError, match="exceeds max_position_embeddings 11"):
        encoder({"input_ids": ids})
    fn = tf.function(encoder, input_signature=[{"input_ids": tf.TensorSpec([None, None], tf.int32)}])
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings 11"):
        fn({"input_ids": ids})


def test_gradients_reach_every_weight(encoder):
    inputs = random_inputs(encoder.config)
    with tf.GradientTape() as tape:
        out = encoder(inputs, training=True)
        loss = tf.reduce_sum(out["sequence_output"] ** 2) + tf.reduce_sum(out["pooled_output"])
    grads = tape.gradient(loss, encoder.trainable_variables)
    assert len(grads) == len(encoder.weights)  # every weight is trainable
    for variable, grad in zip(encoder.trainable_variables, grads):
        assert grad is not None and float(tf.norm(tf.convert_to_tensor(grad))) > 0, variable.path


def test_config_dict_is_accepted():
    config = BertConfig.preset("tiny")
    assert BertEncoder(config.to_dict()).config == config
