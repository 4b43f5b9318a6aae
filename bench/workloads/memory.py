"""Peak memory of a SQuAD fine-tuning step with gradient accumulation (BERT-Large, 384 x 32 by default), in a fresh process.

Does a large fine-tuning job fit a 24 GiB machine? One training step of our
Trainer on `tasks/question_answering`'s span model and task: the global
batch is split into --memory_accumulation micro-batches whose gradients are
summed before one optimizer update (run_squad.py
--gradient_accumulation_steps). Each accumulation setting runs in its own
fresh process (one warm-up step that traces, then one timed step); the
table gives the seconds of the timed step and the process's peak resident
memory. Memory is what is measured: the time only says what a step costs.
"""

from absl import flags

import bench
from bench import harness

FLAGS = flags.FLAGS
flags.DEFINE_integer("memory_batch", 32, "Global batch (windows per optimizer step).")
flags.DEFINE_list("memory_accumulation", ["4"], "Gradient accumulation steps to measure, each "
                  "in a fresh process (the micro-batch is the batch divided by it).")
flags.DEFINE_string("memory_precision", "float32", "Dtype policy of the step.")


def train_step(preset, batch, seq_length, accumulation, precision):
    """In the child process: one traced and one timed step; returns the timed seconds."""
    import tempfile
    import time

    import tensorflow as tf

    from bench.workloads.gpu import squad_batch
    from bert_tf import BertConfig
    from bert_tf.training import optimization
    from bert_tf.training.trainer import Trainer, TrainingOptions
    from tasks.question_answering.model import BertSpanLabeler
    from tasks.question_answering.objective import SpanObjective

    config = BertConfig.preset(preset)
    trainer = Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"), SpanObjective(),
        build_model=lambda: BertSpanLabeler(config, dtype=precision),
        build_optimizer=lambda: optimization.create_optimizer(
            "adamw", 3e-5, num_train_steps=10 ** 9, num_warmup_steps=0),
        options=TrainingOptions(tempfile.mkdtemp(prefix="bench_memory_"),
                                num_train_steps=10 ** 9, steps_per_loop=1,
                                gradient_accumulation_steps=accumulation,
                                log=lambda line: None))
    data = tf.data.Dataset.from_tensors(squad_batch(config, batch, seq_length)).repeat()
    iterator = iter(trainer.strategy.distribute_datasets_from_function(lambda context: data))
    one = tf.constant(1)
    trainer._train_loop(iterator, one)
    trainer.global_step.numpy()
    start = time.perf_counter()
    trainer._train_loop(iterator, one)
    trainer.global_step.numpy()
    return {"seconds": time.perf_counter() - start,
            "parameters": int(sum(v.numpy().size for v in trainer.model.weights))}


def run(ceilings):
    del ceilings
    # BERT-Large unless --preset is given (its default, base, is the other workloads').
    preset = FLAGS.preset if FLAGS["preset"].present else "large"
    t = bench.setting("seq_length", 384)
    b = FLAGS.memory_batch
    rows = []
    for accumulation in (int(a) for a in FLAGS.memory_accumulation):
        if b % accumulation:
            raise flags.ValidationError(f"--memory_batch {b} is not a multiple of "
                                        f"--memory_accumulation {accumulation}")
        found = harness.run_child("bench.workloads.memory:train_step", dict(
            preset=preset, batch=b, seq_length=t, accumulation=accumulation,
            precision=FLAGS.memory_precision))
        rows.append([f"{b} x {t}", str(accumulation), f"{b // accumulation} x {t}",
                     f"{found['parameters']:,}", f"{found['seconds']:.1f} s",
                     f"{found['peak_rss_mib'] / 1024:.2f} GiB"])
        print("  " + " | ".join(rows[-1]), flush=True)
    harness.print_table(
        f"SQuAD fine-tuning step, {preset}, {FLAGS.memory_precision}, AdamW, our Trainer: "
        "peak resident memory of a fresh process",
        ["global batch", "accumulation", "micro-batch", "parameters", "step", "peak RSS"], rows)
