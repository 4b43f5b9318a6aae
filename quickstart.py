"""The Quick start's main job: BERT end to end on text this machine already has, checking that it learns.

1. corpus    - docstrings of the Python standard library and installed packages
2. vocab     - a WordPiece vocab learned from that corpus (build_vocab.py's code)
3. records   - masked-LM / next-sentence TFRecords (create_pretraining_data.py's code)
4. pretrain  - a tiny BERT (2 layers, hidden 128) pretrained on them (run_pretraining.py's
               code); held-out masked-LM accuracy before and after, against the best
               constant guess (always the most frequent masked token)
5. fine-tune - that checkpoint fine-tuned to tell which library a docstring sentence
               comes from (run_classifier.py's code), against the majority class
6. serve     - the classifier exported as a SavedModel for TF Serving (core TensorFlow ops
               only), loaded in a fresh process that imports nothing but TensorFlow, and
               asked about raw sentences

The work is sized to the machine: 20 pretraining steps are timed first, then the
pretraining steps and the fine-tuning set grow to fit --minutes (default 6), never
below the floor sizes, which are what the slowest CPU of our machine kind gets
(`--work=floor` runs them on any machine; `make test` does, in float32). Each stage
checks its own result: one that did not learn ends the demo with a one-line reason
and exit status 1.

Everything is written under --output_dir (default output/quickstart), which is
emptied first. No download, no flags needed:

    .venv/bin/python quickstart.py
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "output/quickstart", "Where everything is written.")
flags.DEFINE_float("corpus_mb", 3.0, "Size of the docstring corpus.")
flags.DEFINE_integer("vocab_size", 8192, "WordPiece vocab size.")
flags.DEFINE_float("minutes", 6.0, "About how long the demo may take on this machine: the "
                   "first pretraining steps are timed, then the pretraining steps and the "
                   "fine-tuning set are sized to fit (never below the floor sizes).")
flags.DEFINE_enum("work", "auto", ["auto", "floor"], "auto: sized to --minutes on this "
                  "machine; floor: the floor sizes, what the slowest CPU of our machine kind "
                  "gets, on any machine (no timing run).")
flags.DEFINE_integer("pretrain_steps", 0, "Pretraining steps of 32 x 32 tokens (0: as --work "
                     "says).")
flags.DEFINE_integer("sentences_per_library", 0, "Fine-tuning sentences per library (0: as "
                     "--work says).")
flags.DEFINE_float("finetune_epochs", 4.0, "Fine-tuning epochs.")
flags.DEFINE_float("finetune_learning_rate", 1e-3, "Fine-tuning peak learning rate (a tiny "
                   "model fine-tunes at a higher rate than BERT-Base's 5e-5).")
flags.DEFINE_integer("seed", 1, "Seed of the masking, the initialization, the shuffling and "
                     "dropout.")
flags.DEFINE_enum("mixed_precision", "auto", ["auto", "float32", "mixed_bfloat16"],
                  "auto: bfloat16 where the CPU computes it natively, else float32.")

# Sources of the corpus, in order: the standard library first (always there).
PACKAGES = ("keras", "numpy", "scipy", "absl", "tensorflow")
# The fine-tuning task's labels: where a docstring sentence comes from.
LIBRARIES = ("python", "keras", "numpy", "scipy")
# Raw sentences for the served model (written for this demo, in docstring style).
QUESTIONS = ["Return the indices of the maximum values along an axis.",
             "Open a connection to the server and wait for a response.",
             "A preprocessing layer which normalizes continuous features.",
             "Compute the modified Bessel function of the first kind.",
             ""]
# The client: TensorFlow and nothing else, as a serving process would be. It prints one
# JSON line: the answers, and which of our modules the process loaded (none, it must be).
CLIENT = """
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
texts = json.loads(sys.argv[2])
out = model.signatures["serving_default"](text=tf.constant(texts))
print(json.dumps({"labels": [label.decode() for label in out["label"].numpy()],
                  "probabilities": out["probabilities"].numpy().tolist(),
                  "ours": sorted(m for m in sys.modules if m.split(".")[0] in ("bert_tf", "tasks"))}))
