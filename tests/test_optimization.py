"""Optimizers and schedule against their formulas, computed here in numpy."""

import keras
import numpy as np
import pytest

from bert_tf.training.optimization import (AdamWeightDecay, Lamb, WarmupPolynomialDecay,
                                  create_optimizer)


def test_warmup_then_linear_decay():
    schedule = WarmupPolynomialDecay(1e-3, decay_steps=100, warmup_steps=10)
    got = [float(schedule(s)) for s in (0, 5, 10, 55, 100, 150)]
    expected = [0.0, 5e-4, 1e-3 * 0.9, 1e-3 * 0.45, 0.0, 0.0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    square = WarmupPolynomialDecay(1.0, decay_steps=10, power=2.0, end_learning_rate=0.1)
    assert float(square(5)) == pytest.approx(0.9 * 0.25 + 0.1)


def variables():
    rng = np.random.default_rng(0)
    shapes = {"kernel": (3, 5), "gamma": (5,), "bias": (5,)}
    return {name: keras.Variable(rng.standard_normal(shape).astype(np.float32), name=name)
            for name, shape in shapes.items()}


def run(optimizer, steps=3):
    vs = variables()
    start = {k: v.numpy().astype(np.float64) for k, v in vs.items()}
    rng = np.random.default_rng(1)
    grads = [{k: rng.standard_normal(v.shape) for k, v in start.items()} for _ in range(steps)]
    for g in grads:
        optimizer.apply([g[k].astype(np.float32) for k in vs], list(vs.values()))
    return start, grads, {k: v.numpy() for k, v in vs.items()}


def test_adam_weight_decay_is_google_bert_adam():
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-6
    start, grads, got = run(AdamWeightDecay(learning_rate=lr, weight_decay=wd))
    for name, w in start.items():
        m = v = 0.0
        for g in grads:
            g = g[name]
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            update = m / (np.sqrt(v) + eps)  # no bias correction
            if name == "kernel":  # LayerNorm and bias variables get no decay
                update = update + wd * w
            w = w - lr * update
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-6, err_msg=name)


def test_adam_weight_decay_with_bias_correction():
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-6
    start, grads, got = run(AdamWeightDecay(learning_rate=lr, weight_decay=wd,
                                            bias_correction=True))
    for name, w in start.items():
        m = v = 0.0
        for t, g in enumerate(grads, start=1):
            g = g[name]
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            update = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
            w = w - lr * (update + (wd * w if name == "kernel" else 0))
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-6, err_msg=name)


def test_lamb():
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-6
    start, grads, got = run(Lamb(learning_rate=lr, weight_decay=wd))
    for name, w in start.items():
        m = v = 0.0
        for t, g in enumerate(grads, start=1):
            g = g[name]
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            update = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
            if name == "kernel":
                update = update + wd * w
                update *= np.linalg.norm(w) / np.linalg.norm(update)
            w = w - lr * update
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-6, err_msg=name)


def test_create_optimizer():
    optimizer = create_optimizer("adamw", 1e-4, num_train_steps=100, num_warmup_steps=10)
    assert isinstance(optimizer, AdamWeightDecay)
    assert isinstance(create_optimizer("lamb", 1e-3, 10, 0), Lamb)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        create_optimizer("sgd", 1e-4, 10, 0)


def test_lamb_trust_ratio_is_one_where_a_norm_is_zero():
    """A zero weight (fresh bias-like kernel) or a zero update must not give 0/0."""
    zero = keras.Variable(np.zeros((3, 5), np.float32), name="kernel")
    optimizer = Lamb(learning_rate=0.1, weight_decay=0.1)
    optimizer.apply([np.ones((3, 5), np.float32)], [zero])
    # Adam's first step is g / |g| = 1 (bias-corrected); with ||w|| = 0 the ratio is 1.
    np.testing.assert_allclose(zero.numpy(), -0.1, rtol=1e-5)
    still = keras.Variable(np.full((2,), 3.0, np.float32), name="kernel")
    optimizer = Lamb(learning_rate=0.1, weight_decay=0.0)
    optimizer.apply([np.zeros((2,), np.float32)], [still])
    np.testing.assert_array_equal(still.numpy(), [3.0, 3.0])  # zero update, ratio 1, no NaN


def test_optimizer_and_schedule_configs_round_trip():
    schedule = WarmupPolynomialDecay(3e-4, decay_steps=77, warmup_steps=7, end_learning_rate=1e-6,
                                     power=1.5)
    again = WarmupPolynomialDecay.from_config(schedule.get_config())
    assert [float(again(s)) for s in (0, 3, 40, 90)] == [float(schedule(s)) for s in (0, 3, 40, 90)]
    for optimizer in (AdamWeightDecay(learning_rate=schedule, weight_decay=0.02, beta_1=0.8,
                                      bias_correction=True),
                      Lamb(learning_rate=2e-3, weight_decay=0.03, beta_2=0.99, epsilon=1e-5)):
        clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        assert type(clone) is type(optimizer)
        for key in ("weight_decay", "beta_1", "beta_2", "epsilon", "bias_correction"):
            assert clone.get_config().get(key) == optimizer.get_config().get(key), key
        start, grads, got = run(optimizer)
        _, _, again_got = run(clone)
        for name in got:
            np.testing.assert_array_equal(again_got[name], got[name])
