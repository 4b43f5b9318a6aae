"""The families after BERT: RoBERTa, DistilBERT, ELECTRA and ALBERT from their hub layouts, against a float64 reference and keras-hub.

The checkpoints are random (tests/hub_layouts.py) in the exact layout of the
hub's releases (RobertaForMaskedLM, DistilBertForMaskedLM, AlbertForMaskedLM,
as roberta-base, distilbert-base-uncased and albert-base-v2 are saved;
ElectraForPreTraining, as electra-small-discriminator; ALBERT's tiny one with
two groups of two shared blocks over four layers, and embeddings narrower than
the hidden size); `reference_forward` below computes
the Hugging Face models' outputs from the raw arrays in numpy float64,
position ids as Hugging Face derives them from the padding id.
"""

import json

import keras_hub
import numpy as np
import pytest
from scipy.special import erf

import hub_layouts
from bert_tf import (BertConfig, BertEncoder, DistilBertConfig, DistilBertEncoder,
                     ElectraConfig, ElectraEncoder, RobertaConfig, RobertaEncoder,
                     RobertaMaskedLM, TransformerEncoder, build_encoder)
from bert_tf.models.albert import AlbertConfig, AlbertEncoder
from bert_tf.models.xlm_roberta import XLMRobertaConfig
from bert_tf.checkpoints import CheckpointMismatchError
from bert_tf.errors import UserError
from bert_tf.models import registry
from bert_tf.models.bert.config import ConfigError


def _layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps) * w + b


def reference_forward(arrays, family, ids, mask, layers, heads, segment_ids=None):
    """Sequence output of a Hugging Face RoBERTa / DistilBERT / ELECTRA / ALBERT model, in
    float64 (`segment_ids`: ELECTRA's, default 0)."""
    a = {k: np.asarray(v, np.float64) for k, v in arrays.items()}
    prefix = f"{family}."
    g = lambda name: a[prefix + name]  # noqa: E731
    ids = np.asarray(ids)
    batch, length = ids.shape
    if family == "roberta":
        pad = hub_layouts.ROBERTA["pad_token_id"]
        real = (ids != pad).astype(int)
        positions = np.cumsum(real, axis=1) * real + pad  # Hugging Face's position ids
        x = (g("embeddings.word_embeddings.weight")[ids]
             + g("embeddings.position_embeddings.weight")[positions]
             + g("embeddings.token_type_embeddings.weight")[np.zeros_like(ids)])
        eps, layer = 1e-5, "encoder.layer.{}."
        names = dict(q="attention.self.query", k="attention.self.key", v="attention.self.value",
                     o="attention.output.dense", ln1="attention.output.LayerNorm",
                     f1="intermediate.dense", f2="output.dense", ln2="output.LayerNorm")
    elif family == "albert":
        x = (g("embeddings.word_embeddings.weight")[ids]
             + g("embeddings.position_embeddings.weight")[np.arange(length)][None]
             + g("embeddings.token_type_embeddings.weight")[np.zeros_like(ids)])  # [B, T, E]
        eps, layer = 1e-12, "encoder.albert_layer_groups.{}.albert_layers.{}."
        names = dict(q="attention.query", k="attention.key", v="attention.value",
                     o="attention.dense", ln1="attention.LayerNorm", f1="ffn", f2="ffn_output",
                     ln2="full_layer_layer_norm")
    elif family == "electra":
        x = (g("embeddings.word_embeddings.weight")[ids]
             + g("embeddings.position_embeddings.weight")[np.arange(length)][None]
             + g("embeddings.token_type_embeddings.weight")[
                 np.zeros_like(ids) if segment_ids is None else segment_ids])
        eps, layer = 1e-12, "encoder.layer.{}."
        names = dict(q="attention.self.query", k="attention.self.key", v="attention.self.value",
                     o="attention.output.dense", ln1="attention.output.LayerNorm",
                     f1="intermediate.dense", f2="output.dense", ln2="output.LayerNorm")
    else:
        x = (g("embeddings.word_embeddings.weight")[ids]
             + g("embeddings.position_embeddings.weight")[np.arange(length)][None])
        eps, layer = 1e-12, "transformer.layer.{}."
        names = dict(q="attention.q_lin", k="attention.k_lin", v="attention.v_lin",
                     o="attention.out_lin", ln1="sa_layer_norm", f1="ffn.lin1", f2="ffn.lin2",
                     ln2="output_layer_norm")
    x = _layer_norm(x, g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"), eps)
    if prefix + "embeddings_project.weight" in a:  # ELECTRA's factorized tables
        x = x @ g("embeddings_project.weight").T + g("embeddings_project.bias")
    if family != "albert":
        blocks = [layer.format(i) for i in range(layers)]
    else:
        # Factorized embeddings: E -> H; then layer i runs group i * G // L, its blocks in order.
        x = x @ g("encoder.embedding_hidden_mapping_in.weight").T + g(
            "encoder.embedding_hidden_mapping_in.bias")
        groups = hub_layouts.ALBERT["num_hidden_groups"]
        inner = hub_layouts.ALBERT["inner_group_num"]
        blocks = [layer.format(i * groups // layers, j) for i in range(layers)
                  for j in range(inner)]
    hidden = x.shape[-1]
    size = hidden // heads
    bias = np.where(np.asarray(mask)[:, None, None, :] > 0, 0.0, -1e9)
    for p in blocks:

        def linear(h, name):
            return h @ g(p + names[name] + ".weight").T + g(p + names[name] + ".bias")

        def split(h):
            return h.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

        q, k, v = (split(linear(x, n)) for n in "qkv")
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + bias
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = _layer_norm(x + linear(context, "o"), g(p + names["ln1"] + ".weight"),
                        g(p + names["ln1"] + ".bias"), eps)
        h = linear(x, "f1")
        if family == "albert":  # ALBERT's "gelu_new": the tanh form
            h = 0.5 * h * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (h + 0.044715 * h ** 3)))
        else:
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))  # Hugging Face's "gelu": exact
        x = _layer_norm(x + linear(h, "f2"), g(p + names["ln2"] + ".weight"),
                        g(p + names["ln2"] + ".bias"), eps)
    return x


