"""keras-hub presets in and out: presets that keras-hub's own save_to_preset writes (BertBackbone,
RobertaBackbone, DistilBertBackbone and their tokenizers, random weights) read by our encoders
and tokenizers to keras-hub's outputs and ids; our encoders saved as presets that keras-hub's
from_preset reads to ours; a fine-tuning run started from a preset; what cannot be read, named."""

import json
import os
import re
import shutil
import sys

import keras_hub
import numpy as np
import pytest

import hub_layouts
import small_data
from bert_tf import (BertConfig, BertTokenizer, BpeTokenizer, DistilBertConfig, RobertaConfig,
                     TransformerEncoder, build_encoder, checkpoints)
from bert_tf.checkpoints import CheckpointMismatchError
from bert_tf.errors import UserError
from bert_tf.models.bert.config import ConfigError
from bert_tf.models.bert.release import resolve_model_files

# The words of the generated data sets, for the WordPiece vocabularies and the BPE to learn.
WORDS = sorted(set(re.findall(r"[a-z]+", " ".join(
    str(value) for name in dir(small_data) if name.isupper()
    for value in getattr(small_data, name)).lower())) | {"the", "what", "that", "cafe"})
# Casing, accents (é is in neither vocabulary), punctuation, runs of spaces.
SENTENCES = ["The film was wonderful.", "What a dull trip that was!", "  anna  met PETER in "
             "Paris, at the café?", "cafe-hotel...", "the"]
# Backbone sizes: small, odd, distinct; 9 tokens of 11 positions.
SIZES = dict(num_layers=2, num_heads=3, hidden_dim=12, intermediate_dim=37,
             max_sequence_length=11)
# family: keras-hub backbone, its tokenizer's class and keyword arguments, tokenizer kind
FAMILIES = {
    "bert": (keras_hub.models.BertBackbone, keras_hub.models.BertTokenizer,
             {"lowercase": True}, "wordpiece"),
    # Cased: the preset's casing, not the vocabulary's look, decides.
    "distilbert": (keras_hub.models.DistilBertBackbone, keras_hub.models.DistilBertTokenizer,
                   {"lowercase": False}, "wordpiece"),
    "roberta": (keras_hub.models.RobertaBackbone, keras_hub.models.RobertaTokenizer, {}, "bpe"),
}
ATOL = 1e-5


@pytest.fixture(scope="module")
def vocabs(tmp_path_factory):
    """{"wordpiece": (vocab.txt, size), "bpe": (vocab.json, size)}, merges.txt beside the BPE's."""
    root = tmp_path_factory.mktemp("vocabs")
    size = hub_layouts.write_wordpiece_vocab(str(root / "wordpiece"), WORDS)
    texts = [" ".join(WORDS[i:i + 7]).capitalize() + "." for i in range(len(WORDS))] * 3
    bpe_size = hub_layouts.write_bpe_vocab(str(root / "bpe"), texts + SENTENCES, vocab_size=300)
    return {"wordpiece": (str(root / "wordpiece" / "vocab.txt"), size),
            "bpe": (str(root / "bpe" / "vocab.json"), bpe_size)}


def keras_hub_tokenizer(family, vocabs):
    _, tokenizer_class, kwargs, kind = FAMILIES[family]
    vocab_file = vocabs[kind][0]
    if kind == "bpe":
        return tokenizer_class(vocabulary=vocab_file,
                               merges=os.path.join(os.path.dirname(vocab_file), "merges.txt"))
    return tokenizer_class(vocabulary=vocab_file, **kwargs)


def randomized(variables, seed, scale=0.3):
    """Assigns every variable ({name: variable}) normal values (LayerNorm gammas about 1)."""
    rng = np.random.default_rng(seed)
    for name, variable in variables.items():
        value = rng.standard_normal(tuple(variable.shape)) * scale
        if name.endswith("gamma"):
            value = 1.0 + value / 3
        variable.assign(value.astype(np.float32))


def write_preset(directory, family, vocabs, seed=0, **sizes):
    """A random backbone of `family` and its tokenizer, saved by keras-hub; returns the backbone."""
    backbone_class = FAMILIES[family][0]
    extra = {"num_segments": 3} if family == "bert" else {}
    backbone = backbone_class(vocabulary_size=vocabs[FAMILIES[family][3]][1],
                              **dict(SIZES, **sizes), **extra)
    randomized({v.path: v for v in backbone.weights}, seed)
    backbone.save_to_preset(str(directory))
    keras_hub_tokenizer(family, vocabs).save_to_preset(str(directory))
    return backbone


