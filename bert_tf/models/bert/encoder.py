"""BertEncoder: the embedding sum, N post-LN Transformer blocks and the tanh pooler."""

# B=batch, T=sequence, H=hidden size

import keras
import tensorflow as tf

from bert_tf.layers.encoder_block import TransformerEncoderBlock
from bert_tf.models.bert import checkpoint_names
from bert_tf.models.bert.config_model import BertConfigModel
from bert_tf.models.bert.embeddings import BertEmbeddings


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEncoder(BertConfigModel):
    """The BERT encoder network.

    Call: `encoder({"input_ids", "input_mask", "segment_ids"}, training=None)`,
    each int `[B, T]` (`input_mask` 1 for real tokens, defaults to all ones;
    `segment_ids` default to 0), returning a dict:
      - "sequence_output": `[B, T, H]`, the last block's output;
      - "pooled_output": `[B, H]`, tanh(dense(first token));
      - "encoder_outputs": list of `[B, T, H]`, every block's output in order.
    Outputs have the dtype policy's compute dtype.
    """

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        config = self.config
        policy = self.dtype_policy
        self.embeddings = BertEmbeddings(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size,
            initializer_range=config.initializer_range,
            layer_norm_eps=config.layer_norm_eps,
            hidden_dropout=config.hidden_dropout_prob,
            dtype=policy,
            name="embeddings",
        )
        self.blocks = [
            TransformerEncoderBlock(
                num_attention_heads=config.num_attention_heads,
                intermediate_size=config.intermediate_size,
                hidden_act=config.hidden_act,
                hidden_dropout=config.hidden_dropout_prob,
                attention_dropout=config.attention_probs_dropout_prob,
                layer_norm_eps=config.layer_norm_eps,
                initializer_range=config.initializer_range,
                dtype=policy,
                name=f"layer_{i}",
            )
            for i in range(config.num_hidden_layers)
        ]
        # Also as attributes: tf.train.Checkpoint does not look inside Keras' tracked
        # lists, so without these the blocks would be missing from object-based checkpoints.
        for i, block in enumerate(self.blocks):
            setattr(self, f"layer_{i}", block)
        self.pooler = keras.layers.Dense(
            config.hidden_size, activation="tanh", dtype=policy, name="pooler",
            kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=config.initializer_range))
        self.build()

    def build(self, input_shape=None):
        hidden = self.config.hidden_size
        self.embeddings.build()
        for block in self.blocks:
            block.build((None, None, hidden))
        self.pooler.build((None, hidden))
        self.built = True

    def call(self, inputs, training=None):
        input_mask = inputs.get("input_mask")
        x = self.embeddings(inputs["input_ids"], inputs.get("segment_ids"), training=training)
        encoder_outputs = []
        for block in self.blocks:
            x = block(x, padding_mask=input_mask, training=training)  # [B, T, H]
            encoder_outputs.append(x)
        return {
            "sequence_output": x,
            # [B, H]; a reshape rather than x[:, 0], which fails on the empty [0, 0, H] batch a
            # replica gets when a distributed evaluation runs out of data.
            "pooled_output": self.pooler(tf.reshape(x[:, :1], [-1, self.config.hidden_size])),
            "encoder_outputs": encoder_outputs,
        }

    def named_weights(self):
        """{path: variable} with stable paths such as "layer_3/attention/query/kernel".

        These paths are what checkpoint converters map to; they do not depend
        on Keras' automatic layer naming.
        """
        named = {}

        def add(prefix, layer, names):
            for name in names:
                named[f"{prefix}/{name}"] = getattr(layer, name)

        emb = self.embeddings
        add("embeddings", emb, ("word_embeddings", "token_type_embeddings", "position_embeddings"))
        add("embeddings/layer_norm", emb.layer_norm, ("gamma", "beta"))
        for i, block in enumerate(self.blocks):
            p = f"layer_{i}"
            att = block.attention
            for part in ("query", "key", "value"):
                add(f"{p}/attention/{part}", getattr(att, part), ("kernel", "bias"))
            add(f"{p}/attention/output", att.output_dense, ("kernel", "bias"))
            add(f"{p}/attention_layer_norm", block.attention_layer_norm, ("gamma", "beta"))
            add(f"{p}/intermediate", block.intermediate, ("kernel", "bias"))
            add(f"{p}/output", block.output_dense, ("kernel", "bias"))
            add(f"{p}/output_layer_norm", block.output_layer_norm, ("gamma", "beta"))
        add("pooler", self.pooler, ("kernel", "bias"))
        return named

    def checkpoint_names(self, fmt):
        return checkpoint_names.encoder_names(fmt)

    def checkpoint_objects(self):
        # Training checkpoints hold the trained model under "model", its encoder under
        # "model/encoder" whatever the task: an encoder loads from any of them.
        return {"model": tf.train.Checkpoint(encoder=self)}


def mean_pool(sequence_output, input_mask):
    """Average of `sequence_output` `[B, T, H]` over real tokens (`input_mask` `[B, T]`) -> float32 `[B, H]`.

    The sentence embedding of sentence-transformers models such as all-MiniLM-L6-v2.
    """
    mask = tf.cast(input_mask, tf.float32)[:, :, None]  # [B, T, 1]
    total = tf.reduce_sum(tf.cast(sequence_output, tf.float32) * mask, axis=1)
    return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
