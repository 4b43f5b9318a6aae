"""Encoder speed: bert_tf's BertEncoder against keras-hub's BertBackbone, same config, same process.

Forward pass and training step (forward, backward, SGD update), float32 and
mixed_bfloat16, alternating the two models run by run and reporting medians.

    .venv/bin/python bench/encoder_speed.py [--preset=base --batch_size=8 --seq_length=128]
"""

import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "base", "BertConfig preset.")
flags.DEFINE_integer("batch_size", 8, "Sequences per batch.")
flags.DEFINE_integer("seq_length", 128, "Tokens per sequence.")
flags.DEFINE_integer("repeats", 7, "Timed runs per model and mode (after 2 warm-up runs).")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Dtype policies to measure.")
flags.DEFINE_list("modes", ["forward", "train"], "What to time.")


def forward_flops(config, batch, length):
    """Multiply-adds x2 of the encoder's forward pass (embedding lookups excluded)."""
    h, i, n = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token = n * 2 * (4 * h * h + 2 * h * i + 2 * length * h)
    return batch * (length * per_token + 2 * h * h)


def matmul_ceiling(dtype, size=2048, repeats=20):
    """GFLOP/s of a square matmul on this machine: the ceiling the encoder is judged against."""
    import tensorflow as tf

    a = tf.random.normal([size, size], dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        matmul(a).numpy()
    return 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9


def make_steps(model, to_inputs):
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.SGD(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function
    def forward(batch):
        out = model(to_inputs(batch), training=False)
        return out["pooled_output"]

    @tf.function
    def train(batch):
        with tf.GradientTape() as tape:
            out = model(to_inputs(batch), training=True)
            loss = tf.reduce_mean(tf.cast(out["pooled_output"], tf.float32) ** 2)
            loss += tf.reduce_mean(tf.cast(out["sequence_output"], tf.float32) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return {"forward": forward, "train": train}


def main(argv):
    del argv
    import keras
    import keras_hub
    import numpy as np

    from bert_tf import BertConfig, BertEncoder

    config = BertConfig.preset(FLAGS.preset)
    b, t = FLAGS.batch_size, FLAGS.seq_length
    rng = np.random.default_rng(0)
    batch = {"input_ids": rng.integers(1, config.vocab_size, (b, t)).astype(np.int32),
             "input_mask": np.ones((b, t), np.int32),
             "segment_ids": np.zeros((b, t), np.int32)}
    gflop = forward_flops(config, b, t) / 1e9
    print(f"{FLAGS.preset}: batch {b} x {t}, {gflop:.1f} GFLOP per forward pass, "
          f"training step counted as 3x")
    import tensorflow as tf

    ceilings = {"float32": matmul_ceiling(tf.float32), "mixed_bfloat16": matmul_ceiling(tf.bfloat16),
                "mixed_float16": matmul_ceiling(tf.float16)}
    print("2048^2 matmul ceiling: " + ", ".join(
        f"{k.replace('mixed_', '')} {v:.0f} GFLOP/s" for k, v in ceilings.items()))

    for precision in FLAGS.precisions:
        keras.utils.set_random_seed(0)
        ours = BertEncoder(config, dtype=precision)
        theirs = keras_hub.models.BertBackbone(
            vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
            num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
            intermediate_dim=config.intermediate_size,
            max_sequence_length=config.max_position_embeddings, dtype=precision)
        steps = {
            "bert_tf": make_steps(ours, lambda x: x),
            "keras-hub": make_steps(theirs, lambda x: {"token_ids": x["input_ids"],
                                                        "padding_mask": x["input_mask"],
                                                        "segment_ids": x["segment_ids"]}),
        }
        for mode in FLAGS.modes:
            times = {name: [] for name in steps}
            for _ in range(2):  # warm-up: tracing and first-run allocation
                for name in steps:
                    steps[name][mode](batch)
            for _ in range(FLAGS.repeats):
                for name in steps:  # alternate so drift on a shared machine hits both
                    start = time.perf_counter()
                    result = steps[name][mode](batch)
                    _ = np.asarray(result)
                    times[name].append(time.perf_counter() - start)
            work = gflop * (3 if mode == "train" else 1)
            med = {name: statistics.median(v) for name, v in times.items()}
            for name in steps:
                rate = work / med[name]
                print(f"  {precision:15s} {mode:8s} {name:10s} median {med[name]:.3f} s "
                      f"({rate:.0f} GFLOP/s, {rate / ceilings[precision]:.0%} of the ceiling)")
            print(f"  {precision:15s} {mode:8s} speed ratio bert_tf / keras-hub = "
                  f"{med['keras-hub'] / med['bert_tf']:.2f}x")


if __name__ == "__main__":
    app.run(main)
