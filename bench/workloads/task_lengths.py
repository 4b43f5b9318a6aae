"""Tagging (max_seq_length 128) and question answering (384) on realistic lengths: windows padded to their text vs --pad_to_max_length.

keras-hub has no tagging or question-answering task, so both contenders are
ours, each in a fresh process (bench.child) on the same files: the
run_tagging.py and run_squad.py run objects (`TaggerRun`, `SquadRun`:
train, then predict), once with batches padded to their longest window
and bucketed by length, once with --pad_to_max_length (what every peer
does). The data are docstrings of installed packages (bench/text_data.py):
sentences tagged by a rule (code identifiers, numbers, capitalised runs)
in CoNLL columns, and SQuAD v1.1 questions made from docstring paragraphs.

Rates count model rows (windows) per second, as the trainer does; a
question whose context is longer than a window has several. Training
leaves out the first --task_lengths_warmup_steps steps (tracing);
prediction is timed on a second pass (the first one traces). The
entity F1 and the SQuAD F1 are printed as a check that both variants
learn the same thing (with random weights, only speed means anything).
"""

import os
import re
import tempfile
import time

from absl import flags

import bench
from bench import harness
from bench.workloads import realistic

FLAGS = flags.FLAGS
flags.DEFINE_list("task_lengths_tasks", ["tagging", "qa"], "Which of tagging, qa to run.")
flags.DEFINE_enum("task_lengths_init", "random", ["random", "minilm"], "random: the --preset "
                  "shape with random weights; minilm: the pretrained all-MiniLM-L6-v2.")
flags.DEFINE_integer("task_lengths_tagging_seq_length", 128, "max_seq_length of tagging.")
flags.DEFINE_integer("task_lengths_qa_seq_length", 384, "max_seq_length of question answering.")
flags.DEFINE_integer("task_lengths_tagging_train", 512, "Tagging training sentences.")
flags.DEFINE_integer("task_lengths_tagging_dev", 256, "Tagging dev sentences (also predicted).")
flags.DEFINE_integer("task_lengths_qa_train", 96, "QA training paragraphs (up to 3 questions "
                     "each).")
flags.DEFINE_integer("task_lengths_qa_dev", 32, "QA dev paragraphs (predicted and scored).")
flags.DEFINE_float("task_lengths_epochs", 1.0, "Training epochs.")
flags.DEFINE_float("task_lengths_learning_rate", 5e-5, "Peak learning rate.")
flags.DEFINE_integer("task_lengths_warmup_steps", 4, "Training steps left out of the rate "
                     "(tracing); also the trainer's steps per loop.")
flags.DEFINE_integer("task_lengths_seed", 0, "Seed of the data and of both variants.")

VARIANTS = (("bert_tf", False), ("bert_tf --pad_to_max_length", True))
TASKS = ("tagging", "qa")


