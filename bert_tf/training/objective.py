"""Objectives: a model's losses and metrics defined once, as sums over a batch, for every consumer.

An objective says what a model is trained to do. It computes per-batch
*sums* (float32 scalars: a summed loss, a count of correct predictions, the
number of examples or labelled positions) and says which ratios of them are
the losses and the metrics; ratios of sums can be normalized over any
global batch, so every consumer takes the same definition:

- the training loop (`Trainer`) sums them over replicas and micro-batches;
- Keras (`BertConfigModel.compile`) gets them through `KerasObjective`;
- evaluation computes them over a whole set's predicted outputs
  (`Objective.evaluate`).

This module knows no task: each task family defines its objectives (the
BERT pretrainer's beside it, in the model family).
"""

from typing import Dict, Tuple

import keras
import tensorflow as tf


class Objective:
    """The interface of an objective; a subclass fills in the class attributes and two methods.

    `losses` ({name: (sum, count)}): each loss is sum / count over the
    global batch, and the training loss is the sum of the losses.
    `metrics` (the same form) are reported. `sum_names` lists the keys of
    `sums`. `label_keys` are the batch keys that hold the labels (what
    Keras' targets hold). `passthrough_keys` are the batch keys the
    Trainer's `predict` returns beside the model's outputs (labels, for
    evaluation).
    """

    losses: Dict[str, Tuple[str, str]] = {}
    metrics: Dict[str, Tuple[str, str]] = {}
    sum_names: Tuple[str, ...] = ()
    label_keys: Tuple[str, ...] = ()
    passthrough_keys: Tuple[str, ...] = ()
    # The output distributions a student learns from a teacher (bert_tf.training.distillation).
    soft_target_names: Tuple[str, ...] = ()
    # Training-only variables of the objective's own (a distillation's projection): the
    # training loop trains and checkpoints them with the model; no release or export has them.
    trainable_variables: Tuple = ()

    def watch(self, model):
        """Sees the model to train once it is built, in the strategy's scope (a distillation
        taps its encoder and makes its projection here); nothing by default."""

    def counts(self, batch):
        """The denominators, from the inputs alone (so they can be summed up front)."""
        raise NotImplementedError

    def sums(self, batch, outputs):
        """Per-batch sums (float32 scalars), keyed by `sum_names`."""
        raise NotImplementedError

    def soft_targets(self, batch, outputs):
        """{name: logits `[..., C]`} of the distributions in `soft_target_names`, one per position
        (padding positions may hold anything finite: `soft_target_weights` gives them 0)."""
        raise NotImplementedError

    def soft_target_weights(self, batch):
        """{name: float32 `[...]`} the weight of each position of `soft_targets` (1 where the
        student should match the teacher, 0 elsewhere), from the inputs alone."""
        raise NotImplementedError

    def loss(self, sums, counts):
        """The training loss: the sum of the losses, each normalized by its count."""
        return tf.add_n([tf.math.divide_no_nan(sums[num], counts[den])
                         for num, den in self.losses.values()])

    def results(self, totals):
        """The metrics (ratios of summed values) and "loss", from sums totalled over a set."""
        out = {name: _ratio(totals, num, den) for name, (num, den) in self.metrics.items()}
        out["loss"] = sum(_ratio(totals, num, den) for num, den in self.losses.values())
        return out

    def evaluate(self, batch, outputs):
        """`results` over one batch that holds a whole set (numpy or tensors)."""
        return self.results({name: float(value)
                             for name, value in self.sums(batch, outputs).items()})


def _ratio(totals, num, den):
    return float(totals[num]) / max(float(totals[den]), 1e-12)


class KerasObjective:
    """An objective as Keras' `compute_loss` and metrics need it.

    Keras hands a loss only (labels, outputs), but an objective may read the
    inputs too (the span loss masks padding with input_mask): the batch it
    sees is the inputs and the labels together, keyed as in the training
    loop. The labels (Keras' `y`) are a dict keyed by the objective's
    `label_keys`, or a single tensor when it has one.
    """

    def __init__(self, objective):
        self.objective = objective
        self.metrics = ObjectiveMetrics(objective)

    def batch(self, x, y):
        """The training loop's batch: the inputs `x` and the labels `y` in one dict."""
        keys = self.objective.label_keys
        if y is None:
            y = {}
        elif not isinstance(y, dict):
            if len(keys) != 1:
                raise ValueError(f"{type(self.objective).__name__} takes its labels as a dict "
                                 f"with the keys {list(keys)}")
            y = {keys[0]: y}
        batch = dict(x, **y)
        missing = [key for key in keys if key not in batch]
        if missing:
            raise ValueError(f"{type(self.objective).__name__} needs the labels {missing}")
        return batch

    def loss(self, x, y, outputs):
        """The objective's training loss on this batch, normalized as the training loop does.

        Under a multi-replica strategy the counts are summed over replicas, so
        that the replicas' summed gradients are those of the global batch's loss.
        """
        batch = self.batch(x, y)
        counts = self.objective.counts(batch)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            counts = context.all_reduce(tf.distribute.ReduceOp.SUM, counts)
        return self.objective.loss(self.objective.sums(batch, outputs), counts)


class ObjectiveMetrics(keras.metrics.Metric):
    """An objective's metrics as one Keras metric: its sums totalled over the batches seen.

    `update_state(batch, outputs)` takes the batch (inputs and labels, as
    KerasObjective.batch builds it); `result()` is {metric name: ratio}.
    """

    def __init__(self, objective, name="objective_metrics", **kwargs):
        super().__init__(name=name, **kwargs)
        self.objective = objective
        needed = sorted({part for pair in objective.metrics.values() for part in pair})
        self.totals = {part: self.add_variable(shape=(), initializer="zeros", name=part)
                       for part in needed}

    def update_state(self, batch, outputs, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("an objective weighs its own examples: put weights in the batch")
        sums = self.objective.sums(batch, outputs)
        for part, total in self.totals.items():
            total.assign_add(tf.cast(sums[part], total.dtype))

    def result(self):
        return {name: tf.math.divide_no_nan(self.totals[num], self.totals[den])
                for name, (num, den) in self.objective.metrics.items()}
