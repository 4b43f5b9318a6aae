"""Knowledge distillation: a frozen teacher's soft targets mixed into any objective, and a student cut from the teacher's layers.

Hinton et al. (2015): the student learns the teacher's output distributions
at temperature T, p_T = softmax(teacher_logits / T), by the KL divergence
KL(p_T || softmax(student_logits / T)) scaled by T^2 (so that its gradients
keep their size whatever T), mixed with the objective's own loss on the hard
labels: loss = (1 - alpha) * hard + alpha * T^2 * KL. DistilBERT (Sanh et
al., 2019) initializes the student from every other layer of the teacher and
adds a cosine loss between the student's and the teacher's last hidden states;
TinyBERT (Jiao et al., 2020) an MSE between each student layer's output and a
teacher layer's (uniform mapping), through a learned projection where the
widths differ, and one between their attention maps. These terms are optional
and averaged over real (non-padding) tokens.

The teacher runs in the same training step as the student, in the replica
context of any strategy, as a frozen Keras model (no trainable variables, so
no gradients and no optimizer slots) that no checkpoint holds: a resumed run
loads it again from its directory, unchanged, and continues exactly. The
projection of the hidden-state terms is the objective's own training-only
variable (`Objective.trainable_variables`): trained and checkpointed with the
student, never part of its releases or exports. The distributions to match are
the objective's own (`Objective.soft_targets`): a task says which logits and
which positions, this module knows no task.
"""

# B=batch, T=sequence, C=classes of one distribution (labels, or tokens for a span's start),
# H=the student's hidden size, G=the teacher's, N=heads, S=keys

import dataclasses
import os
import threading
from typing import List, Optional

import keras
import tensorflow as tf

from bert_tf.errors import UserError
from bert_tf.training.objective import Objective

EVERY_OTHER = "every_other"


