"""Peak memory of a SQuAD fine-tuning step with gradient accumulation (BERT-Large, 384 x 32 by default), in a fresh process.

Does a large fine-tuning job fit a 24 GiB machine? One training step of our
Trainer on `tasks/question_answering`'s span model and task: the global
batch is split into --memory_accumulation micro-batches whose gradients are
summed before one optimizer update (run_squad.py
--gradient_accumulation_steps). Each accumulation setting runs in its own
fresh process (one warm-up step that traces, then one timed step); the
table gives the seconds of the timed step and the process's peak resident
memory. Memory is what is measured: the time only says what a step costs.

With --memory_search_seq_lengths, a second table: for each sequence length,
the largest micro-batch whose step (one optimizer step of that batch, no
accumulation) fits in --memory_budget_gib of peak resident memory, with and
without activation recomputation (--recompute_activations), found by
doubling and then bisecting, each try a fresh process killed as soon as it
goes over the budget; then the step time at the largest batch, and the time
cost of recomputation at the largest batch both fit.
"""

from absl import flags

import bench
from bench import harness

FLAGS = flags.FLAGS
flags.DEFINE_integer("memory_batch", 32, "Global batch (windows per optimizer step).")
flags.DEFINE_list("memory_accumulation", ["4"], "Gradient accumulation steps to measure, each "
                  "in a fresh process (the micro-batch is the batch divided by it).")
flags.DEFINE_string("memory_precision", "float32", "Dtype policy of the step.")
flags.DEFINE_bool("memory_recompute", False, "The accumulation table's steps recompute "
                  "activations (run_squad.py --recompute_activations).")
flags.DEFINE_list("memory_search_seq_lengths", [], "Sequence lengths at which to search for "
                  "the largest micro-batch that fits in --memory_budget_gib, with and without "
                  "activation recomputation (none: no search).")
flags.DEFINE_float("memory_budget_gib", 24.0, "Peak resident memory a searched step must stay "
                   "within.")


def train_step(preset, batch, seq_length, accumulation, precision, recompute=False):
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

    def build_model():
        model = BertSpanLabeler(config, dtype=precision)
        model.encoder.recompute_activations = recompute
        return model

    trainer = Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"), SpanObjective(),
        build_model=build_model,
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
    for accumulation in (int(a) for a in FLAGS.memory_accumulation):
        if b % accumulation:
            raise flags.ValidationError(f"--memory_batch {b} is not a multiple of "
                                        f"--memory_accumulation {accumulation}")
    lengths = [int(n) for n in FLAGS.memory_search_seq_lengths]
    rows = []
    for accumulation in (int(a) for a in FLAGS.memory_accumulation):
        found = harness.run_child("bench.workloads.memory:train_step", dict(
            preset=preset, batch=b, seq_length=t, accumulation=accumulation,
            precision=FLAGS.memory_precision, recompute=FLAGS.memory_recompute))
        rows.append([f"{b} x {t}", str(accumulation), f"{b // accumulation} x {t}",
                     f"{found['parameters']:,}", f"{found['seconds']:.1f} s",
                     f"{found['peak_rss_mib'] / 1024:.2f} GiB"])
        print("  " + " | ".join(rows[-1]), flush=True)
    recompute = ", activation recomputation" if FLAGS.memory_recompute else ""
    harness.print_table(
        f"SQuAD fine-tuning step, {preset}, {FLAGS.memory_precision}{recompute}, AdamW, our "
        "Trainer: peak resident memory of a fresh process",
        ["global batch", "accumulation", "micro-batch", "parameters", "step", "peak RSS"], rows)
    if lengths:
        search(preset, lengths, FLAGS.memory_precision, FLAGS.memory_budget_gib)


def search(preset, lengths, precision, budget_gib):
    """The largest micro-batch within the budget at each sequence length, without and with
    recomputation, and what recomputation costs in time."""
    limit = budget_gib * 1024
    rows = []
    for t in lengths:
        tried = {}  # (recompute, batch) -> the child's dict, or None: over the budget

        def step(recompute, batch):
            if (recompute, batch) not in tried:
                found = harness.run_child("bench.workloads.memory:train_step", dict(
                    preset=preset, batch=batch, seq_length=t, accumulation=1,
                    precision=precision, recompute=recompute), rss_limit_mib=limit)
                if found is not None and found["peak_rss_mib"] > limit:
                    found = None  # a peak between two looks at the child
                tried[recompute, batch] = found
                shown = ("over" if found is None else
                         f"{found['peak_rss_mib'] / 1024:.2f} GiB, {found['seconds']:.2f} s")
                print(f"  seq {t}, recompute {'on' if recompute else 'off'}, micro-batch "
                      f"{batch}: {shown}", flush=True)
            return tried[recompute, batch]

        plain = harness.largest_fitting(lambda n: step(False, n) is not None)
        # What fits without recomputation fits with it: the search starts there.
        recomputed = harness.largest_fitting(lambda n: step(True, n) is not None, lower=plain)
        cost = "n/a"
        if plain:
            cost = f"{step(True, plain)['seconds'] / step(False, plain)['seconds']:.2f}x"
        for recompute, largest in ((False, plain), (True, recomputed)):
            found = step(recompute, largest) if largest else None
            rows.append([str(t), "on" if recompute else "off", str(largest),
                         f"{found['peak_rss_mib'] / 1024:.2f} GiB" if found else "-",
                         f"{found['seconds']:.2f} s" if found else "-",
                         f"{largest / found['seconds']:.2f}" if found else "-",
                         cost if recompute else "1.00x"])
    harness.print_table(
        f"Largest SQuAD fine-tuning micro-batch within {budget_gib:g} GiB of peak resident "
        f"memory, {preset}, {precision}, AdamW, our Trainer, one fresh process per try",
        ["sequence", "recompute", "largest micro-batch", "peak RSS", "step",
         "sequences/s", "step time vs. off at the largest batch both fit"], rows)
