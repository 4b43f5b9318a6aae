"""The fine-tuning scripts on a family other than BERT: a DistilBERT release (the hub's layout,
random weights, a WordPiece vocab of the data's words) through the classification, question
answering and tagging runs, their Hugging Face releases of the fine-tuned models, their run
directories and a SavedModel."""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

import hub_layouts
import small_data
from bert_tf import BertTokenizer, TransformerEncoder, checkpoints
from tasks.classification.model import BertClassifier
from tasks.classification.run import ClassifierRun, ClassifierSettings
from tasks.question_answering.run import SquadRun, SquadSettings
from tasks.tagging.run import TaggerRun, TaggerSettings

WORDS = sorted(set(re.findall(r"[a-z]+", " ".join(
    str(value) for name in dir(small_data) if name.isupper()
    for value in getattr(small_data, name)).lower())) | {
    "who", "what", "where", "does", "did", "work", "works", "for", "born", "lives", "in", "as",
    "a", "an", "the", "and", "was", "is", "at", "of", "from", "to", "he", "she", "joined",
    "yesterday", "opened", "office", "said", "met", "people", "left", "on", "monday", "job",
    "city", "company", "thought", "overall", "honestly", "staff", "agreed", "our", "last",
    "week", "turned", "out", "that", "i", "what"})


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("family") / "distilbert")
    vocab_size = hub_layouts.write_wordpiece_vocab(directory, WORDS)
    hub_layouts.write_distilbert(directory, lm_head=True, vocab_size=vocab_size,
                                 max_position_embeddings=48)
    return directory


def fine_tune(run_class, settings_class, release, out, **flags):
    lines = []
    run = run_class(settings_class(init_checkpoint=release, output_dir=out, do_train=True,
                                   do_eval=True, train_batch_size=8, eval_batch_size=8,
                                   num_train_epochs=1, learning_rate=1e-3, log=lines.append,
                                   **flags))
    run.run()
    log = "\n".join(lines)
    assert "Initialized the encoder from huggingface checkpoint" in log
    assert f"in Hugging Face's format to {out}/finetuned" in log
    # The run directory says its family: config.json in DistilBERT's own names.
    assert not os.path.exists(os.path.join(out, "bert_config.json"))
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["model_type"] == "distilbert" and config["dim"] == 12
    assert checkpoints.resolve(out).format == "bert_tf"
    finetuned = os.path.join(out, "finetuned")
    assert sorted(os.listdir(finetuned)) == ["config.json", "model.safetensors", "vocab.txt"]
    arrays = load_file(os.path.join(finetuned, "model.safetensors"))
    assert arrays["distilbert.transformer.layer.1.ffn.lin1.weight"].shape == (37, 12)
    assert not [name for name in arrays if "token_type" in name or "pooler" in name]
    return run, arrays


def test_run_classifier_fine_tunes_exports_and_serves_a_distilbert_release(release, tmp_path):
    data = small_data.write_opinion_csv(tmp_path / "data", train=48, dev=16)
    out = str(tmp_path / "run")
    run, arrays = fine_tune(ClassifierRun, ClassifierSettings, release, out, task_name="custom",
                            data_dir=data, text_a_column="review", label_column="sentiment",
                            max_seq_length=20, export_dir=str(tmp_path / "serving"))
    assert "eval_accuracy" in open(os.path.join(out, "eval_results.txt")).read()
    # DistilBertForSequenceClassification's head.
    assert arrays["pre_classifier.weight"].shape == (12, 12)
    assert arrays["classifier.weight"].shape == (2, 12)
    # The release and the run directory read back to the trained model's outputs; so does
    # the SavedModel, from raw text.
    texts = ["The film was fantastic.", "What a tedious trip that was!"]
    features = run.files.tokenizer(20)(tf.constant(texts))
    expected = run.trainer.model(features)["logits"].numpy()
    for path in (os.path.join(out, "finetuned"), out):
        model = BertClassifier.from_pretrained(path, num_labels=2)
        np.testing.assert_allclose(model(features)["logits"], expected, atol=1e-5)
    exported = os.path.join(str(tmp_path / "serving"), os.listdir(tmp_path / "serving")[0])
    signatures = tf.saved_model.load(exported).signatures
    served = signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"], tf.nn.softmax(expected), atol=1e-5)
    # serve_ids takes no segment_ids from a family that has none.
    ids = signatures["serve_ids"]
    assert sorted(ids.structured_input_signature[1]) == ["input_ids", "input_mask"]
    served = ids(input_ids=features["input_ids"], input_mask=features["input_mask"])
    np.testing.assert_allclose(served["probabilities"], tf.nn.softmax(expected), atol=1e-5)


