"""Numerical parity with keras-hub's BertBackbone given the same weights."""

import keras_hub
import numpy as np

from bert_tf import BertEncoder
from testing import random_inputs, tiny_config


def copy_into_keras_hub(encoder, backbone):
    """Copies our weights into a BertBackbone, reshaping to its [H, N, D] attention kernels."""
    c = encoder.config
    n, d = c.num_attention_heads, c.head_size
    w = {k: v.numpy() for k, v in encoder.named_weights().items()}
    backbone.get_layer("token_embedding").embeddings.assign(w["embeddings/word_embeddings"])
    backbone.get_layer("segment_embedding").embeddings.assign(w["embeddings/token_type_embeddings"])
    backbone.get_layer("position_embedding").position_embeddings.assign(
        w["embeddings/position_embeddings"])
    ln = backbone.get_layer("embeddings_layer_norm")
    ln.gamma.assign(w["embeddings/layer_norm/gamma"])
    ln.beta.assign(w["embeddings/layer_norm/beta"])
    for i in range(c.num_hidden_layers):
        p = f"layer_{i}/"
        block = backbone.get_layer(f"transformer_layer_{i}")
        mha = block._self_attention_layer
        for ours, theirs in (("query", mha._query_dense), ("key", mha._key_dense),
                             ("value", mha._value_dense)):
            theirs.kernel.assign(w[p + f"attention/{ours}/kernel"].reshape(-1, n, d))
            theirs.bias.assign(w[p + f"attention/{ours}/bias"].reshape(n, d))
        mha._output_dense.kernel.assign(w[p + "attention/output/kernel"].reshape(n, d, -1))
        mha._output_dense.bias.assign(w[p + "attention/output/bias"])
        for ours, theirs in (("attention_layer_norm", block._self_attention_layer_norm),
                             ("output_layer_norm", block._feedforward_layer_norm)):
            theirs.gamma.assign(w[p + ours + "/gamma"])
            theirs.beta.assign(w[p + ours + "/beta"])
        for ours, theirs in (("intermediate", block._feedforward_intermediate_dense),
                             ("output", block._feedforward_output_dense)):
            theirs.kernel.assign(w[p + ours + "/kernel"])
            theirs.bias.assign(w[p + ours + "/bias"])
    pooler = backbone.get_layer("pooled_dense")
    pooler.kernel.assign(w["pooler/kernel"])
    pooler.bias.assign(w["pooler/bias"])


def keras_hub_backbone(config):
    return keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size, max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size)


def test_matches_keras_hub_bert_backbone():
    # keras-hub always uses the tanh GELU: our "gelu".
    config = tiny_config(num_hidden_layers=3, initializer_range=0.4)
    encoder = BertEncoder(config)
    backbone = keras_hub_backbone(config)
    assert backbone.count_params() == encoder.count_params()
    copy_into_keras_hub(encoder, backbone)
    inputs = random_inputs(config)
    ours = encoder(inputs)
    theirs = backbone({"token_ids": inputs["input_ids"], "segment_ids": inputs["segment_ids"],
                       "padding_mask": inputs["input_mask"]})
    for key in ("sequence_output", "pooled_output"):
        diff = np.abs(ours[key].numpy() - theirs[key].numpy()).max()
        assert diff <= 1e-5, (key, diff)
