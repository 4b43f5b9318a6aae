"""Fine-tuning step of a two-label classifier: bert_tf's Trainer (XLA off/on) vs keras-hub BertTextClassifier.fit.

bert_tf runs the training loop of run_classifier.py (`Trainer` on
`tasks/classification`'s model and task: AdamW, global-norm clipping,
non-finite check), once per --jit_compile variant (default off,on: where
XLA helps on this machine); keras-hub runs `BertTextClassifier.fit` without
a preprocessor (Keras AdamW with global_clipnorm, its jit_compile setting
from --finetuning_keras_hub_jit_compile). Fixed shapes, same synthetic
batch, runs alternating, medians.
"""

from absl import flags

import bench
from bench import harness, training
from bench.workloads.pretraining import per_step

FLAGS = flags.FLAGS
flags.DEFINE_enum("finetuning_keras_hub_jit_compile", "auto", ["auto", "true", "false"],
                  "keras-hub's compile(jit_compile=...); its default is auto.")

NUM_LABELS = 2


def synthetic_batch(config, b, t, seed=0):
    """A fixed sentence-pair batch: random ids, the second half of each row segment 1."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(1000, config.vocab_size, (b, t)).astype(np.int32),
            "input_mask": np.ones((b, t), np.int32),
            "segment_ids": (np.arange(t)[None, :] >= t // 2).repeat(b, 0).astype(np.int32),
            "label_ids": rng.integers(0, NUM_LABELS, b).astype(np.int32)}


def ours(config, batch, precision, steps, jit_compile):
    from tasks.classification.model import BertClassifier
    from tasks.classification.task import ClassificationTask

    return training.ours(ClassificationTask(),
                         lambda: BertClassifier(config, NUM_LABELS, dtype=precision),
                         batch, steps, jit_compile=jit_compile)


def keras_hub(config, batch, precision, steps):
    import keras_hub

    jit = {"auto": "auto", "true": True, "false": False}[FLAGS.finetuning_keras_hub_jit_compile]
    return training.keras_hub_fit(
        lambda: keras_hub.models.BertTextClassifier(
            backbone=harness.keras_hub_backbone(config, precision), num_classes=NUM_LABELS,
            preprocessor=None),
        harness.keras_hub_inputs(batch), batch["label_ids"], steps, jit_compile=jit,
        precision=precision)


def run(ceilings):
    import keras

    from bert_tf import BertConfig

    preset = bench.setting("preset", "base")
    config = BertConfig.preset(preset)
    b, t = bench.setting("batch_size", 16), bench.setting("seq_length", 128)
    steps, repeats = bench.setting("steps", 3), bench.setting("repeats", 5)
    jit_variants = bench.jit_variants(["off", "on"])
    batch = synthetic_batch(config, b, t)
    h = config.hidden_size
    flop = harness.TRAIN_FLOP_FACTOR * (harness.encoder_flops(config, b, t)
                                        + b * 2 * h * NUM_LABELS)
    print(f"{preset}: batch {b} x {t}, {NUM_LABELS} labels, {steps} steps per timed run, "
          f"{repeats} timed runs after a warm-up, alternating, medians; "
          f"{flop / 1e9:.2f} GFLOP per step", flush=True)
    with_hub = not FLAGS.skip_keras_hub
    header = ["precision", "bert_tf XLA", "bert_tf"]
    if with_hub:
        header += [f"keras-hub (jit_compile={FLAGS.finetuning_keras_hub_jit_compile})", "ratio"]
    header += ["bert_tf GFLOP/s", "% of ceiling"]
    rows = []
    for precision in FLAGS.precisions:
        ceiling = harness.ceiling_for(ceilings, precision)
        keras.utils.set_random_seed(0)
        runners = {f"bert_tf xla {jit}": ours(config, batch, precision, steps, jit)
                   for jit in jit_variants}
        if with_hub:
            runners["keras-hub"] = keras_hub(config, batch, precision, steps)
        med = harness.alternate(runners, repeats, steps)
        for jit in jit_variants:
            mine = med[f"bert_tf xla {jit}"]
            row = [precision, "on" if jit else "off", per_step(mine, b)]
            if with_hub:
                row += [per_step(med["keras-hub"], b), harness.ratio(mine, med["keras-hub"])]
            row += [f"{harness.gflops(flop, mine):.0f}",
                    harness.percent(harness.gflops(flop, mine), ceiling)]
            rows.append(row)
            print("  " + " | ".join(str(cell) for cell in row), flush=True)
    harness.print_table(
        f"fine-tuning step, classifier, {preset}, batch {b} x {t}; "
        "ratio above 1.00x: bert_tf faster", header, rows)