def padded_inputs(pad_id, vocab_size, seed=0):
    """Right-padded rows of 2..9 tokens padded with the family's padding id."""
    rng = np.random.default_rng(seed)
    lengths = np.array([9, 6, 4, 2, 7])
    mask = (np.arange(9)[None, :] < lengths[:, None]).astype(np.int32)
    ids = rng.integers(3, vocab_size, mask.shape).astype(np.int32)
    return np.where(mask > 0, ids, pad_id).astype(np.int32), mask


def read_arrays(directory):
    from safetensors.numpy import load_file

    return load_file(f"{directory}/model.safetensors")


FAMILIES = {
    # family: (writer, encoder class, padding id, vocab, layers, heads, keras-hub backbone)
    "roberta": (hub_layouts.write_roberta, RobertaEncoder, 1, 61, 2, 3,
                keras_hub.models.RobertaBackbone),
    "distilbert": (hub_layouts.write_distilbert, DistilBertEncoder, 0, 59, 2, 3,
                   keras_hub.models.DistilBertBackbone),
    # keras-hub reads no Hugging Face ELECTRA directory: its backbone is compared in
    # tests/test_electra.py, with copied weights.
    "electra": (lambda directory, lm_head=False, **kw: hub_layouts.write_electra(
        directory, head="discriminator" if lm_head else None, **kw), ElectraEncoder, 0, 67, 2, 3,
        None),
    "albert": (hub_layouts.write_albert, AlbertEncoder, 0, 67, 4, 3,
               keras_hub.models.AlbertBackbone),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_hub_release_loads_strictly_and_matches_the_float64_reference(tmp_path, family):
    write, encoder_class, pad, vocab, layers, heads, _ = FAMILIES[family]
    directory = write(tmp_path / family, lm_head=True)
    encoder = TransformerEncoder.from_pretrained(directory)
    assert type(encoder) is encoder_class and encoder.config.family == family
    ids, mask = padded_inputs(pad, vocab)
    out = encoder({"input_ids": ids, "input_mask": mask})
    expected = reference_forward(read_arrays(directory), family, ids, mask, layers, heads)
    real = mask[..., None] > 0
    np.testing.assert_allclose(np.where(real, out["sequence_output"], 0),
                               np.where(real, expected, 0), atol=2e-5)
    assert len(out["encoder_outputs"]) == layers
    assert ("pooled_output" in out) == (family in ("roberta", "albert"))
    if family == "electra":  # tables 9 wide, projected to the hidden size 12
        assert encoder.embeddings.word_embeddings.shape == (67, 9)
        assert out["sequence_output"].shape == (5, 9, 12)
    # The family's own class reads it too; BERT's refuses it with a one-line reason.
    assert type(encoder_class.from_pretrained(directory)) is encoder_class
    with pytest.raises(UserError, match=f"BertEncoder is built from a BertConfig.*{family}"):
        BertEncoder.from_pretrained(directory)


def reference_masked_lm(arrays, ids, mask, positions, layers=2, heads=3):
    """RobertaForMaskedLM's logits at `positions` ([B, K]), in float64: RobertaLMHead's dense,
    exact GELU and LayerNorm, then the decoder tied to the word embeddings plus lm_head.bias."""
    a = {k: np.asarray(v, np.float64) for k, v in arrays.items()}
    x = reference_forward(arrays, "roberta", ids, mask, layers, heads)
    x = np.take_along_axis(x, np.asarray(positions)[..., None], 1)  # [B, K, H]
    x = x @ a["lm_head.dense.weight"].T + a["lm_head.dense.bias"]
    x = 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    x = _layer_norm(x, a["lm_head.layer_norm.weight"], a["lm_head.layer_norm.bias"],
                    hub_layouts.ROBERTA["layer_norm_eps"])
    return x @ a["roberta.embeddings.word_embeddings.weight"].T + a["lm_head.bias"]


def test_roberta_masked_lm_release_loads_strictly_and_matches_the_float64_reference(tmp_path):
    """A RobertaForMaskedLM directory in the hub's layout: logits at the masked positions within
    2e-5 of Hugging Face's model computed in float64; roberta-base's extra names (a pooler, the
    tied decoder's copies) are known and skipped; a RobertaModel directory has no head."""
    from safetensors.numpy import save_file

    directory = hub_layouts.write_roberta(tmp_path / "mlm", lm_head=True)
    ids, mask = padded_inputs(1, 61, seed=4)
    lengths = mask.sum(1)
    rng = np.random.default_rng(5)
    positions = (rng.random((len(ids), 4)) * lengths[:, None]).astype(np.int32)  # [B, 4]
    batch = {"input_ids": ids, "input_mask": mask, "masked_lm_positions": positions}
    expected = reference_masked_lm(read_arrays(directory), ids, mask, positions)
    model = RobertaMaskedLM.from_pretrained(directory)
    logits = model(batch)["mlm_logits"].numpy()
    assert logits.shape == (5, 4, 61) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, atol=2e-5)
    assert not model.encoder.pooler.trainable

    arrays = read_arrays(directory)
    arrays["roberta.pooler.dense.weight"] = np.ones((12, 12), np.float32)
    arrays["roberta.pooler.dense.bias"] = np.ones(12, np.float32)
    arrays["lm_head.decoder.weight"] = arrays["roberta.embeddings.word_embeddings.weight"]
    arrays["lm_head.decoder.bias"] = arrays["lm_head.bias"]
    save_file(arrays, f"{directory}/model.safetensors")
    again = RobertaMaskedLM.from_pretrained(directory)
    np.testing.assert_array_equal(again(batch)["mlm_logits"], logits)

    encoder_only = hub_layouts.write_roberta(tmp_path / "model")
    with pytest.raises(UserError, match="holds no RobertaMaskedLM head"):
        RobertaMaskedLM.from_pretrained(encoder_only, require_head=True)
    fresh = RobertaMaskedLM.from_pretrained(encoder_only)
    np.testing.assert_array_equal(fresh.word_embeddings.numpy(),
                                  read_arrays(encoder_only)["embeddings.word_embeddings.weight"])


