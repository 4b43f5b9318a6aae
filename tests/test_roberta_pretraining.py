"""run_pretraining.py with RoBERTa's objective: full-sentence records, dynamic masking, masked LM
alone, from a hub-layout RobertaForMaskedLM directory to a Hugging Face release and a fill-mask
export."""

import os
import shutil
import types

import numpy as np
import pytest
import tensorflow as tf

import hub_layouts
from bert_tf.errors import UserError
from bert_tf.models.roberta import RobertaMaskedLM
from bert_tf.training.run import FlagError
from hub_layouts import write_bpe_vocab
from in_process import run_checked
from tasks.pretraining import run as pretraining_run
from testing import built_once, minilm_dir, tiny_config, write_corpus

SEQ, PRED = 29, 5
STEPS = 24  # two loops of 12, a checkpoint after each


def _write_data(directory):
    """A small corpus (12 blocks: the model sees it 16 times), its BPE, a random RobertaForMaskedLM
    release of that vocabulary in the hub's layout with the BPE's files, full-sentence records."""
    # Two documents, each four times: a corpus of a few dozen words, which the BPE learns
    # whole and the model can learn in a few dozen steps.
    write_corpus(directory / "documents.txt", documents=2, sentences=3)
    text = (directory / "documents.txt").read_text(encoding="utf-8")
    corpus = directory / "corpus.txt"
    corpus.write_text(text * 4, encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    vocab = write_bpe_vocab(str(directory / "bpe"), lines, 601)
    sizes = dict(vocab_size=vocab, max_position_embeddings=SEQ + 2)
    for name, lm_head in (("hub", True), ("hub_model", False)):
        hub_layouts.write_roberta(directory / name, lm_head=lm_head, **sizes)
        for file in ("vocab.json", "merges.txt", "tokenizer_config.json"):
            shutil.copy(directory / "bpe" / file, directory / name / file)
    run_checked("create_pretraining_data.py", f"--input_file={corpus}",
                f"--output_file={directory / 'train.tfrecord'}",
                f"--vocab_file={directory / 'hub'}", f"--max_seq_length={SEQ}",
                "--num_workers=0")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    directory = built_once(tmp_path_factory, "roberta_pretraining_data", _write_data)
    return types.SimpleNamespace(dir=directory, records=str(directory / "train.tfrecord"),
                                 hub=str(directory / "hub"), hub_model=str(directory / "hub_model"))


def flags(data, output_dir, **changes):
    values = dict(input_file=data.records, output_dir=str(output_dir), init_checkpoint=data.hub,
                  dynamic_masking=True, do_train=True, train_batch_size=8,
                  max_seq_length=SEQ, max_predictions_per_seq=PRED, num_train_steps=STEPS,
                  num_warmup_steps=2, learning_rate=1e-2, save_checkpoints_steps=12,
                  iterations_per_loop=12, seed=3)
    values.update(changes)
    return values


def command_line(values):
    return [f"--{k}" if v is True else f"--no{k}" if v is False else f"--{k}={v}"
            for k, v in values.items() if v is not None]


def eval_results(directory):
    return {key: float(value) for key, value in (
        line.split(" = ") for line in open(os.path.join(directory, "eval_results.txt")))}


def checksum(lines):
    return [line.rsplit(" ", 1)[1] for line in lines if "weights checksum" in line][0]


def _train(data):
    def build(directory):
        # The masked-LM loss of the release, then after training, on the same masks.
        common = dict(do_eval=True, eval_batch_size=16, max_eval_steps=4)
        before = run_checked("run_pretraining.py", *command_line(
            flags(data, directory / "untrained", do_train=False, **common)))
        trained = run_checked("run_pretraining.py", *command_line(
            flags(data, directory / "run", export_dir=directory / "serving", **common)))
        (directory / "untrained.log").write_text(before.stdout)
        (directory / "run.log").write_text(trained.stdout)
    return build


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    directory = built_once(tmp_path_factory, "roberta_pretraining_run", _train(data))
    return types.SimpleNamespace(
        dir=directory, run=str(directory / "run"), log=(directory / "run.log").read_text(),
        release=str(directory / "run" / "pretrained"), serving=str(directory / "serving"),
        before=eval_results(directory / "untrained"), after=eval_results(directory / "run"))


def test_masked_lm_loss_goes_down(trained):
    """From the random hub-layout release, 24 steps on the small corpus lower the held-out
    masked-LM loss (the same dynamic masks before and after) well below 0.8 of what it was;
    only masked-LM terms are reported."""
    assert "Initialized from huggingface checkpoint" in trained.log
    assert f"step {STEPS}/{STEPS}" in trained.log
    assert set(trained.after) == {"global_step", "loss", "masked_lm_accuracy", "masked_lm_loss"}
    assert trained.before["global_step"] == 0 and trained.after["global_step"] == STEPS
    assert trained.after["loss"] == trained.after["masked_lm_loss"]
    # Measured: 6.80 -> 3.79 (accuracy 0 -> 0.125); the unigram entropy of the corpus's
    # tokens is 3.90, ln(569) = 6.34.
    assert trained.after["masked_lm_loss"] < 0.8 * trained.before["masked_lm_loss"], (
        trained.before, trained.after)


def test_release_is_a_hugging_face_roberta(trained, data):
    """pretrained/ is config.json, model.safetensors and the BPE's files; it loads as
    RobertaMaskedLM with the last checkpoint's weights, and as run_classifier.py's
    --init_checkpoint (the encoder, the byte-level BPE)."""
    from bert_tf.models.bert.release import resolve_model_files
    from tasks.classification.model import BertClassifier

    assert sorted(os.listdir(trained.release)) == ["config.json", "merges.txt",
                                                   "model.safetensors", "vocab.json"]
    assert "Hugging Face's format" in trained.log
    loaded = RobertaMaskedLM.from_pretrained(trained.release)
    at_end = RobertaMaskedLM(loaded.config)
    tf.train.Checkpoint(model=at_end).restore(
        os.path.join(trained.run, f"ckpt-{STEPS}")).expect_partial()
    named = at_end.named_weights()  # every weight but the pooler, which is not trained
    assert len(named) == len(loaded.weights) - 2
    for path, variable in loaded.named_weights().items():
        np.testing.assert_array_equal(variable.numpy(), named[path].numpy(), err_msg=path)
    hub = RobertaMaskedLM.from_pretrained(data.hub)
    assert np.abs(hub.mlm_transform.kernel.numpy() - loaded.mlm_transform.kernel.numpy()).max() > 1e-3
    files = resolve_model_files(trained.release)
    tokenizer = files.tokenizer(SEQ)
    assert type(tokenizer).__name__ == "BpeTokenizer" and files.config == loaded.config
    classifier = BertClassifier.from_pretrained(trained.release, num_labels=2)
    np.testing.assert_array_equal(classifier.encoder.embeddings.word_embeddings.numpy(),
                                  loaded.word_embeddings.numpy())


def test_fill_mask_export(trained, tmp_path):
    """The run's export and export_model.py --task=pretrainer on the release serve raw text
    with <mask>: each mask's prediction is the release's argmax at that position."""
    from bert_tf.tokenization import BpeTokenizer

    run_checked("export_model.py", f"--checkpoint={trained.release}", "--task=pretrainer",
                f"--export_dir={tmp_path / 'export'}", "--export_version=3")
    texts = ["Once <mask> a time there was a <mask>.", "No mask at all.", "<mask>"]
    model = RobertaMaskedLM.from_pretrained(trained.release)
    tokenizer = BpeTokenizer.from_pretrained(trained.release)
    served = {}
    for path in (os.path.join(trained.serving, str(STEPS)), str(tmp_path / "export" / "3")):
        out = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts))
        served[path] = {k: v.numpy() for k, v in out.items()}
    first, second = served.values()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    # The same ids from the tokenizer: "Once", <mask>, " a time ...", with the space before
    # each <mask> taken into the mask.
    pieces = [tokenizer.tokenize(part).numpy().tolist() for part in
              ("Once", " a time there was a", ".")]
    ids = [tokenizer.cls_id, *pieces[0], tokenizer.mask_id, *pieces[1], tokenizer.mask_id,
           *pieces[2], tokenizer.sep_id]
    at = [i for i, token in enumerate(ids) if token == tokenizer.mask_id]
    logits = model({"input_ids": np.array([ids], np.int32),
                    "input_mask": np.ones((1, len(ids)), np.int32),
                    "masked_lm_positions": np.array([at], np.int32)})["mlm_logits"].numpy()
    assert first["mask_positions"].tolist() == [at, [-1, -1], [1, -1]]
    assert first["predicted_ids"][0].tolist() == logits[0].argmax(-1).tolist()
    assert first["predicted_tokens"][0].tolist() == [
        tokenizer.id_to_token(i).encode() for i in logits[0].argmax(-1)]


