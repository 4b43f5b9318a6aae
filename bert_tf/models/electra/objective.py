"""ElectraObjective: the generator's masked-LM loss plus the discriminator's replaced-token loss weighted 50, as sums over a batch."""

# B=batch, T=sequence, K=masked positions, V=vocab size

import tensorflow as tf

from bert_tf.models.bert.pretraining_objective import MaskedLMObjective


class ElectraObjective(MaskedLMObjective):
    """google-research/electra's total loss: gen_weight x the generator's masked-LM loss (BERT's,
    over the masked positions) + disc_weight x the discriminator's (the sigmoid cross-entropy of
    "replaced or original" at every real token, averaged over the real tokens of the global
    batch).

    Reads ElectraPretrainer's outputs: "mlm_logits", "disc_logits" float32
    `[B, T]` and "disc_labels" float32 `[B, T]` (1 where the sampled token
    differs from the original), "sampled_ids" int32 `[B, K]`. Metrics are
    google-research/electra's (unweighted losses, accuracies, the
    discriminator's precision and recall) and `replaced_fraction`: the share
    of real tokens replaced, so that 1 - replaced_fraction is the accuracy of
    the trivial "all original" guess.
    """

    # Nothing to distill: its "mlm_logits" are the generator's, a helper that is not the model.
    soft_target_names = ()
    losses = {"generator_loss": ("weighted_mlm_loss_sum", "mlm_weight"),
              "discriminator_loss": ("weighted_disc_loss_sum", "tokens")}
    metrics = {**MaskedLMObjective.metrics,
               "sampled_masked_lm_accuracy": ("sampled_correct", "mlm_weight"),
               "disc_loss": ("disc_loss_sum", "tokens"),
               "disc_accuracy": ("disc_correct", "tokens"),
               "disc_precision": ("disc_true_positives", "disc_predicted"),
               "disc_recall": ("disc_true_positives", "disc_replaced"),
               "replaced_fraction": ("disc_replaced", "tokens")}
    sum_names = MaskedLMObjective.sum_names + (
        "weighted_mlm_loss_sum", "weighted_disc_loss_sum", "sampled_correct", "disc_loss_sum",
        "disc_correct", "disc_true_positives", "disc_predicted", "disc_replaced", "tokens")

    flag_arguments = ("disc_weight", "gen_weight")  # run_pretraining.py's flags it takes

    def __init__(self, disc_weight=50.0, gen_weight=1.0):
        self.disc_weight = float(disc_weight)
        self.gen_weight = float(gen_weight)

    def counts(self, batch):
        return dict(super().counts(batch),
                    tokens=tf.reduce_sum(tf.cast(batch["input_mask"], tf.float32)))

    def sums(self, batch, outputs):
        sums = super().sums(batch, outputs)
        real = tf.cast(batch["input_mask"], tf.float32)  # [B, T]
        labels = outputs["disc_labels"]  # [B, T]
        logits = outputs["disc_logits"]  # [B, T]
        disc_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        predicted = tf.cast(logits > 0, tf.float32)  # [B, T]
        correct = tf.cast(tf.equal(predicted, labels), tf.float32)
        sampled = tf.cast(tf.equal(outputs["sampled_ids"], batch["masked_lm_ids"]), tf.float32)
        disc_loss_sum = tf.reduce_sum(disc_loss * real)
        sums.update(
            weighted_mlm_loss_sum=self.gen_weight * sums["mlm_loss_sum"],
            weighted_disc_loss_sum=self.disc_weight * disc_loss_sum,
            sampled_correct=tf.reduce_sum(sampled * batch["masked_lm_weights"]),
            disc_loss_sum=disc_loss_sum,
            disc_correct=tf.reduce_sum(correct * real),
            disc_true_positives=tf.reduce_sum(correct * predicted * real),
            disc_predicted=tf.reduce_sum(predicted * real),
            disc_replaced=tf.reduce_sum(labels * real),
            tokens=tf.reduce_sum(real))
        return sums
