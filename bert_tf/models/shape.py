"""EncoderShape: what every family's config says about the Transformer encoder it builds."""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class EncoderShape:
    """The hyper-parameters of one post-LN Transformer encoder, in one family-free vocabulary.

    Each family's config (with that family's own field names and defaults)
    produces one with `encoder_shape()`; TransformerEncoder is built from it.
    `activation` uses our names (bert_tf.layers.activations: "gelu" is the
    tanh form, "gelu_exact" the erf form). `position_rows` is the size of
    the learned position table and `position_offset` the row of the first
    position (RoBERTa's tables start at padding id + 1); the longest sequence
    is their difference. `type_vocab_size` 0 means no segment embeddings
    (DistilBERT); `pooler` whether the family has BERT's tanh pooler.
    `classifier_pooling` is how the family's sentence classifiers turn the
    first token into the classifier's input: "pooler" (the encoder's own,
    BERT), or the activation of a dense layer of the head's own ("tanh":
    RoBERTa's classifier.dense, "gelu" (exact): ELECTRA's, "relu": DistilBERT's
    pre_classifier);
    `classifier_dropout` its dropout (None: hidden_dropout).
    `embedding_size` is the width of the embedding tables, their LayerNorm
    and dropout (None: hidden_size); a different width is projected to
    hidden_size by the encoder's `embedding_projection` before the first
    block (ELECTRA's and ALBERT's factorized embeddings).
    `shared_groups` shares blocks across layers as ALBERT does: None gives
    every layer a block of its own; a number G makes G groups of
    `group_blocks` blocks each, and layer l (of num_layers) applies group
    l * G // num_layers, its blocks in order (ALBERT's num_hidden_groups and
    inner_group_num).
    """

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    activation: str
    hidden_dropout: float
    attention_dropout: float
    position_rows: int
    type_vocab_size: int
    initializer_range: float
    layer_norm_eps: float
    pooler: bool
    position_offset: int = 0
    classifier_pooling: str = "pooler"
    classifier_dropout: Optional[float] = None
    embedding_size: Optional[int] = None
    shared_groups: Optional[int] = None
    group_blocks: int = 1

    @property
    def embedding_width(self) -> int:
        """The width of the embedding tables (embedding_size, else hidden_size)."""
        return self.embedding_size or self.hidden_size

    @property
    def max_length(self) -> int:
        """The longest sequence the position table covers."""
        return self.position_rows - self.position_offset
