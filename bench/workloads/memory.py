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
accumulation) ran within --memory_budget_gib of peak resident memory, with
and without activation recomputation (--recompute_activations). Each try is
a fresh process killed as soon as it goes over the budget. Doubling and
bisecting would run a dozen BERT-Large steps of minutes each, so the search
measures instead of searching blindly: two small micro-batches
(--memory_search_probes), the line through their peaks (fixed memory plus
memory per sequence) predicts the largest micro-batch, which is then run,
and so is the next one up, which must go over; a wrong prediction is
corrected by refitting through the new run (harness.largest_within). The
table reports only what ran: the largest micro-batch within the budget,
its peak, and the first one over. Every run takes one step that traces,
then --memory_search_timed_steps more (0: the first alone, half the cost of
the large runs); the largest probe takes at least one more, whose time per
sequence with and without recomputation is the time cost. On a shared
machine, a run that is within the budget when the machine itself falls
under 1 GiB available (other jobs) is stopped and run again once there is
room: it is not counted as over, nor left to the kernel's OOM killer.
"""

from absl import flags

import bench
from bench import harness

FLAGS = flags.FLAGS
flags.DEFINE_integer("memory_batch", 32, "Global batch (windows per optimizer step).")
flags.DEFINE_list("memory_accumulation", ["4"], "Gradient accumulation steps to measure, each "
                  "in a fresh process (the micro-batch is the batch divided by it); empty: "
                  "no such table (the search alone).")
flags.DEFINE_string("memory_precision", "float32", "Dtype policy of the step.")
flags.DEFINE_bool("memory_recompute", False, "The accumulation table's steps recompute "
                  "activations (run_squad.py --recompute_activations).")
flags.DEFINE_list("memory_search_seq_lengths", [], "Sequence lengths at which to search for "
                  "the largest micro-batch that fits in --memory_budget_gib, with and without "
                  "activation recomputation (none: no search).")
flags.DEFINE_float("memory_budget_gib", 24.0, "Peak resident memory a searched step must stay "
                   "within.")
flags.DEFINE_list("memory_search_probes", ["2", "4"], "The small micro-batches the search runs "
                  "first, whose peaks fit the line that predicts the largest; the largest probe "
                  "also times the step with and without recomputation.")
flags.DEFINE_integer("memory_search_max_batch", None, "Run no micro-batch above this in the "
                     "search (its step time grows with it); the table then says the largest is "
                     "at least this much.")
flags.DEFINE_integer("memory_search_timed_steps", 1, "Steps each run of the search takes after "
                     "the first (which traces), all within the budget. 0: the first step alone "
                     "(half the cost of the large runs; a later step may peak a little higher). "
                     "The largest probe takes at least one, the time of the table.")
flags.DEFINE_list("memory_extrapolate_gib", [], "Also print the fitted line's largest "
                  "micro-batch at each of these many GiB (extrapolated, not run).")


def train_step(preset, batch, seq_length, accumulation, precision, recompute=False,
               timed_steps=1):
    """In the child process: one step that traces, then `timed_steps` timed steps; returns
    the seconds of the fastest timed one (None for 0: a run for its peak memory alone)."""
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
        options=TrainingOptions(harness.scratch_dir("bench_memory_"),
                                num_train_steps=10 ** 9, steps_per_loop=1,
                                gradient_accumulation_steps=accumulation,
                                log=lambda line: None))
    data = tf.data.Dataset.from_tensors(squad_batch(config, batch, seq_length)).repeat()
    iterator = iter(trainer.strategy.distribute_datasets_from_function(lambda context: data))
    one = tf.constant(1)
    trainer._train_loop(iterator, one)
    trainer.global_step.numpy()
    times = []
    for _ in range(timed_steps):
        start = time.perf_counter()
        trainer._train_loop(iterator, one)
        trainer.global_step.numpy()
        times.append(time.perf_counter() - start)
    return {"seconds": min(times) if times else None,
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
    probes = [int(n) for n in FLAGS.memory_search_probes]
    if lengths and (len(set(probes)) < 2 or min(probes) < 1):
        raise flags.ValidationError(f"--memory_search_probes needs two or more different "
                                    f"micro-batches of at least 1, got {probes}")
    if (FLAGS.memory_search_max_batch or 1) < 1 or FLAGS.memory_search_timed_steps < 0:
        raise flags.ValidationError("--memory_search_max_batch must be at least 1 and "
                                    "--memory_search_timed_steps at least 0")
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
    if rows:  # --memory_accumulation= (empty): the search alone
        harness.print_table(
            f"SQuAD fine-tuning step, {preset}, {FLAGS.memory_precision}{recompute}, AdamW, our "
            "Trainer: peak resident memory of a fresh process",
            ["global batch", "accumulation", "micro-batch", "parameters", "step", "peak RSS"],
            rows)
    if lengths:
        search(preset, lengths, FLAGS.memory_precision, FLAGS.memory_budget_gib, probes=probes,
               most=FLAGS.memory_search_max_batch,
               extrapolate_gib=[float(g) for g in FLAGS.memory_extrapolate_gib],
               timed_steps=FLAGS.memory_search_timed_steps)


# A search run is stopped (and run again later) when the machine's available memory falls
# below this, rather than let the kernel's OOM killer take it, or another engineer's job.
KEEP_AVAILABLE_MIB = 1024
PATIENCE_S = 3600  # how long a stopped run waits for that room


def search(preset, lengths, precision, budget_gib, probes=(2, 4), most=None,
           extrapolate_gib=(), timed_steps=1):
    """The largest micro-batch within the budget at each sequence length, without and with
    recomputation (harness.largest_within), and what recomputation costs in time."""
    limit = budget_gib * 1024
    timed_batch = max(probes)
    rows = []
    for t in lengths:
        found = {}
        for recompute in (False, True):
            runs = {}

            def peak(batch):
                while True:
                    try:
                        ran = harness.run_child("bench.workloads.memory:train_step", dict(
                            preset=preset, batch=batch, seq_length=t, accumulation=1,
                            precision=precision, recompute=recompute,
                            timed_steps=max(timed_steps, int(batch == timed_batch))),
                            rss_limit_mib=limit, keep_available_mib=KEEP_AVAILABLE_MIB)
                        break
                    except harness.MachineShortOfMemory as e:
                        # Other jobs on a shared machine: not an over. Run it again once the
                        # machine has room for more than the child held when it was stopped.
                        need = e.rss_mib + 2 * KEEP_AVAILABLE_MIB
                        print(f"  {e}; again once {need / 1024:.1f} GiB are available",
                              flush=True)
                        if not harness.wait_for_available(need, PATIENCE_S):
                            raise
                runs[batch] = ran
                shown = "over" if ran is None else f"{ran['peak_rss_mib'] / 1024:.2f} GiB"
                if ran is not None and ran["seconds"] is not None:
                    shown += f", {ran['seconds']:.2f} s"
                print(f"  seq {t}, recompute {'on' if recompute else 'off'}, micro-batch "
                      f"{batch}: {shown}", flush=True)
                return None if ran is None else ran["peak_rss_mib"]

            searched = harness.largest_within(peak, limit, probes=probes, most=most)
            timed = runs.get(timed_batch)
            found[recompute] = (searched, timed["seconds"] / timed_batch
                                if timed and timed["seconds"] else None)
        for recompute, (searched, per_sequence) in found.items():
            line = searched.line()
            capped = most is not None and searched.first_over is None and searched.largest >= most
            row = [str(t), "on" if recompute else "off",
                   f">= {searched.largest}" if capped else str(searched.largest),
                   f"{searched.peak_mib / 1024:.2f} GiB" if searched.largest else "-",
                   str(searched.first_over) if searched.first_over else "-",
                   f"{line[0] / 1024:.2f} GiB + {line[1]:.0f} MiB/seq" if line else "-"]
            for gib in extrapolate_gib:
                predicted = searched.predict(gib * 1024)
                row.append("-" if predicted is None else str(predicted))
            off = found[False][1]
            row += [str(len(searched.tries)),
                    f"{per_sequence:.2f} s" if per_sequence else "-",
                    f"{per_sequence / off:.2f}x" if per_sequence and off else "-"]
            rows.append(row)
    header = ["sequence", "recompute", "largest micro-batch run within budget", "its peak RSS",
              "first micro-batch over", "fitted peak"]
    header += [f"fitted line's largest at {gib:g} GiB (extrapolated, not run)"
               for gib in extrapolate_gib]
    header += ["runs", f"step time per sequence at micro-batch {timed_batch}", "vs. off"]
    harness.print_table(
        f"Largest SQuAD fine-tuning micro-batch within {budget_gib:g} GiB of peak resident "
        f"memory, {preset}, {precision}, AdamW, our Trainer, one fresh process per run",
        header, rows)
