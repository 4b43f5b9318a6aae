"""Throughput of create_pretraining_data.py on real text; optionally google-research/bert's, run unchanged.

The corpus is the docstrings of installed packages (keras, numpy, scipy,
tensorflow, absl, keras_hub), repeated; the vocab is the uncased
30,522-token one of all-MiniLM-L6-v2; flags are the original's defaults
(max_seq_length 128, 20 predictions, dupe_factor 10). Each command is its
own process, timed from start to exit (start-up included). The original is
TensorFlow 1 code: it runs under tf.compat.v1 by aliasing the module. No
keras-hub counterpart exists.
"""

import os
import statistics
import subprocess
import sys
import time

from absl import flags

import bench
from bench import harness

FLAGS = flags.FLAGS
flags.DEFINE_float("pretraining_data_corpus_mb", 5.0, "Size of the docstring text to collect.")
flags.DEFINE_integer("pretraining_data_corpus_repeat", 3, "Times the collected text is repeated "
                     "in the corpus (there are only a few MB of docstrings; start-up is then a "
                     "small part).")
flags.DEFINE_list("pretraining_data_workers", ["0", "default"], "--num_workers values to time "
                  "for ours (`default`: the script's own choice).")
flags.DEFINE_string("pretraining_data_original_dir", None,
                    "A google-research/bert checkout to compare with (run once).")

_RUN_TF1_SCRIPT = (
    "import runpy, sys; import tensorflow.compat.v1 as tf; sys.modules['tensorflow'] = tf; "
    "sys.path.insert(0, sys.argv[1]); script = sys.argv[1] + '/create_pretraining_data.py'; "
    "sys.argv = [script] + sys.argv[2:]; runpy.run_path(script, run_name='__main__')")


def timed(command):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"{command[:3]} failed (exit {done.returncode}):\n"
                           + done.stderr[-3000:])
    return time.perf_counter() - start


def count_records(path):
    import tensorflow as tf

    return sum(1 for _ in tf.data.TFRecordDataset(path))


def run(ceilings):
    del ceilings
    from bench.workloads.serving import vocab_file
    from bert_tf.data import docstring_corpus

    t = bench.setting("seq_length", 128)
    runs = bench.setting("repeats", 3)
    work = harness.scratch_dir("bench_pretraining_data_")
    corpus = os.path.join(work, "corpus.txt")
    once = corpus + ".once"
    dirs = docstring_corpus.site_packages("keras", "numpy", "scipy", "tensorflow", "absl",
                                          "keras_hub")
    docstring_corpus.write_corpus(dirs, once, max_bytes=int(FLAGS.pretraining_data_corpus_mb * 1e6))
    with open(once, encoding="utf-8") as f:
        text = f.read()
    with open(corpus, "w", encoding="utf-8") as f:
        f.write(text * FLAGS.pretraining_data_corpus_repeat)
    mb = os.path.getsize(corpus) / 1e6
    print(f"corpus: {mb:.2f} MB ({len(text.encode()) / 1e6:.2f} MB of docstrings x "
          f"{FLAGS.pretraining_data_corpus_repeat}), max_seq_length {t}; ours: median of "
          f"{runs} runs, the original: one run", flush=True)
    common = [f"--input_file={corpus}", f"--vocab_file={vocab_file()}", "--do_lower_case=True",
              f"--max_seq_length={t}", "--max_predictions_per_seq=20", "--dupe_factor=10",
              "--random_seed=12345"]
    results = {}
    for workers in FLAGS.pretraining_data_workers:
        out = os.path.join(work, f"ours-{workers}.tfrecord")
        extra = [] if workers == "default" else [f"--num_workers={workers}"]
        command = [sys.executable, os.path.join(harness.ROOT, "create_pretraining_data.py"),
                   f"--output_file={out}", "--chunk_tokens=200000", *common, *extra]
        seconds = statistics.median(timed(command) for _ in range(runs))
        results[f"bert_tf, `--num_workers={workers}`" if workers != "default"
                else "bert_tf, default workers"] = (seconds, count_records(out))
    original = None
    if FLAGS.pretraining_data_original_dir:
        out = os.path.join(work, "original.tfrecord")
        seconds = timed([sys.executable, "-c", _RUN_TF1_SCRIPT,
                         FLAGS.pretraining_data_original_dir, f"--output_file={out}", *common])
        original = "google-research/bert `create_pretraining_data.py`"
        results[original] = (seconds, count_records(out))
    header = ["command", "time", "input MB/s", "examples/s", "examples"]
    if original:
        header.append("speed-up over the original")
    rows = []
    for name, (seconds, examples) in results.items():
        row = [name, f"{seconds:.1f} s", f"{mb / seconds:.3f}", f"{examples / seconds:,.0f}",
               f"{examples:,}"]
        if original:
            row.append(harness.ratio(seconds, results[original][0]))
        rows.append(row)
    harness.print_table(f"create_pretraining_data throughput, {mb:.2f} MB corpus, "
                        f"{os.cpu_count()} CPU cores", header, rows)
