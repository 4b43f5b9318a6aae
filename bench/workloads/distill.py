"""Distillation: a fine-tuned all-MiniLM-L6-v2 teacher, a cut of it trained with and without the teacher; held-out scores and serving speed, per task.

Three tasks (--distill_tasks; the default, classification alone, is the
workload as it was), each on generated data (bench/text_data.py) with its
own teacher and students, every model a run of the task's script in this
process, one after the other. The runs share --distill_epochs and
--distill_learning_rate, and QA and tagging need more than classification's
defaults (at 1e-4 and 3 epochs their teachers barely learn: QA F1 0.09 on
100 paragraphs, tagging entity F1 0.46 with no number found), so each task
is best run on its own command (bench/RESULTS.md):

- classification (`run_classifier.py`, `ClassifierRun`): docstring
  sentences of installed packages labelled with their package, held-out
  accuracy;
- qa (`run_squad.py`, `SquadRun`): SQuAD v1.1 questions on docstring
  paragraphs of 3 to 4 sentences (a sentence of the context with one word
  replaced by "what", that word the answer), held-out EM and F1 (the
  official script's, as fractions), windows of --distill_qa_seq_length;
- tagging (`run_tagging.py`, `TaggerRun`): docstring words tagged by a rule
  (CODE: dotted names, calls, snake_case and camelCase; NUM; CAP: runs of
  capitalised words not starting the sentence), held-out entity F1
  (seqeval's). The models are uncased, so the capitals that decide CAP
  (and camelCase) are not in their input: part of the tags cannot be read
  from it, which keeps the teacher below 100% (a task it aced would make
  "% of teacher" say nothing).

For each task:

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
- and, with a transfer set (--distill_transfer_examples sentences,
  default 1,024; --distill_tagging_transfer_examples sentences;
  --distill_qa_transfer_paragraphs paragraphs), once more with the teacher
  alone (`--distill_alpha=1`) on the labelled examples plus that many
  unlabelled ones (as DistilBERT's and TinyBERT's students learn on more
  text than the task's labels), for the same epochs. Their labels (a
  placeholder class; the rule's tags; the generated answers) get no weight.

Each run trains for --distill_epochs on the task's training examples
(--distill_train_examples, --distill_tagging_train_examples,
--distill_qa_train_paragraphs) and is evaluated on its held-out ones; then
each model is exported (`--export_dir`, float32, core tokenizer ops) and
served through its SavedModel's `serving_default` on the held-out inputs as
they are (sentences; tagging: the words joined by spaces; QA: question and
context), as in the serving workload: batch-1 p50 latency over
--serving_requests requests, and the throughput of batches of
--serving_batches (default 8 and 32; --batch_size, the training batch
(default 16), replaces them), teacher and student taking turns. "run s" is
a run's wall time: training, evaluation and, for the two served models, the
export.
"""

import dataclasses
import os
import shutil
import statistics
import tempfile
import time
from typing import Callable, List, Optional, Tuple

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

TASKS = ("classification", "qa", "tagging")
flags.DEFINE_list("distill_tasks", ["classification"], "Tasks, each with its own teacher and "
                  "students: classification (run_classifier.py, package of a docstring "
                  "sentence, accuracy), qa (run_squad.py, questions on docstring paragraphs, "
                  "EM and F1), tagging (run_tagging.py, rule-tagged docstring words, entity F1). "
                  "QA and tagging learn at --distill_learning_rate=3e-4 (tagging: "
                  "--distill_epochs=8), not at classification's defaults: run each on its own "
                  "(bench/RESULTS.md has the commands).")
flags.register_validator("distill_tasks", lambda names: bool(names) and set(names) <= set(
    TASKS), message=f"--distill_tasks takes values among {', '.join(TASKS)}")
flags.DEFINE_integer("distill_tagging_train_examples", 512, "Tagging: training sentences.")
flags.DEFINE_integer("distill_tagging_dev_examples", 512, "Tagging: held-out sentences.")
flags.DEFINE_integer("distill_tagging_transfer_examples", 1024, "Tagging: sentences more of "
                     "the transfer set (0: no transfer run).")
flags.DEFINE_integer("distill_qa_train_paragraphs", 200, "QA: training paragraphs (up to 3 "
                     "questions each).")
flags.DEFINE_integer("distill_qa_dev_paragraphs", 50, "QA: held-out paragraphs.")
flags.DEFINE_integer("distill_qa_transfer_paragraphs", 100, "QA: paragraphs more of the "
                     "transfer set (0: no transfer run).")
flags.DEFINE_integer("distill_qa_seq_length", 128, "QA: window length (question and context; "
                     "a longer context is windowed with a stride of half of it).")

