"""Distillation: the soft loss against numpy, a student cut from the teacher's layers, and run_classifier.py distilling a tiny fine-tuned teacher (learning from it alone, exact resume, export without the teacher)."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.errors import UserError
from bert_tf.models.distilbert.config import DistilBertConfig
from bert_tf.training import distillation
from in_process import run_checked, run_script
from tasks.classification.model import BertClassifier
from tasks.classification.run import ClassifierRun, ClassifierSettings
from tasks.classification.objective import ClassificationObjective
from tasks.question_answering.objective import SpanObjective
from tasks.tagging.objective import TaggingObjective
from testing import built_once, minilm_dir, tiny_config, write_topic_pairs


def np_log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


def np_kl(teacher, student, temperature):
    t, s = np_log_softmax(teacher / temperature), np_log_softmax(student / temperature)
    return (np.exp(t) * (t - s)).sum(-1)


def objective_loss(objective, batch, outputs):
    counts = objective.counts(batch)
    sums = objective.sums(batch, outputs)
    return float(objective.loss(sums, counts)), objective.results(
        {k: float(v) for k, v in sums.items()})


def constant_teacher(outputs):
    return lambda batch, training=None: {k: tf.constant(v) for k, v in outputs.items()}


def test_the_loss_is_hintons_mix_computed_by_hand():
    """(1 - alpha) * hard + alpha * T^2 * KL, each averaged over its positions, for the three
    tasks' soft targets (classes; a window's start and end over its real tokens; labels at
    labelled word pieces), against float64 numpy."""
    rng = np.random.default_rng(0)
    T, alpha = 2.5, 0.3
    # Classification: 5 examples, 3 classes.
    student, teacher = rng.normal(0, 2, (2, 5, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 1, 0], np.int32)
    objective = distillation.DistillationObjective(
        ClassificationObjective(), constant_teacher({"logits": teacher}), T, alpha)
    loss, results = objective_loss(objective, {"label_ids": labels}, {"logits": student})
    hard = -np_log_softmax(student)[np.arange(5), labels].mean()
    soft = T * T * np_kl(teacher, student, T).mean()
    assert loss == pytest.approx((1 - alpha) * hard + alpha * soft, rel=1e-5)
    assert results["distill_loss"] == pytest.approx(soft, rel=1e-5)
    assert results["hard_loss"] == pytest.approx(hard, rel=1e-5)
    # QA: 5 windows of 7 tokens, padded differently; padding counts nowhere.
    mask = (np.arange(7)[None] < np.array([7, 5, 3, 6, 2])[:, None]).astype(np.int32)
    s_start, s_end, t_start, t_end = rng.normal(0, 2, (4, 5, 7)).astype(np.float32)
    batch = {"input_ids": mask, "input_mask": mask,
             "start_positions": np.array([1, 0, 2, 5, 1], np.int32),
             "end_positions": np.array([3, 4, 2, 5, 1], np.int32)}
    objective = distillation.DistillationObjective(
        SpanObjective(), constant_teacher({"start_logits": t_start, "end_logits": t_end}),
        T, alpha)
    loss, _ = objective_loss(objective, batch, {"start_logits": s_start, "end_logits": s_end})
    hard, soft = 0.0, 0.0
    for s, t, side in ((s_start, t_start, "start"), (s_end, t_end, "end")):
        for row in range(5):
            real = mask[row] == 1
            hard += -np_log_softmax(s[row][real])[batch[f"{side}_positions"][row]] / 10
            soft += T * T * np_kl(t[row][real], s[row][real], T) / 10
    assert loss == pytest.approx((1 - alpha) * hard + alpha * soft, rel=1e-5)
    # Tagging: 5 rows of 7 pieces, 4 labels; -1 (other pieces, specials, padding) counts nowhere.
    student, teacher = rng.normal(0, 2, (2, 5, 7, 4)).astype(np.float32)
    labels = np.where(rng.random((5, 7)) < 0.5, rng.integers(0, 4, (5, 7)), -1).astype(np.int32)
    objective = distillation.DistillationObjective(
        TaggingObjective(), constant_teacher({"logits": teacher}), T, alpha)
    loss, _ = objective_loss(objective, {"label_ids": labels}, {"logits": student})
    at = labels >= 0
    hard = -np_log_softmax(student)[at, labels[at]].mean()
    soft = T * T * np_kl(teacher[at], student[at], T).mean()
    assert loss == pytest.approx((1 - alpha) * hard + alpha * soft, rel=1e-5)


def test_only_the_student_gets_gradients_and_the_teacher_stays_frozen():
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    teacher = BertClassifier(config, 3)
    teacher.trainable = False
    student = BertClassifier(tiny_config(hidden_size=9, num_hidden_layers=1), 3)
    objective = distillation.DistillationObjective(ClassificationObjective(), teacher, 2.0, 1.0)
    rng = np.random.default_rng(1)
    batch = {"input_ids": rng.integers(1, 53, (5, 7)).astype(np.int32),
             "input_mask": np.ones((5, 7), np.int32),
             "segment_ids": np.zeros((5, 7), np.int32), "label_ids": np.zeros(5, np.int32)}
    before = [w.numpy() for w in teacher.weights]
    with tf.GradientTape() as tape:
        loss = objective.loss(objective.sums(batch, student(batch, training=True)),
                              objective.counts(batch))
    assert not teacher.trainable_weights
    grads = tape.gradient(loss, student.trainable_weights)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads if g is not None) > 0
    for old, new in zip(before, teacher.weights):
        np.testing.assert_array_equal(old, new.numpy())


def test_a_student_cut_from_every_other_teacher_layer():
    """DistilBERT's init: student layer i <- teacher layer 2i, embeddings and head as they are;
    the layer count found in any family's config."""
    config = tiny_config(num_hidden_layers=5)
    teacher = BertClassifier(config, 3)
    mapping = distillation.layer_mapping("every_other", 5)
    assert mapping == [0, 2]
    student = BertClassifier(distillation.with_num_layers(config, 2), 3)
    assert student.config.num_hidden_layers == 2
    assert distillation.copy_from_teacher(student, teacher, mapping) == []
    source = teacher.named_weights()
    for path, variable in student.named_weights().items():
        expected = path.replace("layer_1/", "layer_2/")
        np.testing.assert_array_equal(variable.numpy(), source[expected].numpy(), path)
    assert distillation.layer_mapping("4,1,3", 5, 3) == [4, 1, 3]
    assert distillation.with_num_layers(DistilBertConfig(vocab_size=31, n_layers=6), 3).n_layers == 3
    with pytest.raises(UserError, match="teacher has layers 0 to 4"):
        distillation.layer_mapping("0,5", 5)
    with pytest.raises(UserError, match="names 2 teacher layer"):
        distillation.layer_mapping("0,2", 5, 3)
    with pytest.raises(UserError, match="expected every_other"):
        distillation.layer_mapping("half", 5)
    wider = BertClassifier(tiny_config(hidden_size=15, num_hidden_layers=2), 3)
    with pytest.raises(UserError, match=r"shapes differ \(embeddings/word_embeddings"):
        distillation.copy_from_teacher(wider, teacher, [0, 2])


