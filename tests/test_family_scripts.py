"""The fine-tuning scripts on families other than BERT: a DistilBERT release (the hub's layout,
random weights, a WordPiece vocab of the data's words) through the classification, question
answering and tagging runs, their Hugging Face releases of the fine-tuned models, their run
directories and a SavedModel; a RoBERTa release (byte-level BPE learned from the data's
sentences) and an ELECTRA discriminator (factorized embeddings) through the same; an ALBERT
release (AlbertForPreTraining's layout, a SentencePiece model learned from the data's
sentences) through every script, its exports with tensorflow-text's op."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file
from tokenizers import Tokenizer, models, pre_tokenizers, processors

import hub_layouts
import small_data
from bert_tf import BertTokenizer, BpeTokenizer, TransformerEncoder, checkpoints
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


def sentences():
    """Every text the generated data sets use, for the RoBERTa release's BPE to learn from."""
    import random

    rng = random.Random(0)
    words = WORDS + [w.capitalize() for w in WORDS]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + rng.choice(".!?")
            for _ in range(3000)]


@pytest.fixture(scope="module")
def roberta_release(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("family") / "roberta")
    vocab_size = hub_layouts.write_bpe_vocab(directory, sentences(), vocab_size=700)
    # RoBERTa's positions start after the padding id: 48 + 2 for sequences of 48.
    hub_layouts.write_roberta(directory, lm_head=True, vocab_size=vocab_size,
                              max_position_embeddings=50)
    return directory


ALBERT_TEXTS = ["The film was fantastic.", "What a TEDIOUS trip that was!"]


def write_albert_release(directory):
    hub_layouts.write_spiece_model(directory, sentences(), vocab_size=300)
    # albert-base-v2's structure, small: one block shared by both layers.
    hub_layouts.write_albert(directory, pretraining=True, vocab_size=300,
                             max_position_embeddings=48, num_hidden_layers=2,
                             num_hidden_groups=1, inner_group_num=1)


@pytest.fixture(scope="module")
def albert_classifier(tmp_path_factory):
    """An ALBERT release and run_classifier's run on it, exported with tensorflow-text's
    SentencePiece op (once per test run): the fresh client of the RoBERTa test answers it
    too. Returns the directory: release/, run/, serving/<version>, expected.json (the run's
    model's probabilities for ALBERT_TEXTS)."""
    from testing import built_once

    def build(directory):
        write_albert_release(str(directory / "release"))
        data = small_data.write_opinion_csv(directory / "data", train=16, dev=8)
        out = str(directory / "run")
        run, arrays = fine_tune(ClassifierRun, ClassifierSettings, str(directory / "release"),
                                out, task_name="custom", data_dir=data, do_eval=False,
                                text_a_column="review", label_column="sentiment",
                                max_seq_length=24, tokenizer_ops="text",
                                export_dir=str(directory / "serving"))
        assert arrays["classifier.weight"].shape == (2, 12)  # AlbertForSequenceClassification
        assert arrays["albert.pooler.weight"].shape == (12, 12)
        features = run.files.tokenizer(24)(tf.constant(ALBERT_TEXTS))
        logits = run.trainer.model(features)["logits"]
        (directory / "expected.json").write_text(json.dumps(
            tf.nn.softmax(logits).numpy().tolist()))

    return built_once(tmp_path_factory, "family-scripts-albert", build)


@pytest.fixture(scope="module")
def electra_release(tmp_path_factory):
    """An ElectraForPreTraining release (electra-small-discriminator's layout) of the data's
    words: factorized tables 9 wide, hidden 12."""
    directory = str(tmp_path_factory.mktemp("family") / "electra")
    vocab_size = hub_layouts.write_wordpiece_vocab(directory, WORDS)
    hub_layouts.write_electra(directory, head="discriminator", vocab_size=vocab_size,
                              max_position_embeddings=48)
    return directory


def classifier_reads_back(run, out, texts):
    """The run's release (out/finetuned) and its run directory load to the trained
    classifier's logits on `texts`; returns (features, those logits)."""
    features = run.files.tokenizer(20)(tf.constant(texts))
    expected = run.trainer.model(features)["logits"].numpy()
    for path in (os.path.join(out, "finetuned"), out):
        model = BertClassifier.from_pretrained(path, num_labels=2)
        np.testing.assert_allclose(model(features)["logits"], expected, atol=1e-5)
    return features, expected