@pytest.mark.parametrize("family", sorted(f for f in FAMILIES if FAMILIES[f][6]))
def test_keras_hub_reads_the_same_directory_to_the_same_outputs(tmp_path, family):
    write, _, pad, vocab, _, _, backbone_class = FAMILIES[family]
    # keras-hub's RoBERTa drops the one token-type row; zero here so that both are the model.
    extra = {"zero_token_type": True} if family == "roberta" else {}
    # keras-hub's ALBERT converter reads a pooler: AlbertForPreTraining's layout has one.
    extra = {"pretraining": True} if family == "albert" else extra
    directory = write(tmp_path / family, lm_head=family != "albert", **extra)
    ids, mask = padded_inputs(pad, vocab, seed=1)
    inputs = {"token_ids": ids, "padding_mask": mask}
    if family == "albert":
        inputs["segment_ids"] = np.zeros_like(ids)
    theirs = backbone_class.from_preset(directory)(inputs)
    theirs = np.asarray(theirs["sequence_output"] if isinstance(theirs, dict) else theirs)
    ours = TransformerEncoder.from_pretrained(directory)({"input_ids": ids, "input_mask": mask})
    real = mask[..., None] > 0
    np.testing.assert_allclose(np.where(real, ours["sequence_output"], 0),
                               np.where(real, theirs, 0), atol=1e-5)