class DistillationObjective(Objective):
    """`base` (the task's objective) with the soft loss against `teacher`'s outputs mixed in.

    `teacher(batch, training=False)` gives the same outputs as the student
    (a frozen model of the same task). The losses, metrics and counts are the
    base's plus "distill_loss" (T^2 * KL averaged over the base's soft-target
    positions) and "distill_agreement" (the fraction of those positions where
    the student's most likely class is the teacher's); the training loss is
    (1 - alpha) * the base's + alpha * distill_loss
    + cosine_weight * cosine_loss + hidden_weight * hidden_loss, where
      - cosine_loss (DistilBERT's) is 1 - cos(student's last hidden state,
        teacher's) averaged over real tokens (input_mask);
      - hidden_loss (TinyBERT's) is the squared difference between student
        layer i's output and teacher layer `uniform_mapping`[i]'s, averaged
        over real tokens, the teacher's hidden units and the student's layers;
      - attention_loss (TinyBERT's) is the squared difference between the
        attention probabilities of those layers, summed over keys, averaged
        over heads (the student's and the teacher's head counts must agree),
        real query tokens and layers.
    Where the hidden sizes differ, both compare the student's states through
    one learned Dense projection [H] -> [G], made by `watch(student)` and
    trained with the student (`trainable_variables`). Either term needs the
    batch's input_mask and models with a TransformerEncoder (`.encoder`).
    `evaluate` (held-out sets, from the student's outputs alone) is the
    base's: the task's loss and metrics, comparable with a run without a
    teacher.
    """

    def __init__(self, base: Objective, teacher, temperature=2.0, alpha=0.5,
                 cosine_weight=0.0, hidden_weight=0.0, attention_weight=0.0):
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if min(cosine_weight, hidden_weight, attention_weight) < 0:
            raise ValueError(f"cosine_weight, hidden_weight and attention_weight must be 0 or "
                             f"more, got {cosine_weight}, {hidden_weight}, {attention_weight}")
        self.base = base
        self.teacher = teacher
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.cosine_weight = float(cosine_weight)
        self.hidden_weight = float(hidden_weight)
        self.attention_weight = float(attention_weight)
        self.projection = None
        self._student_states = self._teacher_states = None
        if self.cosine_weight or self.hidden_weight or self.attention_weight:
            self._teacher_states = HiddenStates.on(teacher)
        self.label_keys = base.label_keys
        self.passthrough_keys = base.passthrough_keys
        self.metrics = dict(base.metrics)
        self._targets = tuple(base.soft_target_names)
        if not self._targets:
            raise ValueError(f"{type(base).__name__} names no soft targets to distill")
        self._hidden_terms = tuple(name for name, weight in (
            ("cosine", self.cosine_weight), ("hidden", self.hidden_weight),
            ("attention", self.attention_weight)) if weight)
        self.sum_names = tuple(base.sum_names) + tuple(
            f"distill_sum_{name}" for name in self._targets) + tuple(
            f"distill_count_{name}" for name in self._targets) + tuple(
            f"distill_agree_{name}" for name in self._targets) + tuple(
            f"{term}_sum" for term in self._hidden_terms) + (
            ("distill_tokens",) if self._hidden_terms else ())

    @property
    def trainable_variables(self):
        """The projection of the hidden-state terms, where there is one (training only)."""
        return list(self.projection.trainable_variables) if self.projection is not None else []

    def watch(self, model):
        """Taps the student's encoder for the hidden-state terms, and makes their projection
        where the student's hidden size is not the teacher's (call in the strategy's scope)."""
        if not self._hidden_terms:
            return
        self._student_states = HiddenStates.on(model)
        width = _encoder(model).shape.hidden_size
        teacher_width = _encoder(self.teacher).shape.hidden_size
        if width != teacher_width and self.projection is None:
            self.projection = keras.layers.Dense(teacher_width, dtype="float32",
                                                 name="distill_projection")
            self.projection.build((None, None, width))
        if self.hidden_weight or self.attention_weight:
            self.hidden_mapping = uniform_mapping(_encoder(self.teacher).shape.num_layers,
                                                  _encoder(model).shape.num_layers)
        if self.attention_weight:
            heads = _encoder(model).shape.num_heads, _encoder(self.teacher).shape.num_heads
            if heads[0] != heads[1]:
                raise UserError(f"--distill_attention_weight: the student has {heads[0]} "
                                f"attention heads, the teacher {heads[1]}: their maps are "
                                "compared head by head")
            self._attention = [
                (AttentionMaps.on(_encoder(model), i),
                 AttentionMaps.on(_encoder(self.teacher), j))
                for i, j in enumerate(self.hidden_mapping)]

    def counts(self, batch):
        counts = dict(self.base.counts(batch))
        for name, weight in self.base.soft_target_weights(batch).items():
            counts[f"distill_count_{name}"] = tf.reduce_sum(weight)
        if self._hidden_terms:
            counts["distill_tokens"] = tf.reduce_sum(tf.cast(batch["input_mask"], tf.float32))
        return counts

    def sums(self, batch, outputs):
        sums = dict(self.base.sums(batch, outputs))
        teacher_outputs = self.teacher(batch, training=False)
        teacher_logits = self.base.soft_targets(batch, teacher_outputs)
        student_logits = self.base.soft_targets(batch, outputs)
        weights = self.base.soft_target_weights(batch)
        for name in self._targets:
            teacher = tf.stop_gradient(teacher_logits[name])
            kl = soft_kl(teacher, student_logits[name], self.temperature)  # [...]
            sums[f"distill_sum_{name}"] = tf.reduce_sum(kl * weights[name])
            sums[f"distill_count_{name}"] = tf.reduce_sum(weights[name])
            agree = tf.equal(tf.argmax(teacher, -1), tf.argmax(student_logits[name], -1))
            sums[f"distill_agree_{name}"] = tf.reduce_sum(tf.cast(agree, tf.float32)
                                                          * weights[name])
        if self._hidden_terms:
            sums.update(self._hidden_sums(batch))
        return sums

    def _hidden_sums(self, batch):
        if self._student_states is None:
            raise ValueError("the hidden-state terms need watch(student) before training")
        student = self._student_states.latest()
        teacher = self._teacher_states.latest()
        mask = tf.cast(batch["input_mask"], tf.float32)  # [B, T]
        out = {"distill_tokens": tf.reduce_sum(mask)}

        def project(states):  # [B, T, H] -> float32 [B, T, G]
            states = tf.cast(states, tf.float32)
            return states if self.projection is None else self.projection(states)

        if self.cosine_weight:
            s = project(student["sequence_output"])
            t = tf.stop_gradient(tf.cast(teacher["sequence_output"], tf.float32))
            cosine = tf.reduce_sum(tf.math.l2_normalize(s, -1) * tf.math.l2_normalize(t, -1),
                                   -1)  # [B, T]
            out["cosine_sum"] = tf.reduce_sum((1.0 - cosine) * mask)
        if self.hidden_weight:
            total = 0.0
            for i, j in enumerate(self.hidden_mapping):
                s = project(student["encoder_outputs"][i])
                t = tf.stop_gradient(tf.cast(teacher["encoder_outputs"][j], tf.float32))
                total += tf.reduce_sum(tf.reduce_mean(tf.square(s - t), -1) * mask)  # [B, T]
            out["hidden_sum"] = total / len(self.hidden_mapping)
        if self.attention_weight:
            total = 0.0
            for student_maps, teacher_maps in self._attention:
                s = student_maps.latest()  # [B, N, T, S]
                t = tf.stop_gradient(teacher_maps.latest())
                per_query = tf.reduce_mean(tf.reduce_sum(tf.square(s - t), -1), 1)  # [B, T]
                total += tf.reduce_sum(per_query * mask)
            out["attention_sum"] = total / len(self._attention)
        return out

    def _distill_loss(self, sums, counts, divide):
        parts = [divide(sums[f"distill_sum_{n}"], counts[f"distill_count_{n}"])
                 for n in self._targets]
        return self.temperature ** 2 * sum(parts) / len(parts)

    def _hidden_losses(self, sums, counts, divide):
        """{"cosine_loss", "hidden_loss"}: each term's sum over the tokens it averages."""
        return {f"{term}_loss": divide(sums[f"{term}_sum"], counts["distill_tokens"])
                for term in self._hidden_terms}

    def _mix(self, hard, soft, hidden):
        loss = (1.0 - self.alpha) * hard + self.alpha * soft
        for term, weight in (("cosine", self.cosine_weight), ("hidden", self.hidden_weight),
                             ("attention", self.attention_weight)):
            if weight:
                loss += weight * hidden[f"{term}_loss"]
        return loss

    def loss(self, sums, counts):
        hard = self.base.loss(sums, counts)
        soft = self._distill_loss(sums, counts, tf.math.divide_no_nan)
        return self._mix(hard, soft, self._hidden_losses(sums, counts, tf.math.divide_no_nan))

    def results(self, totals):
        def divide(a, b):
            return float(a) / max(float(b), 1e-12)

        out = self.base.results(totals)
        out["hard_loss"] = out["loss"]
        out["distill_loss"] = self._distill_loss(totals, totals, divide)
        out["distill_agreement"] = divide(
            sum(float(totals[f"distill_agree_{n}"]) for n in self._targets),
            sum(float(totals[f"distill_count_{n}"]) for n in self._targets))
        out.update(self._hidden_losses(totals, totals, divide))
        out["loss"] = self._mix(out["hard_loss"], out["distill_loss"], out)
        return out

    def evaluate(self, batch, outputs):
        return self.base.evaluate(batch, outputs)


