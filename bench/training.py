"""Training-step contenders the workloads share: bert_tf's Trainer loop and keras-hub's `fit`.

Each builder returns `run()`, which trains `steps` steps on one fixed batch
and returns only when they are done.
"""

from bench import harness


def device():
    """The device our Trainer runs on: the first GPU if there is one, else the CPU."""
    import tensorflow as tf

    return "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"


def ours(objective, build_model, batch, steps, jit_compile=False, learning_rate=2e-5):
    """The loop of the run_*.py scripts: `Trainer` (AdamW with BERT's schedule, global-norm
    clipping, non-finite check) running `steps` steps per call on a repeated `batch`."""
    import tensorflow as tf

    from bert_tf.training import optimization
    from bert_tf.training.trainer import Trainer, TrainingOptions

    trainer = Trainer(
        tf.distribute.OneDeviceStrategy(device()), objective, build_model=build_model,
        build_optimizer=lambda: optimization.create_optimizer(
            "adamw", learning_rate, num_train_steps=10 ** 9, num_warmup_steps=0),
        options=TrainingOptions(harness.scratch_dir("bench_trainer_"),
                                num_train_steps=10 ** 9, steps_per_loop=steps,
                                jit_compile=jit_compile, log=lambda line: None))
    data = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(trainer.strategy.distribute_datasets_from_function(lambda context: data))
    steps_tensor = tf.constant(steps)

    def run():
        # The loop the script's train() runs, without its logging and checkpoints.
        trainer._train_loop(iterator, steps_tensor)
        trainer.global_step.numpy()  # waits for the steps
    return run


def keras_hub_fit(build_model, x, y, steps, sample_weight=None, jit_compile="auto",
                  precision="float32", learning_rate=2e-5):
    """keras-hub's way: `model.fit` (Keras AdamW with global_clipnorm, `steps` steps per
    execution) on a repeated batch. `build_model()` is called under the global dtype policy
    `precision`, so that the task model's own layers follow it too."""
    import keras
    import tensorflow as tf

    keras.config.set_dtype_policy(precision)
    try:
        model = build_model()
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate, epsilon=1e-6,
                                                   global_clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=["sparse_categorical_accuracy"],
                  steps_per_execution=steps, jit_compile=jit_compile)
    parts = (x, y) if sample_weight is None else (x, y, sample_weight)
    data = tf.data.Dataset.from_tensors(parts).repeat()

    def run():
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return run


def per_step(seconds, batch_size):
    return f"{seconds:.3f} s/step, {batch_size / seconds:.1f} sequences/s"


def compare_steps(ceilings, flop, batch_size, steps, repeats, jit_variants, build_ours,
                  build_keras_hub=None, keras_hub_label="keras-hub"):
    """(header, rows) of a training-step table, one row per precision and XLA variant.

    Per precision (--precisions), `build_ours(precision, jit)` for each XLA
    variant and `build_keras_hub(precision)` (None: no keras-hub column) give
    runners that take turns (harness.alternate, medians); they are released
    before the next precision is built. `flop` is one step's model FLOPs.
    """
    import keras
    from absl import flags

    header = ["precision", "bert_tf XLA", "bert_tf"]
    if build_keras_hub:
        header += [keras_hub_label, "ratio"]
    header += ["bert_tf GFLOP/s", "% of ceiling"]
    rows = []
    for precision in flags.FLAGS.precisions:
        ceiling = harness.ceiling_for(ceilings, precision)
        keras.utils.set_random_seed(0)
        runners = {f"bert_tf xla {jit}": build_ours(precision, jit) for jit in jit_variants}
        if build_keras_hub:
            runners["keras-hub"] = build_keras_hub(precision)
        med = harness.alternate(runners, repeats, steps)
        del runners
        harness.release()
        for jit in jit_variants:
            mine = med[f"bert_tf xla {jit}"]
            row = [precision, "on" if jit else "off", per_step(mine, batch_size)]
            if build_keras_hub:
                row += [per_step(med["keras-hub"], batch_size),
                        harness.ratio(mine, med["keras-hub"])]
            row += [f"{harness.gflops(flop, mine):.0f}",
                    harness.percent(harness.gflops(flop, mine), ceiling)]
            rows.append(row)
            print("  " + " | ".join(str(cell) for cell in row), flush=True)
    return header, rows
