"""BertPretrainer: the encoder with BERT's masked-LM and next-sentence heads, and their losses."""

# B=batch, T=sequence, K=masked positions, H=hidden size, V=vocab size

import keras
import tensorflow as tf

from bert_tf import activations
from bert_tf.config_model import BertConfigModel
from bert_tf.encoder import BertEncoder


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainer(BertConfigModel):
    """BertEncoder plus the masked-LM head (tied to the word embeddings) and the NSP head.

    Call: `model(batch, training=None)` with int `[B, T]` input_ids,
    input_mask, segment_ids and int `[B, K]` masked_lm_positions. Returns
    float32 "mlm_logits" `[B, K, V]` and "nsp_logits" `[B, 2]`.
    Google checkpoints name the heads cls/predictions/* and
    cls/seq_relationship/*.
    """

    checkpoint_kind = "pretrainer"

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        config = self.config
        policy = self.dtype_policy
        init = keras.initializers.TruncatedNormal(stddev=config.initializer_range)
        self.encoder = BertEncoder(config, dtype=policy, name="encoder")
        self.mlm_transform = keras.layers.Dense(
            config.hidden_size, kernel_initializer=init, dtype=policy, name="mlm_transform")
        self.mlm_activation = activations.get(config.hidden_act)
        self.mlm_layer_norm = keras.layers.LayerNormalization(
            epsilon=config.layer_norm_eps, dtype=policy, name="mlm_layer_norm")
        self.nsp = keras.layers.Dense(2, kernel_initializer=init, dtype=policy, name="nsp")
        self.build()

    def build(self, input_shape=None):
        h = self.config.hidden_size
        self.mlm_transform.build((None, None, h))
        self.mlm_layer_norm.build((None, None, h))
        self.mlm_output_bias = self.add_weight(
            name="output_bias", shape=(self.config.vocab_size,), initializer="zeros",
            autocast=False)  # added to float32 logits
        self.nsp.build((None, h))
        self.built = True

    @property
    def word_embeddings(self):
        """The one variable shared by the input embedding and the masked-LM output layer."""
        return self.encoder.embeddings.word_embeddings

    def call(self, inputs, training=None):
        out = self.encoder(inputs, training=training)
        hidden = tf.gather(out["sequence_output"], inputs["masked_lm_positions"],
                           batch_dims=1)  # [B, K, H]
        hidden = self.mlm_layer_norm(self.mlm_activation(self.mlm_transform(hidden)))
        embeddings = tf.cast(self.word_embeddings.value, hidden.dtype)  # [V, H]
        mlm_logits = tf.matmul(hidden, embeddings, transpose_b=True)  # [B, K, V]
        mlm_logits = tf.cast(mlm_logits, tf.float32) + self.mlm_output_bias
        nsp_logits = tf.cast(self.nsp(out["pooled_output"]), tf.float32)  # [B, 2]
        return {"mlm_logits": mlm_logits, "nsp_logits": nsp_logits}

    def named_weights(self):
        named = self.encoder.named_weights()
        named.update({
            "mlm/transform/kernel": self.mlm_transform.kernel,
            "mlm/transform/bias": self.mlm_transform.bias,
            "mlm/layer_norm/gamma": self.mlm_layer_norm.gamma,
            "mlm/layer_norm/beta": self.mlm_layer_norm.beta,
            "mlm/output_bias": self.mlm_output_bias,
            "nsp/kernel": self.nsp.kernel,
            "nsp/bias": self.nsp.bias,
        })
        return named

    @classmethod
    def from_pretrained(cls, path, strict=True, dtype=None):
        """Loads a Google, Hugging Face or bert_tf checkpoint directory, heads included.

        With strict=False, a checkpoint without heads (an encoder-only
        release) loads with freshly initialized heads, and says so.
        """
        from bert_tf import checkpoints

        model = cls(checkpoints.resolve(path).config, dtype=dtype)
        checkpoints.load_weights(model, path, strict=strict)
        return model

    def save_pretrained(self, directory, vocab_file=None):
        """Writes a Google-format release, heads included (cls/predictions, cls/seq_relationship)."""
        from bert_tf import checkpoints

        return checkpoints.save_google(self, directory, vocab_file=vocab_file)


class PretrainingTask:
    """Losses and metrics of BERT pretraining, as sums the training loop can normalize globally.

    The masked-LM loss is the cross-entropy at the masked positions weighted
    by masked_lm_weights, divided by the total weight of the global batch;
    the next-sentence loss is the mean cross-entropy over the global batch;
    the training loss is their sum (google-research/bert's total_loss).
    """

    # loss name -> (sum, count): loss = sum over the global batch / count over it.
    losses = {"masked_lm_loss": ("mlm_loss_sum", "mlm_weight"),
              "next_sentence_loss": ("nsp_loss_sum", "examples")}
    # reported metric -> (sum, count)
    metrics = {"masked_lm_accuracy": ("mlm_correct", "mlm_weight"),
               "masked_lm_loss": ("mlm_loss_sum", "mlm_weight"),
               "next_sentence_accuracy": ("nsp_correct", "examples"),
               "next_sentence_loss": ("nsp_loss_sum", "examples")}

    sum_names = ("mlm_loss_sum", "mlm_correct", "mlm_weight", "nsp_loss_sum", "nsp_correct",
                 "examples")

    def counts(self, batch):
        """The denominators, from the inputs alone (so they can be summed up front)."""
        return {"mlm_weight": tf.reduce_sum(batch["masked_lm_weights"]),
                "examples": tf.cast(tf.shape(batch["input_ids"])[0], tf.float32)}

    def sums(self, batch, outputs):
        """Per-batch sums of losses and correct predictions (float32 scalars)."""
        weights = batch["masked_lm_weights"]  # [B, K]
        mlm_logits = outputs["mlm_logits"]  # [B, K, V]
        mlm_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=batch["masked_lm_ids"], logits=mlm_logits)  # [B, K]
        mlm_correct = tf.cast(tf.equal(tf.argmax(mlm_logits, -1, output_type=tf.int32),
                                       batch["masked_lm_ids"]), tf.float32)
        labels = tf.reshape(batch["next_sentence_labels"], [-1])
        nsp_logits = outputs["nsp_logits"]
        nsp_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=nsp_logits)
        nsp_correct = tf.cast(tf.equal(tf.argmax(nsp_logits, -1, output_type=tf.int32), labels),
                              tf.float32)
        return {"mlm_loss_sum": tf.reduce_sum(mlm_loss * weights),
                "mlm_correct": tf.reduce_sum(mlm_correct * weights),
                "mlm_weight": tf.reduce_sum(weights),
                "nsp_loss_sum": tf.reduce_sum(nsp_loss),
                "nsp_correct": tf.reduce_sum(nsp_correct),
                "examples": tf.cast(tf.shape(labels)[0], tf.float32)}