def run_record(settings):
    """run.json's record of a --teacher (nothing without one): the teacher, temperature,
    alpha, the student's layers from the teacher, and each further term's weight where it is
    on. `settings` holds the flags' values (FineTuningSettings, PretrainingSettings)."""
    if not settings.teacher:
        return {}
    record = {"teacher": os.path.abspath(settings.teacher),
              "temperature": settings.distill_temperature, "alpha": settings.distill_alpha,
              "student_layers_from_teacher": settings.student_layers_from_teacher}
    for term in ("cosine", "hidden", "attention"):
        weight = getattr(settings, f"distill_{term}_weight", 0.0)
        if weight:
            record[f"{term}_weight"] = weight
    return {"distillation": record}


def soft_kl(teacher_logits, student_logits, temperature):
    """KL(softmax(teacher / T) || softmax(student / T)) over the last axis: float32 `[...]`."""
    t = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature)  # [..., C]
    s = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature)  # [..., C]
    return tf.reduce_sum(tf.exp(t) * (t - s), axis=-1)


class _Latest:
    """What a layer's observer saw last, one record per thread: the replicas of a
    MirroredStrategy trace their steps in threads of their own."""

    def __init__(self):
        self._local = threading.local()

    def __call__(self, value):
        self._local.value = value

    def latest(self):
        value = getattr(self._local, "value", None)
        if value is None:
            raise ValueError("the layer has not been called in this thread")
        return value


