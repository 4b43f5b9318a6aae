"""ELECTRA pretraining: the loss against a hand computation, run_pretraining.py learning replaced-token detection on masked records, exact resume, strategies and precisions, and the discriminator fine-tuned and exported from the run."""

import os
import types

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import ElectraConfig, ElectraPretrainer
from bert_tf.models.electra.objective import ElectraObjective
from bert_tf.tokenization import BertTokenizer
from tasks.pretraining import records as pretraining_records
from tasks.pretraining import run as pretraining_run
from in_process import run_checked
from testing import built_once, random_pretraining_batch

SEQ, PRED = 24, 4
STEPS = 240  # two loops of 120, a checkpoint after each


# A language with agreement: each noun has its own adjective and verb, so that a word replaced
# by another of its class contradicts its neighbours, which context tells (in random text, or
# words free within their class, nothing would).
NOUNS = {"cat": ("black", "sleeps"), "river": ("wide", "flows"), "teacher": ("patient", "explains"),
         "engine": ("loud", "runs"), "bird": ("small", "sings"), "garden": ("green", "grows"),
         "baker": ("early", "bakes")}
DETERMINERS = ["the", "a", "every", "one"]


def write_agreement_corpus(path, documents=12, sentences=8, seed=0):
    """Sentences "det adj noun verb and det adj noun verb." with each noun's adjective and verb."""
    rng = np.random.default_rng(seed)
    nouns = sorted(NOUNS)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(documents):
            for _ in range(sentences):
                words = []
                for noun in rng.choice(nouns, 2):
                    adjective, verb = NOUNS[noun]
                    words += [DETERMINERS[rng.integers(4)], adjective, noun, verb]
                f.write(" ".join(words[:4] + ["and"] + words[4:]).capitalize() + ".\n")
            f.write("\n")
    return str(path)