@pytest.mark.slow
def test_stopped_and_started_again_equals_an_uninterrupted_run(data, trained, tmp_path):
    """A run stopped after its step-12 checkpoint and started again ends with the weights of
    the uninterrupted run (the fixture's, which also evaluated and exported)."""
    lines = []

    class Stopped(Exception):
        pass

    def stop_after_the_first_checkpoint(line):
        lines.append(line)
        if line.startswith("Saved checkpoint") and line.endswith("ckpt-12"):
            raise Stopped

    values = flags(data, tmp_path / "run")
    with pytest.raises(Stopped):
        pretraining_run.run(pretraining_run.PretrainingSettings(
            **values, log=stop_after_the_first_checkpoint))
    assert not os.path.exists(tmp_path / "run" / "pretrained")
    lines.clear()
    pretraining_run.run(pretraining_run.PretrainingSettings(**values, log=lines.append))
    assert any(line.startswith("Resumed from") and "at step 12" in line for line in lines)
    assert checksum(lines) == checksum(trained.log.splitlines())


def test_a_roberta_model_release_starts_a_fresh_head(data, tmp_path):
    """From a RobertaModel directory (no lm_head): the encoder is loaded, the log says the head
    starts fresh, and the release holds a trained one. --model_config_file names the config."""
    done = run_checked("run_pretraining.py", *command_line(flags(
        data, tmp_path / "run", init_checkpoint=data.hub_model, num_train_steps=2,
        save_checkpoints_steps=2, iterations_per_loop=2,
        model_config_file=os.path.join(data.hub_model, "config.json"))))
    assert ("holds no RobertaMaskedLM head: the pretraining head starts fresh"
            in done.stdout), done.stdout
    release = RobertaMaskedLM.from_pretrained(str(tmp_path / "run" / "pretrained"),
                                              require_head=True)
    hub = RobertaMaskedLM.from_pretrained(data.hub_model)
    assert np.abs(release.word_embeddings.numpy() - hub.word_embeddings.numpy()).max() < 0.1


