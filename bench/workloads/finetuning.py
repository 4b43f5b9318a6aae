"""Fine-tuning step of a two-label classifier: bert_tf's Trainer (XLA off/on) vs keras-hub BertTextClassifier.fit.

bert_tf runs the training loop of run_classifier.py (`Trainer` on
`tasks/classification`'s model and objective: AdamW, global-norm clipping,
non-finite check), once per --jit_compile variant (default off,on: where
XLA helps on this machine); keras-hub runs `BertTextClassifier.fit` without
a preprocessor (Keras AdamW with global_clipnorm, its jit_compile setting
from --finetuning_keras_hub_jit_compile). Fixed shapes, same synthetic
batch, runs alternating, medians.

--finetuning_heads adds the token-level heads, one table each, at the same
--batch_size and --seq_length:
- span (SQuAD-style extractive QA): our Trainer on `tasks/question_answering`
  (`BertSpanLabeler`, `SpanObjective`) vs keras-hub's `BertBackbone` with a
  functional `Dense(2)` head over `sequence_output` giving start and end
  logits, `fit` with the mean of the start and end sparse cross-entropies
  (BERT's SQuAD loss);
- tagging (token classification, CoNLL-2003's 9 labels): our Trainer on
  `tasks/tagging` (`BertTagger`, `TaggingObjective`) vs `BertBackbone` + dropout +
  `Dense(9)` over `sequence_output`, `fit` with sparse cross-entropy masked by
  sample weights. Every other position (and [CLS], the last token) carries
  the ignore label -1, as non-first wordpieces do.
"""

from absl import flags

import bench
from bench import harness, training

FLAGS = flags.FLAGS
flags.DEFINE_enum("finetuning_keras_hub_jit_compile", "auto", ["auto", "true", "false"],
                  "keras-hub's compile(jit_compile=...); its default is auto.")
HEADS = ("classifier", "span", "tagging")
flags.DEFINE_list("finetuning_heads", ["classifier"],
                  "Fine-tuning heads to measure, one table each: classifier (sentence pair, "
                  "2 labels), span (SQuAD-style start/end logits), tagging (9 labels per token).")
flags.register_validator("finetuning_heads", lambda heads: set(heads) <= set(HEADS),
                         message=f"--finetuning_heads takes values among {', '.join(HEADS)}")

NUM_LABELS = 2
NUM_TAGS = 9  # CoNLL-2003: O and B-/I- of PER, ORG, LOC, MISC


def synthetic_batch(config, b, t, seed=0):
    """A fixed sentence-pair batch: random ids, the second half of each row segment 1."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(1000, config.vocab_size, (b, t)).astype(np.int32),
            "input_mask": np.ones((b, t), np.int32),
            "segment_ids": (np.arange(t)[None, :] >= t // 2).repeat(b, 0).astype(np.int32),
            "label_ids": rng.integers(0, NUM_LABELS, b).astype(np.int32)}


def tagging_batch(config, b, t, seed=0):
    """A fixed single-segment batch with a label at every odd position and -1 (ignored, as a
    word's later pieces, [CLS] and [SEP] are: see tasks/tagging/features.py) elsewhere."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_TAGS, (b, t)).astype(np.int32)
    labels[:, ::2] = -1
    labels[:, -1] = -1
    return {"input_ids": rng.integers(1000, config.vocab_size, (b, t)).astype(np.int32),
            "input_mask": np.ones((b, t), np.int32),
            "segment_ids": np.zeros((b, t), np.int32),
            "label_ids": labels}


def ours(config, batch, precision, steps, jit_compile):
    from tasks.classification.model import BertClassifier
    from tasks.classification.objective import ClassificationObjective

    return training.ours(ClassificationObjective(),
                         lambda: BertClassifier(config, NUM_LABELS, dtype=precision),
                         batch, steps, jit_compile=jit_compile)


def ours_span(config, batch, precision, steps, jit_compile):
    from tasks.question_answering.model import BertSpanLabeler
    from tasks.question_answering.objective import SpanObjective

    return training.ours(SpanObjective(), lambda: BertSpanLabeler(config, dtype=precision),
                         batch, steps, jit_compile=jit_compile)


def ours_tagging(config, batch, precision, steps, jit_compile):
    from tasks.tagging.model import BertTagger
    from tasks.tagging.objective import TaggingObjective

    return training.ours(TaggingObjective(), lambda: BertTagger(config, NUM_TAGS, dtype=precision),
                         batch, steps, jit_compile=jit_compile)


def keras_hub_jit():
    return {"auto": "auto", "true": True, "false": False}[FLAGS.finetuning_keras_hub_jit_compile]


def keras_hub(config, batch, precision, steps):
    import keras_hub

    return training.keras_hub_fit(
        lambda: keras_hub.models.BertTextClassifier(
            backbone=harness.keras_hub_backbone(config, precision), num_classes=NUM_LABELS,
            preprocessor=None),
        harness.keras_hub_inputs(batch), batch["label_ids"], steps, jit_compile=keras_hub_jit(),
        precision=precision)


def keras_hub_token_model(config, precision, units, dropout):
    """BertBackbone + (dropout) + Dense(units) over `sequence_output`, a functional model whose
    output is `[B, T, units]`; built under the global dtype policy `precision` (see
    `training.keras_hub_fit`), so the head follows it as the backbone does."""
    import keras

    backbone = harness.keras_hub_backbone(config, precision)
    inputs = backbone.input
    x = backbone(inputs)["sequence_output"]  # [B, T, H]
    if dropout:
        x = keras.layers.Dropout(config.hidden_dropout_prob)(x)
    logits = keras.layers.Dense(
        units, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))(x)
    return inputs, logits


