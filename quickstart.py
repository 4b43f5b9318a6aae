"""The Quick start's main job: BERT end to end on text this machine already has.

1. corpus    - docstrings of the Python standard library and installed packages
2. vocab     - a WordPiece vocab learned from that corpus (build_vocab.py's code)
3. records   - masked-LM / next-sentence TFRecords (create_pretraining_data.py's code)
4. pretrain  - a mini BERT (4 layers, hidden 256) pretrained on them (run_pretraining.py's
               code), masked-LM accuracy measured before and after; 20 steps are timed
               first, and the pretraining steps and the fine-tuning set are sized to
               fit --minutes (default 6) on this machine
5. fine-tune - that checkpoint fine-tuned to tell which library a docstring sentence
               comes from (run_classifier.py's code), against the majority-class baseline
6. serve     - the classifier exported as a SavedModel for TF Serving (core TensorFlow ops
               only), loaded in a fresh process that imports nothing but TensorFlow, and
               asked about raw sentences

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
                   "fine-tuning set are sized to fit.")
flags.DEFINE_integer("pretrain_steps", 0, "Pretraining steps of 64 x 64 tokens (0: as many as "
                     "fit the time budget, 100 to 600).")
flags.DEFINE_integer("sentences_per_library", 0, "Training sentences per library (0: as many "
                     "as fit the time budget, 300 to 1500).")
flags.DEFINE_float("finetune_epochs", 2.0, "Fine-tuning epochs.")
flags.DEFINE_float("finetune_learning_rate", 1e-4, "Fine-tuning peak learning rate.")
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
# The client: TensorFlow and nothing else, as a serving process would be.
CLIENT = """
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
texts = json.loads(sys.argv[2])
out = model.signatures["serving_default"](text=tf.constant(texts))
for text, label, probs in zip(texts, out["label"].numpy(), out["probabilities"].numpy()):
    print(f"  {label.decode():8s} {probs.max():.2f}  {text!r}")