def inputs(vocab_size, segments=False, seed=1):
    """Our inputs for 5 right-padded rows of 9 positions (2 to 9 real tokens)."""
    rng = np.random.default_rng(seed)
    mask = (np.arange(9)[None, :] < np.array([9, 6, 4, 2, 7])[:, None]).astype(np.int32)
    found = {"input_ids": rng.integers(0, vocab_size, mask.shape).astype(np.int32) * mask,
             "input_mask": mask}
    if segments:
        found["segment_ids"] = rng.integers(0, 3, mask.shape).astype(np.int32) * mask
    return found


def keras_hub_outputs(backbone, features):
    given = {"token_ids": features["input_ids"], "padding_mask": features["input_mask"]}
    if "segment_ids" in features:
        given["segment_ids"] = features["segment_ids"]
    found = backbone(given)
    return found if isinstance(found, dict) else {"sequence_output": found}


def max_diffs(ours, theirs):
    """{output: max abs diff} over every position (padded ones too) of the outputs both have."""
    return {key: float(np.abs(np.asarray(ours[key]) - np.asarray(theirs[key])).max())
            for key in ("sequence_output", "pooled_output") if key in theirs}


def ids(tokenizer_output):
    """Rows of ids as lists, from a ragged tensor (ours) or keras-hub's lists."""
    rows = tokenizer_output.to_list() if hasattr(tokenizer_output, "to_list") else tokenizer_output
    return [[int(i) for i in np.asarray(row).reshape(-1)] for row in rows]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_keras_hub_preset_reads_to_keras_hubs_outputs_and_ids(tmp_path, vocabs, family):
    from tasks.classification.model import BertClassifier
    from tasks.tagging.model import BertTagger

    directory = str(tmp_path / "preset")
    backbone = write_preset(directory, family, vocabs)
    release = checkpoints.resolve(directory)
    assert release.format == "keras_hub"
    assert release.weights == (os.path.join(directory, "model.weights.h5"),)
    kind = FAMILIES[family][3]
    assert release.vocab_file == os.path.join(
        directory, "assets", "tokenizer", "vocabulary." + ("json" if kind == "bpe" else "txt"))
    assert sorted(checkpoints.vocab_files(release.vocab_file)) == (
        ["merges.txt", "vocab.json"] if kind == "bpe" else ["vocab.txt"])

    encoder = TransformerEncoder.from_pretrained(directory)
    assert encoder.config.family == family and encoder.config.max_length == 11
    assert encoder.shape.intermediate_size == 37 and encoder.shape.num_layers == 2
    features = inputs(encoder.config.vocab_size, segments=family == "bert")
    diffs = max_diffs(encoder(features), keras_hub_outputs(backbone, features))
    print(family, "preset -> ours, max abs diff:", diffs)
    assert sorted(diffs) == (["pooled_output", "sequence_output"] if family == "bert"
                             else ["sequence_output"])
    assert max(diffs.values()) <= ATOL, diffs
    # A task model takes the preset's encoder and a new head; an export of the encoder
    # serves a pooled_output only where keras-hub's backbone has a pooler.
    classifier = BertClassifier.from_pretrained(directory, num_labels=3)
    np.testing.assert_allclose(classifier.encoder(features)["sequence_output"],
                               encoder(features)["sequence_output"], atol=1e-6)
    assert checkpoints.holds(release, encoder, "pooler/kernel") == (family == "bert")
    # A preset holds no head: loading a whole task model fills its encoder only.
    tagger = BertTagger(encoder.config, num_labels=5)
    filled = checkpoints.load_weights(tagger, directory, strict=False)
    assert filled.format == "keras_hub"
    np.testing.assert_allclose(tagger.encoder(features)["sequence_output"],
                               encoder(features)["sequence_output"], atol=1e-6)
    with pytest.raises(CheckpointMismatchError, match="classifier/kernel"):
        checkpoints.load_weights(tagger, directory)

    # The tokenizer the scripts build from the preset, and the family's own from_pretrained,
    # give keras-hub's ids.
    theirs = ids(keras_hub.models.Tokenizer.from_preset(directory)(SENTENCES))
    files = resolve_model_files(directory)
    tokenizers = [files.tokenizer(), (BpeTokenizer if kind == "bpe" else
                                      BertTokenizer).from_pretrained(directory)]
    for tokenizer in tokenizers:
        assert ids(tokenizer.tokenize(SENTENCES)) == theirs, type(tokenizer).__name__
    if kind == "wordpiece":
        assert files.do_lower_case == (family == "bert") and files.strip_accents is False
    assert sum(len(row) for row in theirs) > 3 * len(SENTENCES)


