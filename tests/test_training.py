"""The training loop in one process: accumulation, the non-finite guard, loss scaling, logs."""

import glob

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.training import optimization
from bert_tf.models.bert import BertPretrainer
from bert_tf.models.bert.pretraining_objective import PretrainingObjective
from bert_tf.training.objective import Objective
from bert_tf.training.trainer import Trainer, TrainingOptions
from testing import random_pretraining_batch, tiny_config

# One layer: what these tests check is the loop, which a second identical block only makes
# slower to trace (and to compile under XLA: 28 s -> 12-18 s for the XLA test, measured).
CONFIG = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                     num_hidden_layers=1)


def make_trainer(tmp_path, policy="float32", seed=0, **options):
    keras.utils.set_random_seed(seed)
    lines = []
    opts = TrainingOptions(output_dir=str(tmp_path), num_train_steps=options.pop("steps", 2),
                           steps_per_loop=options.pop("steps_per_loop", 1),
                           save_checkpoints_steps=1000, log=lines.append, **options)
    trainer = Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"), PretrainingObjective(),
        build_model=lambda: BertPretrainer(CONFIG, dtype=policy),
        build_optimizer=lambda: optimization.AdamWeightDecay(learning_rate=1e-2),
        options=opts)
    return trainer, lines


def dataset_of(batches):
    def make(context, skip):
        data = tf.data.Dataset.from_tensor_slices(
            {k: np.stack([b[k] for b in batches]) for k in batches[0]})
        return data.repeat().skip(skip)
    return make


def weights(trainer):
    return [v.numpy().copy() for v in trainer.model.trainable_variables]


def test_gradient_accumulation_equals_one_big_batch(tmp_path):
    batches = [random_pretraining_batch(CONFIG, batch=12, seed=s) for s in range(2)]
    results = []
    for k in (1, 3):
        trainer, _ = make_trainer(tmp_path / f"k{k}", gradient_accumulation_steps=k)
        trainer.train(dataset_of(batches), global_batch_size=12)
        results.append(weights(trainer))
    changed = max(np.abs(a - b).max() for a, b in zip(results[0], weights(make_trainer(
        tmp_path / "init")[0])))
    assert changed > 1e-3  # training moved the weights
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=2e-6)


def test_non_finite_step_is_skipped_and_reported(tmp_path):
    good = random_pretraining_batch(CONFIG, seed=1)
    bad = dict(good, masked_lm_weights=np.where(good["masked_lm_weights"] > 0, np.inf, 0.0)
               .astype(np.float32))
    trainer, lines = make_trainer(tmp_path, steps=3)
    before = weights(trainer)

    def data(context, skip):
        return tf.data.Dataset.from_tensor_slices(
            {k: np.stack([bad[k], good[k], good[k]]) for k in good}).skip(skip)

    trainer.train(data, global_batch_size=5)
    assert int(trainer.skipped_steps.numpy()) == 1 and int(trainer.global_step.numpy()) == 3
    assert int(trainer.optimizer.iterations.numpy()) == 2  # only two updates were applied
    assert any("skipped 1 step(s) with non-finite gradients" in line for line in lines)
    after = weights(trainer)
    assert all(np.isfinite(w).all() for w in after)
    assert max(np.abs(a - b).max() for a, b in zip(after, before)) > 0


def test_only_the_skipped_step_is_lost(tmp_path):
    good = [random_pretraining_batch(CONFIG, seed=s) for s in (1, 2)]
    bad = dict(good[0], masked_lm_weights=good[0]["masked_lm_weights"] * np.nan)
    trainers = []
    for name, batches in (("with_bad", [bad] + good), ("clean", good)):
        trainer, _ = make_trainer(tmp_path / name, steps=len(batches))
        trainer.train(dataset_of(batches), global_batch_size=5)
        trainers.append(trainer)
    for a, b in zip(weights(trainers[0]), weights(trainers[1])):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_float16_loss_scale_backs_off_on_overflow(tmp_path):
    batch = random_pretraining_batch(CONFIG, seed=1)
    trainer, lines = make_trainer(tmp_path, policy="mixed_float16", loss_scaling=True, steps=40,
                                  steps_per_loop=40, initial_loss_scale=2.0 ** 40,
                                  loss_scale_growth_steps=1000)
    trainer.train(dataset_of([batch]), global_batch_size=5)
    skipped = int(trainer.skipped_steps.numpy())
    assert 0 < skipped < 40  # overflowing steps were skipped until the scale fit float16
    assert float(trainer.loss_scale.numpy()) == 2.0 ** (40 - skipped)
    assert int(trainer.optimizer.iterations.numpy()) == 40 - skipped
    assert "loss scale now" in lines[0]