def test_model_classes_without_prefix_and_unknown_names(tmp_path):
    # RobertaModel / DistilBertModel save without the family prefix (RobertaModel with pooler).
    roberta = hub_layouts.write_roberta(tmp_path / "roberta")
    encoder = TransformerEncoder.from_pretrained(roberta)
    np.testing.assert_array_equal(encoder.pooler.kernel.numpy(),
                                  read_arrays(roberta)["pooler.dense.weight"].T)
    distil = hub_layouts.write_distilbert(tmp_path / "distil")
    encoder = TransformerEncoder.from_pretrained(distil)
    np.testing.assert_array_equal(
        encoder.blocks[1].intermediate.kernel.numpy(),
        read_arrays(distil)["transformer.layer.1.ffn.lin1.weight"].T)
    # A layer the config does not have is an error naming it.
    from safetensors.numpy import save_file
    arrays = read_arrays(distil)
    arrays["transformer.layer.2.ffn.lin1.weight"] = arrays["transformer.layer.1.ffn.lin1.weight"]
    save_file(arrays, f"{distil}/model.safetensors")
    with pytest.raises(CheckpointMismatchError, match=r"transformer\.layer\.2\.ffn\.lin1"):
        TransformerEncoder.from_pretrained(distil)


def test_configs_are_strict_and_round_trip(tmp_path):
    roberta = RobertaConfig(vocab_size=61, hidden_size=12, num_hidden_layers=2,
                            num_attention_heads=3, intermediate_size=37,
                            max_position_embeddings=13)
    assert registry.as_config(roberta.to_dict()) == roberta
    assert roberta.encoder_shape().position_offset == 2
    assert roberta.encoder_shape().max_length == 11
    assert roberta.encoder_shape().activation == "gelu_exact"
    distil = DistilBertConfig(vocab_size=59, dim=12, n_layers=2, n_heads=3, hidden_dim=37)
    assert registry.as_config(json.loads(distil.to_json())) == distil
    shape = distil.encoder_shape()
    assert (shape.type_vocab_size, shape.pooler, shape.layer_norm_eps) == (0, False, 1e-12)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['hidden_size'\]"):
        DistilBertConfig.from_dict({"vocab_size": 5, "hidden_size": 12}, source="x.json")
    with pytest.raises(ConfigError, match="dim 12 is not a multiple of n_heads 5"):
        DistilBertConfig(vocab_size=59, dim=12, n_heads=5)
    hub_layouts._save(tmp_path / "d", {"x": np.zeros(1, np.float32)},
                      hub_layouts.distilbert_config(activation="mish"))
    with pytest.raises(ConfigError, match="activation 'mish' is not supported"):
        DistilBertConfig.from_hf_config_file(str(tmp_path / "d" / "config.json"))
    bad = hub_layouts.roberta_config(position_embedding_type="relative_key")
    hub_layouts._save(tmp_path / "r", {"x": np.zeros(1, np.float32)}, bad)
    with pytest.raises(ConfigError, match="position_embedding_type='relative_key' is not "
                                          "supported"):
        RobertaConfig.from_hf_config_file(str(tmp_path / "r" / "config.json"))
    hub_layouts._save(tmp_path / "g", {"x": np.zeros(1, np.float32)},
                      {**hub_layouts.roberta_config(), "model_type": "gpt2"})
    with pytest.raises(UserError, match="model_type 'gpt2' is not a family bert_tf reads"):
        TransformerEncoder.from_pretrained(str(tmp_path / "g"))