# ------------------------------------------------------------ run_classifier.py

def _config_file(path, **sizes):
    tiny_config(vocab_size=30522, max_position_embeddings=40, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0, **sizes).to_json_file(str(path))
    return str(path)


def _flags(**values):
    return [f"--{k}" if v is True else f"--{k}={v}" for k, v in values.items()]


def _common(data, output_dir, **extra):
    values = dict(task_name="MRPC", data_dir=data, max_seq_length=20, train_batch_size=16,
                  learning_rate=3e-3, output_dir=output_dir, seed=3, deterministic=True,
                  iterations_per_loop=10, save_checkpoints_steps=10, do_train=True,
                  do_eval=True, do_predict=True)
    values.update(extra)
    return _flags(**values)


def _build_teacher(directory):
    """A tiny classifier fine-tuned on the topic-pair task, and the same data with its
    training labels shuffled (what only a teacher can make sense of)."""
    data = write_topic_pairs(directory / "data", train=320, dev=96, test=96)
    shuffled = directory / "shuffled"
    shutil.copytree(data, shuffled)
    lines = open(shuffled / "train.tsv").read().splitlines()
    rng = np.random.default_rng(5)
    labels = rng.permutation([line.split("\t", 1)[0] for line in lines[1:]])
    with open(shuffled / "train.tsv", "w") as f:
        f.write("\n".join([lines[0]] + [f"{label}\t{line.split(chr(9), 1)[1]}"
                                        for label, line in zip(labels, lines[1:])]) + "\n")
    config = _config_file(directory / "teacher.json", hidden_size=32, num_attention_heads=4,
                          intermediate_size=64, num_hidden_layers=2)
    run_checked("run_classifier.py", *_common(
        data, str(directory / "teacher"), vocab_file=os.path.join(minilm_dir(), "vocab.txt"),
        bert_config_file=config, num_train_epochs=3, iterations_per_loop=60,
        save_checkpoints_steps=60, do_eval=False))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return built_once(tmp_path_factory, "distill-teacher", _build_teacher)