def task_child(task, files, init, preset, precision, batch_size, max_seq_length, epochs,
               learning_rate, warmup_steps, pad_to_max_length, jit_compile, seed):
    """Runs in a fresh process: run_tagging.py's or run_squad.py's run, timed part by part."""
    import numpy as np

    from bench import text_data

    work = harness.scratch_dir(f"task_lengths_{task}_")
    marks = []

    def log(line):
        found = re.match(r"step (\d+)/", line)
        if found:
            marks.append((int(found.group(1)), time.perf_counter()))

    if init == "minilm":
        model_files = {"init_checkpoint": realistic.minilm_dir()}
    else:
        model_files = {"vocab_file": realistic.vocab_file(),
                       "bert_config_file": os.path.join(work, "bert_config.json")}
        realistic.model_config(init, preset).to_json_file(model_files["bert_config_file"])
    common = dict(output_dir=os.path.join(work, "run"), **files, **model_files,
                  max_seq_length=max_seq_length, do_train=True, do_predict=True,
                  train_batch_size=batch_size, predict_batch_size=batch_size,
                  learning_rate=learning_rate, num_train_epochs=epochs, warmup_proportion=0.1,
                  adam_bias_correction=True, iterations_per_loop=warmup_steps,
                  save_checkpoints_steps=10 ** 9, mixed_precision=precision,
                  jit_compile=jit_compile, seed=seed, pad_to_max_length=pad_to_max_length,
                  log=log)
    started = time.perf_counter()
    if task == "tagging":
        from tasks.tagging import run as task_run

        settings = task_run.TaggerSettings(do_eval=True, eval_batch_size=batch_size, **common)
        run = task_run.TaggerRun(settings)
    else:
        from tasks.question_answering import run as task_run

        settings = task_run.SquadSettings(**common)
        run = task_run.SquadRun(settings)
    try:
        train = run.encode("train")
        run.train()
        found = {"train_windows": len(train), "train_steps": run.num_train_steps,
                 "train_wall_s": time.perf_counter() - started,
                 "train_windows_per_s": realistic.steady_rate(marks, batch_size, warmup_steps)}
        found["mean_padded_length"] = realistic.planned_widths(
            train.lengths, batch_size, run.num_train_steps, max_seq_length, seed,
            pad_to_max_length)
        histogram = text_data.length_histogram(train.lengths, max_seq_length,
                                               bucket=max(16, max_seq_length // 8))
        found["histogram"] = histogram
        predict_windows = len(run.encode("test"))
        for attempt in ("first", "second"):
            start = time.perf_counter()
            run.predict()
            seconds = time.perf_counter() - start
            found[f"predict_{attempt}_s"] = seconds
        found["predict_windows"] = predict_windows
        found["predict_windows_per_s"] = predict_windows / seconds
        if task == "tagging":
            found["predict_examples"] = len(run.sentences["test"])
            found["score"] = float(run.evaluate()["eval_f1"])
        else:
            found["predict_examples"] = len(run.predict_examples)
            results = dict(line.split(" = ") for line in open(os.path.join(
                settings.output_dir, task_run.EVAL_RESULTS_FILE)).read().splitlines())
            found["score"] = float(results["f1"]) / 100
        found["predict_examples_per_s"] = found["predict_examples"] / seconds
        found["mean_length"] = float(np.mean(train.lengths))
        return found
    finally:
        run.close()


def write_task_data(task, data_dir, seed):
    """The task's files in data_dir: {settings field: path}."""
    from bench import text_data

    if task == "tagging":
        data = text_data.tagging_set(FLAGS.task_lengths_tagging_train,
                                     FLAGS.task_lengths_tagging_dev, seed)
        return text_data.write_tagging(data, data_dir)
    data = text_data.qa_set(FLAGS.task_lengths_qa_train, FLAGS.task_lengths_qa_dev, seed)
    return text_data.write_squad(data, data_dir)


def run(ceilings):
    from bench import text_data

    del ceilings  # the rates compare the two variants with each other
    unknown = [t for t in FLAGS.task_lengths_tasks if t not in TASKS]
    if unknown:
        raise flags.ValidationError(f"--task_lengths_tasks: unknown {unknown}; choose from "
                                    f"{', '.join(TASKS)}")
    init = FLAGS.task_lengths_init
    preset = bench.setting("preset", "base")
    b = bench.setting("batch_size", 16)
    seed = FLAGS.task_lengths_seed
    jit_variants = bench.jit_variants(["off"])
    shape = ("all-MiniLM-L6-v2 (pretrained)" if init == "minilm"
             else f"{preset} (random weights: speed only)")
    with tempfile.TemporaryDirectory(prefix="task_lengths_data_") as data_dir:
        for task in FLAGS.task_lengths_tasks:
            t = (FLAGS.task_lengths_tagging_seq_length if task == "tagging"
                 else FLAGS.task_lengths_qa_seq_length)
            files = write_task_data(task, os.path.join(data_dir, task), seed)
            title = "tagging (CoNLL, rule tags)" if task == "tagging" else \
                "question answering (SQuAD v1.1, questions from docstring paragraphs)"
            print(f"{title}: {shape}, batch {b}, max_seq_length {t}, "
                  f"{FLAGS.task_lengths_epochs:g} epoch(s), the first "
                  f"{FLAGS.task_lengths_warmup_steps} steps left out of the training rate",
                  flush=True)
            for precision in FLAGS.precisions:
                rows, histogram = [], None
                for jit in jit_variants:
                    for name, padded in VARIANTS:
                        label = name + (" (XLA)" if jit else "")
                        print(f"  {task}, {precision}: running {label} ...", flush=True)
                        m = harness.run_child("bench.workloads.task_lengths:task_child", dict(
                            task=task, files=files, init=init, preset=preset,
                            precision=precision, batch_size=b, max_seq_length=t,
                            epochs=FLAGS.task_lengths_epochs,
                            learning_rate=FLAGS.task_lengths_learning_rate,
                            warmup_steps=FLAGS.task_lengths_warmup_steps,
                            pad_to_max_length=padded, jit_compile=jit, seed=seed))
                        histogram = histogram or m["histogram"]
                        rows.append([label, realistic._fmt(m["train_windows_per_s"]),
                                     realistic._fmt(m["train_wall_s"]),
                                     realistic._fmt(m["predict_windows_per_s"]),
                                     realistic._fmt(m["predict_examples_per_s"]),
                                     realistic._fmt(m["predict_first_s"]),
                                     f"{m['mean_padded_length']:.0f}",
                                     f"{m['score']:.4f}", f"{m['peak_rss_mib']:.0f}"])
                if histogram is not None and precision == FLAGS.precisions[0]:
                    harness.print_table(
                        f"{task}: training windows in WordPiece tokens: "
                        f"{text_data.summary_line(histogram).replace('examples', 'windows')}",
                        ["tokens", "windows", "share"], text_data.histogram_rows(histogram))
                harness.print_table(
                    f"{task}, {shape}, {precision}, batch {b}, max_seq_length {t}: windows/s "
                    "(train after the warm-up steps; predict on a second pass)",
                    ["variant", "train windows/s", "train wall s (start-up included)",
                     "predict windows/s", "predict examples/s", "first predict s",
                     "mean padded length (train)",
                     "dev entity F1" if task == "tagging" else "dev SQuAD F1",
                     "peak RSS MiB"], rows)
                _print_ratio(rows, task, precision)


def _print_ratio(rows, task, precision):
    by_name = {row[0]: row for row in rows}
    ours, padded = by_name.get(VARIANTS[0][0]), by_name.get(VARIANTS[1][0])
    if not ours or not padded:
        return
    cells = []
    for column in (1, 3):
        try:
            cells.append(f"{float(ours[column]) / float(padded[column]):.2f}x")
        except (ValueError, ZeroDivisionError):
            cells.append("n/a")
    harness.print_table(f"{task}, {precision}: speed of windows padded to their text over "
                        "--pad_to_max_length (above 1.00x: the length-aware pipeline is faster)",
                        ["train", "predict"], [cells])