def test_run_squad_and_run_tagging_fine_tune_a_distilbert_release(release, tmp_path):
    train = small_data.write_biography_squad(tmp_path / "train.json", 24, seed=1)
    dev = small_data.write_biography_squad(tmp_path / "dev.json", 8, seed=2, evaluation=True)
    run, arrays = fine_tune(SquadRun, SquadSettings, release, str(tmp_path / "squad"),
                            train_file=train, predict_file=dev, max_seq_length=48,
                            doc_stride=24, max_query_length=12)
    assert arrays["qa_outputs.weight"].shape == (2, 12)
    assert "exact" in open(os.path.join(str(tmp_path / "squad"), "eval_results.txt")).read()
    train = small_data.write_news_jsonl(tmp_path / "train.jsonl", 24, seed=1)
    dev = small_data.write_news_jsonl(tmp_path / "dev.jsonl", 8, seed=2, evaluation=True)
    run, arrays = fine_tune(TaggerRun, TaggerSettings, release, str(tmp_path / "tagging"),
                            train_file=train, eval_file=dev, max_seq_length=24)
    assert arrays["classifier.weight"].shape == (len(run.labels), 12)
    assert "eval_f1" in open(os.path.join(str(tmp_path / "tagging"), "eval_results.txt")).read()


def test_export_model_and_extract_features_take_distilbert(release, tmp_path):
    from in_process import run_checked

    # export_model.py --task=encoder on the release: no pooled output (DistilBERT has no
    # pooler), the mean-pooled embedding of the encoder's token states.
    run_checked("export_model.py", f"--checkpoint={release}", "--task=encoder",
                f"--export_dir={tmp_path / 'encoder'}", "--export_version=1",
                "--max_seq_length=16")
    served = tf.saved_model.load(str(tmp_path / "encoder" / "1")).signatures["serving_default"](
        text=tf.constant(["The film was fantastic.", "Anna Smith joined Sony."]))
    assert "pooled_output" not in served
    encoder = TransformerEncoder.from_pretrained(release)
    tokenizer = BertTokenizer(os.path.join(release, "vocab.txt"), max_seq_length=16)
    features = tokenizer(tf.constant(["The film was fantastic.", "Anna Smith joined Sony."]))
    mask = tf.cast(features["input_mask"], tf.float32)[..., None]
    sequence = encoder(features)["sequence_output"]
    mean = tf.reduce_sum(sequence * mask, 1) / tf.reduce_sum(mask, 1)
    np.testing.assert_allclose(served["embedding"], mean, atol=1e-5)

    # extract_features.py: the last layer's token states, as the encoder computes them.
    text = tmp_path / "input.txt"
    text.write_text("The film was fantastic.\n")
    run_checked("extract_features.py", f"--input_file={text}",
                f"--output_file={tmp_path / 'features.jsonl'}", f"--init_checkpoint={release}",
                "--layers=-1", "--max_seq_length=16")
    line = json.loads(open(tmp_path / "features.jsonl").readline())
    first = line["features"][1]  # the token after [CLS]
    assert first["token"] == "the"
    np.testing.assert_allclose(first["layers"][0]["values"], sequence.numpy()[0, 1], atol=1e-4)
