"""Distillation: a fine-tuned all-MiniLM-L6-v2 teacher, a cut of it trained with and without the teacher; held-out accuracy and serving speed.

The data are docstring sentences of installed packages labelled with their
package (bench/text_data.py), held-out dev sentences. Every model is a
`run_classifier.py` run (`ClassifierRun`, in this process, one after the
other):

- `teacher`: all-MiniLM-L6-v2 (6 layers, hidden 384) fine-tuned on the
  hard labels (with `--distill_init=random`, the --preset shape with random
  weights instead: for a quick check that the workload runs, the scores then
  mean nothing);
- two students of the shape --distill_student_layers gives
  (`--student_layers_from_teacher`: every_other is the teacher's layers 0,
  2 and 4): the `cut of the fine-tuned teacher` (its layers, embeddings and
  head: `--student_layers_from_teacher`, DistilBERT's init) and the `cut of
  the pretrained model` (the same layers of all-MiniLM-L6-v2 before
  fine-tuning, saved as a release, a fresh head: `--init_checkpoint`, a
  compact pretrained model of the student's size);
- each trained once per --distill_alphas (default 0 and 0.5): on the hard
  labels alone (`no teacher`: `--distill_alpha=0`, the teacher's soft loss
  weighs nothing), or `distilled`, with the teacher at temperature
  --distill_bench_temperature and the soft loss weighing alpha.
- and, with --distill_transfer_examples (default 1,024), once more with
  the teacher alone (`--distill_alpha=1`) on the labelled sentences plus
  that many unlabelled ones (a transfer set, as DistilBERT's and TinyBERT's
  students learn on more text than the task's labels), for the same
  epochs.

Each run trains for --distill_epochs on --distill_train_examples and is
evaluated on --distill_dev_examples held-out sentences; then each model is
exported (`--export_dir`, float32, core tokenizer ops) and served through
its SavedModel's `serving_default` on the dev sentences as they are, as in
the serving workload: batch-1 p50 latency over --serving_requests requests,
and the throughput of batches of --serving_batches (default 8 and 32;
--batch_size, the training batch (default 16), replaces them), teacher and
student taking turns. "run s" is a run's wall time: training, evaluation
and, for the two served models, the export.
"""

import os
import shutil
import statistics
import tempfile
import time

from absl import flags

import bench
from bench import harness

FLAGS = flags.FLAGS
flags.DEFINE_enum("distill_init", "minilm", ["minilm", "random"], "minilm: the teacher starts "
                  "from the pretrained all-MiniLM-L6-v2; random: the --preset shape with random "
                  "weights (speed only).")
flags.DEFINE_integer("distill_train_examples", 1024, "Training sentences.")
flags.DEFINE_integer("distill_dev_examples", 512, "Held-out sentences (evaluated and served).")
flags.DEFINE_float("distill_epochs", 3.0, "Epochs of every run (teacher and students).")
flags.DEFINE_float("distill_learning_rate", 1e-4, "Peak learning rate of every run.")
flags.DEFINE_string("distill_student_layers", "every_other", "The student: "
                    "--student_layers_from_teacher (every_other, or teacher layers 0,3).")
flags.DEFINE_float("distill_bench_temperature", 2.0, "--distill_temperature of the distilled "
                   "students.")
flags.DEFINE_list("distill_alphas", ["0", "0.5"], "--distill_alpha of each student run "
                  "(0: the student without a teacher, trained on the labels alone); the first "
                  "one's student is served.")
flags.DEFINE_integer("distill_transfer_examples", 1024, "Unlabelled sentences more (a "
                     "transfer set) on which each student also learns from the teacher alone "
                     "(--distill_alpha=1; 0: no such run).")
flags.DEFINE_integer("distill_seed", 0, "Seed of the data and of every run.")
STUDENTS = ("teacher_cut", "pretrained_cut")
flags.DEFINE_list("distill_students", list(STUDENTS), "Which students: teacher_cut (the "
                  "fine-tuned teacher's layers and head), pretrained_cut (the pretrained "
                  "model's layers, a fresh head).")
flags.register_validator("distill_students", lambda names: bool(names) and set(names) <= set(
    STUDENTS), message=f"--distill_students takes values among {', '.join(STUDENTS)}")

MAX_SEQ_LENGTH = 128


