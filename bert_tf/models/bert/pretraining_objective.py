"""The pretraining objectives: masked LM alone (RoBERTa's), masked LM + next sentence (BERT's) and masked LM + sentence order (ALBERT's), as sums over a batch."""

# B=batch, K=masked positions, V=vocab size

import tensorflow as tf

from bert_tf.training.objective import Objective


class MaskedLMObjective(Objective):
    """The masked-LM loss and accuracy (a model's "mlm_logits"), as sums over a batch.

    The loss is the cross-entropy at the masked positions weighted by
    masked_lm_weights, divided by the total weight of the global batch (as
    google-research/bert's masked_lm_loss). RoBERTa trains on it alone.
    """

    # loss name -> (sum, count): loss = sum over the global batch / count over it.
    losses = {"masked_lm_loss": ("mlm_loss_sum", "mlm_weight")}
    # reported metric -> (sum, count)
    metrics = {"masked_lm_accuracy": ("mlm_correct", "mlm_weight"),
               "masked_lm_loss": ("mlm_loss_sum", "mlm_weight")}

    # masked_lm_weights [B, K] float32: 1 at a real prediction, 0 at padding.
    label_keys = ("masked_lm_ids", "masked_lm_weights")
    sum_names = ("mlm_loss_sum", "mlm_correct", "mlm_weight")
    # Distillation (DistilBERT's soft MLM): the vocabulary distribution at each real masked
    # position; a pair head (next sentence, sentence order) is learned from its labels only.
    soft_target_names = ("mlm_logits",)

    def counts(self, batch):
        """The denominators, from the inputs alone (so they can be summed up front)."""
        return {"mlm_weight": tf.reduce_sum(batch["masked_lm_weights"])}

    def sums(self, batch, outputs):
        """Per-batch sums of the loss and of correct predictions (float32 scalars)."""
        weights = batch["masked_lm_weights"]  # [B, K]
        mlm_logits = outputs["mlm_logits"]  # [B, K, V]
        mlm_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=batch["masked_lm_ids"], logits=mlm_logits)  # [B, K]
        mlm_correct = tf.cast(tf.equal(tf.argmax(mlm_logits, -1, output_type=tf.int32),
                                       batch["masked_lm_ids"]), tf.float32)
        return {"mlm_loss_sum": tf.reduce_sum(mlm_loss * weights),
                "mlm_correct": tf.reduce_sum(mlm_correct * weights),
                "mlm_weight": tf.reduce_sum(weights)}

    def soft_targets(self, batch, outputs):
        return {"mlm_logits": outputs["mlm_logits"]}  # [B, K, V]

    def soft_target_weights(self, batch):
        return {"mlm_logits": tf.cast(batch["masked_lm_weights"], tf.float32)}  # [B, K]


class PretrainingObjective(MaskedLMObjective):
    """Losses and metrics of BERT pretraining (BertPretrainer's heads), as sums over a batch.

    The masked-LM terms are MaskedLMObjective's; the next-sentence loss is
    the mean cross-entropy over the global batch; the training loss is
    their sum (google-research/bert's total_loss).
    """

    losses = {**MaskedLMObjective.losses,
              "next_sentence_loss": ("nsp_loss_sum", "examples")}
    metrics = {**MaskedLMObjective.metrics,
               "next_sentence_accuracy": ("nsp_correct", "examples"),
               "next_sentence_loss": ("nsp_loss_sum", "examples")}

    label_keys = MaskedLMObjective.label_keys + ("next_sentence_labels",)
    sum_names = MaskedLMObjective.sum_names + ("nsp_loss_sum", "nsp_correct", "examples")
    pair_logits = "nsp_logits"  # the model output the pair's labels are predicted from

    def counts(self, batch):
        return dict(super().counts(batch),
                    examples=tf.cast(tf.shape(batch["input_ids"])[0], tf.float32))

    def sums(self, batch, outputs):
        """Per-batch sums of losses and correct predictions (float32 scalars)."""
        sums = super().sums(batch, outputs)
        labels = tf.reshape(batch["next_sentence_labels"], [-1])
        nsp_logits = outputs[self.pair_logits]  # [B, 2]
        nsp_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=nsp_logits)
        nsp_correct = tf.cast(tf.equal(tf.argmax(nsp_logits, -1, output_type=tf.int32), labels),
                              tf.float32)
        sums.update(nsp_loss_sum=tf.reduce_sum(nsp_loss), nsp_correct=tf.reduce_sum(nsp_correct),
                    examples=tf.cast(tf.shape(labels)[0], tf.float32))
        return sums


class SentenceOrderObjective(PretrainingObjective):
    """ALBERT's pretraining: masked LM plus sentence-order prediction (the model's "sop_logits"
    `[B, 2]` against next_sentence_labels, 1 for a swapped pair), summed as BERT's two losses
    are; reported as sentence_order_loss and sentence_order_accuracy."""

    losses = {**MaskedLMObjective.losses,
              "sentence_order_loss": ("nsp_loss_sum", "examples")}
    metrics = {**MaskedLMObjective.metrics,
               "sentence_order_accuracy": ("nsp_correct", "examples"),
               "sentence_order_loss": ("nsp_loss_sum", "examples")}
    pair_logits = "sop_logits"
