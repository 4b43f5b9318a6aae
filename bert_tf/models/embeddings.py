"""The embedding sum: token + segment + learned absolute position, then LayerNorm and dropout.

BERT's, and every family's that differs only in its position offset (RoBERTa)
or in having no segments (DistilBERT)."""

# B=batch, T=sequence, H=hidden size, V=vocab size, S=segment types, P=max positions

import keras
import tensorflow as tf

from bert_tf.layers.dropout import Dropout
from bert_tf.layers.layer_norm import LayerNormalization


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEmbeddings(keras.layers.Layer):
    """BERT's input embeddings.

    The three tables are read in float32 and summed and normalised in float32
    whatever the dtype policy; the output has the policy's compute dtype.

    Call: `layer(input_ids, segment_ids=None, training=None)` with int
    `[B, T]` ids (segment ids default to 0) -> `[B, T, H]`.
    A sequence longer than `max_position_embeddings - position_offset` is an
    error, never silently clipped.

    `position_offset`: the position table row of the first token (RoBERTa's
    tables start at its padding id + 1). `type_vocab_size=0`: no segment
    table, and segment ids are an error (DistilBERT).
    """

    # The constructor's arguments, kept as attributes of the same names.
    config_names = ("vocab_size", "hidden_size", "max_position_embeddings", "type_vocab_size",
                    "initializer_range", "layer_norm_eps", "hidden_dropout", "position_offset")

    def __init__(self, vocab_size, hidden_size, max_position_embeddings=512,
                 type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12,
                 hidden_dropout=0.1, position_offset=0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.hidden_dropout = hidden_dropout
        self.position_offset = position_offset
        if not 0 <= position_offset < max_position_embeddings:
            raise ValueError(f"position_offset {position_offset} is outside the "
                             f"{max_position_embeddings}-row position table")

    def build(self, input_shape=None):
        def table(name, rows):
            # autocast=False: the sum is done in float32 even under mixed precision.
            return self.add_weight(
                name=name, shape=(rows, self.hidden_size), autocast=False,
                initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range))

        self.word_embeddings = table("word_embeddings", self.vocab_size)  # [V, H]
        self.token_type_embeddings = None
        if self.type_vocab_size:
            self.token_type_embeddings = table("token_type_embeddings",
                                               self.type_vocab_size)  # [S, H]
        self.position_embeddings = table("position_embeddings", self.max_position_embeddings)  # [P, H]
        self.layer_norm = LayerNormalization(
            epsilon=self.layer_norm_eps, dtype=self.dtype_policy, name="layer_norm")
        self.layer_norm.build((None, None, self.hidden_size))
        self.dropout = Dropout(self.hidden_dropout, dtype=self.dtype_policy, name="dropout")
        self.built = True

    def call(self, input_ids, segment_ids=None, training=None):
        input_ids = tf.convert_to_tensor(input_ids)
        seq_length = self._checked_length(input_ids)
        checks = [tf.debugging.assert_less(
            input_ids, tf.cast(self.vocab_size, input_ids.dtype),
            message=f"input_ids must be < vocab_size {self.vocab_size}")]
        if self.token_type_embeddings is None:
            if segment_ids is not None:
                raise ValueError("this model has no segment embeddings: pass no segment_ids")
        else:
            if segment_ids is None:
                segment_ids = tf.zeros_like(input_ids)
            checks.append(tf.debugging.assert_less(
                segment_ids, tf.cast(self.type_vocab_size, segment_ids.dtype),
                message=f"segment_ids must be < type_vocab_size {self.type_vocab_size}"))
        with tf.control_dependencies(checks):
            x = tf.gather(self.word_embeddings.value, input_ids)  # [B, T, H]
        if self.token_type_embeddings is not None:
            x += tf.gather(self.token_type_embeddings.value, segment_ids)  # [B, T, H]
        start = self.position_offset
        x += self.position_embeddings.value[None, start:start + seq_length]  # [1, T, H]
        x = self.layer_norm(x)
        return self.dropout(x, training=training)

    def _checked_length(self, input_ids):
        limit = self.max_position_embeddings - self.position_offset
        static = input_ids.shape[-1]
        if static is not None:
            if static > limit:
                raise ValueError(
                    f"sequence length {static} exceeds max_position_embeddings "
                    f"{self.max_position_embeddings}{self._offset_note()}; "
                    f"truncate the input to at most {limit} tokens")
            return static
        dynamic = tf.shape(input_ids)[-1]
        with tf.control_dependencies([tf.debugging.assert_less_equal(
                dynamic, limit,
                message=f"sequence length exceeds max_position_embeddings "
                f"{self.max_position_embeddings}{self._offset_note()}")]):
            return tf.identity(dynamic)

    def _offset_note(self):
        offset = self.position_offset
        return f" less the position offset {offset}" if offset else ""

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self.config_names})
        return config
