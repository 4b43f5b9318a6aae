"""Knowledge distillation: a frozen teacher's soft targets mixed into any objective, and a student cut from the teacher's layers.

Hinton et al. (2015): the student learns the teacher's output distributions
at temperature T, p_T = softmax(teacher_logits / T), by the KL divergence
KL(p_T || softmax(student_logits / T)) scaled by T^2 (so that its gradients
keep their size whatever T), mixed with the objective's own loss on the hard
labels: loss = (1 - alpha) * hard + alpha * T^2 * KL. DistilBERT (Sanh et
al., 2019) initializes the student from every other layer of the teacher.

The teacher runs in the same training step as the student, in the replica
context of any strategy, as a frozen Keras model (no trainable variables, so
no gradients and no optimizer slots) that no checkpoint holds: a resumed run
loads it again from its directory, unchanged, and continues exactly. The
distributions to match are the objective's own (`Objective.soft_targets`):
a task says which logits and which positions, this module knows no task.
"""

# B=batch, C=classes of one distribution (labels, or tokens for a span's start)

import dataclasses
from typing import List, Optional

import tensorflow as tf

from bert_tf.errors import UserError
from bert_tf.training.objective import Objective

EVERY_OTHER = "every_other"


class DistillationObjective(Objective):
    """`base` (the task's objective) with the soft loss against `teacher`'s outputs mixed in.

    `teacher(batch, training=False)` gives the same outputs as the student
    (a frozen model of the same task). The losses, metrics and counts are the
    base's plus "distill_loss" (T^2 * KL averaged over the base's soft-target
    positions); the training loss is (1 - alpha) * the base's + alpha *
    distill_loss. `evaluate` (held-out sets, from the student's outputs
    alone) is the base's: the task's loss and metrics, comparable with a run
    without a teacher.
    """

    def __init__(self, base: Objective, teacher, temperature=2.0, alpha=0.5):
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.base = base
        self.teacher = teacher
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.label_keys = base.label_keys
        self.passthrough_keys = base.passthrough_keys
        self.metrics = dict(base.metrics)
        self._targets = tuple(base.soft_target_names)
        if not self._targets:
            raise ValueError(f"{type(base).__name__} names no soft targets to distill")
        self.sum_names = tuple(base.sum_names) + tuple(
            f"distill_sum_{name}" for name in self._targets) + tuple(
            f"distill_count_{name}" for name in self._targets)

    def counts(self, batch):
        counts = dict(self.base.counts(batch))
        for name, weight in self.base.soft_target_weights(batch).items():
            counts[f"distill_count_{name}"] = tf.reduce_sum(weight)
        return counts

    def sums(self, batch, outputs):
        sums = dict(self.base.sums(batch, outputs))
        teacher_outputs = self.teacher(batch, training=False)
        teacher_logits = self.base.soft_targets(batch, teacher_outputs)
        student_logits = self.base.soft_targets(batch, outputs)
        weights = self.base.soft_target_weights(batch)
        for name in self._targets:
            kl = soft_kl(tf.stop_gradient(teacher_logits[name]), student_logits[name],
                         self.temperature)  # [...]
            sums[f"distill_sum_{name}"] = tf.reduce_sum(kl * weights[name])
            sums[f"distill_count_{name}"] = tf.reduce_sum(weights[name])
        return sums

    def _distill_loss(self, sums, counts, divide):
        parts = [divide(sums[f"distill_sum_{n}"], counts[f"distill_count_{n}"])
                 for n in self._targets]
        return self.temperature ** 2 * sum(parts) / len(parts)

    def loss(self, sums, counts):
        hard = self.base.loss(sums, counts)
        soft = self._distill_loss(sums, counts, tf.math.divide_no_nan)
        return (1.0 - self.alpha) * hard + self.alpha * soft

    def results(self, totals):
        out = self.base.results(totals)
        out["hard_loss"] = out["loss"]
        out["distill_loss"] = self._distill_loss(
            totals, totals, lambda a, b: float(a) / max(float(b), 1e-12))
        out["loss"] = (1.0 - self.alpha) * out["hard_loss"] + self.alpha * out["distill_loss"]
        return out

    def evaluate(self, batch, outputs):
        return self.base.evaluate(batch, outputs)


def soft_kl(teacher_logits, student_logits, temperature):
    """KL(softmax(teacher / T) || softmax(student / T)) over the last axis: float32 `[...]`."""
    t = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature)  # [..., C]
    s = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature)  # [..., C]
    return tf.reduce_sum(tf.exp(t) * (t - s), axis=-1)


# ------------------------------------------------------ student from teacher

def layer_mapping(spec: str, teacher_layers: int, student_layers: Optional[int] = None,
                  flag="student_layers_from_teacher") -> List[int]:
    """The teacher layer each student layer starts from: `every_other` (DistilBERT's: student
    layer i <- teacher layer 2i; as many as the student has, else half the teacher's) or a
    comma-separated list of teacher layers ("0,2,5"). UserError naming `--flag`."""
    spec = (spec or "").strip()
    if spec == EVERY_OTHER:
        count = student_layers if student_layers is not None else max(1, teacher_layers // 2)
        mapping = [2 * i for i in range(count)]
    else:
        try:
            mapping = [int(part) for part in spec.split(",")]
        except ValueError:
            raise UserError(f"--{flag}={spec!r}: expected {EVERY_OTHER} or teacher layer "
                            "numbers such as 0,2,4") from None
    bad = [i for i in mapping if not 0 <= i < teacher_layers]
    if bad:
        raise UserError(f"--{flag}={spec}: the teacher has layers 0 to {teacher_layers - 1} "
                        f"only (student layer i <- teacher layer {bad[0]})")
    if student_layers is not None and len(mapping) != student_layers:
        raise UserError(f"--{flag}={spec} names {len(mapping)} teacher layer(s) but the "
                        f"student has {student_layers}")
    return mapping


def with_num_layers(config, num_layers):
    """The family's config with `num_layers` encoder blocks: its `layers_field`
    (FamilyConfig's; BertConfig's num_hidden_layers)."""
    field = getattr(config, "layers_field", "num_hidden_layers")
    return dataclasses.replace(config, **{field: num_layers})


def copy_from_teacher(student, teacher, mapping, log=None):
    """Sets every weight of `student` to the teacher's of the same path, student layer i taking
    teacher layer `mapping[i]`'s (models' `named_weights`, the same paths in every family).

    Weights the teacher has no counterpart of keep their values (listed in the returned
    list); a shape that differs is a UserError listing every such weight.
    """
    source = teacher.named_weights()
    layer_of = {f"layer_{i}": f"layer_{j}" for i, j in enumerate(mapping)}
    pairs, missing, mismatched = [], [], []
    for path, variable in student.named_weights().items():
        head, _, rest = path.partition("/")
        teacher_path = f"{layer_of[head]}/{rest}" if head in layer_of else path
        if teacher_path not in source:
            missing.append(path)
            continue
        value = source[teacher_path]
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(f"{path} {tuple(variable.shape)} <- {teacher_path} "
                              f"{tuple(value.shape)}")
            continue
        pairs.append((variable, value))
    if mismatched:
        raise UserError("the student cannot start from the teacher's layers: shapes differ "
                        f"({'; '.join(mismatched)}); give the student the teacher's widths")
    for variable, value in pairs:
        variable.assign(tf.cast(value, variable.dtype))
    if missing and log is not None:
        log(f"Weights the teacher has none of (left as initialized): {', '.join(missing)}")
    return missing