print("  (modules of bert_tf loaded:", sorted(m for m in sys.modules if m.startswith("bert_tf")), ")")
"""


# Seconds kept for what is not pretraining or fine-tuning steps after the timing run
# (evaluations, tracing, the export and its client), and the share of the rest that
# pretraining gets. Fine-tuning reads ~25-token sentences, not 64-token records, with no
# masked-LM head: measured ~3.4x the pretraining examples/s (3.0 assumed).
RESERVED_SECONDS = 45
PRETRAIN_SHARE = 0.6
FINETUNE_SPEEDUP = 3.0


def plan_work(budget_seconds, elapsed_seconds, pretrain_examples_per_second, batch_size=64,
              finetune_epochs=2.0):
    """(pretraining steps, training sentences per library) that fit the time left.

    The steps stay within 100 to 600 (fewer would not show masked-LM learning
    clearly, more add little), the sentences within 300 to 1500 per library.
    """
    left = max(budget_seconds - elapsed_seconds - RESERVED_SECONDS, 60.0)
    steps = PRETRAIN_SHARE * left * pretrain_examples_per_second / batch_size
    finetune_examples = ((1 - PRETRAIN_SHARE) * left * FINETUNE_SPEEDUP
                         * pretrain_examples_per_second)
    per_library = finetune_examples / finetune_epochs / len(LIBRARIES)
    return (int(min(max(steps, 100), 600)), int(min(max(per_library, 300), 1500)))


def banner(text):
    print(f"\n=== {text}", flush=True)


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

    Returns (train size, dev size, majority-class share of dev).
    """
    import csv
    import random

    from bert_tf.data import docstring_corpus

    rng = random.Random(seed)
    sources = {"python": docstring_corpus.standard_library()}
    for name in LIBRARIES[1:]:
        sources[name] = docstring_corpus.site_packages(name)[0]
    rows = {"train": [], "dev": []}
    for label, source in sources.items():
        split_rows = {"train": [], "dev": []}
        for i, document in enumerate(docstring_corpus.documents(source)):
            split_rows["dev" if i % 5 == 4 else "train"] += [(s, label) for s in document
                                                             if len(s) < 300]
        for split, found in split_rows.items():
            rng.shuffle(found)
            rows[split] += found[:per_library if split == "train" else per_library // 4]
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


def main(argv):
    del argv
    sys.stdout.reconfigure(line_buffering=True)  # progress shows at once in pipes and logs
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bert_tf import BertConfig
    from bert_tf.tokenization import BertTokenizer, vocab_learning
    from tasks.classification import run as classifier_run
    from tasks.pretraining import records as pretraining_records
    from tasks.pretraining.run import PretrainingRun, PretrainingSettings

    started = time.perf_counter()
    work = FLAGS.output_dir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    banner("1/6 corpus: docstrings found on this machine")
    corpus, size, documents = write_corpus(os.path.join(work, "corpus"), FLAGS.corpus_mb * 1e6)
    print(f"{size / 1e6:.2f} MB, {documents} documents (one per module) -> {corpus['train']}, "
          f"{corpus['eval']} (every 20th document held out)")

    banner("2/6 vocab: WordPiece learned from the corpus")
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

    banner("3/6 records: masked-LM + next-sentence examples")
    seq, predictions = 64, 10
    options = pretraining_records.options_for(tokenizer, max_seq_length=seq,
                                              max_predictions_per_seq=predictions,
                                              dupe_factor=2)
    records = {}
    for name in ("train", "eval"):
        records[name] = os.path.join(work, "data", f"{name}.tfrecord")
        stats = pretraining_records.create_pretraining_records(
            [corpus[name]], [records[name]], tokenizer, options, random_seed=1)
        print(f"{name}: {stats.summary()}")

    banner("4/6 pretrain: a mini BERT (4 layers, hidden 256, 4 heads)")
    config = BertConfig.preset("mini", vocab_size=len(vocab), max_position_embeddings=128)
    config_file = os.path.join(work, "bert_config.json")
    config.to_json_file(config_file)
    precision = FLAGS.mixed_precision
    if precision == "auto":
        precision = "mixed_bfloat16" if cpu_has_bfloat16() else "float32"

    def pretraining(name, steps, **changes):
        values = dict(
            input_file=records["train"], eval_input_file=records["eval"],
            output_dir=os.path.join(work, name), bert_config_file=config_file,
            vocab_file=vocab_file, do_train=True, do_eval=True, train_batch_size=64,
            eval_batch_size=64, max_seq_length=seq, max_predictions_per_seq=predictions,
            num_train_steps=steps, num_warmup_steps=steps // 10, learning_rate=1e-3,
            adam_bias_correction=True, save_checkpoints_steps=max(steps // 3, 1),
            iterations_per_loop=50, max_eval_steps=40, mixed_precision=precision, seed=1)
        values.update(changes)
        return PretrainingSettings(**values)

    steps, sentences_per_library = FLAGS.pretrain_steps, FLAGS.sentences_per_library
    if not (steps and sentences_per_library):
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
        steps = steps or auto_steps
        sentences_per_library = sentences_per_library or auto_sentences
        print(f"This machine pretrains at {speed:.0f} examples/s ({precision}): for a budget "
              f"of {FLAGS.minutes:g} minutes, {steps} steps and {sentences_per_library} "
              "fine-tuning sentences per library")
    settings = pretraining("pretrain", steps)
    print(f"{config.num_hidden_layers} layers, {config.hidden_size} hidden, vocab "
          f"{config.vocab_size}; {steps} steps of 64 x {seq} tokens, {precision}")
    run = PretrainingRun(settings)
    before = run.evaluate(write=False)
    run.train()
    after = run.evaluate()
    run.close()
    print(f"\nHeld-out masked-LM accuracy: {before['masked_lm_accuracy']:.4f} before, "
          f"{after['masked_lm_accuracy']:.4f} after pretraining "
          f"(loss {before['masked_lm_loss']:.2f} -> {after['masked_lm_loss']:.2f}); "
          f"next-sentence accuracy {after['next_sentence_accuracy']:.3f}")
    pretrained = os.path.join(settings.output_dir, "pretrained")
    print(f"Pretrained checkpoint (Google format): {pretrained}")

    banner("5/6 fine-tune: which library is a docstring sentence from?")
    task_dir = os.path.join(work, "library_task")
    n_train, n_dev, majority = write_library_dataset(task_dir, sentences_per_library)
    print(f"{n_train} training and {n_dev} held-out sentences from {', '.join(LIBRARIES)} "
          f"(split by module); majority class: {majority:.3f} of held-out")
    job = classifier_run.ClassifierRun(classifier_run.ClassifierSettings(
        task_name="custom", data_dir=task_dir, init_checkpoint=pretrained,
        output_dir=os.path.join(work, "classifier"), do_train=True, do_eval=True,
        export_dir=os.path.join(work, "serving", "library_classifier"),
        max_seq_length=64, train_batch_size=32, eval_batch_size=64,
        learning_rate=FLAGS.finetune_learning_rate,
        adam_bias_correction=True,
        num_train_epochs=FLAGS.finetune_epochs, iterations_per_loop=50,
        mixed_precision=precision, seed=1))
    job.train()
    finetuned = job.export_pretrained()
    accuracy = job.evaluate()["eval_accuracy"]
    print(f"\nHeld-out accuracy: {accuracy:.3f} (majority class {majority:.3f}). "
          f"Fine-tuned classifier: {job.settings.output_dir} (Google format: {finetuned})")

    banner("6/6 serve: export for TF Serving, then ask a fresh TensorFlow-only process")
    exported = job.export_serving()
    job.close()
    print(f"SavedModel: {exported} (signatures serving_default: raw text; serve_ids: token ids)")
    print("Predictions of the loaded export (label, probability, text):", flush=True)
    client = subprocess.run([sys.executable, "-c", CLIENT, exported, json.dumps(QUESTIONS)],
                            env={"PATH": os.environ.get("PATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3"},
                            capture_output=True, text=True)
    if client.returncode:
        sys.exit(f"the serving client failed:\n{client.stderr[-3000:]}")
    print(client.stdout, end="")
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
