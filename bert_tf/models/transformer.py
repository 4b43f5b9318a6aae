"""TransformerEncoder: the embedding sum, N post-LN Transformer blocks and, where the family has one, the tanh pooler."""

# B=batch, T=sequence, H=hidden size, E=embedding size

import keras
import tensorflow as tf

from bert_tf.layers.encoder_block import TransformerEncoderBlock
from bert_tf.models.embeddings import BertEmbeddings
from bert_tf.models.config_model import ConfigModel


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerEncoder(ConfigModel):
    """The encoder network of every family, built from its config's `encoder_shape()`.

    Call: `encoder({"input_ids", "input_mask", "segment_ids"}, training=None)`,
    each int `[B, T]` (`input_mask` 1 for real tokens, defaults to all ones;
    `segment_ids` default to 0, and a family without segments takes none),
    returning a dict:
      - "sequence_output": `[B, T, H]`, the last block's output;
      - "encoder_outputs": list of `[B, T, H]`, every layer's output in order (a
        layer is one block, or one group of shared blocks: ALBERT);
      - "pooled_output": `[B, H]`, tanh(dense(first token)), where the family
        has a pooler (BERT, RoBERTa).
    Outputs have the dtype policy's compute dtype. Where the shape's
    `embedding_size` differs from hidden_size, the embeddings work at that
    width and a dense `embedding_projection` maps them to hidden_size.

    `recompute_activations=True` (also settable as an attribute before the
    first training call) keeps only each block's input from the forward pass
    and recomputes the block in the backward pass (`tf.recompute_grad`, with
    the same dropout masks): the same gradients for about a third more
    compute and much less activation memory. It applies to training calls
    only, and is a way of training, not part of the model: it is not saved
    in configs, checkpoints or `.keras` files.

    `output_observer` (None, or a callable an attribute sets: distillation's
    hidden-state losses) receives each call's output dict before it is
    returned, so that a loss can read the hidden states a task model keeps
    to itself; it is not part of the model either.

    Each family subclasses it for its config class and checkpoint names
    (BertEncoder, RobertaEncoder, DistilBertEncoder);
    `bert_tf.models.build_encoder(config)` and `TransformerEncoder.from_pretrained(path)`
    build the family's own class.
    """

    # The family's checkpoint-name module: `encoder_names(fmt)` -> NameTable.
    names = None
    is_encoder = True

    def __init__(self, config, recompute_activations=False, **kwargs):
        super().__init__(config, **kwargs)
        self.recompute_activations = recompute_activations
        self.output_observer = None
        shape = self.shape = self.config.encoder_shape()
        policy = self.dtype_policy
        # The tables' width: hidden_size, unless the family factorizes its embeddings.
        self.embedding_width = shape.embedding_size or shape.hidden_size
        self.embeddings = BertEmbeddings(
            vocab_size=shape.vocab_size,
            hidden_size=self.embedding_width,
            max_position_embeddings=shape.position_rows,
            type_vocab_size=shape.type_vocab_size,
            initializer_range=shape.initializer_range,
            layer_norm_eps=shape.layer_norm_eps,
            hidden_dropout=shape.hidden_dropout,
            position_offset=shape.position_offset,
            dtype=policy,
            name="embeddings",
        )
        # Factorized embeddings (ALBERT, ELECTRA): tables of width E, projected to H.
        self.embedding_projection = None
        if self.embedding_width != shape.hidden_size:
            self.embedding_projection = keras.layers.Dense(
                shape.hidden_size, dtype=policy, name="embedding_projection",
                kernel_initializer=keras.initializers.TruncatedNormal(
                    stddev=shape.initializer_range))
        # Block b's weight path, and the blocks each layer applies in order.
        if shape.shared_groups is None:
            self.block_paths = [f"layer_{i}" for i in range(shape.num_layers)]
            self.layer_blocks = [[i] for i in range(shape.num_layers)]
        else:
            groups, inner = shape.shared_groups, shape.group_blocks
            self.block_paths = [f"group_{g}/inner_group_{j}" for g in range(groups)
                                for j in range(inner)]
            self.layer_blocks = [
                [layer * groups // shape.num_layers * inner + j for j in range(inner)]
                for layer in range(shape.num_layers)]
        self.blocks = [
            TransformerEncoderBlock(
                num_attention_heads=shape.num_heads,
                intermediate_size=shape.intermediate_size,
                hidden_act=shape.activation,
                hidden_dropout=shape.hidden_dropout,
                attention_dropout=shape.attention_dropout,
                layer_norm_eps=shape.layer_norm_eps,
                initializer_range=shape.initializer_range,
                dtype=policy,
                name=path.replace("/", "_"),
            )
            for path in self.block_paths
        ]
        # Also as attributes: tf.train.Checkpoint does not look inside Keras' tracked
        # lists, so without these the blocks would be missing from object-based checkpoints.
        for block in self.blocks:
            setattr(self, block.name, block)
        self.pooler = None
        if shape.pooler:
            self.pooler = keras.layers.Dense(
                shape.hidden_size, activation="tanh", dtype=policy, name="pooler",
                kernel_initializer=keras.initializers.TruncatedNormal(
                    stddev=shape.initializer_range))
        self.build()

    @classmethod
    def _for_config(cls, config):
        if cls is TransformerEncoder:
            from bert_tf.models import registry

            return registry.get(config.family).encoder_class()
        return cls

    @property
    def has_segments(self):
        """Whether the family has segment embeddings (inputs may carry segment_ids)."""
        return self.embeddings.token_type_embeddings is not None

    def build(self, input_shape=None):
        hidden = self.shape.hidden_size
        self.embeddings.build()
        if self.embedding_projection is not None:
            self.embedding_projection.build((None, None, self.embedding_width))
        for block in self.blocks:
            block.build((None, None, hidden))
        if self.pooler is not None:
            self.pooler.build((None, hidden))
        self.built = True

    def call(self, inputs, training=None):
        input_mask = inputs.get("input_mask")
        segment_ids = inputs.get("segment_ids") if self.has_segments else None
        x = self.embeddings(inputs["input_ids"], segment_ids, training=training)  # [B, T, E]
        if self.embedding_projection is not None:
            x = self.embedding_projection(x)  # [B, T, H]
        encoder_outputs = []
        recompute = bool(training) and self.recompute_activations
        for blocks in self.layer_blocks:
            for b in blocks:
                block = self.blocks[b]
                if recompute:
                    x = block.recomputed(x, padding_mask=input_mask, training=training)
                else:
                    x = block(x, padding_mask=input_mask, training=training)  # [B, T, H]
            encoder_outputs.append(x)
        outputs = {"sequence_output": x, "encoder_outputs": encoder_outputs}
        if self.pooler is not None:
            # [B, H]; a reshape rather than x[:, 0], which fails on the empty [0, 0, H] batch
            # a replica gets when a distributed evaluation runs out of data.
            outputs["pooled_output"] = self.pooler(
                tf.reshape(x[:, :1], [-1, self.shape.hidden_size]))
        if self.output_observer is not None:
            self.output_observer(outputs)
        return outputs

    def named_weights(self):
        """{path: variable} with stable paths such as "layer_3/attention/query/kernel".

        These paths, the same in every family, are what checkpoint converters
        map to; they do not depend on Keras' automatic layer naming.
        """
        named = {}

        def add(prefix, layer, names):
            for name in names:
                named[f"{prefix}/{name}"] = getattr(layer, name)

        emb = self.embeddings
        add("embeddings", emb, ("word_embeddings", "position_embeddings"))
        if self.has_segments:
            add("embeddings", emb, ("token_type_embeddings",))
        add("embeddings/layer_norm", emb.layer_norm, ("gamma", "beta"))
        if self.embedding_projection is not None:
            add("embedding_projection", self.embedding_projection, ("kernel", "bias"))
        for p, block in zip(self.block_paths, self.blocks):
            att = block.attention
            for part in ("query", "key", "value"):
                add(f"{p}/attention/{part}", getattr(att, part), ("kernel", "bias"))
            add(f"{p}/attention/output", att.output_dense, ("kernel", "bias"))
            add(f"{p}/attention_layer_norm", block.attention_layer_norm, ("gamma", "beta"))
            add(f"{p}/intermediate", block.intermediate, ("kernel", "bias"))
            add(f"{p}/output", block.output_dense, ("kernel", "bias"))
            add(f"{p}/output_layer_norm", block.output_layer_norm, ("gamma", "beta"))
        if self.pooler is not None:
            add("pooler", self.pooler, ("kernel", "bias"))
        return named

    def checkpoint_names(self, fmt):
        return self.names.encoder_names(fmt)

    def keras_hub_layout(self):
        """How this encoder sits in its family's keras-hub backbone (bert_tf.checkpoints.keras_hub)."""
        return self.names.KERAS_HUB

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
