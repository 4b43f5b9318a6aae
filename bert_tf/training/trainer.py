"""One training loop for every tf.distribute strategy (Keras' fit cannot run multi-worker).

Each optimizer step, on every replica: the replica's batch is split into
`gradient_accumulation_steps` micro-batches whose gradients are summed; the
loss is normalized by counts summed over the *global* batch (so any split
over replicas and micro-batches gives the gradient of the same loss); the
gradients are all-reduced, unscaled (float16 loss scaling), checked for
NaN/Inf and clipped by global norm; then, in cross-replica context, either
applied or, if not finite, skipped (and counted). Several steps run per
`tf.function` call (`steps_per_loop`).

Checkpoints (tf.train.CheckpointManager in output_dir) hold the model, the
optimizer, the step and the loss scale. The input position is the step: the
input pipelines are deterministic for a seed, and a resumed run asks them to
skip the batches already consumed, so a restarted command continues where the
last checkpoint left it, with the same data, on any strategy. In a multi-worker cluster the chief writes output_dir, the others
write scratch copies (deleted), and all restore from output_dir.
"""

import dataclasses
import hashlib
import os
import shutil
import time
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from bert_tf.training import distribution


def log_line(text):
    """Prints a progress line at once, even when stdout is a file or a pipe."""
    print(text, flush=True)


@dataclasses.dataclass
class TrainingOptions:
    output_dir: str
    num_train_steps: int
    steps_per_loop: int = 100
    save_checkpoints_steps: int = 1000
    max_checkpoints: int = 5
    gradient_accumulation_steps: int = 1
    clip_norm: Optional[float] = 1.0
    loss_scaling: bool = False  # dynamic loss scaling, for mixed_float16
    initial_loss_scale: float = 2.0 ** 15
    loss_scale_growth_steps: int = 2000
    jit_compile: bool = False
    log: Callable[[str], None] = log_line


def _format_eta(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else (
        f"{seconds // 60}m{seconds % 60:02d}s")


def _scalar_metadata():
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    ).SerializeToString()


def write_scalar(name, value, step):
    """A TensorBoard scalar, written with core TensorFlow (tf.summary.scalar needs the
    tensorboard package, which TensorFlow 2.21 no longer installs)."""
    tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=_scalar_metadata())


def weights_checksum(model):
    """A short hash of every weight's bytes, to compare replicas, workers and runs."""
    digest = hashlib.sha1()
    for variable in model.weights:
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()[:16]