def _run(data_dir, columns, work, name, batch_size, export=False, **extra):
    """One run_classifier.py run: (dev accuracy, export path or None, seconds of the whole run:
    training, evaluation, export)."""
    from tasks.classification import run as classifier_run

    lines = []
    settings = classifier_run.ClassifierSettings(
        task_name="custom", data_dir=data_dir, output_dir=os.path.join(work, name), **columns,
        max_seq_length=MAX_SEQ_LENGTH, do_train=True, do_eval=True,
        train_batch_size=batch_size, eval_batch_size=32, learning_rate=FLAGS.distill_learning_rate,
        num_train_epochs=FLAGS.distill_epochs, warmup_proportion=0.1,
        adam_bias_correction=True, iterations_per_loop=1000, save_checkpoints_steps=10 ** 9,
        seed=FLAGS.distill_seed,
        export_dir=os.path.join(work, f"{name}_export") if export else None,
        log=lines.append, **extra)
    started = time.perf_counter()
    run = classifier_run.ClassifierRun(settings).run()
    seconds = time.perf_counter() - started
    results = [line for line in lines if line.startswith("Evaluation: ")]
    accuracy = float(results[-1].split("eval_accuracy = ")[1].split(",")[0])
    del run
    if not export:
        return accuracy, None, seconds
    (version,) = os.listdir(settings.export_dir)
    return accuracy, os.path.join(settings.export_dir, version), seconds


def _pretrained_cut(directory, teacher_files, mapping):
    """The teacher's starting point (pretrained MiniLM, or the random model) cut to the
    student's layers, saved as a release: a compact pretrained model of the student's shape."""
    import keras

    from bert_tf import checkpoints
    from bert_tf.models.bert.release import resolve_model_files
    from bert_tf.models.registry import build_encoder
    from bert_tf.training import distillation

    files = resolve_model_files(teacher_files.get("init_checkpoint"),
                                teacher_files.get("vocab_file"),
                                teacher_files.get("bert_config_file"))
    keras.utils.set_random_seed(FLAGS.distill_seed)
    encoder = build_encoder(files.config)
    if files.release is not None:
        checkpoints.load_weights(encoder, files.release)
    student = build_encoder(distillation.with_num_layers(files.config, len(mapping)))
    distillation.copy_from_teacher(student, encoder, mapping)
    student.save_pretrained(directory, vocab_file=files.vocab_file)
    if files.release is not None and files.release.file("tokenizer_config.json"):
        shutil.copy(files.release.file("tokenizer_config.json"), directory)
    return directory