def checked(data, tmp_path, **changes):
    return pretraining_run.PretrainingRun.checked(pretraining_run.PretrainingSettings(
        **flags(data, tmp_path / "run", **changes), log=lambda line: None))


def test_flags_say_what_a_directory_cannot(data, tmp_path):
    """From scratch with --model_config_file and the BPE; inconsistent or missing model files
    are one-line errors before anything is built."""
    bert_config = tmp_path / "bert_config.json"
    tiny_config(vocab_size=331, max_position_embeddings=SEQ).to_json_file(str(bert_config))
    config = os.path.join(data.hub, "config.json")
    vocab = os.path.join(data.hub, "vocab.json")
    run = checked(data, tmp_path, init_checkpoint=None, model_config_file=config,
                  vocab_file=vocab)
    assert run.model_class is RobertaMaskedLM and run.vocab_file == vocab
    assert checked(data, tmp_path).vocab_file == vocab  # the checkpoint's
    errors = {
        "--bert_config_file and --model_config_file both": dict(
            bert_config_file=str(bert_config), model_config_file=config),
        "--bert_config_file describes a BERT model but --init_checkpoint=": dict(
            bert_config_file=str(bert_config)),
        "a RoBERTa run releases the model with its tokenizer: pass --vocab_file": dict(
            init_checkpoint=None, model_config_file=config, dynamic_masking=False),
        "is a wordpiece vocabulary but RoBERTa models use bpe": dict(
            vocab_file=os.path.join(minilm_dir(), "vocab.txt")),
        "--do_whole_word_mask needs a WordPiece vocab.txt": dict(do_whole_word_mask=True),
        "--tokenizer_ops=text: a byte-level BPE": dict(export_dir=str(tmp_path / "e"),
                                                       tokenizer_ops="text"),
        "holds full sentences without next_sentence_labels, but BERT pretraining predicts the "
        "next sentence": dict(init_checkpoint=None, bert_config_file=str(bert_config),
                              vocab_file=os.path.join(minilm_dir(), "vocab.txt")),
        "holds unmasked records: pass --dynamic_masking": dict(dynamic_masking=False),
    }
    for message, changes in errors.items():
        with pytest.raises(FlagError) as raised:
            checked(data, tmp_path, **changes)
        assert message in str(raised.value), (message, str(raised.value))
    distilbert = tmp_path / "distilbert.json"
    hub_layouts._save(tmp_path / "d", {"x": np.zeros(1, np.float32)},
                      hub_layouts.distilbert_config())
    shutil.copy(tmp_path / "d" / "config.json", distilbert)
    with pytest.raises(UserError, match="there is no DistilBERT pretraining model"):
        checked(data, tmp_path, init_checkpoint=None, model_config_file=str(distilbert),
                vocab_file=os.path.join(minilm_dir(), "vocab.txt"))
    assert not os.path.exists(tmp_path / "run")