def fine_tune(run_class, settings_class, release, out, do_eval=True, **flags):
    lines = []
    run = run_class(settings_class(init_checkpoint=release, output_dir=out, do_train=True,
                                   do_eval=do_eval, train_batch_size=8, eval_batch_size=8,
                                   num_train_epochs=1, learning_rate=1e-3, log=lines.append,
                                   **flags))
    run.run()
    log = "\n".join(lines)
    assert "Initialized the encoder from huggingface checkpoint" in log
    assert f"in Hugging Face's format to {out}/finetuned" in log
    # The run directory says its family: config.json in the family's own names.
    assert not os.path.exists(os.path.join(out, "bert_config.json"))
    config = json.load(open(os.path.join(out, "config.json")))
    family = json.load(open(os.path.join(release, "config.json")))["model_type"]
    assert config["model_type"] == family
    assert checkpoints.resolve(out).format == "bert_tf"
    finetuned = os.path.join(out, "finetuned")
    arrays = load_file(os.path.join(finetuned, "model.safetensors"))
    if family == "albert":
        assert (config["embedding_size"], config["num_hidden_layers"]) == (10, 2)
        assert sorted(os.listdir(finetuned)) == ["config.json", "model.safetensors",
                                                 "spiece.model"]
        assert open(os.path.join(out, "spiece.model"), "rb").read() == open(
            os.path.join(release, "spiece.model"), "rb").read()
        assert arrays["albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"].shape == (
            37, 12)
        assert not [name for name in arrays if "albert_layer_groups.1" in name]
    elif family == "electra":
        assert config["embedding_size"] == 9
        assert sorted(os.listdir(finetuned)) == ["config.json", "model.safetensors", "vocab.txt"]
        assert arrays["electra.embeddings_project.weight"].shape == (12, 9)
        assert arrays["electra.encoder.layer.1.intermediate.dense.weight"].shape == (37, 12)
        assert not [name for name in arrays if "pooler" in name]
    elif family == "distilbert":
        assert config["dim"] == 12
        assert sorted(os.listdir(finetuned)) == ["config.json", "model.safetensors", "vocab.txt"]
        assert arrays["distilbert.transformer.layer.1.ffn.lin1.weight"].shape == (37, 12)
        assert not [name for name in arrays if "token_type" in name or "pooler" in name]
    else:
        # The tokenizer's own files travel with the run directory and the release.
        assert sorted(os.listdir(finetuned)) == ["config.json", "merges.txt",
                                                 "model.safetensors", "vocab.json"]
        for name in ("vocab.json", "merges.txt"):
            assert open(os.path.join(out, name), "rb").read() == open(
                os.path.join(release, name), "rb").read()
        assert arrays["roberta.encoder.layer.1.intermediate.dense.weight"].shape == (37, 12)
    return run, arrays


@pytest.mark.slow
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
    features, expected = classifier_reads_back(run, out, texts)
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