def run(ceilings):
    del ceilings
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    batch_size = bench.setting("batch_size", 16)
    batch_sizes = ([FLAGS.batch_size] if FLAGS.batch_size
                   else [int(b) for b in FLAGS.serving_batches])
    repeats = bench.setting("repeats", 5)
    work = tempfile.mkdtemp(prefix="bench_distill_")
    try:
        _measure(work, batch_size, batch_sizes, repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(work, batch_size, batch_sizes, repeats):
    import tensorflow as tf

    from bench import text_data
    from bench.workloads import realistic, serving

    data_dir = os.path.join(work, "data")
    num_train, num_transfer = FLAGS.distill_train_examples, FLAGS.distill_transfer_examples
    drawn = text_data.classification_set(num_train + num_transfer, FLAGS.distill_dev_examples,
                                         FLAGS.distill_seed)
    dataset = text_data.ClassificationSet(drawn.train[:num_train], drawn.dev, False)
    columns = text_data.write_classification(dataset, data_dir)
    # The transfer set: the labelled sentences and unlabelled ones, whose label column holds
    # a placeholder that --distill_alpha=1 gives no weight.
    transfer_dir = os.path.join(work, "transfer")
    text_data.write_classification(text_data.ClassificationSet(
        dataset.train + [text_data.Example(e.text_a, None, dataset.train[0].label)
                         for e in drawn.train[num_train:]], dataset.dev, False), transfer_dir)
    if FLAGS.distill_init == "minilm":
        teacher_files = {"init_checkpoint": realistic.minilm_dir()}
        shape = "all-MiniLM-L6-v2"
    else:
        config_file = os.path.join(work, "bert_config.json")
        realistic.model_config("random", FLAGS.preset).to_json_file(config_file)
        teacher_files = {"vocab_file": realistic.vocab_file(), "bert_config_file": config_file}
        shape = f"{FLAGS.preset}, random weights"
    labels = sorted({e.label for e in dataset.train})
    print(f"distillation: teacher {shape}; {len(dataset.train)} training and "
          f"{len(dataset.dev)} held-out docstring sentences, {len(labels)} labels (packages); "
          f"{FLAGS.distill_epochs:g} epochs, batch {batch_size}, learning rate "
          f"{FLAGS.distill_learning_rate:g}; student --student_layers_from_teacher="
          f"{FLAGS.distill_student_layers}, temperature {FLAGS.distill_bench_temperature:g}",
          flush=True)

    runs = {}  # name: (accuracy, export, seconds, layers)
    accuracy, export, seconds = _run(data_dir, columns, work, "teacher", batch_size,
                                     export=True, **teacher_files)
    teacher_dir = os.path.join(work, "teacher")
    from bert_tf.models.bert.release import resolve_model_files
    from bert_tf.training import distillation

    teacher_layers = resolve_model_files(teacher_dir).config.encoder_shape().num_layers
    mapping = distillation.layer_mapping(FLAGS.distill_student_layers, teacher_layers)
    runs["teacher"] = (accuracy, export, seconds, teacher_layers)
    # Students of one shape: the fine-tuned teacher's layers (with its head), and the
    # pretrained model's layers (a fresh head), each trained with and without the teacher.
    students = []
    if "teacher_cut" in FLAGS.distill_students:
        students.append(("cut of the fine-tuned teacher",
                         {"student_layers_from_teacher": FLAGS.distill_student_layers}))
    if "pretrained_cut" in FLAGS.distill_students:
        students.append(("cut of the pretrained model", {"init_checkpoint": _pretrained_cut(
            os.path.join(work, "pretrained_cut"), teacher_files, mapping)}))
    served = None  # the student served: the first one run
    for i, (student, init) in enumerate(students):
        for j, alpha in enumerate(float(a) for a in FLAGS.distill_alphas):
            name = f"{student}, " + ("no teacher" if alpha == 0 else
                                     f"distilled (alpha {alpha:g})")
            served = served or name
            accuracy, export, seconds = _run(
                data_dir, columns, work, f"student_{i}_{alpha:g}", batch_size,
                export=(i, j) == (0, 0), teacher=teacher_dir, distill_alpha=alpha,
                distill_temperature=FLAGS.distill_bench_temperature, **init)
            runs[name] = (accuracy, export, seconds, len(mapping))
            harness.release()
        if num_transfer:
            name = f"{student}, distilled (alpha 1) on {num_transfer:,} more unlabelled"
            accuracy, _, seconds = _run(
                transfer_dir, columns, work, f"student_{i}_transfer", batch_size,
                teacher=teacher_dir, distill_alpha=1.0,
                distill_temperature=FLAGS.distill_bench_temperature, **init)
            runs[name] = (accuracy, None, seconds, len(mapping))
            harness.release()

    # Serving: the teacher's export and one student's (the students have one shape).
    texts = [e.text_a for e in dataset.dev]
    served = {"teacher": runs["teacher"][1], "student": runs[served][1]}
    calls = {}
    for name, path in served.items():
        signature = tf.saved_model.load(path).signatures["serving_default"]
        calls[name] = (lambda x, signature=signature:
                       signature(text=tf.constant(x))["probabilities"].numpy())
    found = serving.measure_cell(calls, lambda x: None, texts, FLAGS.serving_requests,
                                 batch_sizes, repeats)
    speed = {name: {"p50": statistics.median(cell["single"]),
                    **{b: b / cell[b] for b in batch_sizes}} for name, cell in found.items()}

    teacher_accuracy = runs["teacher"][0]
    header = ["model", "layers", "held-out accuracy", "% of teacher", "run s",
              "batch 1 p50", *(f"batch {b} sequences/s" for b in batch_sizes),
              f"speed-up at batch {batch_sizes[-1]}"]
    rows = []
    for name, (accuracy, _, seconds, layers) in runs.items():
        kind = "teacher" if name == "teacher" else "student"
        rows.append([name, layers, f"{accuracy:.4f}",
                     f"{100 * accuracy / max(teacher_accuracy, 1e-12):.1f}%", f"{seconds:.0f}",
                     f"{speed[kind]['p50'] * 1e3:.1f} ms",
                     *(f"{speed[kind][b]:.1f}" for b in batch_sizes),
                     f"{speed[kind][batch_sizes[-1]] / speed['teacher'][batch_sizes[-1]]:.2f}x"])
    harness.print_table(f"distillation, {shape} teacher, {len(labels)}-way docstring "
                        f"classification, {len(dataset.dev)} held-out sentences (serving: "
                        "float32 SavedModels, raw text)", header, rows)