def test_each_family_builds_its_encoder_and_keeps_its_inputs():
    bert = build_encoder(BertConfig(vocab_size=53, hidden_size=12, num_hidden_layers=1,
                                    num_attention_heads=3, intermediate_size=37,
                                    max_position_embeddings=11))
    distil = build_encoder({"model_type": "distilbert", "vocab_size": 59, "dim": 12,
                            "n_layers": 1, "n_heads": 3, "hidden_dim": 37,
                            "max_position_embeddings": 11})
    roberta = build_encoder(RobertaConfig(vocab_size=61, hidden_size=12, num_hidden_layers=1,
                                          num_attention_heads=3, intermediate_size=37,
                                          max_position_embeddings=13))
    assert [type(e).__name__ for e in (bert, distil, roberta)] == [
        "BertEncoder", "DistilBertEncoder", "RobertaEncoder"]
    ids = np.ones((2, 11), np.int32)
    # DistilBERT has no segments: segment ids are an error, never silently dropped.
    assert not distil.has_segments and roberta.has_segments
    with pytest.raises(ValueError, match="no segment embeddings"):
        distil.embeddings(ids, np.zeros_like(ids))
    # RoBERTa's 13-row table holds 11 positions after its offset of 2.
    assert roberta({"input_ids": ids})["sequence_output"].shape == (2, 11, 12)
    with pytest.raises(ValueError, match="less the position offset 2; truncate the input to "
                                         "at most 11 tokens"):
        roberta({"input_ids": np.ones((2, 12), np.int32)})
    # Keras' own round trip keeps the family.
    clone = RobertaEncoder.from_config(roberta.get_config())
    assert clone.config == roberta.config
    assert sorted(distil.named_weights()) == sorted(
        p for p in bert.named_weights()
        if p not in ("embeddings/token_type_embeddings", "pooler/kernel", "pooler/bias"))


def _linear(arrays, name, x):
    return x @ np.asarray(arrays[name + ".weight"], np.float64).T + arrays[name + ".bias"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_hub_task_heads_load_strictly_and_predict_what_the_hub_model_predicts(tmp_path, family):
    from tasks.classification.model import BertClassifier
    from tasks.question_answering.model import BertSpanLabeler
    from tasks.tagging.model import BertTagger

    _, _, pad, vocab, layers, heads, _ = FAMILIES[family]
    ids, mask = padded_inputs(pad, vocab, seed=2)
    inputs = {"input_ids": ids, "input_mask": mask}
    real = mask > 0

    directory = hub_layouts.write_task_model(tmp_path / "sequence", family, "sequence")
    arrays = read_arrays(directory)
    first = reference_forward(arrays, family, ids, mask, layers, heads)[:, 0]
    if family == "roberta":  # RobertaClassificationHead
        expected = _linear(arrays, "classifier.out_proj",
                           np.tanh(_linear(arrays, "classifier.dense", first)))
    elif family == "albert":  # AlbertForSequenceClassification: the pooler, then one layer
        expected = _linear(arrays, "classifier", np.tanh(_linear(arrays, "albert.pooler", first)))
    elif family == "electra":  # ElectraClassificationHead: the exact GELU
        hidden = _linear(arrays, "classifier.dense", first)
        expected = _linear(arrays, "classifier.out_proj",
                           0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0))))
    else:
        expected = _linear(arrays, "classifier",
                           np.maximum(_linear(arrays, "pre_classifier", first), 0))
    model = BertClassifier.from_pretrained(directory, num_labels=3)
    np.testing.assert_allclose(model(inputs)["logits"], expected, atol=2e-5)
    if family == "roberta":
        # Its classifier pools with its own layer: a pooler in the checkpoint is known and
        # skipped, and the encoder's pooler is frozen and left out of what is saved.
        from safetensors.numpy import save_file
        arrays["roberta.pooler.dense.weight"] = np.zeros((12, 12), np.float32)
        arrays["roberta.pooler.dense.bias"] = np.zeros(12, np.float32)
        save_file(arrays, f"{directory}/model.safetensors")
        model = BertClassifier.from_pretrained(directory, num_labels=3)
        np.testing.assert_allclose(model(inputs)["logits"], expected, atol=2e-5)
        assert not model.encoder.pooler.trainable
        assert not [path for path in model.named_weights() if path.startswith("pooler/")]

    directory = hub_layouts.write_task_model(tmp_path / "span", family, "span")
    arrays = read_arrays(directory)
    logits = _linear(arrays, "qa_outputs",
                     reference_forward(arrays, family, ids, mask, layers, heads))
    out = BertSpanLabeler.from_pretrained(directory)(inputs)
    np.testing.assert_allclose(np.where(real, out["start_logits"], 0),
                               np.where(real, logits[..., 0], 0), atol=2e-5)
    np.testing.assert_allclose(np.where(real, out["end_logits"], 0),
                               np.where(real, logits[..., 1], 0), atol=2e-5)

    directory = hub_layouts.write_task_model(tmp_path / "token", family, "token", num_labels=5)
    arrays = read_arrays(directory)
    logits = _linear(arrays, "classifier",
                     reference_forward(arrays, family, ids, mask, layers, heads))
    out = BertTagger.from_pretrained(directory, num_labels=5)(inputs)["logits"].numpy()
    np.testing.assert_allclose(out[real], logits[real], atol=2e-5)