def keras_hub_span_model(config, precision):
    """The span head: Dense(2) -> {"start_logits", "end_logits"} `[B, T]` each."""
    import keras

    inputs, logits = keras_hub_token_model(config, precision, 2, dropout=False)
    return keras.Model(inputs, {"start_logits": logits[:, :, 0],
                                "end_logits": logits[:, :, 1]})


def keras_hub_span(config, batch, precision, steps, learning_rate=2e-5):
    """`fit` of the span model: as `training.keras_hub_fit`, with one sparse cross-entropy per
    side weighted 1/2 each (BERT's SQuAD loss: their mean)."""
    import keras
    import tensorflow as tf

    keras.config.set_dtype_policy(precision)
    try:
        model = keras_hub_span_model(config, precision)
    finally:
        keras.config.set_dtype_policy("float32")
    sides = ("start_logits", "end_logits")
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate, epsilon=1e-6,
                                                   global_clipnorm=1.0),
                  loss={side: keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                        for side in sides},
                  loss_weights={side: 0.5 for side in sides},
                  metrics={side: ["sparse_categorical_accuracy"] for side in sides},
                  steps_per_execution=steps, jit_compile=keras_hub_jit())
    y = {"start_logits": batch["start_positions"], "end_logits": batch["end_positions"]}
    data = tf.data.Dataset.from_tensors((harness.keras_hub_inputs(batch), y)).repeat()

    def run():
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return run


def keras_hub_tagging(config, batch, precision, steps):
    import keras
    import numpy as np

    labels = batch["label_ids"]
    return training.keras_hub_fit(
        lambda: keras.Model(*keras_hub_token_model(config, precision, NUM_TAGS, dropout=True)),
        harness.keras_hub_inputs(batch), np.where(labels >= 0, labels, 0).astype(np.int32),
        steps, sample_weight=(labels >= 0).astype(np.float32), jit_compile=keras_hub_jit(),
        precision=precision)


def heads(config, b, t):
    """{head: (batch builder, head's forward matmul FLOPs, intro line's words, ours, keras-hub)}."""
    from bench.workloads import gpu

    h = config.hidden_size
    return {
        "classifier": (synthetic_batch, b * 2 * h * NUM_LABELS, f"{NUM_LABELS} labels",
                       ours, keras_hub),
        "span": (gpu.squad_batch, b * t * 2 * h * 2, "span head (start and end logits)",
                 ours_span, keras_hub_span),
        "tagging": (tagging_batch, b * t * 2 * h * NUM_TAGS,
                    f"tagging head, {NUM_TAGS} labels, every other token labelled",
                    ours_tagging, keras_hub_tagging),
    }


def run(ceilings):
    from bert_tf import BertConfig

    preset = bench.setting("preset", "base")
    config = BertConfig.preset(preset)
    b, t = bench.setting("batch_size", 16), bench.setting("seq_length", 128)
    available = heads(config, b, t)
    for head in FLAGS.finetuning_heads:
        make_batch, *rest = available[head]
        run_head(head, make_batch(config, b, t), *rest, config, preset, b, t, ceilings)


def run_head(head, batch, head_flops, description, build_ours, build_keras_hub, config, preset,
             b, t, ceilings):
    steps, repeats = bench.setting("steps", 3), bench.setting("repeats", 5)
    jit_variants = bench.jit_variants(["off", "on"])
    flop = harness.TRAIN_FLOP_FACTOR * (harness.encoder_flops(config, b, t) + head_flops)
    print(f"{preset}: batch {b} x {t}, {description}, {steps} steps per timed run, "
          f"{repeats} timed runs after a warm-up, alternating, medians; "
          f"{flop / 1e9:.2f} GFLOP per step", flush=True)
    header, rows = training.compare_steps(
        ceilings, flop, b, steps, repeats, jit_variants,
        lambda precision, jit: build_ours(config, batch, precision, steps, jit),
        None if FLAGS.skip_keras_hub else
        lambda precision: build_keras_hub(config, batch, precision, steps),
        keras_hub_label=f"keras-hub (jit_compile={FLAGS.finetuning_keras_hub_jit_compile})")
    harness.print_table(
        f"fine-tuning step, {head}, {preset}, batch {b} x {t}; "
        "ratio above 1.00x: bert_tf faster", header, rows)