def our_config(family, vocab_size):
    sizes = dict(hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                 intermediate_size=37)
    if family == "bert":
        return BertConfig(vocab_size=vocab_size, max_position_embeddings=11, type_vocab_size=3,
                          **sizes)
    if family == "roberta":  # 11 positions after the padding id's 2 rows
        return RobertaConfig(vocab_size=vocab_size, max_position_embeddings=13, **sizes)
    return DistilBertConfig(vocab_size=vocab_size, dim=12, n_layers=2, n_heads=3, hidden_dim=37,
                            max_position_embeddings=11)


def our_tokenizer(family, vocabs):
    if family == "roberta":
        return BpeTokenizer.from_vocab_file(vocabs["bpe"][0])
    if family == "bert":  # uncased: lower-cased and stripped of accents
        return BertTokenizer(vocabs["wordpiece"][0], do_lower_case=True)
    return BertTokenizer(vocabs["wordpiece"][0], do_lower_case=False)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_our_encoder_saves_a_preset_keras_hub_reads_to_our_outputs_and_ids(tmp_path, vocabs,
                                                                           family):
    encoder = build_encoder(our_config(family, vocabs[FAMILIES[family][3]][1]))
    # Every weight random, RoBERTa's token-type row too (the preset folds it into positions).
    randomized(encoder.named_weights(), seed=2)
    tokenizer = our_tokenizer(family, vocabs)
    directory = str(tmp_path / "preset")
    assert checkpoints.save_preset(encoder, tokenizer, directory) == directory
    assert sorted(os.listdir(directory)) == ["assets", "config.json", "metadata.json",
                                             "model.weights.h5", "tokenizer.json"]

    backbone = keras_hub.models.Backbone.from_preset(directory)
    assert type(backbone) is FAMILIES[family][0]
    features = inputs(encoder.config.vocab_size, segments=family == "bert", seed=3)
    ours = encoder(features)
    diffs = max_diffs(ours, keras_hub_outputs(backbone, features))
    print(family, "ours -> preset, max abs diff:", diffs)
    assert max(diffs.values()) <= ATOL, diffs
    assert ("pooled_output" in diffs) == (family == "bert")  # RoBERTa's pooler is left out
    theirs = keras_hub.models.Tokenizer.from_preset(directory)
    assert type(theirs) is FAMILIES[family][1]
    assert ids(theirs(SENTENCES)) == ids(tokenizer.tokenize(SENTENCES))

    # Read back by us: the same outputs (RoBERTa's token-type row now inside its positions).
    again = TransformerEncoder.from_pretrained(directory)
    diffs = max_diffs(again(features), ours)
    assert diffs["sequence_output"] <= ATOL, diffs
    assert ids(resolve_model_files(directory).tokenizer().tokenize(SENTENCES)) == ids(
        tokenizer.tokenize(SENTENCES))


@pytest.mark.slow
def test_run_classifier_fine_tunes_from_a_bert_preset_and_exports_its_encoder_as_one(tmp_path,
                                                                                     vocabs):
    from tasks import export
    from tasks.classification.run import ClassifierRun, ClassifierSettings

    preset = str(tmp_path / "preset")
    backbone = write_preset(preset, "bert", vocabs, seed=4, max_sequence_length=24)
    data = small_data.write_opinion_csv(tmp_path / "data", train=48, dev=16)
    out, lines = str(tmp_path / "run"), []
    # A learning rate so small that the 6 steps leave the preset's encoder as it was.
    run = ClassifierRun(ClassifierSettings(
        init_checkpoint=preset, output_dir=out, do_train=True, train_batch_size=8,
        num_train_epochs=1, learning_rate=1e-7, max_seq_length=20, task_name="custom",
        data_dir=data, text_a_column="review", label_column="sentiment", log=lines.append))
    run.run()
    log = "\n".join(lines)
    assert f"Initialized the encoder from keras_hub checkpoint {preset}" in log
    assert run.files.release.format == "keras_hub" and run.files.do_lower_case is True
    # The run directory carries the preset's vocabulary, under our name.
    assert open(os.path.join(out, "vocab.txt"), "rb").read() == open(
        run.files.vocab_file, "rb").read()
    assert json.load(open(os.path.join(out, "tokenizer_config.json")))["do_lower_case"] is True
    encoder = run.trainer.model.encoder
    features = inputs(encoder.config.vocab_size, segments=True, seed=5)
    assert max(max_diffs(encoder(features), keras_hub_outputs(backbone, features)).values()) \
        <= 1e-4

    # export_model.py --keras_hub_preset_dir: the fine-tuned encoder, as keras-hub reads it.
    exported = str(tmp_path / "exported")
    path = export.run(export.ExportSettings(checkpoint=out, task="classifier",
                                            keras_hub_preset_dir=exported, log=lines.append))
    assert path == exported and "as a keras-hub BertBackbone preset" in lines[-1]
    diffs = max_diffs(encoder(features), keras_hub_outputs(
        keras_hub.models.Backbone.from_preset(exported), features))
    assert max(diffs.values()) <= ATOL, diffs
    assert ids(keras_hub.models.Tokenizer.from_preset(exported)(SENTENCES)) == ids(
        run.files.tokenizer().tokenize(SENTENCES))