MAX_SEQ_LENGTH = 128
QA_MAX_SENTENCES = 4  # sentences per QA context: most contexts fit one window


@dataclasses.dataclass
class Task:
    """One task of the workload: its data and how its script's in-process run and its
    SavedModel are called."""

    name: str  # the --distill_tasks value
    title: str  # the table's title after the teacher's shape
    settings_class: type
    run_class: type
    settings: dict  # the task's own settings (data files, lengths)
    transfer: Optional[dict]  # the settings that replace the data with the transfer set
    transfer_note: str  # the row name's "on ... more unlabelled"
    scores: List[Tuple[str, str, float]]  # (column, eval_results.txt key, scale); the last one's
    # share of the teacher's is "% of teacher"
    served: list  # the held-out inputs served, one per request
    call: Callable  # (serving_default signature, a batch of `served`) -> numpy
    description: str


def _run(task, work, name, batch_size, export=False, transfer=False, **extra):
    """One run of the task's script: ([scores], export path or None, seconds of the whole
    run: training, evaluation, export)."""
    output_dir = os.path.join(work, task.name, name)
    export_dir = os.path.join(work, task.name, f"{name}_export") if export else None
    settings = task.settings_class(
        **{**task.settings, **(task.transfer if transfer else {})}, output_dir=output_dir,
        do_train=True, train_batch_size=batch_size, learning_rate=FLAGS.distill_learning_rate,
        num_train_epochs=FLAGS.distill_epochs, warmup_proportion=0.1,
        adam_bias_correction=True, iterations_per_loop=1000, save_checkpoints_steps=10 ** 9,
        seed=FLAGS.distill_seed, export_dir=export_dir, log=lambda line: None, **extra)
    started = time.perf_counter()
    run = task.run_class(settings).run()
    seconds = time.perf_counter() - started
    del run
    # eval_results.txt: the held-out scores of every task (run_squad.py's official EM and F1
    # in percent, the others' fractions).
    with open(os.path.join(output_dir, "eval_results.txt"), encoding="utf-8") as f:
        results = dict(line.split(" = ", 1) for line in f.read().splitlines())
    scores = [float(results[key]) * scale for _, key, scale in task.scores]
    if not export:
        return scores, None, seconds
    (version,) = os.listdir(export_dir)
    return scores, os.path.join(export_dir, version), seconds


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


def _classification_task(work):
    import tensorflow as tf

    from bench import text_data
    from tasks.classification import run as classifier_run

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
    labels = sorted({e.label for e in dataset.train})
    return Task(
        "classification", f"{len(labels)}-way docstring classification, {len(dataset.dev)} "
        "held-out sentences (serving: float32 SavedModels, raw text)",
        classifier_run.ClassifierSettings, classifier_run.ClassifierRun,
        dict(task_name="custom", data_dir=data_dir, **columns, max_seq_length=MAX_SEQ_LENGTH,
             do_eval=True, eval_batch_size=32),
        {"data_dir": transfer_dir} if num_transfer else None, f"{num_transfer:,} more unlabelled",
        [("held-out accuracy", "eval_accuracy", 1.0)], [e.text_a for e in dataset.dev],
        lambda signature, x: signature(text=tf.constant(x))["probabilities"].numpy(),
        f"{len(dataset.train)} training and {len(dataset.dev)} held-out docstring sentences, "
        f"{len(labels)} labels (packages)")


def _tagging_task(work):
    import tensorflow as tf

    from bench import text_data
    from tasks.tagging import run as tagging_run

    num_train = FLAGS.distill_tagging_train_examples
    num_transfer = FLAGS.distill_tagging_transfer_examples
    drawn = text_data.tagging_set(num_train + num_transfer, FLAGS.distill_tagging_dev_examples,
                                  FLAGS.distill_seed)
    train = drawn["train"][:num_train]
    known = {tag for _, tags in train for tag in tags}
    # run_tagging.py refuses held-out tags the training set lacks, and a student whose labels
    # differ from its teacher's: rare at the default sizes, possible on a handful of sentences.
    dev = [row for row in drawn["dev"] if set(row[1]) <= known]
    more = [row for row in drawn["train"][num_train:] if set(row[1]) <= known]
    files = text_data.write_tagging({"train": train, "dev": dev},
                                    os.path.join(work, "tagging"))
    # The transfer set keeps the rule's tags, which --distill_alpha=1 gives no weight.
    transfer = text_data.write_conll(train + more, os.path.join(work, "tagging_transfer",
                                                                "train.txt"))
    entities = sum(tag.startswith("B-") for _, tags in dev for tag in tags)
    return Task(
        "tagging", f"docstring words tagged CAP/CODE/NUM (IOB2), {len(dev)} held-out sentences, "
        f"{entities} entities (serving: float32 SavedModels, raw text)",
        tagging_run.TaggerSettings, tagging_run.TaggerRun,
        dict(train_file=files["train_file"], eval_file=files["eval_file"],
             max_seq_length=MAX_SEQ_LENGTH, do_eval=True, eval_batch_size=32),
        {"train_file": transfer} if more else None, f"{len(more):,} more unlabelled",
        [("held-out entity F1", "eval_f1", 1.0)], [" ".join(words) for words, _ in dev],
        lambda signature, x: signature(text=tf.constant(x))["tags"].numpy(),
        f"{len(train)} training and {len(dev)} held-out docstring sentences, words tagged by "
        f"rule ({', '.join(text_data.TAGGING_TYPES)}; the uncased model does not see the case "
        "that marks CAP)")