"""

# The model and its inputs.
PRESET = "tiny"  # 2 layers, hidden 128, 2 heads (Google's BERT-Tiny shape)
SEQ_LENGTH, PREDICTIONS, BATCH = 32, 5, 32  # pretraining; fine-tuning reads 32 tokens too
FINETUNE_BATCH = 32
# Floor and cap of the work. The floors are what the slowest CPU of the kind (2-core Zen 3,
# float32) gets at least within the budget; they still show every stage learning (float32,
# seeds 1-3: held-out masked-LM accuracy 0.094-0.099 against a constant guess of
# 0.049-0.054; library accuracy 0.586-0.621 against 0.25).
# Above the caps more adds little.
PRETRAIN_STEPS = (400, 4000)
SENTENCES_PER_LIBRARY = (800, 1500)
# The work after the timing run that is not training steps (building, tracing, evaluating,
# the export and its client), in pretraining examples: it takes longer where steps do
# (measured: 26 s at 625 examples/s, float32, AMD Zen 5). The share of the rest that goes
# to pretraining, unless fine-tuning hits its cap first. Fine-tuning reads ~20-token
# sentences with no masked-LM head: measured 1.4-1.9 times the pretraining examples/s.
RESERVED_EXAMPLES = 20_000
PRETRAIN_SHARE = 0.7
FINETUNE_SPEEDUP = 1.6
# What "learned" means, per stage (each far from what the floor sizes reach).
MLM_GAIN = 0.02  # held-out masked-LM accuracy above the best constant guess
FINETUNE_GAIN = 0.10  # held-out accuracy above the majority class


class DemoFailed(Exception):
    """A stage that did not learn; the message is the one-line reason."""


def plan_work(budget_seconds, elapsed_seconds, pretrain_examples_per_second,
              finetune_epochs=4.0):
    """(pretraining steps, training sentences per library) that fit the time left.

    Never below the floors (the slowest CPU's sizes), never above the caps; what
    fine-tuning leaves under its cap goes to pretraining.
    """
    speed = pretrain_examples_per_second
    left = max(budget_seconds - elapsed_seconds - RESERVED_EXAMPLES / speed, 0.0)
    finetune_speed = FINETUNE_SPEEDUP * speed
    per_library = (1 - PRETRAIN_SHARE) * left * finetune_speed / finetune_epochs / len(LIBRARIES)
    per_library = int(min(max(per_library, SENTENCES_PER_LIBRARY[0]), SENTENCES_PER_LIBRARY[1]))
    finetune_seconds = per_library * len(LIBRARIES) * finetune_epochs / finetune_speed
    steps = max(left - finetune_seconds, 0.0) * speed / BATCH
    return int(min(max(steps, PRETRAIN_STEPS[0]), PRETRAIN_STEPS[1])), per_library


def check_pretraining(before, after, constant_guess):
    if after <= max(before, constant_guess) + MLM_GAIN:
        raise DemoFailed(
            f"pretraining did not learn: held-out masked-LM accuracy {after:.4f} (before "
            f"{before:.4f}) is not {MLM_GAIN} above always guessing the most frequent "
            f"token ({constant_guess:.4f})")


def check_finetuning(accuracy, majority):
    if accuracy < majority + FINETUNE_GAIN:
        raise DemoFailed(f"fine-tuning ended at the majority class: held-out accuracy "
                         f"{accuracy:.3f} against {majority:.3f} for always answering the most "
                         f"common library (at least {majority + FINETUNE_GAIN:.3f} expected)")


def check_served(answers):
    """The served model's answers to the non-empty questions must differ."""
    asked = [i for i, text in enumerate(QUESTIONS) if text]
    if answers["ours"]:
        raise DemoFailed(f"the serving client loaded bert_tf modules: {answers['ours']}")
    probabilities = [tuple(round(p, 3) for p in answers["probabilities"][i]) for i in asked]
    if len(set(probabilities)) == 1:
        raise DemoFailed(f"the served model gives every sentence the same answer "
                         f"({answers['labels'][asked[0]]}, probabilities {probabilities[0]})")


def banner(text, started):
    print(f"\n=== {text}  [{time.perf_counter() - started:.0f} s]", flush=True)


def cpu_has_bfloat16():
    try:
        with open("/proc/cpuinfo") as f:
            cpu_flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in cpu_flags or "amx_bf16" in cpu_flags


def write_corpus(directory, max_bytes):
    """Train and eval text (one sentence per line, blank line between documents)."""
    from bert_tf.data import docstring_corpus

    os.makedirs(directory)
    paths = {name: os.path.join(directory, f"{name}.txt") for name in ("train", "eval")}
    files = {name: open(path, "w", encoding="utf-8") for name, path in paths.items()}
    sources = [docstring_corpus.standard_library()] + docstring_corpus.site_packages(*PACKAGES)
    size, count, seen = 0, 0, set()
    try:
        for source in sources:
            for document in docstring_corpus.documents(source, seen=seen):
                block = "\n".join(document) + "\n\n"
                files["eval" if count % 20 == 19 else "train"].write(block)
                size += len(block.encode())
                count += 1
                if size >= max_bytes:
                    return paths, size, count
    finally:
        for f in files.values():
            f.close()
    return paths, size, count


def write_library_dataset(directory, per_library, seed=0):
    """train.csv / dev.csv of (sentence, library), split by module so no module is in both.

    Each library's modules are read in a seeded random order until both splits have
    their sentences (every 5th module goes to dev), so the sample spans the library
    without parsing all of it. Returns (train size, dev size, majority-class share of dev).
    """
    import csv
    import random

    from bert_tf.data import docstring_corpus

    rng = random.Random(seed)
    sources = {"python": docstring_corpus.standard_library()}
    for name in LIBRARIES[1:]:
        sources[name] = docstring_corpus.site_packages(name)[0]
    wanted = {"train": per_library, "dev": per_library // 4}
    rows = {"train": [], "dev": []}
    for label, source in sources.items():
        paths = docstring_corpus.package_files(source)
        rng.shuffle(paths)
        found, seen = {"train": [], "dev": []}, set()
        for i, path in enumerate(paths):
            split = "dev" if i % 5 == 4 else "train"
            if len(found[split]) >= 2 * wanted[split]:
                if all(len(found[k]) >= 2 * wanted[k] for k in found):
                    break
                continue
            for document in docstring_corpus.documents_of_files([path], seen=seen):
                found[split] += [(s, label) for s in document if len(s) < 300]
        for split, sentences in found.items():
            rng.shuffle(sentences)
            rows[split] += sentences[:wanted[split]]
    os.makedirs(directory)
    for split, found in rows.items():
        rng.shuffle(found)
        with open(os.path.join(directory, f"{split}.csv"), "w", newline="",
                  encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(found)
    dev_labels = [label for _, label in rows["dev"]]
    majority = max(dev_labels.count(label) for label in LIBRARIES) / len(dev_labels)
    return len(rows["train"]), len(rows["dev"]), majority


def constant_guess_accuracy(record_file):
    """Masked-LM accuracy of always guessing the most frequent masked token of the records."""
    import numpy as np
    import tensorflow as tf

    spec = {"masked_lm_ids": tf.io.FixedLenFeature([PREDICTIONS], tf.int64),
            "masked_lm_weights": tf.io.FixedLenFeature([PREDICTIONS], tf.float32)}
    ids, weights = [], []
    for batch in tf.data.TFRecordDataset(record_file).batch(1024).map(
            lambda records: tf.io.parse_example(records, spec)):
        ids.append(batch["masked_lm_ids"].numpy().ravel())
        weights.append(batch["masked_lm_weights"].numpy().ravel())
    ids, weights = np.concatenate(ids), np.concatenate(weights)
    counts = np.bincount(ids, weights=weights)
    return float(counts.max() / weights.sum())


def ask_fresh_process(exported):
    """The served answers to QUESTIONS from a process that imports only TensorFlow."""
    client = subprocess.run([sys.executable, "-c", CLIENT, exported, json.dumps(QUESTIONS)],
                            env={"PATH": os.environ.get("PATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3"},
                            capture_output=True, text=True)
    if client.returncode:
        raise DemoFailed(f"the serving client failed: {client.stderr.strip().splitlines()[-1]}")
    return json.loads(client.stdout.strip().splitlines()[-1])


def demo(started):
    from bert_tf import BertConfig
    from bert_tf.tokenization import BertTokenizer, vocab_learning
    from tasks.classification import run as classifier_run
    from tasks.pretraining import records as pretraining_records
    from tasks.pretraining.run import PretrainingRun, PretrainingSettings

    work = FLAGS.output_dir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    banner("1/6 corpus: docstrings found on this machine", started)
    corpus, size, documents = write_corpus(os.path.join(work, "corpus"), FLAGS.corpus_mb * 1e6)
    print(f"{size / 1e6:.2f} MB, {documents} documents (one per module) -> {corpus['train']}, "
          f"{corpus['eval']} (every 20th document held out)")

    banner("2/6 vocab: WordPiece learned from the corpus", started)
    counts = vocab_learning.count_words([corpus["train"]], lower_case=True)
    vocab = vocab_learning.learn_vocab(counts, FLAGS.vocab_size)
    vocab_file = os.path.join(work, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in vocab))
    tokenizer = BertTokenizer(vocab_file, do_lower_case=True)
    example = "Return a new array of given shape, filled with zeros."
    pieces = tokenizer.convert_ids_to_tokens(tokenizer.tokenize(example)).numpy()
    print(f"{len(vocab)} tokens -> {vocab_file}\n  {example!r} -> "
          f"{' '.join(p.decode() for p in pieces)}")

    banner("3/6 records: masked-LM + next-sentence examples", started)
    options = pretraining_records.options_for(tokenizer, max_seq_length=SEQ_LENGTH,
                                              max_predictions_per_seq=PREDICTIONS,
                                              dupe_factor=2)
    records = {}
    for name in ("train", "eval"):
        records[name] = os.path.join(work, "data", f"{name}.tfrecord")
        stats = pretraining_records.create_pretraining_records(
            [corpus[name]], [records[name]], tokenizer, options, random_seed=FLAGS.seed)
        print(f"{name}: {stats.summary()}")

    config = BertConfig.preset(PRESET, vocab_size=len(vocab), max_position_embeddings=128)
    banner(f"4/6 pretrain: a {PRESET} BERT ({config.num_hidden_layers} layers, hidden "
           f"{config.hidden_size}, {config.num_attention_heads} heads)", started)
    config_file = os.path.join(work, "bert_config.json")
    config.to_json_file(config_file)
    precision = FLAGS.mixed_precision
    if precision == "auto":
        precision = "mixed_bfloat16" if cpu_has_bfloat16() else "float32"

    def pretraining(name, steps, **changes):
        values = dict(
            input_file=records["train"], eval_input_file=records["eval"],
            output_dir=os.path.join(work, name), bert_config_file=config_file,
            vocab_file=vocab_file, do_train=True, do_eval=True, train_batch_size=BATCH,
            eval_batch_size=64, max_seq_length=SEQ_LENGTH,
            max_predictions_per_seq=PREDICTIONS, num_train_steps=steps,
            num_warmup_steps=steps // 10, learning_rate=1e-3, adam_bias_correction=True,
            save_checkpoints_steps=max(steps // 3, 1), iterations_per_loop=100,
            max_eval_steps=40, mixed_precision=precision, seed=FLAGS.seed)
        values.update(changes)
        return PretrainingSettings(**values)

    steps, per_library = FLAGS.pretrain_steps, FLAGS.sentences_per_library
    if FLAGS.work == "floor":
        steps, per_library = steps or PRETRAIN_STEPS[0], per_library or SENTENCES_PER_LIBRARY[0]
    elif not (steps and per_library):
        # Time 20 steps (the second 10, after tracing) to size the work to this machine.
        lines = []
        calibration = PretrainingRun(pretraining("calibration", 20, iterations_per_loop=10,
                                                 log=lines.append))
        calibration.train()
        calibration.close()
        shutil.rmtree(calibration.settings.output_dir, ignore_errors=True)
        progress = [line for line in lines if line.startswith("step ")][-1]
        speed = float(re.search(r"([0-9.]+) examples/s", progress).group(1))
        auto_steps, auto_sentences = plan_work(FLAGS.minutes * 60,
                                               time.perf_counter() - started, speed,
                                               finetune_epochs=FLAGS.finetune_epochs)
        steps, per_library = steps or auto_steps, per_library or auto_sentences
        print(f"This machine pretrains at {speed:.0f} examples/s ({precision}): for a budget "
              f"of {FLAGS.minutes:g} minutes, {steps} steps and {per_library} fine-tuning "
              "sentences per library")
    settings = pretraining("pretrain", steps)
    print(f"vocab {config.vocab_size}; {steps} steps of {BATCH} x {SEQ_LENGTH} tokens, "
          f"{precision}")
    run = PretrainingRun(settings)
    try:
        before = run.evaluate(write=False)
        run.train()
        after = run.evaluate()
    finally:
        run.close()
    guess = constant_guess_accuracy(records["eval"])
    mlm = (before["masked_lm_accuracy"], after["masked_lm_accuracy"])
    print(f"\nHeld-out masked-LM accuracy: {mlm[0]:.4f} before, {mlm[1]:.4f} after pretraining "
          f"(always guessing the most frequent token: {guess:.4f}; loss "
          f"{before['masked_lm_loss']:.2f} -> {after['masked_lm_loss']:.2f}); next-sentence "
          f"accuracy {after['next_sentence_accuracy']:.3f}")
    check_pretraining(mlm[0], mlm[1], guess)
    pretrained = os.path.join(settings.output_dir, "pretrained")
    print(f"Pretrained checkpoint (Google format): {pretrained}")

    banner("5/6 fine-tune: which library is a docstring sentence from?", started)
    dataset_dir = os.path.join(work, "library_task")
    n_train, n_dev, majority = write_library_dataset(dataset_dir, per_library)
    print(f"{n_train} training and {n_dev} held-out sentences from {', '.join(LIBRARIES)} "
          f"(split by module); majority class: {majority:.3f} of held-out")
    job = classifier_run.ClassifierRun(classifier_run.ClassifierSettings(
        task_name="custom", data_dir=dataset_dir, init_checkpoint=pretrained,
        output_dir=os.path.join(work, "classifier"), do_train=True, do_eval=True,
        export_dir=os.path.join(work, "serving", "library_classifier"),
        max_seq_length=SEQ_LENGTH, train_batch_size=FINETUNE_BATCH, eval_batch_size=64,
        learning_rate=FLAGS.finetune_learning_rate, num_train_epochs=FLAGS.finetune_epochs,
        iterations_per_loop=100, mixed_precision=precision, seed=FLAGS.seed))
    try:
        job.train()
        finetuned = job.export_pretrained()
        accuracy = job.evaluate()["eval_accuracy"]
        print(f"\nHeld-out accuracy: {accuracy:.3f} (majority class {majority:.3f}). "
              f"Fine-tuned classifier: {job.settings.output_dir} (Google format: {finetuned})")
        check_finetuning(accuracy, majority)
        banner("6/6 serve: export for TF Serving, then ask a fresh TensorFlow-only process",
               started)
        exported = job.export_serving()
    finally:
        job.close()
    print(f"SavedModel: {exported} (signatures serving_default: raw text; serve_ids: token ids)")
    answers = ask_fresh_process(exported)
    print("Answers of the export, loaded by a process that imports only TensorFlow (label, "
          "probability, text):")
    for text, label, probabilities in zip(QUESTIONS, answers["labels"],
                                          answers["probabilities"]):
        print(f"  {label:8s} {max(probabilities):.2f}  {text!r}")
    print(f"  (modules of bert_tf loaded there: {answers['ours']})")
    check_served(answers)
    return {"steps": steps, "precision": precision, "mlm": mlm, "constant_guess": guess,
            "accuracy": accuracy, "majority": majority}


def main(argv):
    del argv
    if hasattr(sys.stdout, "reconfigure"):  # progress shows at once in pipes and logs
        sys.stdout.reconfigure(line_buffering=True)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    started = time.perf_counter()
    try:
        found = demo(started)
    except DemoFailed as e:
        sys.exit(f"quickstart.py: the demo failed: {e}")
    print(f"\nDone in {time.perf_counter() - started:.0f} s, and every stage learned: "
          f"masked-LM accuracy {found['mlm'][0]:.3f} -> {found['mlm'][1]:.3f} (constant guess "
          f"{found['constant_guess']:.3f}) in {found['steps']} steps ({found['precision']}); "
          f"library accuracy {found['accuracy']:.3f} (majority {found['majority']:.3f}); the "
          "served answers differ between sentences.")


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
