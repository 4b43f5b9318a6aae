import json

import pytest

from bert_tf import BertConfig, BertEncoder, ConfigError
from bert_tf.models.bert.config import PRESETS

# A bert_config.json exactly as Google's uncased BERT-Base release has it.
GOOGLE_BASE = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "type_vocab_size": 2,
    "vocab_size": 30522,
}


def write_json(tmp_path, values, name="bert_config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(values))
    return str(path)


def test_google_file_round_trip(tmp_path):
    config = BertConfig.from_json_file(write_json(tmp_path, GOOGLE_BASE))
    assert config == BertConfig.preset("base")
    assert config.layer_norm_eps == 1e-12 and config.head_size == 64
    out = tmp_path / "out.json"
    config.to_json_file(str(out))
    assert json.loads(out.read_text()) == GOOGLE_BASE  # the original format, nothing added


def test_non_default_layer_norm_eps_is_written(tmp_path):
    config = BertConfig.preset("tiny", layer_norm_eps=1e-6)
    config.to_json_file(str(tmp_path / "c.json"))
    assert json.loads((tmp_path / "c.json").read_text())["layer_norm_eps"] == 1e-6
    assert BertConfig.from_json_file(str(tmp_path / "c.json")) == config


def test_multilingual_release_keys_are_accepted(tmp_path):
    values = dict(GOOGLE_BASE, directionality="bidi", pooler_fc_size=768, pooler_type="first_token_transform",
                  pooler_num_attention_heads=12, pooler_num_fc_layers=3, pooler_size_per_head=128,
                  vocab_size=119547)
    assert BertConfig.from_json_file(write_json(tmp_path, values)).vocab_size == 119547


def test_unknown_key_names_key_and_file(tmp_path):
    path = write_json(tmp_path, dict(GOOGLE_BASE, hidden_layers=3))
    with pytest.raises(ConfigError, match=r"bert_config\.json.*hidden_layers"):
        BertConfig.from_json_file(path)


def test_missing_key_names_key_and_file(tmp_path):
    values = dict(GOOGLE_BASE)
    del values["intermediate_size"]
    with pytest.raises(ConfigError, match=r"bert_config\.json.*missing.*intermediate_size"):
        BertConfig.from_json_file(write_json(tmp_path, values))


@pytest.mark.parametrize("key,value", [("hidden_size", "768"), ("hidden_size", 768.0),
                                       ("num_hidden_layers", True), ("hidden_act", 1),
                                       ("hidden_dropout_prob", "0.1")])
def test_wrong_type_names_key_and_file(tmp_path, key, value):
    path = write_json(tmp_path, dict(GOOGLE_BASE, **{key: value}))
    with pytest.raises(ConfigError, match=rf"bert_config\.json.*{key}"):
        BertConfig.from_json_file(path)


def test_unknown_activation(tmp_path):
    path = write_json(tmp_path, dict(GOOGLE_BASE, hidden_act="gelu_fancy"))
    with pytest.raises(ConfigError, match=r"bert_config\.json.*hidden_act.*gelu_fancy"):
        BertConfig.from_json_file(path)


def test_inconsistent_values():
    with pytest.raises(ConfigError, match="multiple of num_attention_heads"):
        BertConfig.preset("tiny", num_attention_heads=3)
    with pytest.raises(ConfigError, match="hidden_dropout_prob"):
        BertConfig.preset("tiny", hidden_dropout_prob=1.5)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        BertConfig.from_json_file(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"vocab_size": 3,\n oops}')
    with pytest.raises(ConfigError, match=r"bad\.json.*line 2"):
        BertConfig.from_json_file(str(bad))


def test_hugging_face_activations_are_translated(tmp_path):
    hf = dict(GOOGLE_BASE, model_type="bert", architectures=["BertModel"], layer_norm_eps=1e-12,
              pad_token_id=0, position_embedding_type="absolute", transformers_version="4.8.2")
    assert BertConfig.from_hf_config_file(write_json(tmp_path, hf, "config.json")).hidden_act == "gelu_exact"
    hf["hidden_act"] = "gelu_new"
    assert BertConfig.from_hf_config_file(write_json(tmp_path, hf, "config.json")).hidden_act == "gelu"
    hf["hidden_act"] = "quick_gelu"
    with pytest.raises(ConfigError, match="quick_gelu"):
        BertConfig.from_hf_config_file(write_json(tmp_path, hf, "config.json"))


@pytest.mark.parametrize("key,value", [("model_type", "roberta"),
                                       ("position_embedding_type", "relative_key")])
def test_hugging_face_unsupported_architectures(tmp_path, key, value):
    hf = dict(GOOGLE_BASE, **{key: value})
    with pytest.raises(ConfigError, match=key):
        BertConfig.from_hf_config_file(write_json(tmp_path, hf, "config.json"))


def test_presets():
    assert set(PRESETS) == {"tiny", "mini", "small", "medium", "base", "large"}
    assert BertConfig.preset("mini").num_hidden_layers == 4
    assert BertConfig.preset("medium").hidden_size == 512
    with pytest.raises(ConfigError, match="huge"):
        BertConfig.preset("huge")


@pytest.mark.parametrize("name,count", [("base", 109_482_240), ("large", 335_141_888)])
def test_parameter_counts_are_exact(name, count, monkeypatch):
    # A count depends on the weights' shapes only: zeros instead of BERT's truncated normal
    # build BERT-Large in about 1 s instead of 4.5 (the random draw of 335M values).
    import keras

    monkeypatch.setattr(keras.initializers.TruncatedNormal, "__call__",
                        lambda self, shape, dtype=None: keras.ops.zeros(shape, dtype))
    assert BertEncoder(BertConfig.preset(name)).count_params() == count