def _results(path):
    return dict(line.split(" = ") for line in open(path).read().splitlines())


def _predicted(run_dir):
    rows = open(os.path.join(run_dir, "test_results.tsv")).read().splitlines()
    return np.array([[float(x) for x in row.split("\t")] for row in rows])


def _student_flags(teacher, out, **extra):
    return _common(str(teacher / "shuffled"), out, bert_config_file=str(teacher / "student.json"),
                   vocab_file=os.path.join(minilm_dir(), "vocab.txt"), num_train_epochs=3,
                   teacher=teacher / "teacher", distill_alpha=1.0, distill_temperature=2.0,
                   **extra)


@pytest.fixture(scope="module")
def student(teacher, tmp_path_factory):
    """A smaller, differently shaped student distilled on the shuffled labels with
    --distill_alpha=1: whatever it learns comes from the teacher."""
    def build(directory):
        _config_file(teacher / "student.json", hidden_size=21, num_attention_heads=3,
                     intermediate_size=41, num_hidden_layers=1)
        done = run_checked("run_classifier.py", *_student_flags(
            teacher, str(directory / "run"), export_dir=str(directory / "export")))
        assert "Distilling from teacher" in done.stdout

    return built_once(tmp_path_factory, "distill-student", build)


def test_a_student_learns_from_the_teacher_alone_and_exports_without_it(teacher, student):
    """It agrees with the teacher on the held-out test pairs far above chance (about half) and
    scores well on dev (seen: 1.0 both; the teacher was good, then), and its SavedModel holds
    its own weights only and serves its predictions."""
    out, export = str(student / "run"), str(student / "export")
    agreement = (_predicted(out).argmax(1)
                 == _predicted(teacher / "teacher").argmax(1)).mean()
    assert agreement > 0.8, agreement
    assert float(_results(os.path.join(out, "eval_results.txt"))["eval_accuracy"]) > 0.8
    info = json.load(open(os.path.join(out, "run.json")))
    assert info["distillation"]["alpha"] == 1.0
    # The export: the student's weights, none of the teacher's (hidden 32, 2 layers).
    model = BertClassifier.from_pretrained(os.path.join(out, "finetuned"), num_labels=2)
    (version,) = os.listdir(export)
    saved = tf.train.load_checkpoint(os.path.join(export, version, "variables", "variables"))
    shapes = [shape for name, shape in saved.get_variable_to_shape_map().items()
              if saved.get_variable_to_dtype_map()[name].is_floating]
    assert not any(32 in shape for shape in shapes)
    assert sum(int(np.prod(shape)) for shape in shapes) == sum(
        int(np.prod(v.shape)) for v in model.weights)
    loaded = tf.saved_model.load(os.path.join(export, version))
    rows = [line.split("\t") for line in
            open(teacher / "shuffled" / "test.tsv").read().splitlines()[1:]]
    served = loaded.signatures["serving_default"](
        text=tf.constant([r[3] for r in rows]), text_pair=tf.constant([r[4] for r in rows]))
    np.testing.assert_allclose(served["probabilities"].numpy(), _predicted(out), atol=1e-5)