def _write_data(directory):
    """The agreement language's corpus, its WordPiece vocab (BERT's special tokens, characters,
    the words), masked records and a tiny ELECTRA config."""
    import hub_layouts

    corpus = write_agreement_corpus(directory / "corpus.txt")
    words = sorted(set(NOUNS) | {w for pair in NOUNS.values() for w in pair}
                   | set(DETERMINERS) | {"and"})
    size = hub_layouts.write_wordpiece_vocab(str(directory / "vocab"), words)
    tokenizer = BertTokenizer(str(directory / "vocab" / "vocab.txt"))
    options = pretraining_records.options_for(tokenizer, max_seq_length=SEQ,
                                              max_predictions_per_seq=PRED, dupe_factor=2)
    pretraining_records.create_pretraining_records(
        [corpus], [str(directory / "train.tfrecord")], tokenizer, options, num_workers=0)
    ElectraConfig(vocab_size=size, embedding_size=16, hidden_size=24, num_hidden_layers=2,
                  num_attention_heads=2, intermediate_size=48, max_position_embeddings=SEQ,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).to_json_file(
        str(directory / "config.json"))
    # One layer each, with dropout: for the runs that are about the loop, not learning (a
    # second block only makes every replica's step slower to trace).
    ElectraConfig(vocab_size=size, embedding_size=16, hidden_size=24, num_hidden_layers=1,
                  num_attention_heads=2, intermediate_size=48, max_position_embeddings=SEQ
                  ).to_json_file(str(directory / "config_one_layer.json"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    directory = built_once(tmp_path_factory, "electra_pretraining_data", _write_data)
    return types.SimpleNamespace(dir=directory, records=str(directory / "train.tfrecord"),
                                 config=str(directory / "config.json"),
                                 one_layer=str(directory / "config_one_layer.json"),
                                 vocab=str(directory / "vocab" / "vocab.txt"))


def settings(data, output_dir, **changes):
    values = dict(input_file=data.records, output_dir=str(output_dir),
                  model_config_file=data.config, vocab_file=data.vocab, do_train=True,
                  train_batch_size=8, max_seq_length=SEQ, max_predictions_per_seq=PRED,
                  num_train_steps=STEPS, num_warmup_steps=30, learning_rate=1e-3,
                  save_checkpoints_steps=STEPS // 2, iterations_per_loop=STEPS // 2, seed=3)
    values.update(changes)
    return values


def command_line(values):
    return [f"--{k}" if v is True else f"--no{k}" if v is False else f"--{k}={v}"
            for k, v in values.items() if v is not None]


def checksum(lines):
    return [line.rsplit(" ", 1)[1] for line in lines if "weights checksum" in line][0]


def eval_results(directory):
    return {key: float(value) for key, value in (
        line.split(" = ") for line in open(os.path.join(directory, "eval_results.txt")))}


def _train(data):
    def build(directory):
        done = run_checked("run_pretraining.py", *command_line(settings(
            data, directory / "run", do_eval=True, eval_batch_size=16, max_eval_steps=4)))
        (directory / "run.log").write_text(done.stdout)
    return build


def trained_run(data, tmp_path_factory):
    """run_pretraining.py (in this process) on the agreement language: the run's directory,
    its log and its evaluation."""
    directory = built_once(tmp_path_factory, "electra_pretraining_run", _train(data))
    return types.SimpleNamespace(run=str(directory / "run"),
                                 log=(directory / "run.log").read_text(),
                                 results=eval_results(directory / "run"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    return trained_run(data, tmp_path_factory)


def binary_entropy(p):
    return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)))


def _tiny_model(seed=1):
    config = ElectraConfig(vocab_size=67, embedding_size=9, hidden_size=12, num_hidden_layers=2,
                           num_attention_heads=3, intermediate_size=37, max_position_embeddings=11,
                           initializer_range=0.3)
    return ElectraPretrainer(config, seed=seed), config


def test_the_loss_is_the_hand_computed_electra_loss():
    """With the sampled tokens fixed: the discriminator reads input_ids with them at the real
    masked positions, labels are "differs from the original" at real tokens (a sample equal to
    the original is not replaced), and the objective's loss is 1 x the masked-LM cross-entropy
    + 50 x the mean sigmoid cross-entropy over real tokens, computed here in numpy float64.
    No gradient reaches the generator through the sampling."""
    model, config = _tiny_model()
    batch = random_pretraining_batch(config, predictions=3, seed=4)
    batch["segment_ids"] = np.minimum(batch["segment_ids"], 1)
    weights = batch["masked_lm_weights"]
    rng = np.random.default_rng(5)
    sampled = rng.integers(5, 67, weights.shape).astype(np.int32)
    sampled[0, 0] = batch["masked_lm_ids"][0, 0]  # one sample equal to the original
    sampled[weights == 0] = 66  # padding predictions: never written into the input
    logits = model.generator_logits(batch).numpy()
    out = model.discriminate(batch, tf.constant(sampled))

    ids, real = batch["input_ids"], batch["input_mask"] > 0
    fake, original = ids.copy(), ids.copy()
    for b, k in zip(*np.nonzero(weights)):
        position = batch["masked_lm_positions"][b, k]
        fake[b, position], original[b, position] = sampled[b, k], batch["masked_lm_ids"][b, k]
    labels = ((fake != original) & real).astype(np.float64)
    np.testing.assert_array_equal(out["disc_labels"], labels)
    assert labels.sum() == weights.sum() - 1
    # The discriminator saw `fake`: its logits are those of its head on the encoder of `fake`.
    hidden = model.encoder(dict(batch, input_ids=fake))["sequence_output"]
    head = model.discriminator_prediction(model.discriminator_activation(
        model.discriminator_dense(hidden)))[..., 0]
    np.testing.assert_allclose(out["disc_logits"], head, atol=1e-6)

    z = np.asarray(out["disc_logits"], np.float64)
    disc = np.maximum(z, 0) - z * labels + np.log1p(np.exp(-np.abs(z)))  # sigmoid CE
    disc_loss = (disc * real).sum() / real.sum()
    lg = logits.astype(np.float64)
    log_probs = lg - lg.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, batch["masked_lm_ids"][..., None], -1)[..., 0]
    mlm_loss = (nll * weights).sum() / weights.sum()
    outputs = dict(out, mlm_logits=tf.constant(logits), sampled_ids=tf.constant(sampled))
    objective = ElectraObjective()
    sums = objective.sums(batch, outputs)
    loss = float(objective.loss(sums, objective.counts(batch)))
    assert abs(loss - (mlm_loss + 50.0 * disc_loss)) < 1e-4 * loss
    results = objective.evaluate(batch, outputs)
    assert abs(results["disc_loss"] - disc_loss) < 1e-5
    assert abs(results["replaced_fraction"] - labels.sum() / real.sum()) < 1e-6
    assert abs(results["sampled_masked_lm_accuracy"] - 1 / weights.sum()) < 1e-6
    weighted = ElectraObjective(disc_weight=3.0, gen_weight=0.5)
    assert abs(float(weighted.loss(weighted.sums(batch, outputs), weighted.counts(batch)))
               - (0.5 * mlm_loss + 3.0 * disc_loss)) < 1e-4

    # The discriminator's loss reaches its own weights and the shared embeddings, never the
    # generator's (the sampling is not differentiable, and stopped).
    with tf.GradientTape() as tape:
        out = model(batch, training=True)
        value = objective.sums(batch, out)["disc_loss_sum"]
    named = dict(model.encoder.named_weights(), **model.head_weights())
    grads = dict(zip(named, tape.gradient(value, list(named.values()))))
    assert all(grads[p] is None for p in named if p.startswith(("generator/", "mlm/")))
    assert all(grads[p] is not None for p in named if not p.startswith(("generator/", "mlm/")))
    # A fill-mask request (export_model.py --task=pretrainer) has no originals: the generator
    # alone answers, with the logits it gave above.
    request = {k: batch[k] for k in ("input_ids", "input_mask", "segment_ids",
                                     "masked_lm_positions")}
    alone = model(request)
    assert sorted(alone) == ["mlm_logits"]
    np.testing.assert_allclose(alone["mlm_logits"], logits, atol=1e-6)
    # The generator's head decodes with the discriminator's word table: one variable.
    assert model.word_embeddings is model.encoder.embeddings.word_embeddings
    generator = model.generator_config
    assert (generator.hidden_size, generator.intermediate_size) == (3, 12)


def test_a_short_run_learns_replaced_token_detection(trained):
    """240 steps of run_pretraining.py on masked records of a language with agreement (each
    noun its adjective and verb): the discriminator's loss is well below the binary entropy of
    the replaced fraction (the loss of the best constant guess) and its precision several times
    that fraction (a guesser's); every metric is reported."""
    r = trained.results
    assert f"step {STEPS}/{STEPS}" in trained.log
    assert r["global_step"] == STEPS
    assert set(r) == {"global_step", "loss", "masked_lm_accuracy", "masked_lm_loss",
                      "sampled_masked_lm_accuracy", "disc_loss", "disc_accuracy",
                      "disc_precision", "disc_recall", "replaced_fraction"}
    assert abs(r["loss"] - (r["masked_lm_loss"] + 50 * r["disc_loss"])) < 1e-3 * r["loss"]
    # Measured (Zen 5, 2026-12-07; seeds 3, 4, 5): disc_loss 0.352-0.367 against 0.42 (ratio
    # 0.86-0.88), precision 0.77-0.93 against 0.15. Accuracy, 0.862-0.867 against 0.852 for
    # "all original", is too close to its baseline for a threshold: the two above are not.
    trivial = binary_entropy(r["replaced_fraction"])
    assert r["disc_loss"] < 0.93 * trivial, r
    assert r["disc_precision"] > 2 * r["replaced_fraction"], r
    assert 0.05 < r["replaced_fraction"] < 0.25, r


@pytest.mark.slow  # make test: BERT's resume after SIGKILL (test_run_pretraining.py)
def test_stopped_and_started_again_equals_an_uninterrupted_run(data, trained, tmp_path):
    """The uninterrupted run's directory as a run killed after its first checkpoint leaves it
    (its last checkpoint, release and results gone), started again: it resumes there and ends
    with the uninterrupted run's weights, the generator's samples drawn from the seed
    generator the checkpoint saved."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(trained.run, out)
    for name in os.listdir(out):
        if name.startswith(f"ckpt-{STEPS}.") or name in ("pretrained", "eval_results.txt"):
            shutil.rmtree(out / name) if (out / name).is_dir() else os.remove(out / name)
    (out / "checkpoint").write_text(f'model_checkpoint_path: "ckpt-{STEPS // 2}"\n'
                                    f'all_model_checkpoint_paths: "ckpt-{STEPS // 2}"\n')
    lines = []
    pretraining_run.run(pretraining_run.PretrainingSettings(
        **settings(data, out), log=lines.append))
    assert any(line.startswith("Resumed from") and f"at step {STEPS // 2}" in line
               for line in lines), lines
    assert checksum(lines) == checksum(trained.log.splitlines())
    assert f"Finished {STEPS} steps ({STEPS // 2} in this run" in checksum_line(lines)


@pytest.mark.slow  # make test: the loop's mirrored and bfloat16 tests (test_run_pretraining)
def test_mirrored_mixed_bfloat16_trains(data, tmp_path):
    """Two mirrored replicas, bfloat16 compute (one layer each: this is about the loop): finite
    losses, the weights move, the release holds both models and the run's checkpoint the
    discriminator. (float16's loss scaling and gradient accumulation are the same loop's,
    checked on BERT in test_run_pretraining.py; this CPU kind computes float16 without oneDNN.)"""
    from bert_tf import TransformerEncoder

    lines = []
    out = tmp_path / "run"
    pretraining_run.run(pretraining_run.PretrainingSettings(**settings(
        data, out, model_config_file=data.one_layer, num_train_steps=4, num_warmup_steps=1,
        save_checkpoints_steps=4, iterations_per_loop=4, distribution_strategy="mirrored",
        mixed_precision="mixed_bfloat16"), log=lines.append))
    last = [line for line in lines if line.startswith("step 4/4")][0]
    values = {part.split()[0]: float(part.split()[1]) for part in last.split(" | ")[1:]
              if part.split()[0] in ElectraObjective.metrics}
    assert len(values) == len(ElectraObjective.metrics), last
    assert all(np.isfinite(list(values.values()))), last
    assert "0 skipped as non-finite" in checksum_line(lines)
    release = out / "pretrained"
    assert sorted(os.listdir(release)) == ["config.json", "generator", "model.safetensors",
                                           "vocab.txt"]
    assert sorted(os.listdir(release / "generator")) == ["config.json", "model.safetensors",
                                                         "vocab.txt"]
    model = ElectraPretrainer.from_pretrained(str(release))
    initial = ElectraPretrainer(model.config, seed=3)
    assert np.abs(model.mlm_transform.kernel.numpy() - initial.mlm_transform.kernel.numpy()
                  ).max() > 1e-4
    encoder = TransformerEncoder.from_pretrained(str(out))  # the run's checkpoint
    np.testing.assert_array_equal(encoder.blocks[0].output_dense.kernel.numpy(),
                                  model.encoder.blocks[0].output_dense.kernel.numpy())


def checksum_line(lines):
    return [line for line in lines if "weights checksum" in line][0]


def test_electra_flags_are_checked(data, tmp_path):
    """google-research/electra's flags: out of range, or given to another family's run, are
    one-line errors before anything is built; they reach the model and the objective."""
    from bert_tf.training.run import FlagError
    from testing import tiny_config

    def checked(**changes):
        return pretraining_run.PretrainingRun.checked(pretraining_run.PretrainingSettings(
            **settings(data, tmp_path / "run", **changes), log=lambda line: None))

    run = checked(generator_hidden_size=0.5, disc_weight=20.0)
    assert run.model_class is ElectraPretrainer
    assert run.model_arguments == dict(generator_hidden_size=0.5, generator_layers=1.0,
                                       temperature=1.0)
    assert run.objective_arguments == dict(disc_weight=20.0, gen_weight=1.0)
    with pytest.raises(FlagError, match=r"--generator_hidden_size=1.5 .* in \(0, 1\]"):
        checked(generator_hidden_size=1.5)
    # Hidden size 24 x 0.01 rounds to 0: no generator, and the error names the flags.
    with pytest.raises(FlagError, match=r"--generator_hidden_size=0.01 and "
                                        r"--generator_layers=1.0 give no generator"):
        checked(generator_hidden_size=0.01)
    with pytest.raises(FlagError, match="--temperature must be positive"):
        checked(temperature=0.0)
    bert = tmp_path / "bert_config.json"
    tiny_config(vocab_size=100, max_position_embeddings=SEQ).to_json_file(str(bert))
    with pytest.raises(FlagError, match="--disc_weight applies to ELECTRA pretraining, not to "
                                        "BERT's"):
        checked(model_config_file=None, bert_config_file=str(bert), disc_weight=10.0)


def test_the_discriminator_exports_and_fine_tunes_from_the_run(trained, data, tmp_path):
    """The run's directory and its release give the discriminator (not the generator) as the
    encoder of any task model: export_model.py serves its mean-pooled states, a classifier
    starts from it; run_pretraining.py --init_checkpoint=the release continues both models."""
    from bert_tf import BertTokenizer, TransformerEncoder
    from in_process import run_checked
    from tasks.classification.model import BertClassifier

    release = os.path.join(trained.run, "pretrained")
    released = ElectraPretrainer.from_pretrained(release)
    discriminator = released.encoder
    encoder = TransformerEncoder.from_pretrained(trained.run)
    assert encoder.config.hidden_size == 24 and encoder.config == discriminator.config
    for path, variable in encoder.named_weights().items():
        np.testing.assert_allclose(variable.numpy(), discriminator.named_weights()[path].numpy(),
                                   atol=1e-7, err_msg=path)
    # run_pretraining.py --init_checkpoint=the release continues both models.
    again = pretraining_run.PretrainingRun.checked(pretraining_run.PretrainingSettings(**settings(
        data, tmp_path / "again", model_config_file=None, init_checkpoint=release),
        log=lambda line: None))
    fresh = again.build_model()
    again.initialize(fresh)
    ours = dict(released.encoder.named_weights(), **released.head_weights())
    for path, variable in dict(fresh.encoder.named_weights(), **fresh.head_weights()).items():
        np.testing.assert_array_equal(variable.numpy(), ours[path].numpy(), err_msg=path)
    classifier = BertClassifier.from_pretrained(trained.run, num_labels=2)
    np.testing.assert_array_equal(classifier.encoder.blocks[1].output_dense.kernel.numpy(),
                                  encoder.blocks[1].output_dense.kernel.numpy())

    texts = ["the black cat sleeps and a wide river flows.", "every loud engine runs."]
    run_checked("export_model.py", f"--checkpoint={trained.run}", "--task=encoder",
                f"--export_dir={tmp_path / 'encoder'}", "--export_version=1",
                f"--max_seq_length={SEQ}")
    served = tf.saved_model.load(str(tmp_path / "encoder" / "1")).signatures[
        "serving_default"](text=tf.constant(texts))
    features = BertTokenizer(data.vocab, max_seq_length=SEQ)(tf.constant(texts))
    mask = tf.cast(features["input_mask"], tf.float32)[..., None]
    sequence = encoder(features)["sequence_output"]
    np.testing.assert_allclose(served["embedding"],
                               tf.reduce_sum(sequence * mask, 1) / tf.reduce_sum(mask, 1),
                               atol=1e-5)