def _qa_task(work):
    import tensorflow as tf

    from bench import text_data
    from tasks.question_answering import run as squad_run

    num_train = FLAGS.distill_qa_train_paragraphs
    num_transfer = FLAGS.distill_qa_transfer_paragraphs
    drawn = text_data.qa_set(num_train + num_transfer, FLAGS.distill_qa_dev_paragraphs,
                             FLAGS.distill_seed, max_sentences=QA_MAX_SENTENCES)
    articles = drawn["train"]["data"]
    train = {"version": "1.1", "data": articles[:num_train]}
    files = text_data.write_squad({"train": train, "dev": drawn["dev"]},
                                  os.path.join(work, "qa"))
    # The transfer set's questions keep their generated answers, which --distill_alpha=1 gives
    # no weight.
    more = articles[num_train:]
    transfer = text_data.write_squad({"train": drawn["train"], "dev": drawn["dev"]},
                                     os.path.join(work, "qa_transfer"))["train_file"]
    questions = text_data.squad_questions(drawn["dev"])
    train_questions = len(text_data.squad_questions(train))
    more_questions = len(text_data.squad_questions(drawn["train"])) - train_questions
    length = FLAGS.distill_qa_seq_length
    return Task(
        "qa", f"docstring questions (SQuAD v1.1), {len(questions)} held-out questions (serving: "
        "float32 SavedModels, raw questions and contexts)",
        squad_run.SquadSettings, squad_run.SquadRun,
        dict(**files, max_seq_length=length, doc_stride=length // 2,
             max_query_length=length * 3 // 8, do_predict=True, predict_batch_size=32),
        {"train_file": transfer} if more else None,
        f"{more_questions:,} more unlabelled questions",
        [("held-out EM", "exact", 0.01), ("held-out F1", "f1", 0.01)], questions,
        lambda signature, x: signature(question=tf.constant([q for q, _ in x]),
                                       context=tf.constant([c for _, c in x]))["answer"].numpy(),
        f"{train_questions} training questions on {len(train['data'])} docstring paragraphs "
        f"(3 to {QA_MAX_SENTENCES} sentences), {len(questions)} held-out on "
        f"{len(drawn['dev']['data'])}; a question is a sentence of the context with a word "
        f"replaced by \"what\", the answer that word; windows of {length} tokens")


TASK_BUILDERS = {"classification": _classification_task, "qa": _qa_task,
                 "tagging": _tagging_task}


def _measure(work, batch_size, batch_sizes, repeats):
    from bench.workloads import realistic

    if FLAGS.distill_init == "minilm":
        teacher_files = {"init_checkpoint": realistic.minilm_dir()}
        shape = "all-MiniLM-L6-v2"
    else:
        config_file = os.path.join(work, "bert_config.json")
        realistic.model_config("random", FLAGS.preset).to_json_file(config_file)
        teacher_files = {"vocab_file": realistic.vocab_file(), "bert_config_file": config_file}
        shape = f"{FLAGS.preset}, random weights"
    cut = {}  # the pretrained model cut to the student's layers, made once for every task
    for name in TASKS:
        if name in FLAGS.distill_tasks:
            _measure_task(TASK_BUILDERS[name](work), work, teacher_files, shape, cut,
                          batch_size, batch_sizes, repeats)


def _measure_task(task, work, teacher_files, shape, cut, batch_size, batch_sizes, repeats):
    import tensorflow as tf

    from bench.workloads import serving
    from bert_tf.models.bert.release import resolve_model_files
    from bert_tf.training import distillation

    print(f"distillation{'' if task.name == 'classification' else f' ({task.name})'}: "
          f"teacher {shape}; {task.description}; "
          f"{FLAGS.distill_epochs:g} epochs, batch {batch_size}, learning rate "
          f"{FLAGS.distill_learning_rate:g}; student --student_layers_from_teacher="
          f"{FLAGS.distill_student_layers}, temperature {FLAGS.distill_bench_temperature:g}",
          flush=True)

    runs = {}  # name: (scores, export, seconds, layers)
    scores, export, seconds = _run(task, work, "teacher", batch_size, export=True,
                                   **teacher_files)
    teacher_dir = os.path.join(work, task.name, "teacher")
    teacher_layers = resolve_model_files(teacher_dir).config.encoder_shape().num_layers
    mapping = distillation.layer_mapping(FLAGS.distill_student_layers, teacher_layers)
    runs["teacher"] = (scores, export, seconds, teacher_layers)
    harness.release()
    # Students of one shape: the fine-tuned teacher's layers (with its head), and the
    # pretrained model's layers (a fresh head), each trained with and without the teacher.
    students = []
    if "teacher_cut" in FLAGS.distill_students:
        students.append(("cut of the fine-tuned teacher",
                         {"student_layers_from_teacher": FLAGS.distill_student_layers}))
    if "pretrained_cut" in FLAGS.distill_students:
        if "path" not in cut:
            cut["path"] = _pretrained_cut(os.path.join(work, "pretrained_cut"), teacher_files,
                                          mapping)
        students.append(("cut of the pretrained model", {"init_checkpoint": cut["path"]}))
    served = None  # the student served: the first one run
    for i, (student, init) in enumerate(students):
        for j, alpha in enumerate(float(a) for a in FLAGS.distill_alphas):
            name = f"{student}, " + ("no teacher" if alpha == 0 else
                                     f"distilled (alpha {alpha:g})")
            served = served or name
            scores, export, seconds = _run(
                task, work, f"student_{i}_{alpha:g}", batch_size, export=(i, j) == (0, 0),
                teacher=teacher_dir, distill_alpha=alpha,
                distill_temperature=FLAGS.distill_bench_temperature, **init)
            runs[name] = (scores, export, seconds, len(mapping))
            harness.release()
        if task.transfer is not None:
            name = f"{student}, distilled (alpha 1) on {task.transfer_note}"
            scores, _, seconds = _run(
                task, work, f"student_{i}_transfer", batch_size, transfer=True,
                teacher=teacher_dir, distill_alpha=1.0,
                distill_temperature=FLAGS.distill_bench_temperature, **init)
            runs[name] = (scores, None, seconds, len(mapping))
            harness.release()

    # Serving: the teacher's export and one student's (the students have one shape).
    served = {"teacher": runs["teacher"][1], "student": runs[served][1]}
    calls = {}
    for name, path in served.items():
        signature = tf.saved_model.load(path).signatures["serving_default"]
        calls[name] = lambda x, signature=signature: task.call(signature, x)
    found = serving.measure_cell(calls, lambda x: None, task.served, FLAGS.serving_requests,
                                 batch_sizes, repeats)
    speed = {name: {"p50": statistics.median(cell["single"]),
                    **{b: b / cell[b] for b in batch_sizes}} for name, cell in found.items()}
    calls.clear()
    harness.release()

    harness.print_table(f"distillation, {shape} teacher, {task.title}",
                        *table(task, runs, speed, batch_sizes))


def table(task, runs, speed, batch_sizes):
    """(header, rows) of a task's runs ({name: (scores, export, seconds, layers)}, the teacher
    first) and serving speeds ({"teacher" / "student": {"p50": seconds, b: per second}}); "% of
    teacher" is of the task's last score."""
    teacher_score = runs["teacher"][0][-1]
    unit = "questions" if task.name == "qa" else "sequences"
    header = ["model", "layers", *(column for column, _, _ in task.scores),
              "% of teacher" if len(task.scores) == 1 else
              f"% of teacher ({task.scores[-1][0].split()[-1]})", "run s",
              "batch 1 p50", *(f"batch {b} {unit}/s" for b in batch_sizes),
              f"speed-up at batch {batch_sizes[-1]}"]
    rows = []
    for name, (scores, _, seconds, layers) in runs.items():
        kind = "teacher" if name == "teacher" else "student"
        rows.append([name, layers, *(f"{score:.4f}" for score in scores),
                     f"{100 * scores[-1] / max(teacher_score, 1e-12):.1f}%", f"{seconds:.0f}",
                     f"{speed[kind]['p50'] * 1e3:.1f} ms",
                     *(f"{speed[kind][b]:.1f}" for b in batch_sizes),
                     f"{speed[kind][batch_sizes[-1]] / speed['teacher'][batch_sizes[-1]]:.2f}x"])
    return header, rows
