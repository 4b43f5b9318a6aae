"""Activation recomputation (TransformerEncoder(recompute_activations=True), --recompute_activations):
the same gradients, losses and trained weights as the plain step, dropout on, in every setting the
training loop has."""

import functools
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import AlbertConfig, RobertaConfig
from bert_tf.layers.encoder_block import TransformerEncoderBlock
from bert_tf.models.bert import BertPretrainer
from bert_tf.models.bert.pretraining_objective import PretrainingObjective
from bert_tf.models.registry import build_encoder
from bert_tf.training import optimization
from bert_tf.training.trainer import Trainer, TrainingOptions
from in_process import run_checked
from testing import (minilm_dir, random_inputs, random_pretraining_batch, tiny_config,
                     write_topic_pairs)

# Dropout on (tiny_config's 0.1, raised to 0.3 so that most rows see a dropped element):
# the recomputed forward must replay the first forward's masks.
BERT = tiny_config(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
ROBERTA = RobertaConfig(vocab_size=61, hidden_size=12, num_hidden_layers=2,
                        num_attention_heads=3, intermediate_size=37, max_position_embeddings=13,
                        hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)


class CountingBlockCalls:
    """How many times TransformerEncoderBlock.call runs (once per block per forward; a
    recomputing step runs each block again for its gradient)."""

    def __enter__(self):
        self.calls, self._original = 0, TransformerEncoderBlock.call

        # The same signature: Keras passes `training` only to a call that names it.
        @functools.wraps(self._original)
        def counting(block, *args, **kwargs):
            self.calls += 1
            return self._original(block, *args, **kwargs)

        TransformerEncoderBlock.call = counting
        return self

    def __exit__(self, *exc):
        TransformerEncoderBlock.call = self._original


def bert_step(recompute, policy):
    """(loss, {path: gradient}) of one pretraining step, traced, from seed 7."""
    keras.utils.set_random_seed(7)
    model = BertPretrainer(BERT, dtype=policy)
    model.encoder.recompute_activations = recompute
    objective = PretrainingObjective()
    batch = {k: tf.constant(v) for k, v in random_pretraining_batch(BERT, seed=1).items()}

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = objective.loss(objective.sums(batch, model(batch, training=True)),
                                  objective.counts(batch))
        return loss, tape.gradient(loss, model.trainable_variables)

    loss, grads = step()
    return loss, [(v.path, g) for v, g in zip(model.trainable_variables, grads)]


def roberta_step(recompute, policy):
    """The same for a RoBERTa encoder built with the constructor argument, on a loss over
    every position (weighted by fixed random numbers), run eagerly."""
    keras.utils.set_random_seed(7)
    encoder = build_encoder(ROBERTA, dtype=policy, recompute_activations=recompute)
    inputs = random_inputs(BERT, seq=9, seed=2)
    del inputs["segment_ids"]
    weights = tf.random.stateless_normal([5, 9, 12], seed=[3, 4])
    with tf.GradientTape() as tape:
        out = encoder(inputs, training=True)
        loss = tf.reduce_sum(tf.cast(out["sequence_output"], tf.float32) * weights)
    grads = tape.gradient(loss, encoder.trainable_variables)
    return loss, [(v.path, g) for v, g in zip(encoder.trainable_variables, grads)]


ALBERT = AlbertConfig(vocab_size=61, embedding_size=10, hidden_size=12, num_hidden_layers=2,
                      num_hidden_groups=1, num_attention_heads=3, intermediate_size=37,
                      max_position_embeddings=13, hidden_dropout_prob=0.3,
                      attention_probs_dropout_prob=0.3)


def albert_step(recompute, policy):
    """roberta_step for ALBERT: one block shared by both layers, so each forward runs it twice
    (with its own masks each time) and its gradient sums both layers'."""
    keras.utils.set_random_seed(7)
    encoder = build_encoder(ALBERT, dtype=policy, recompute_activations=recompute)
    inputs = random_inputs(BERT, seq=9, seed=2)
    weights = tf.random.stateless_normal([5, 9, 12], seed=[3, 4])
    with tf.GradientTape() as tape:
        out = encoder(inputs, training=True)
        loss = tf.reduce_sum(tf.cast(out["sequence_output"], tf.float32) * weights)
    grads = tape.gradient(loss, encoder.trainable_variables)
    return loss, [(v.path, g) for v, g in zip(encoder.trainable_variables, grads)]


def compare(step, policy, atol):
    """Checks one step with and without recomputation; returns the largest gradient difference."""
    with CountingBlockCalls() as plain_calls:
        loss, plain = step(False, policy)
    with CountingBlockCalls() as recomputed_calls:
        loss_r, recomputed = step(True, policy)
    assert recomputed_calls.calls == 2 * plain_calls.calls == 4  # each block ran again
    assert float(loss) == float(loss_r)
    worst = 0.0
    for (path, g), (_, r) in zip(plain, recomputed):
        if g is None:  # the pooler, under a loss that does not read it
            assert r is None and "pooler" in path, path
            continue
        g, r = tf.convert_to_tensor(g).numpy(), tf.convert_to_tensor(r).numpy()
        np.testing.assert_allclose(r, g, rtol=0, atol=atol, err_msg=path)
        if "layer_" in path:
            assert np.abs(r).max() > 0, path  # every block variable gets its gradient
        worst = max(worst, float(np.abs(r - g).max()))
    return worst


def test_bert_gradients_equal_the_plain_step_with_dropout():
    # Measured: 0.0 in float32 and in mixed_bfloat16 (the same ops on the same masks).
    assert compare(bert_step, "float32", atol=1e-6) <= 1e-6
    compare(bert_step, "mixed_bfloat16", atol=1e-6)


def test_roberta_gradients_equal_the_plain_step_with_dropout():
    assert compare(roberta_step, "float32", atol=1e-5) <= 1e-5


# One block: what these tests check is the loop around it.
TRAINER_CONFIG = tiny_config(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3,
                             num_hidden_layers=1)


def losses_of(lines):
    return [float(m.group(1)) for line in lines
            for m in [re.search(r"\| loss (\S+) \|", line)] if m]


def train(tmp_path, recompute, strategy, policy, accumulation):
    """The per-step losses and the final weights of 2 Trainer steps from seed 5."""
    keras.utils.set_random_seed(5)
    lines = []

    def build_model():
        model = BertPretrainer(TRAINER_CONFIG, dtype=policy)
        model.encoder.recompute_activations = recompute
        return model

    trainer = Trainer(strategy, PretrainingObjective(), build_model=build_model,
                      build_optimizer=lambda: optimization.AdamWeightDecay(learning_rate=1e-2),
                      options=TrainingOptions(
                          output_dir=str(tmp_path / f"recompute_{recompute}"),
                          num_train_steps=2, steps_per_loop=1, save_checkpoints_steps=1000,
                          gradient_accumulation_steps=accumulation,
                          loss_scaling=policy == "mixed_float16", log=lines.append))
    rows = [random_pretraining_batch(TRAINER_CONFIG, batch=12, seed=s) for s in range(2)]

    def dataset_fn(context, skip):
        data = tf.data.Dataset.from_tensor_slices(
            {k: np.concatenate([b[k] for b in rows]) for k in rows[0]})
        return (data.shard(context.num_input_pipelines, context.input_pipeline_id)
                .batch(context.get_per_replica_batch_size(12)).repeat().skip(skip))

    trainer.train(dataset_fn, global_batch_size=12)
    return losses_of(lines), [v.numpy() for v in trainer.model.trainable_variables]


@pytest.mark.slow
def test_mirrored_mixed_float16_training_with_accumulation_is_the_same(tmp_path):
    """Two replicas, 3 micro-batches each, float16 with loss scaling: the same losses and
    weights after two steps."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices)
    runs = [train(tmp_path, recompute, strategy, "mixed_float16", 3)
            for recompute in (False, True)]
    (plain_losses, plain), (losses, weights) = runs
    assert len(losses) == 2
    np.testing.assert_allclose(losses, plain_losses, rtol=1e-6)
    for a, b in zip(weights, plain):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_run_classifier_trains_with_the_flag(tmp_path):
    data = write_topic_pairs(tmp_path / "data", train=32, dev=8, test=8)
    config = tmp_path / "config.json"
    tiny_config(vocab_size=30522, max_position_embeddings=32).to_json_file(str(config))
    out = tmp_path / "run"
    done = run_checked("run_classifier.py", "--task_name=MRPC", f"--data_dir={data}",
                       f"--vocab_file={os.path.join(minilm_dir(), 'vocab.txt')}",
                       f"--bert_config_file={config}", "--max_seq_length=24",
                       "--train_batch_size=16", "--num_train_epochs=1", f"--output_dir={out}",
                       "--do_train", "--recompute_activations")
    assert "Finished 2 steps" in done.stdout, done.stdout


def test_albert_shared_block_gradients_equal_the_plain_step_with_dropout():
    # The shared block runs twice per forward: each run replays its own masks.
    assert compare(albert_step, "float32", atol=1e-6) < 1e-6