def test_resume_with_a_teacher_is_exact(teacher, student, tmp_path):
    """The distilled run, stopped after its checkpoint of step 50 (its last checkpoint and
    fine-tuned model removed) and trained again, ends with exactly the uninterrupted run's
    weights: the teacher, loaded again, is the same, and no checkpoint holds it."""
    straight = str(student / "run")
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(straight))
    assert not any("teacher" in name for name in reader.get_variable_to_shape_map())
    again = str(tmp_path / "again")
    shutil.copytree(straight, again)
    for name in os.listdir(again):
        if name.startswith("ckpt-60."):
            os.remove(os.path.join(again, name))
    with open(os.path.join(again, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "ckpt-50"\nall_model_checkpoint_paths: "ckpt-50"\n')
    shutil.rmtree(os.path.join(again, "finetuned"))
    resumed = run_checked("run_classifier.py", *_student_flags(
        teacher, again, do_eval=False, do_predict=False))
    assert "at step 50" in resumed.stdout
    for name in ("finetuned/bert_model.ckpt.data-00000-of-00001",
                 "finetuned/bert_model.ckpt.index"):
        assert open(os.path.join(again, name), "rb").read() == open(
            os.path.join(straight, name), "rb").read(), name
    # The same command without --do_train (evaluating the run in place) passes every check:
    # the teacher is only built to train.
    settings = ClassifierSettings(
        task_name="MRPC", data_dir=str(teacher / "shuffled"), output_dir=again, do_eval=True,
        init_checkpoint=again, teacher=str(teacher / "teacher"), max_seq_length=20)
    assert ClassifierRun.checked(settings).teacher_files.release is not None


def test_the_hidden_state_weight_reaches_a_fine_tuning_run(teacher, student, tmp_path):
    """--distill_hidden_weight: the run's objective adds TinyBERT's hidden-state loss, the
    student's one layer (hidden 21) against the teacher's last (hidden 32) through a [21, 32]
    projection of the objective's own. That it is trained, checkpointed and left out of
    releases, and the loss itself by hand, are checked by tests/test_pretraining_distillation.py,
    whose run uses the same objective (a run here would add a whole training trace to the
    suite)."""
    settings = ClassifierSettings(
        task_name="MRPC", data_dir=str(teacher / "shuffled"), output_dir=str(tmp_path / "out"),
        do_train=True, bert_config_file=str(teacher / "student.json"),
        vocab_file=os.path.join(minilm_dir(), "vocab.txt"), teacher=str(teacher / "teacher"),
        distill_hidden_weight=0.5, max_seq_length=20, train_batch_size=16,
        log=lambda line: None)
    run = ClassifierRun.checked(settings)
    run.strategy = tf.distribute.get_strategy()
    objective = run.training_objective()
    objective.watch(run.build_model())
    assert (objective.hidden_weight, objective.cosine_weight) == (0.5, 0.0)
    assert objective.hidden_mapping == [1]
    assert [tuple(v.shape) for v in objective.trainable_variables] == [(21, 32), (32,)]
    assert run.distillation_info()["distillation"]["hidden_weight"] == 0.5
    # --distill_attention_weight reaches it too: these two compare no maps (3 heads, 4).
    settings.distill_attention_weight = 0.2
    run = ClassifierRun.checked(settings)
    run.strategy = tf.distribute.get_strategy()
    objective = run.training_objective()
    assert objective.attention_weight == 0.2
    with pytest.raises(UserError, match="the student has 3 attention heads, the teacher 4"):
        objective.watch(run.build_model())


@pytest.mark.parametrize("flags, message", [
    (dict(teacher="NOPE"), "NOPE"),
    (dict(distill_alpha=1.5), "--distill_alpha must be in [0, 1], got 1.5"),
    (dict(student_layers_from_teacher="every_other"), "--student_layers_from_teacher needs a "
                                                      "--teacher"),
    (dict(teacher="MINILM"), "holds no BertClassifier head"),
])
def test_bad_distillation_flags_are_one_line_errors(teacher, tmp_path, flags, message):
    flags = {k: (minilm_dir() if v == "MINILM" else v) for k, v in flags.items()}
    done = run_script("run_classifier.py", *_common(
        str(teacher / "data"), str(tmp_path / "out"), init_checkpoint=minilm_dir(),
        num_train_epochs=1, **flags))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("run_classifier.py: error: ") and message in line, done.stderr


def test_a_teacher_with_other_token_ids_is_refused_before_anything_is_built(teacher, tmp_path):
    vocab = open(os.path.join(minilm_dir(), "vocab.txt"), encoding="utf-8").read().splitlines()
    vocab[2000], vocab[2001] = vocab[2001], vocab[2000]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    done = run_script("run_classifier.py", *_common(
        str(teacher / "data"), str(tmp_path / "out"), init_checkpoint=minilm_dir(),
        vocab_file=tmp_path / "vocab.txt", teacher=teacher / "teacher"))
    assert done.returncode == 1
    assert "has another vocabulary" in done.stderr.strip().splitlines()[-1]
    assert not os.path.exists(tmp_path / "out")


# CI's slow tier (one strategy at full length): make test runs the same Trainer mirrored in
# test_run_pretraining and the teacher and its losses here on one device.
@pytest.mark.slow
def test_two_mirrored_replicas_distil_as_one_device(teacher, student, tmp_path):
    """The teacher and the hidden-state loss (its projection, the per-thread record of each
    replica's hidden states) under --distribution_strategy=mirrored over this process's two
    CPU devices (conftest.py): the student ends with the one-device run's weights, and the
    projection trained in both."""
    weights = {}
    for name, extra in (("one", {}), ("mirrored", {"distribution_strategy": "mirrored"})):
        out = str(tmp_path / name)
        run_checked("run_classifier.py", *_common(
            str(teacher / "shuffled"), out, bert_config_file=str(teacher / "student.json"),
            vocab_file=os.path.join(minilm_dir(), "vocab.txt"), num_train_epochs=0.5,
            teacher=teacher / "teacher", distill_alpha=0.5, distill_hidden_weight=0.1,
            do_eval=False, do_predict=False, iterations_per_loop=5, save_checkpoints_steps=5,
            **extra))
        weights[name] = BertClassifier.from_pretrained(
            os.path.join(out, "finetuned"), num_labels=2).named_weights()
        # The projection [21, 32] trained: it moved between the checkpoints of steps 5 and 10.
        kernel = "objective_variables/0/.ATTRIBUTES/VARIABLE_VALUE"
        weights[name]["projection"] = tf.train.load_checkpoint(
            os.path.join(out, "ckpt-10")).get_tensor(kernel)
        moved = weights[name]["projection"] - tf.train.load_checkpoint(
            os.path.join(out, "ckpt-5")).get_tensor(kernel)
        assert np.abs(moved).max() > 1e-4, name
    assert weights["one"].keys() == weights["mirrored"].keys()
    for path, value in weights["one"].items():
        np.testing.assert_allclose(np.asarray(weights["mirrored"][path]), np.asarray(value),
                                   atol=2e-5, err_msg=path)