class Trainer:
    """Trains `build_model()` on `objective` with `build_optimizer()` under `strategy`.

    The objective (see bert_tf.training.objective) gives per-batch sums;
    each loss is a sum over the global batch divided by a count over it, so
    any split over replicas and micro-batches trains the same loss. Its
    `passthrough_keys` are the batch keys `predict` returns beside the
    model's outputs (labels; example indices always).

    Weights the loss does not reach (a pooler under a token-level head) and
    frozen weights are left as they are: the first get zero gradients, the
    second are not trainable variables at all.
    """

    def __init__(self, strategy, objective, build_model, build_optimizer,
                 options: TrainingOptions):
        self.strategy = strategy
        self.objective = objective
        self.options = options
        self.is_chief = distribution.is_chief()
        with strategy.scope():
            self.model = build_model()
            watch = getattr(objective, "watch", None)
            if watch is not None:
                watch(self.model)
            self.optimizer = build_optimizer()
            self.optimizer.build(self.trained_variables)
            counter = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.global_step = tf.Variable(0, dtype=tf.int64, name="global_step", **counter)
            self.skipped_steps = tf.Variable(0, dtype=tf.int64, name="skipped_steps", **counter)
            self.good_steps = tf.Variable(0, dtype=tf.int64, name="good_steps", **counter)
            self.loss_scale = tf.Variable(
                options.initial_loss_scale if options.loss_scaling else 1.0, dtype=tf.float32,
                name="loss_scale", **counter)
            # The objective's sums over the current loop of steps.
            self._sums = {name: tf.Variable(0.0, name=f"sum_{name}", **counter)
                          for name in objective.sum_names}
            self._grad_norm = tf.Variable(0.0, name="grad_norm_sum", **counter)
        self._restored = False  # restore_or_initialize ran: the model is the latest checkpoint
        self._unreached = frozenset()  # indices of trainable variables the loss does not reach
        self._step_fn = tf.function(self._micro_step, jit_compile=options.jit_compile)
        # The optimizer update is compiled too where there is one replica: XLA fuses the
        # optimizer's elementwise work per variable (a Keras optimizer's cross-replica
        # update cannot be compiled under a multi-replica strategy).
        self._apply_fn = self._apply
        if options.jit_compile and strategy.num_replicas_in_sync == 1:
            self._apply_fn = tf.function(self._apply, jit_compile=True)
        self._train_loop = tf.function(self._train_loop_fn)
        # Evaluation batches come one call each, padded to their own lengths: after the
        # second length the step is traced once more for any length (not once per length).
        self._eval_step = tf.function(self._eval_step_fn, reduce_retracing=True)
        self._predict_step = tf.function(self._predict_step_fn, reduce_retracing=True)

    @property
    def trained_variables(self):
        """The model's trainable variables, then the objective's own (training-only ones: a
        distillation's projection), which checkpoints hold beside the model."""
        return (list(self.model.trainable_variables)
                + list(getattr(self.objective, "trainable_variables", ())))

    # ------------------------------------------------------------- one step

    def _micro_step(self, batch, counts, scale):
        """Gradients and sums of one micro-batch on one replica (the part XLA may compile)."""
        with tf.GradientTape() as tape:
            outputs = self.model(batch, training=True)
            sums = self.objective.sums(batch, outputs)
            loss = self.objective.loss(sums, counts)
            scaled = loss * scale
        variables = self.trained_variables
        grads = tape.gradient(scaled, variables)
        # A weight the loss does not reach has no gradient. It gets a zero here, so that
        # summing, all-reducing and clipping treat every variable alike, and the optimizer
        # then leaves it alone (no weight decay either), as google-research/bert's does.
        # Which weights these are is known when the step is traced.
        self._unreached = frozenset(i for i, g in enumerate(grads) if g is None)
        return [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
                for g, v in zip(grads, variables)], sums

    def _replica_step(self, batch):
        ctx = tf.distribute.get_replica_context()
        counts = ctx.all_reduce(tf.distribute.ReduceOp.SUM, self.objective.counts(batch))
        scale = tf.identity(self.loss_scale)
        k = self.options.gradient_accumulation_steps
        if k == 1:
            grads, sums = self._step_fn(batch, counts, scale)
        else:
            # Dynamic shapes: sequence lengths vary from batch to batch.
            micro = {key: tf.reshape(value, tf.concat([[k, -1], tf.shape(value)[1:]], 0))
                     for key, value in batch.items()}
            grads = [tf.zeros_like(v) for v in self.trained_variables]
            sums = None
            for i in tf.range(k):
                # One micro-batch at a time: a while loop would otherwise run independent
                # iterations side by side (up to 10), holding that many micro-batches'
                # activations and defeating the point of accumulating.
                tf.autograph.experimental.set_loop_options(parallel_iterations=1)
                g, s = self._step_fn({key: value[i] for key, value in micro.items()}, counts,
                                     scale)
                grads = [a + b for a, b in zip(grads, g)]
                sums = s if sums is None else {n: sums[n] + s[n] for n in s}
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grads = [g / scale for g in grads]
        if self.options.clip_norm:
            grads, norm = tf.clip_by_global_norm(grads, self.options.clip_norm)
        else:
            norm = tf.linalg.global_norm(grads)
        # One NaN or Inf anywhere makes the global norm non-finite: no second pass over
        # every gradient is needed to find out.
        finite = tf.math.is_finite(norm)
        return grads, finite, norm, sums

    def _apply(self, grads):
        pairs = [(g, v) for i, (g, v) in enumerate(zip(grads, self.trained_variables))
                 if i not in self._unreached]
        self.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])

    def _update_loss_scale(self, finite):
        if not self.options.loss_scaling:
            return
        grow = finite & (self.good_steps + 1 >= self.options.loss_scale_growth_steps)
        self.loss_scale.assign(tf.where(grow, self.loss_scale * 2.0, tf.where(
            finite, self.loss_scale, self.loss_scale / 2.0)))
        self.good_steps.assign(tf.where(finite & ~grow, self.good_steps + 1, 0))

    def _train_loop_fn(self, iterator, steps):
        for _ in tf.range(steps):
            self._one_step(next(iterator))

    def _one_step(self, batch):
        strategy = self.strategy
        grads, finite, norm, sums = strategy.run(self._replica_step, args=(batch,))
        # Every replica computed the same value from the same all-reduced gradients.
        finite = strategy.experimental_local_results(finite)[0]

        def apply():
            strategy.run(self._apply_fn, args=(grads,))
            return tf.constant(True)

        tf.cond(finite, apply, lambda: tf.constant(False))
        self._update_loss_scale(finite)
        self.skipped_steps.assign_add(tf.cast(~finite, tf.int64))
        self._grad_norm.assign_add(strategy.experimental_local_results(norm)[0])
        for name, value in sums.items():
            self._sums[name].assign_add(strategy.reduce(tf.distribute.ReduceOp.SUM, value,
                                                        axis=None))
        self.global_step.assign_add(1)

    # ---------------------------------------------------------- checkpoints

    def _write_dir(self):
        if self.is_chief:
            return self.options.output_dir
        _, task_id = distribution.task_info()
        return os.path.join(self.options.output_dir, f".worker_{task_id}_scratch")

    def _checkpoint(self):
        # Dropout's random state lives in Keras seed generators, which a
        # checkpoint of the model does not reach: save them too, so that a
        # resumed run draws the same dropout masks as an uninterrupted one.
        rng = [v for v in self.model.non_trainable_variables if "seed_generator" in v.path]
        # The objective's training-only variables, under a name of their own (absent, as
        # before, where it has none).
        extra = list(getattr(self.objective, "trainable_variables", ()))
        return tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, global_step=self.global_step,
            skipped_steps=self.skipped_steps, good_steps=self.good_steps,
            loss_scale=self.loss_scale, dropout_rng=rng,
            **({"objective_variables": extra} if extra else {}))

    def _save(self, manager):
        step = int(self.global_step.numpy())
        try:
            path = manager.save(checkpoint_number=step)
        except (tf.errors.ResourceExhaustedError, OSError) as e:
            from bert_tf.data import files
            from bert_tf.errors import UserError

            if not files.is_out_of_space(e):
                raise
            removed = _remove_checkpoint_temporaries(self._write_dir())
            latest = tf.train.latest_checkpoint(self.options.output_dir)
            kept = (f"the last complete checkpoint, {latest}, is intact: run the same command "
                    "again to resume from it" if latest else "no earlier checkpoint exists")
            raise UserError(
                f"out of disk space saving the checkpoint of step {step} in "
                f"{self._write_dir()} ({files.first_line(e)}); "
                f"{'its partial files were removed; ' if removed else ''}{kept} once space is "
                "free") from None
        if not self.is_chief:
            shutil.rmtree(self._write_dir(), ignore_errors=True)
        return path

    # ---------------------------------------------------------------- train

    def restore_or_initialize(self):
        """Restores the latest checkpoint in output_dir; returns its step (0 if none)."""
        if self.is_chief:
            for path in _remove_checkpoint_temporaries(self.options.output_dir):
                self.options.log(f"Removed {path}, a checkpoint an earlier run could not "
                                 "finish")
        latest = tf.train.latest_checkpoint(self.options.output_dir)
        if latest:
            self._checkpoint().restore(latest).assert_existing_objects_matched()
            self.options.log(f"Resumed from {latest} at step {int(self.global_step.numpy())}")
        self._restored = True
        return int(self.global_step.numpy())

    def train(self, dataset_fn, global_batch_size, summary_dir=None):
        """Trains until options.num_train_steps; returns the metrics of the last loop.

        `dataset_fn(input_context, skip_batches)` builds each input pipeline's
        dataset of per-replica batches (see tf.distribute's
        distribute_datasets_from_function), without its first `skip_batches`.
        """
        opts = self.options
        manager = tf.train.CheckpointManager(self._checkpoint(), self._write_dir(),
                                             max_to_keep=opts.max_checkpoints)
        # A trainer that restored already (runs do, before evaluating) reads the checkpoint once.
        start_step = int(self.global_step.numpy()) if self._restored else self.restore_or_initialize()
        dataset = self.strategy.distribute_datasets_from_function(
            lambda context: dataset_fn(context, start_step))
        iterator = iter(dataset)
        # A finished run started again has nothing to train and writes no new summaries.
        writer = (tf.summary.create_file_writer(summary_dir or os.path.join(opts.output_dir,
                                                                             "train"))
                  if self.is_chief and start_step < opts.num_train_steps
                  else tf.summary.create_noop_writer())
        step, last = start_step, {}
        started = time.perf_counter()
        with writer.as_default():
            while step < opts.num_train_steps:
                next_save = (step // opts.save_checkpoints_steps + 1) * opts.save_checkpoints_steps
                steps = min(opts.steps_per_loop, opts.num_train_steps - step, next_save - step)
                skipped_before = int(self.skipped_steps.numpy())
                loop_start = time.perf_counter()
                try:
                    self._train_loop(iterator, tf.constant(steps))
                except (tf.errors.UnavailableError, tf.errors.InternalError,
                        tf.errors.DeadlineExceededError, tf.errors.CancelledError):
                    # Typically a worker of the cluster died; collectives fail everywhere.
                    latest = tf.train.latest_checkpoint(opts.output_dir)
                    opts.log(f"Training stopped at step ~{step}: a collective operation failed "
                             "(has a worker died?). Start the same command again on every "
                             f"worker to resume from {latest or 'the beginning'}.")
                    raise
                seconds = time.perf_counter() - loop_start
                step = int(self.global_step.numpy())
                totals = {n: float(v.numpy()) for n, v in self._sums.items()}
                last = self.objective.results(totals)
                last["learning_rate"] = float(self._learning_rate())
                last["gradient_norm"] = float(self._grad_norm.numpy()) / steps
                last["examples_per_second"] = global_batch_size * steps / seconds
                if opts.loss_scaling:
                    last["loss_scale"] = float(self.loss_scale.numpy())
                for v in list(self._sums.values()) + [self._grad_norm]:
                    v.assign(tf.zeros_like(v))
                for name, value in last.items():
                    write_scalar(name, value, step)
                skipped = int(self.skipped_steps.numpy()) - skipped_before
                self._log_progress(step, last, started, start_step, skipped)
                if step % opts.save_checkpoints_steps == 0 or step >= opts.num_train_steps:
                    path = self._save(manager)
                    if self.is_chief:
                        opts.log(f"Saved checkpoint {path}")
        writer.flush()
        elapsed = time.perf_counter() - started
        done = step - start_step
        opts.log(f"Finished {step} steps ({done} in this run, {elapsed:.1f} s, "
                 f"{global_batch_size * done / max(elapsed, 1e-9):.1f} examples/s; "
                 f"{int(self.skipped_steps.numpy())} skipped as non-finite); "
                 f"weights checksum {weights_checksum(self.model)}")
        return last

    def _learning_rate(self):
        lr = self.optimizer.learning_rate
        return lr.numpy() if hasattr(lr, "numpy") else lr

    def _log_progress(self, step, metrics, started, start_step, skipped):
        total = self.options.num_train_steps
        rate = (step - start_step) / max(time.perf_counter() - started, 1e-9)
        eta = (total - step) / rate if rate > 0 else 0
        shown = " | ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                           if k not in ("learning_rate", "examples_per_second", "loss_scale"))
        line = (f"step {step}/{total} | {shown} | lr {metrics['learning_rate']:.3g} | "
                f"{metrics['examples_per_second']:.1f} examples/s | ETA {_format_eta(eta)}")
        if skipped:
            line += (f" | skipped {skipped} step(s) with non-finite gradients"
                     + (f", loss scale now {metrics.get('loss_scale', 1.0):g}"
                        if self.options.loss_scaling else ""))
        if self.is_chief:
            self.options.log(line)

    # ----------------------------------------------------------------- eval

    def _eval_step_fn(self, batch):
        def replica(batch):
            return self.objective.sums(batch, self.model(batch, training=False))

        sums = self.strategy.run(replica, args=(batch,))
        return {n: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for n, v in sums.items()}

    def evaluate(self, dataset_fn, max_steps=None):
        """The objective's metrics and "loss" over a dataset (or its first `max_steps` batches)."""
        dataset = self.strategy.distribute_datasets_from_function(dataset_fn)
        totals = {}
        for i, batch in enumerate(dataset):
            if max_steps is not None and i >= max_steps:
                break
            for name, value in self._eval_step(batch).items():
                totals[name] = totals.get(name, 0.0) + float(value.numpy())
        if not totals:
            raise ValueError("the evaluation data is empty")
        return self.objective.results(totals)

    def _predict_step_fn(self, batch):
        def replica(batch):
            outputs = dict(self.model(batch, training=False))
            # example_index: batches sorted by length are put back in example order.
            for key in tuple(self.objective.passthrough_keys) + ("example_index",):
                if key in batch:
                    outputs[key] = batch[key]
            return outputs

        return self.strategy.run(replica, args=(batch,))

    def predict(self, dataset_fn):
        """The model's outputs (and the objective's passthrough keys) over a dataset, in order, as numpy.

        `dataset_fn(input_context)` should give every input pipeline the whole
        dataset: in a multi-worker cluster each worker then computes all
        predictions (the chief writes them).
        """
        dataset = self.strategy.distribute_datasets_from_function(dataset_fn)
        parts = {}
        for batch in dataset:
            for name, value in self._predict_step(batch).items():
                for local in self.strategy.experimental_local_results(value):
                    parts.setdefault(name, []).append(local.numpy())
        if not parts:
            raise ValueError("the prediction data is empty")
        return {name: concat_padded(values) for name, values in parts.items()}


def concat_padded(arrays, fill=0):
    """Concatenates arrays along axis 0, padding the other axes to the largest with `fill`.

    Batches padded to their own sequence length give per-token outputs of
    different widths; stacked, each row keeps its values at the same positions.
    """
    rank = arrays[0].ndim
    if rank <= 1 or all(a.shape[1:] == arrays[0].shape[1:] for a in arrays):
        return np.concatenate(arrays)
    widest = [max(a.shape[axis] for a in arrays) for axis in range(1, rank)]
    padded = [np.pad(a, [(0, 0)] + [(0, w - n) for w, n in zip(widest, a.shape[1:])],
                     constant_values=fill) for a in arrays]
    return np.concatenate(padded)


def _remove_checkpoint_temporaries(directory):
    """Removes the ckpt-N_temp* directories TensorFlow writes a checkpoint's shards to before it
    renames them; one that remains is a save that never finished (killed, disk full)."""
    import glob

    from bert_tf.data import files

    found = sorted(glob.glob(os.path.join(directory, "ckpt-*_temp*")))
    for path in found:
        files.remove_quietly(path)
    return found