class HiddenStates(_Latest):
    """The latest outputs of one TransformerEncoder's call ("sequence_output", "encoder_outputs"),
    recorded by the encoder itself (its `output_observer`)."""

    @classmethod
    def on(cls, model):
        """The recorder of `model`'s encoder (installed on first use)."""
        encoder = _encoder(model)
        if not isinstance(getattr(encoder, "output_observer", None), cls):
            encoder.output_observer = cls()
        return encoder.output_observer


class AttentionMaps(_Latest):
    """The latest attention probabilities (float32 `[B, N, T, S]`) of one encoder layer's
    attention, recorded by the layer itself (its `probs_observer`)."""

    @classmethod
    def on(cls, encoder, layer, flag="distill_attention_weight"):
        """The recorder of `encoder`'s layer `layer` (installed on first use). UserError naming
        `--flag` for an encoder whose layers share blocks (ALBERT: a block called by several
        layers keeps only its last map) and for recomputed blocks (their maps are not kept)."""
        if getattr(encoder.shape, "shared_groups", None) is not None:
            raise UserError(f"--{flag}: {type(encoder).__name__} shares blocks between its "
                            "layers, so a block's attention maps are not one layer's")
        if encoder.recompute_activations:
            raise UserError(f"--{flag} does not combine with --recompute_activations: a "
                            "recomputed block keeps no attention maps")
        (block,) = encoder.layer_blocks[layer]
        attention = encoder.blocks[block].attention
        if not isinstance(attention.probs_observer, cls):
            attention.probs_observer = cls()
        return attention.probs_observer


def _encoder(model):
    return model if getattr(model, "is_encoder", False) else model.encoder


def uniform_mapping(teacher_layers, student_layers, flag="distill_hidden_weight") -> List[int]:
    """TinyBERT's uniform mapping: student layer i (of M) learns teacher layer
    floor((i + 1) * N / M) - 1 (of N), the last student layer the teacher's last. UserError
    naming `--flag` when the student has more layers than the teacher."""
    if student_layers > teacher_layers:
        raise UserError(f"--{flag}: the student has {student_layers} layers, more than the "
                        f"teacher's {teacher_layers}, so they cannot each learn a layer of it")
    return [(i + 1) * teacher_layers // student_layers - 1 for i in range(student_layers)]


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


def check_same_vocab(teacher, teacher_vocab, student_vocab):
    """UserError (naming --teacher) unless the teacher's vocabulary files are the student's, byte
    for byte: a student learns from a teacher that reads the same token ids."""
    from bert_tf import checkpoints

    def contents(vocab_file):  # vocab.txt, or vocab.json and merges.txt, ...
        return {name: open(path, "rb").read()
                for name, path in checkpoints.vocab_files(vocab_file).items()}

    if teacher_vocab is None or student_vocab is None or (contents(teacher_vocab)
                                                          != contents(student_vocab)):
        raise UserError(f"--teacher={teacher} has another vocabulary ({teacher_vocab}) than the "
                        f"student ({student_vocab}): a student learns from a teacher that reads "
                        "the same token ids")


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
