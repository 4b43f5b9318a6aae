"""BERT encoder forward pass and training step (forward, backward, SGD update): bert_tf vs keras-hub BertBackbone.

Both models have the same shape and run in the same process, alternating
run by run (medians). The training step's loss reaches both outputs, so
every weight gets a gradient. Peak RSS of a training step is measured in a
fresh process per contender (`harness.run_child`), so the two are comparable.
With --profile_dir, each contender's training step is profiled and its time
listed by TF op type.
"""

import os

from absl import flags

import bench
from bench import harness

FLAGS = flags.FLAGS
flags.DEFINE_list("encoder_modes", ["forward", "train"], "What the encoder workload times.")
flags.DEFINE_bool("encoder_memory", True, "Measure each contender's peak RSS of the training "
                  "step in a fresh process (one process start and model build each).")

CONTENDERS = ("bert_tf", "keras-hub")


def build(contender, config, precision):
    """(model, function mapping our batch to its inputs)."""
    if contender == "bert_tf":
        from bert_tf import BertEncoder

        return BertEncoder(config, dtype=precision), lambda batch: batch
    return harness.keras_hub_backbone(config, precision), harness.keras_hub_inputs


def make_steps(model, to_inputs, jit_compile):
    """{"forward": f(batch), "train": f(batch)}, compiled tf.functions."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.SGD(1e-4)
    optimizer.build(model.trainable_variables)

    def forward(batch):
        return model(to_inputs(batch), training=False)["pooled_output"]

    def train(batch):
        with tf.GradientTape() as tape:
            out = model(to_inputs(batch), training=True)
            loss = tf.reduce_mean(tf.cast(out["pooled_output"], tf.float32) ** 2)
            loss += tf.reduce_mean(tf.cast(out["sequence_output"], tf.float32) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return {"forward": tf.function(forward, jit_compile=jit_compile),
            "train": tf.function(train, jit_compile=jit_compile)}


def train_memory(contender, preset, batch_size, seq_length, precision, jit_compile, steps=2):
    """Runs in a fresh process (bench.child): a few training steps; returns their median seconds."""
    import statistics
    import time

    import keras

    from bert_tf import BertConfig

    config = BertConfig.preset(preset)
    keras.utils.set_random_seed(0)
    model, to_inputs = build(contender, config, precision)
    train = make_steps(model, to_inputs, jit_compile)["train"]
    batch = harness.random_batch(config, batch_size, seq_length)
    train(batch).numpy()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train(batch).numpy()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times)}


def run(ceilings):
    import keras
    import numpy as np

    from bert_tf import BertConfig
    from bench import profile

    preset = bench.setting("preset", "base")
    config = BertConfig.preset(preset)
    b, t = bench.setting("batch_size", 8), bench.setting("seq_length", 128)
    repeats = bench.setting("repeats", 7)
    jit_variants = bench.jit_variants(["off"])
    contenders = CONTENDERS[:1] if FLAGS.skip_keras_hub else CONTENDERS
    batch = harness.random_batch(config, b, t)
    flop = harness.encoder_flops(config, b, t)
    print(f"{preset}: batch {b} x {t}, {flop / 1e9:.2f} GFLOP per forward pass, a training "
          f"step counted as {harness.TRAIN_FLOP_FACTOR}x; {repeats} timed runs per cell "
          "after a warm-up, alternating, medians", flush=True)

    header = ["precision", "mode", "XLA"] + [f"{c}" for c in contenders]
    if len(contenders) == 2:
        header.append("ratio")
    header += [f"{c} % of ceiling" for c in contenders]
    memory = FLAGS.encoder_memory and "train" in FLAGS.encoder_modes
    if memory:
        header += [f"{c} peak RSS (train)" for c in contenders]
    rows = []
    for precision in FLAGS.precisions:
        ceiling = harness.ceiling_for(ceilings, precision)
        keras.utils.set_random_seed(0)
        models = {c: build(c, config, precision) for c in contenders}
        for jit in jit_variants:
            steps = {c: make_steps(model, to_inputs, jit) for c, (model, to_inputs)
                     in models.items()}
            for mode in FLAGS.encoder_modes:
                runners = {c: (lambda f=steps[c][mode]: np.asarray(f(batch))) for c in contenders}
                med = harness.alternate(runners, repeats)
                work = flop * (harness.TRAIN_FLOP_FACTOR if mode == "train" else 1)
                row = [precision, "train step" if mode == "train" else mode,
                       "on" if jit else "off"]
                row += [f"{med[c]:.3f} s ({harness.gflops(work, med[c]):.0f} GFLOP/s)"
                        for c in contenders]
                if len(contenders) == 2:
                    row.append(harness.ratio(med["bert_tf"], med["keras-hub"]))
                row += [harness.percent(harness.gflops(work, med[c]), ceiling)
                        for c in contenders]
                if memory:
                    row += (peak_rss_cells(contenders, preset, b, t, precision, jit)
                            if mode == "train" else [""] * len(contenders))
                rows.append(row)
                print("  " + " | ".join(str(cell) for cell in row), flush=True)
            if FLAGS.profile_dir:
                for c in contenders:
                    logdir = os.path.join(FLAGS.profile_dir,
                                          f"encoder_{c}_{precision}_xla_{'on' if jit else 'off'}")
                    train = steps[c]["train"]
                    harness.print_table(
                        f"encoder train step by op type: {c}, {precision}, XLA "
                        f"{'on' if jit else 'off'} ({preset}, batch {b} x {t}; trace in {logdir})",
                        profile.HEADER,
                        profile.op_table(lambda train=train: np.asarray(train(batch)), logdir))
    harness.print_table(
        f"encoder, {preset}, batch {b} x {t} ({flop / 1e9:.2f} GFLOP forward; training "
        f"step = {harness.TRAIN_FLOP_FACTOR}x); ratio above 1.00x: bert_tf faster",
        header, rows)


def peak_rss_cells(contenders, preset, b, t, precision, jit):
    cells = []
    for c in contenders:
        found = harness.run_child("bench.workloads.encoder:train_memory", dict(
            contender=c, preset=preset, batch_size=b, seq_length=t, precision=precision,
            jit_compile=jit))
        cells.append(f"{found['peak_rss_mib']:.0f} MiB")
    return cells