def test_the_models_page_table_is_the_registry():
    import os
    page = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                        "models.md")
    text = open(page, encoding="utf-8").read()
    table = text[text.index("<!-- families:"):].split("\n\n")[1]  # the table after the marker
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in table.splitlines() if line.startswith("| ")]
    header, rows = rows[0], rows[1:]
    assert [row[0] for row in rows] == [f.title for f in registry.FAMILIES.values()]
    configs = {"bert": BertConfig(vocab_size=53, hidden_size=12, num_hidden_layers=1,
                                  num_attention_heads=3, intermediate_size=37),
               "roberta": RobertaConfig(vocab_size=61),
               "distilbert": DistilBertConfig(vocab_size=59),
               "electra": ElectraConfig(vocab_size=67),
               "albert": AlbertConfig(vocab_size=67),
               "xlm-roberta": XLMRobertaConfig(vocab_size=302)}
    for row, family in zip(rows, registry.FAMILIES.values()):
        cell = dict(zip(header, row))
        shape = configs[family.name].encoder_shape()
        assert cell["`model_type`"] == ", ".join(f"`{t}`" for t in family.hf_model_types)
        assert cell["config"].startswith(f"`{family.config_class().__name__}`")
        assert cell["checkpoints read"] == ", ".join(family.formats)
        assert cell["keras-hub backbone"] == f"`{family.keras_hub_backbone()}`"
        assert cell["tokenizer"] == family.tokenizer
        assert cell["pooler"] == ("yes" if shape.pooler else "no")
        assert cell["segments"] == {0: "no", 1: "one row"}.get(shape.type_vocab_size, "yes")


@pytest.mark.parametrize("config,count", [
    # Hugging Face's RobertaModel("roberta-base").num_parameters(), pooler included.
    (RobertaConfig(vocab_size=50265), 124_645_632),
    # DistilBertModel("distilbert-base-uncased").num_parameters().
    (DistilBertConfig(vocab_size=30522), 66_362_880),
    # electra-small-discriminator's ElectraModel, by hand: tables (30,522 + 512 + 2) x 128 and
    # their LayerNorm 256, embeddings_project 128 x 256 + 256, 12 layers of 789,760.
    (ElectraConfig(), 3_972_864 + 33_024 + 12 * 789_760),
], ids=["roberta-base", "distilbert-base-uncased", "electra-small-discriminator"])
def test_parameter_counts_of_the_base_releases(config, count):
    assert build_encoder(config).count_params() == count


def test_task_heads_take_an_encoder_of_any_family(tmp_path):
    from tasks.classification.model import BertClassifier
    from tasks.question_answering.model import BertSpanLabeler
    from tasks.tagging.model import BertTagger

    encoder = TransformerEncoder.from_pretrained(
        hub_layouts.write_roberta(tmp_path / "roberta", lm_head=True))
    ids, mask = padded_inputs(1, 61, seed=3)
    inputs = {"input_ids": ids, "input_mask": mask}
    sequence = encoder(inputs)["sequence_output"].numpy()
    tagger = BertTagger(encoder, num_labels=5)
    span = BertSpanLabeler(encoder)
    classifier = BertClassifier(encoder, num_labels=3)
    for model in (tagger, span, classifier):
        assert model.encoder is encoder and model.config == encoder.config
    # The heads share the encoder's variables: no copy, one set of weights.
    assert {id(v) for v in tagger.encoder.weights} == {id(v) for v in encoder.weights}
    logits = tagger(inputs)["logits"].numpy()
    kernel, bias = tagger.classifier.kernel.numpy(), tagger.classifier.bias.numpy()
    np.testing.assert_allclose(logits, sequence @ kernel + bias, atol=1e-5)
    assert classifier(inputs)["logits"].shape == (5, 3)
    # Keras' round trip builds its own encoder of the same family.
    clone = BertTagger.from_config(tagger.get_config())
    assert type(clone.encoder) is RobertaEncoder and clone.encoder is not encoder
