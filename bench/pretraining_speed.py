"""Pretraining throughput: bert_tf's training loop against keras-hub's BertMaskedLM, same process.

BERT-Base (uncased vocab), sequence 128, 20 masked positions, AdamW.
bert_tf runs its distributed training loop (BertPretrainer: masked LM +
next sentence, global-norm clipping, non-finite guard); keras-hub runs
`BertMaskedLM.fit` (masked LM only). Runs alternate and medians are taken.

    .venv/bin/python bench/pretraining_speed.py [--batch_size=16 --steps=3 --repeats=3]
"""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

import timing  # noqa: E402  (bench/timing.py)

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "base", "BertConfig preset.")
flags.DEFINE_integer("batch_size", 16, "Sequences per step.")
flags.DEFINE_integer("seq_length", 128, "Tokens per sequence.")
flags.DEFINE_integer("predictions", 20, "Masked positions per sequence.")
flags.DEFINE_integer("steps", 3, "Training steps per timed run.")
flags.DEFINE_integer("repeats", 3, "Timed runs per model and precision (after a warm-up run).")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Dtype policies.")


def synthetic_batch(config, b, t, k, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(np.arange(1, t), (b, k)), axis=1).astype(np.int32)
    return {"input_ids": rng.integers(1000, config.vocab_size, (b, t)).astype(np.int32),
            "input_mask": np.ones((b, t), np.int32), "segment_ids": np.zeros((b, t), np.int32),
            "masked_lm_positions": positions,
            "masked_lm_ids": rng.integers(1000, config.vocab_size, (b, k)).astype(np.int32),
            "masked_lm_weights": np.ones((b, k), np.float32),
            "next_sentence_labels": rng.integers(0, 2, (b, 1)).astype(np.int32)}


def ours(config, batch, precision, steps):
    import tensorflow as tf

    from bert_tf.training import optimization
    from bert_tf.models.bert import BertPretrainer
    from tasks.pretraining.task import PretrainingTask
    from bert_tf.training import Trainer, TrainingOptions

    trainer = Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"), PretrainingTask(),
        build_model=lambda: BertPretrainer(config, dtype=precision),
        build_optimizer=lambda: optimization.AdamWeightDecay(1e-5),
        options=TrainingOptions(tempfile.mkdtemp(), num_train_steps=10 ** 9,
                                steps_per_loop=steps, log=lambda line: None))
    data = tf.data.Dataset.from_tensors(batch).repeat()
    dist = trainer.strategy.distribute_datasets_from_function(lambda context: data)
    iterator = iter(dist)

    def run():
        trainer._train_loop(iterator, tf.constant(steps))
        trainer.global_step.numpy()
    return run


def keras_hub_run(config, batch, precision, steps):
    import keras
    import keras_hub
    import tensorflow as tf

    # The global policy too, so that the task model's own layers follow it.
    keras.config.set_dtype_policy(precision)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        max_sequence_length=config.max_position_embeddings, dtype=precision)
    model = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
    model.compile(optimizer=keras.optimizers.AdamW(1e-5, epsilon=1e-6, global_clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=["sparse_categorical_accuracy"], steps_per_execution=steps)
    x = {"token_ids": batch["input_ids"], "padding_mask": batch["input_mask"],
         "segment_ids": batch["segment_ids"], "mask_positions": batch["masked_lm_positions"]}
    data = tf.data.Dataset.from_tensors((x, batch["masked_lm_ids"],
                                         batch["masked_lm_weights"])).repeat()

    def run():
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return run


def main(argv):
    del argv
    import keras

    from bert_tf import BertConfig

    config = BertConfig.preset(FLAGS.preset)
    b, t = FLAGS.batch_size, FLAGS.seq_length
    batch = synthetic_batch(config, b, t, FLAGS.predictions)
    print(f"{FLAGS.preset}: batch {b} x {t}, {FLAGS.predictions} masked positions, "
          f"{FLAGS.steps} steps per timed run")
    for precision in FLAGS.precisions:
        keras.utils.set_random_seed(0)
        runners = {"bert_tf": ours(config, batch, precision, FLAGS.steps),
                   "keras-hub": keras_hub_run(config, batch, precision, FLAGS.steps)}
        keras.config.set_dtype_policy("float32")
        med = timing.alternate(runners, FLAGS.repeats, FLAGS.steps)
        for name in runners:
            print(f"  {precision:15s} {name:10s} {med[name]:.3f} s/step "
                  f"{b / med[name]:6.1f} sequences/s")
        print(f"  {precision:15s} speed ratio bert_tf / keras-hub = "
              f"{med['keras-hub'] / med['bert_tf']:.2f}x")


if __name__ == "__main__":
    app.run(main)