def edited(source, target, change):
    """A copy of a preset with its config.json changed by `change(values)`."""
    shutil.copytree(source, target)
    path = os.path.join(target, "config.json")
    values = json.load(open(path))
    change(values)
    json.dump(values, open(path, "w"))
    return str(target)


def one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


def test_presets_bert_tf_cannot_read_are_named_in_one_line(tmp_path, vocabs, monkeypatch):
    preset = str(tmp_path / "preset")
    write_preset(preset, "bert", vocabs)

    def other_class(values):
        values["registered_name"] = "keras_hub>GPT2Backbone"
        values["class_name"] = "GPT2Backbone"

    gpt2 = edited(preset, tmp_path / "gpt2", other_class)
    for read in (TransformerEncoder.from_pretrained, resolve_model_files):
        with pytest.raises(UserError) as excinfo:
            read(gpt2)
        assert one_line(excinfo) == (
            f"{gpt2}/config.json: keras-hub's GPT2Backbone is not a backbone bert_tf reads "
            "(supported: BertBackbone, RobertaBackbone, DistilBertBackbone, ElectraBackbone, "
            "AlbertBackbone, XLMRobertaBackbone)")

    def wider(values):
        values["config"]["intermediate_dim"] = 41

    wide = edited(preset, tmp_path / "wide", wider)
    with pytest.raises(CheckpointMismatchError) as excinfo:
        TransformerEncoder.from_pretrained(wide)
    message = one_line(excinfo)
    assert message.startswith(f"{wide}/model.weights.h5 does not fit the backbone {wide}/"
                              "config.json describes: ")
    assert re.search(r"transformer_layer_\d/feedforward_(intermediate|output)_dense/kernel is "
                     r"\((12, 41|41, 12)\) in the backbone .* but \((12, 37|37, 12)\) in the "
                     "weights", message), message

    def shallower(values):
        values["config"]["num_layers"] = 1

    shallow = edited(preset, tmp_path / "shallow", shallower)
    with pytest.raises(CheckpointMismatchError) as excinfo:
        TransformerEncoder.from_pretrained(shallow)
    assert one_line(excinfo) == (f"{shallow}/model.weights.h5 holds 39 arrays but the "
                                 "BertBackbone its config.json builds has 23 variables (does "
                                 "num_layers match the weights?)")

    def unknown_key(values):
        values["config"]["rotary_embeddings"] = True

    unknown = edited(preset, tmp_path / "unknown", unknown_key)
    with pytest.raises(ConfigError, match=r"config\.json: unknown key\(s\) "
                                          r"\['rotary_embeddings'\]"):
        TransformerEncoder.from_pretrained(unknown)

    # What keras-hub's backbone cannot express is refused before anything is written.
    exact = build_encoder(our_config("bert", 53).replace(hidden_act="gelu_exact"))
    with pytest.raises(ConfigError, match="keras-hub's BertBackbone has hidden_act='gelu' only; "
                                          "this model has 'gelu_exact'"):
        checkpoints.save_preset(exact, None, str(tmp_path / "exact"))
    assert not os.path.exists(tmp_path / "exact")
    with pytest.raises(UserError, match="keras-hub's BertTokenizer is a WordPiece tokenizer: a "
                                        "BpeTokenizer cannot be saved as one"):
        checkpoints.save_preset(build_encoder(our_config("bert", vocabs["bpe"][1])),
                                our_tokenizer("roberta", vocabs), str(tmp_path / "mixed"))

    # keras-hub is no dependency of bert_tf: without it, a preset is a one-line error.
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    with pytest.raises(UserError) as excinfo:
        TransformerEncoder.from_pretrained(preset)
    assert one_line(excinfo) == (f"{preset}: keras-hub presets need the keras-hub package: "
                                 "pip install keras-hub==0.32.0")
