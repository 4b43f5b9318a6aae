"""Pretraining step (masked LM + next sentence): bert_tf's Trainer on BertPretrainer vs keras-hub BertMaskedLM.fit.

bert_tf runs the training loop of run_pretraining.py (AdamW, global-norm
clipping, non-finite check) on `tasks/pretraining`'s task; keras-hub runs
`BertMaskedLM.fit` (masked LM only: it has no next-sentence head) with Keras
AdamW and global_clipnorm. Same synthetic batch for both, runs alternating,
medians. FLOPs: 3x the forward pass of the encoder and of the masked-LM
head (transform and the vocabulary projection at the masked positions).
"""

from absl import flags

import bench
from bench import harness, training

FLAGS = flags.FLAGS
flags.DEFINE_integer("pretraining_predictions", 20, "Masked positions per sequence.")


def synthetic_batch(config, b, t, k, seed=0):
    """A fixed pretraining batch: random ids, `k` sorted masked positions per sequence."""
    import numpy as np

    rng = np.random.default_rng(seed)
    positions = np.sort(np.stack([rng.choice(np.arange(1, t), k, replace=False)
                                  for _ in range(b)]), axis=1).astype(np.int32)
    return {"input_ids": rng.integers(1000, config.vocab_size, (b, t)).astype(np.int32),
            "input_mask": np.ones((b, t), np.int32), "segment_ids": np.zeros((b, t), np.int32),
            "masked_lm_positions": positions,
            "masked_lm_ids": rng.integers(1000, config.vocab_size, (b, k)).astype(np.int32),
            "masked_lm_weights": np.ones((b, k), np.float32),
            "next_sentence_labels": rng.integers(0, 2, (b, 1)).astype(np.int32)}


def forward_flops(config, b, t, k):
    """Encoder forward FLOPs plus the pretraining heads' matmuls (masked-LM transform and
    vocabulary projection at k positions, next-sentence classifier)."""
    h, v = config.hidden_size, config.vocab_size
    heads = b * k * 2 * (h * h + h * v) + b * 2 * h * 2
    return harness.encoder_flops(config, b, t) + heads


def ours(config, batch, precision, steps, jit_compile=False):
    from bert_tf.models.bert import BertPretrainer
    from bert_tf.models.bert.pretraining_objective import PretrainingObjective

    return training.ours(PretrainingObjective(), lambda: BertPretrainer(config, dtype=precision),
                         batch, steps, jit_compile=jit_compile, learning_rate=1e-4)


def keras_hub(config, batch, precision, steps):
    import keras_hub

    x = {"token_ids": batch["input_ids"], "padding_mask": batch["input_mask"],
         "segment_ids": batch["segment_ids"], "mask_positions": batch["masked_lm_positions"]}
    return training.keras_hub_fit(
        lambda: keras_hub.models.BertMaskedLM(
            backbone=harness.keras_hub_backbone(config, precision), preprocessor=None),
        x, batch["masked_lm_ids"], steps, sample_weight=batch["masked_lm_weights"],
        precision=precision, learning_rate=1e-4)


def run(ceilings):
    from bert_tf import BertConfig

    preset = bench.setting("preset", "base")
    config = BertConfig.preset(preset)
    b, t = bench.setting("batch_size", 16), bench.setting("seq_length", 128)
    k = min(FLAGS.pretraining_predictions, t - 1)
    steps, repeats = bench.setting("steps", 3), bench.setting("repeats", 3)
    jit_variants = bench.jit_variants(["off"])
    batch = synthetic_batch(config, b, t, k)
    flop = harness.TRAIN_FLOP_FACTOR * forward_flops(config, b, t, k)
    print(f"{preset}: batch {b} x {t}, {k} masked positions, {steps} steps per timed run, "
          f"{repeats} timed runs after a warm-up, alternating, medians; "
          f"{flop / 1e9:.2f} GFLOP per step", flush=True)
    header, rows = training.compare_steps(
        ceilings, flop, b, steps, repeats, jit_variants,
        lambda precision, jit: ours(config, batch, precision, steps, jit),
        None if FLAGS.skip_keras_hub else
        lambda precision: keras_hub(config, batch, precision, steps))
    harness.print_table(
        f"pretraining step, {preset}, batch {b} x {t}, {k} masked positions; "
        "ratio above 1.00x: bert_tf faster", header, rows)