@pytest.mark.heavy
def test_run_classifier_fine_tunes_exports_and_serves_a_roberta_release(roberta_release,
                                                                       albert_classifier,
                                                                       tmp_path):
    data = small_data.write_opinion_csv(tmp_path / "data", train=48, dev=16)
    out = str(tmp_path / "run")
    run, arrays = fine_tune(ClassifierRun, ClassifierSettings, roberta_release, out,
                            task_name="custom", data_dir=data, text_a_column="review",
                            label_column="sentiment", max_seq_length=24,
                            export_dir=str(tmp_path / "serving"))
    assert "eval_accuracy" in open(os.path.join(out, "eval_results.txt")).read()
    # RobertaForSequenceClassification's head.
    assert arrays["classifier.dense.weight"].shape == (12, 12)
    assert arrays["classifier.out_proj.weight"].shape == (2, 12)
    texts = ["The film was fantastic.", "What a tedious trip that was!"]
    tokenizer = run.files.tokenizer(24)
    features = tokenizer(tf.constant(texts))
    # <s> text </s>, padded with <pad> (1), as the reference tokenizer gives it.
    reference = Tokenizer(models.BPE.from_file(os.path.join(roberta_release, "vocab.json"),
                                               os.path.join(roberta_release, "merges.txt")))
    reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    reference.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0),
                                                            add_prefix_space=False)
    for row, text in zip(features["input_ids"].numpy(), texts):
        ids = reference.encode(text).ids
        assert row.tolist() == ids + [1] * (24 - len(ids))
    expected = run.trainer.model(features)["logits"].numpy()
    for path in (os.path.join(out, "finetuned"), out):
        model = BertClassifier.from_pretrained(path, num_labels=2)
        np.testing.assert_allclose(model(features)["logits"], expected, atol=1e-5)
    exported = os.path.join(str(tmp_path / "serving"), os.listdir(tmp_path / "serving")[0])
    assert sorted(os.listdir(os.path.join(exported, "assets"))) == ["merges.txt", "vocab.json"]
    signatures = tf.saved_model.load(exported).signatures
    served = signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"], tf.nn.softmax(expected), atol=1e-5)
    # The export serves raw text in a process that has TensorFlow only (no tensorflow_text,
    # nothing of ours): the byte-level BPE runs on core TensorFlow ops. The same process
    # then imports tensorflow_text, which registers the SentencePiece op, and serves the
    # ALBERT export as TF Serving's model server (which links tensorflow-text's ops) does.
    albert = albert_classifier / "serving"
    albert = str(albert / os.listdir(albert)[0])
    client = ("import json, sys, tensorflow as tf\n"
              "def ask(path, texts):\n"
              "    return tf.saved_model.load(path).signatures['serving_default']("
              "text=tf.constant(json.loads(texts)))['probabilities'].numpy().tolist()\n"
              "def ours():\n"
              "    return sorted(m for m in sys.modules if m.split('.')[0] in "
              "('bert_tf', 'tasks', 'tensorflow_text'))\n"
              "roberta, before = ask(sys.argv[1], sys.argv[2]), ours()\n"
              "import tensorflow_text\n"
              "albert = ask(sys.argv[3], sys.argv[4])\n"
              "after = sorted(m for m in ours() if m.split('.')[0] != 'tensorflow_text')\n"
              "print(json.dumps([roberta, before, albert, after]))\n")
    done = subprocess.run([sys.executable, "-c", client, exported, json.dumps(texts), albert,
                           json.dumps(ALBERT_TEXTS)],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                          env={"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    probabilities, imported, albert_probabilities, imported_after = json.loads(
        done.stdout.strip().splitlines()[-1])
    assert imported == [] and imported_after == []
    np.testing.assert_allclose(probabilities, tf.nn.softmax(expected), atol=1e-5)
    np.testing.assert_allclose(albert_probabilities, json.loads(
        (albert_classifier / "expected.json").read_text()), atol=1e-5)
    # RoBERTa keeps one token type (type_vocab_size 1): serve_ids takes its all-zero ids.
    ids = signatures["serve_ids"]
    assert sorted(ids.structured_input_signature[1]) == ["input_ids", "input_mask",
                                                        "segment_ids"]
    assert not features["segment_ids"].numpy().any()
    served = ids(**features)
    np.testing.assert_allclose(served["probabilities"], tf.nn.softmax(expected), atol=1e-5)


@pytest.mark.slow  # make test: DistilBERT's and ELECTRA's; RoBERTa's run_classifier export
def test_export_model_and_extract_features_take_roberta(roberta_release, tmp_path):
    from in_process import run_checked, run_script

    texts = ["The film was fantastic.", "Anna Smith joined Sony."]
    # A masked-LM release holds no pooler: the encoder export serves no (random) pooled_output.
    done = run_checked("export_model.py", f"--checkpoint={roberta_release}", "--task=encoder",
                       f"--export_dir={tmp_path / 'encoder'}", "--export_version=1",
                       "--max_seq_length=16")
    assert "holds no pooler weights" in done.stdout + done.stderr
    served = tf.saved_model.load(str(tmp_path / "encoder" / "1")).signatures[
        "serving_default"](text=tf.constant(texts))
    assert "pooled_output" not in served
    encoder = TransformerEncoder.from_pretrained(roberta_release)
    features = BpeTokenizer.from_pretrained(roberta_release, max_seq_length=16)(
        tf.constant(texts))
    mask = tf.cast(features["input_mask"], tf.float32)[..., None]
    sequence = encoder(features)["sequence_output"]
    mean = tf.reduce_sum(sequence * mask, 1) / tf.reduce_sum(mask, 1)
    np.testing.assert_allclose(served["embedding"], mean, atol=1e-5)
    # The byte-level BPE has no tensorflow-text form: asking for one is a one-line error.
    done = run_script("export_model.py", f"--checkpoint={roberta_release}", "--task=encoder",
                      f"--export_dir={tmp_path / 'text'}", "--tokenizer_ops=text")
    assert done.returncode == 1 and "leave --tokenizer_ops at core" in done.stderr
    assert not os.path.exists(tmp_path / "text")

    # extract_features.py: RoBERTa's byte-level tokens (Ġ marks a leading space).
    (tmp_path / "input.txt").write_text(texts[0] + "\n")
    run_checked("extract_features.py", f"--input_file={tmp_path / 'input.txt'}",
                f"--output_file={tmp_path / 'features.jsonl'}",
                f"--init_checkpoint={roberta_release}", "--layers=-1", "--max_seq_length=16")
    line = json.loads(open(tmp_path / "features.jsonl").readline())
    tokens = [f["token"] for f in line["features"]]
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and "Ġfantastic" in tokens
    np.testing.assert_allclose(line["features"][1]["layers"][0]["values"],
                               sequence.numpy()[0, 1], atol=1e-4)


@pytest.mark.slow
def test_run_squad_and_run_tagging_fine_tune_export_and_serve_a_roberta_release(
        roberta_release, tmp_path):
    """<s> q </s></s> c </s> windows and <s> words </s> rows from the BPE's template; the
    exports answer and tag raw text as the runs' predictions do."""
    from tasks.tagging import conll

    train = small_data.write_biography_squad(tmp_path / "train.json", 24, seed=1)
    dev = small_data.write_biography_squad(tmp_path / "dev.json", 8, seed=2, evaluation=True)
    out = str(tmp_path / "squad")
    run, arrays = fine_tune(SquadRun, SquadSettings, roberta_release, out, train_file=train,
                            predict_file=dev, max_seq_length=48, doc_stride=24,
                            max_query_length=12, export_dir=str(tmp_path / "squad_serving"))
    assert arrays["qa_outputs.weight"].shape == (2, 12)
    assert "exact" in open(os.path.join(out, "eval_results.txt")).read()
    predictions = json.load(open(os.path.join(out, "predictions.json"), encoding="utf-8"))
    rows = [(qa["id"], qa["question"], p["context"])
            for p in json.load(open(dev, encoding="utf-8"))["data"][0]["paragraphs"]
            for qa in p["qas"]]
    served_dir = tmp_path / "squad_serving"
    served = tf.saved_model.load(str(served_dir / os.listdir(served_dir)[0])).signatures[
        "serving_default"](question=tf.constant([q for _, q, _ in rows]),
                           context=tf.constant([c for _, _, c in rows]))
    answers = [a.decode() for a in served["answer"].numpy()]
    # Untrained spans score close together: compare where do_predict's answer is a clear one.
    assert sum(answers[i] == predictions[qas_id] for i, (qas_id, _, _) in enumerate(rows)) >= 6
    # A max_query_length that leaves RoBERTa's four special tokens no room is a flag error.
    with pytest.raises(Exception, match=r"--max_query_length=44 \+ 4"):
        SquadRun(SquadSettings(init_checkpoint=roberta_release, output_dir=str(tmp_path / "x"),
                               do_train=True, train_file=train, max_seq_length=48,
                               max_query_length=44, log=lambda line: None)).run()

    train = small_data.write_news_jsonl(tmp_path / "train.jsonl", 24, seed=1)
    dev = small_data.write_news_jsonl(tmp_path / "dev.jsonl", 8, seed=2, evaluation=True)
    out = str(tmp_path / "tagging")
    run, arrays = fine_tune(TaggerRun, TaggerSettings, roberta_release, out, train_file=train,
                            eval_file=dev, do_predict=True, predict_file=dev,
                            max_seq_length=24, export_dir=str(tmp_path / "tagging_serving"))
    assert arrays["classifier.weight"].shape == (len(run.labels), 12)
    predicted = conll.read_sentences(os.path.join(out, "test_predictions.jsonl"))
    predicted_tags = [json.loads(line)["predicted_tags"] for line in
                      open(os.path.join(out, "test_predictions.jsonl"), encoding="utf-8")]
    served_dir = tmp_path / "tagging_serving"
    signatures = tf.saved_model.load(str(served_dir / os.listdir(served_dir)[0])).signatures
    words = [list(s.words) for s in predicted]
    width = max(map(len, words))
    by_words = signatures["serve_words"](
        words=tf.constant([w + [""] * (width - len(w)) for w in words]),
        num_words=tf.constant([len(w) for w in words]))
    by_text = signatures["serving_default"](text=tf.constant([" ".join(w) for w in words]))
    for b, (sentence, expected) in enumerate(zip(predicted, predicted_tags)):
        n = len(sentence.words)
        assert [t.decode() for t in by_words["tags"].numpy()[b, :n]] == expected, b
        assert [t.decode() for t in by_text["words"].numpy()[b, :n]] == list(sentence.words)
        assert [t.decode() for t in by_text["tags"].numpy()[b, :n]] == expected, b


def test_an_electra_discriminator_through_every_script(electra_release, tmp_path):
    """An ElectraForPreTraining release fine-tuned by run_classifier.py (ElectraClassificationHead:
    classifier.dense, GELU, out_proj; its release and run directory read back to the trained
    model), run_squad.py and run_tagging.py, and read by extract_features.py. Training and the
    released heads only: evaluation and the task exports are the task's, the same for every
    family (DistilBERT's and RoBERTa's tests run them)."""
    from in_process import run_checked

    data = small_data.write_opinion_csv(tmp_path / "data", train=24, dev=8)
    out = str(tmp_path / "run")
    run, arrays = fine_tune(ClassifierRun, ClassifierSettings, electra_release, out,
                            do_eval=False, task_name="custom", data_dir=data,
                            text_a_column="review", label_column="sentiment", max_seq_length=20)
    assert arrays["classifier.dense.weight"].shape == (12, 12)
    assert arrays["classifier.out_proj.weight"].shape == (2, 12)
    texts = ["The film was fantastic.", "What a tedious trip that was!"]
    classifier_reads_back(run, out, texts)

    train = small_data.write_biography_squad(tmp_path / "train.json", 12, seed=1)
    run, arrays = fine_tune(SquadRun, SquadSettings, electra_release, str(tmp_path / "squad"),
                            do_eval=False, train_file=train, max_seq_length=48, doc_stride=24,
                            max_query_length=12)
    assert arrays["qa_outputs.weight"].shape == (2, 12)
    train = small_data.write_news_jsonl(tmp_path / "train.jsonl", 12, seed=1)
    run, arrays = fine_tune(TaggerRun, TaggerSettings, electra_release, str(tmp_path / "tagging"),
                            do_eval=False, train_file=train, max_seq_length=24)
    assert arrays["classifier.weight"].shape == (len(run.labels), 12)

    # extract_features.py: the last layer's token states. (export_model.py takes an ELECTRA
    # run's directory in test_electra_pretraining.py.)
    encoder = TransformerEncoder.from_pretrained(electra_release)
    features = BertTokenizer(os.path.join(electra_release, "vocab.txt"), max_seq_length=16)(
        tf.constant(texts))
    sequence = encoder(features)["sequence_output"]
    (tmp_path / "input.txt").write_text(texts[0] + "\n")
    run_checked("extract_features.py", f"--input_file={tmp_path / 'input.txt'}",
                f"--output_file={tmp_path / 'features.jsonl'}",
                f"--init_checkpoint={electra_release}", "--layers=-1", "--max_seq_length=16")
    line = json.loads(open(tmp_path / "features.jsonl").readline())
    assert line["features"][1]["token"] == "the"
    np.testing.assert_allclose(line["features"][1]["layers"][0]["values"],
                               sequence.numpy()[0, 1], atol=1e-4)


@pytest.mark.heavy
def test_albert_through_every_script_and_its_text_export(albert_classifier, tmp_path):
    """run_classifier.py (exported with tensorflow-text's SentencePiece op), run_squad.py,
    run_tagging.py, export_model.py and extract_features.py on an ALBERT release; the
    --tokenizer_ops=core a SentencePiece cannot have is a one-line error."""
    from in_process import run_checked, run_script
    from bert_tf.models.bert.release import resolve_model_files
    from bert_tf.tokenization import SentencePieceTokenizer

    albert_release, out = str(albert_classifier / "release"), str(albert_classifier / "run")
    texts = ALBERT_TEXTS
    tokenizer = resolve_model_files(out).tokenizer(24)
    assert isinstance(tokenizer, SentencePieceTokenizer) and tokenizer.do_lower_case
    features = tokenizer(tf.constant(texts))
    assert features["input_ids"].numpy()[:, 0].tolist() == [2, 2]  # [CLS]
    # The release and the run directory read back to the run's model; so does its export.
    expected = np.array(json.loads((albert_classifier / "expected.json").read_text()))
    for path in (os.path.join(out, "finetuned"), out):
        model = BertClassifier.from_pretrained(path, num_labels=2)
        np.testing.assert_allclose(tf.nn.softmax(model(features)["logits"]), expected,
                                   atol=1e-5)
    exported = albert_classifier / "serving"
    exported = str(exported / os.listdir(exported)[0])
    assert os.listdir(os.path.join(exported, "assets")) == ["spiece.model"]
    served = tf.saved_model.load(exported).signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)

    train = small_data.write_biography_squad(tmp_path / "train.json", 16, seed=1)
    dev = small_data.write_biography_squad(tmp_path / "dev.json", 6, seed=2, evaluation=True)
    run, arrays = fine_tune(SquadRun, SquadSettings, albert_release, str(tmp_path / "squad"),
                            train_file=train, predict_file=dev, max_seq_length=48,
                            doc_stride=24, max_query_length=12)
    assert arrays["qa_outputs.weight"].shape == (2, 12)
    assert "exact" in open(os.path.join(str(tmp_path / "squad"), "eval_results.txt")).read()
    train = small_data.write_news_jsonl(tmp_path / "train.jsonl", 16, seed=1)
    run, arrays = fine_tune(TaggerRun, TaggerSettings, albert_release, str(tmp_path / "tag"),
                            train_file=train, max_seq_length=24, do_eval=False)
    assert arrays["classifier.weight"].shape == (len(run.labels), 12)

    # SentencePiece has no core-ops form: the default --tokenizer_ops=core is a one-line error,
    # before a training run trains.
    from bert_tf.errors import UserError
    with pytest.raises(UserError, match="pass --tokenizer_ops=text"):
        TaggerRun(TaggerSettings(init_checkpoint=albert_release, output_dir=str(tmp_path / "x"),
                                 do_train=True, train_file=train, export_dir=str(tmp_path / "e"),
                                 log=lambda line: None)).run()
    assert not os.path.exists(tmp_path / "e")
    done = run_script("export_model.py", f"--checkpoint={albert_release}", "--task=encoder",
                      f"--export_dir={tmp_path / 'core'}")
    assert done.returncode == 1 and "pass --tokenizer_ops=text" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not os.path.exists(tmp_path / "core")
    # (With --tokenizer_ops=text export_model.py writes the export run_classifier.py's
    # --export_dir wrote above, through the same ModelFiles.export_tokenizer.)
    encoder = TransformerEncoder.from_pretrained(albert_release)
    features = SentencePieceTokenizer.from_pretrained(albert_release, max_seq_length=16)(
        tf.constant(texts))
    out = encoder(features)
    (tmp_path / "input.txt").write_text(texts[0] + "\n")
    run_checked("extract_features.py", f"--input_file={tmp_path / 'input.txt'}",
                f"--output_file={tmp_path / 'features.jsonl'}",
                f"--init_checkpoint={albert_release}", "--layers=-1", "--max_seq_length=16")
    line = json.loads(open(tmp_path / "features.jsonl").readline())
    tokens = [f["token"] for f in line["features"]]
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "\u2581the" in tokens
    np.testing.assert_allclose(line["features"][1]["layers"][0]["values"],
                               out["sequence_output"].numpy()[0, 1], atol=1e-4)