def test_progress_summaries_and_evaluation(tmp_path):
    batches = [random_pretraining_batch(CONFIG, seed=s) for s in range(3)]
    trainer, lines = make_trainer(tmp_path, steps=4, steps_per_loop=2)
    trainer.train(dataset_of(batches), global_batch_size=5)
    progress = [line for line in lines if line.startswith("step ")]
    assert len(progress) == 2 and "ETA" in progress[-1] and "examples/s" in progress[-1]
    assert "masked_lm_accuracy" in progress[-1] and progress[-1].startswith("step 4/4")
    tags = set()
    for path in glob.glob(str(tmp_path / "train" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags |= {value.tag for value in event.summary.value}
    assert {"loss", "masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy",
            "next_sentence_loss", "learning_rate", "gradient_norm"} <= tags
    results = trainer.evaluate(lambda context: tf.data.Dataset.from_tensor_slices(
        {k: np.stack([b[k] for b in batches]) for k in batches[0]}))
    assert set(results) == {"masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy",
                            "next_sentence_loss", "loss"}
    assert results["loss"] == results["masked_lm_loss"] + results["next_sentence_loss"]
    # The reported values are the ratios of the summed values.
    objective = PretrainingObjective()
    totals = {n: 0.0 for n in objective.sum_names}
    for b in batches:
        for n, v in objective.sums(b, trainer.model(b)).items():
            totals[n] += float(v)
    expected = objective.results(totals)
    for key, value in expected.items():
        assert results[key] == np.float64(value) or abs(results[key] - value) < 1e-5


class TokenTagger(keras.Model):
    """A token-level head as the tagging and span models have: the loss never reaches the pooler."""

    def __init__(self):
        super().__init__()
        from bert_tf.models.bert import BertEncoder

        self.encoder = BertEncoder(CONFIG)
        self.head = keras.layers.Dense(3, name="head")
        self.head.build((None, None, CONFIG.hidden_size))

    def call(self, batch, training=None):
        return {"logits": self.head(self.encoder(batch, training=training)["sequence_output"])}


class TokenObjective(Objective):
    losses = {"loss": ("loss_sum", "tokens")}
    metrics = {}
    sum_names = ("loss_sum", "tokens")

    def counts(self, batch):
        return {"tokens": tf.reduce_sum(tf.cast(batch["input_mask"], tf.float32))}

    def sums(self, batch, outputs):
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=batch["input_ids"] % 3, logits=outputs["logits"])
        weights = tf.cast(batch["input_mask"], tf.float32)
        return {"loss_sum": tf.reduce_sum(loss * weights), "tokens": tf.reduce_sum(weights)}


def test_a_loss_that_misses_weights_and_frozen_layers_train(tmp_path):
    """The pooler gets no gradient from a token-level loss, and a frozen block none at all:
    both stay exactly as they were while everything else trains."""
    keras.utils.set_random_seed(4)

    def build():
        model = TokenTagger()
        model.encoder.layer_0.trainable = False
        return model

    trainer = Trainer(tf.distribute.OneDeviceStrategy("/cpu:0"), TokenObjective(), build,
                      lambda: optimization.AdamWeightDecay(learning_rate=1e-2),
                      TrainingOptions(output_dir=str(tmp_path), num_train_steps=3,
                                      steps_per_loop=3, gradient_accumulation_steps=3,
                                      log=lambda line: None))
    model = trainer.model
    pooler = [v.numpy().copy() for v in model.encoder.pooler.weights]
    frozen = [v.numpy().copy() for v in model.encoder.layer_0.weights]
    moving = {v.path: v.numpy().copy() for v in model.trainable_variables
              if "pooler" not in v.path}
    batch = random_pretraining_batch(CONFIG, batch=6)
    trainer.train(dataset_of([{k: batch[k] for k in ("input_ids", "input_mask",
                                                     "segment_ids")}]), global_batch_size=6)
    assert int(trainer.skipped_steps.numpy()) == 0
    for before, v in zip(pooler, model.encoder.pooler.weights):
        np.testing.assert_array_equal(v.numpy(), before)
    for before, v in zip(frozen, model.encoder.layer_0.weights):
        np.testing.assert_array_equal(v.numpy(), before)
    for v in model.trainable_variables:
        if v.path in moving:
            assert not np.array_equal(v.numpy(), moving[v.path]), v.path


def test_predict_returns_passthrough_keys_and_pads_per_token_outputs():
    from bert_tf.training.trainer import concat_padded

    joined = concat_padded([np.ones((2, 3)), np.full((1, 5), 2.0)], fill=-1)
    np.testing.assert_array_equal(joined, [[1, 1, 1, -1, -1], [1, 1, 1, -1, -1],
                                           [2, 2, 2, 2, 2]])
    np.testing.assert_array_equal(concat_padded([np.arange(2), np.arange(3)]), [0, 1, 0, 1, 2])


def test_chief_is_the_chief_task_or_worker_zero(monkeypatch):
    from bert_tf.training import distribution

    def config(cluster, task_type, index):
        monkeypatch.setenv("TF_CONFIG", __import__("json").dumps(
            {"cluster": cluster, "task": {"type": task_type, "index": index}}))

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribution.is_chief()  # no cluster: this process
    workers = {"worker": ["a:1", "b:1"]}
    config(workers, "worker", 0)
    assert distribution.is_chief()
    config(workers, "worker", 1)
    assert not distribution.is_chief()
    with_chief = {"chief": ["c:1"], "worker": ["a:1", "b:1"]}
    config(with_chief, "chief", 0)
    assert distribution.is_chief()
    config(with_chief, "worker", 0)  # worker 0 is not the chief when there is one
    assert not distribution.is_chief()
    assert distribution.task_info() == ("worker", 0)


@pytest.mark.slow
def test_xla_step_equals_the_plain_step_on_one_and_two_replicas(tmp_path):
    """--jit_compile compiles the forward/backward step (and, on one replica, the optimizer
    update): the weights after a few steps equal the uncompiled loop's."""
    batches = [random_pretraining_batch(CONFIG, batch=6, seed=s) for s in range(3)]
    plain, _ = make_trainer(tmp_path / "plain", steps=3)
    plain.train(dataset_of(batches), global_batch_size=6)
    compiled, _ = make_trainer(tmp_path / "xla", steps=3, jit_compile=True)
    assert compiled._apply_fn is not compiled._apply  # the update is compiled too
    compiled.train(dataset_of(batches), global_batch_size=6)
    for a, b in zip(weights(plain), weights(compiled)):
        np.testing.assert_allclose(a, b, atol=2e-5)  # measured 1.1e-6 (Intel AMX): fused differently
    runs = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        mirrored = Trainer(
            tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), PretrainingObjective(),
            build_model=lambda: BertPretrainer(CONFIG),
            build_optimizer=lambda: optimization.AdamWeightDecay(learning_rate=1e-2),
            options=TrainingOptions(output_dir=str(tmp_path / f"mirrored{jit_compile}"),
                                    num_train_steps=3, steps_per_loop=1,
                                    jit_compile=jit_compile, log=lambda line: None))
        mirrored.train(dataset_of(batches), global_batch_size=6)
        runs.append(weights(mirrored))
    assert mirrored._apply_fn == mirrored._apply  # a cross-replica update stays uncompiled
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, atol=2e-5)
