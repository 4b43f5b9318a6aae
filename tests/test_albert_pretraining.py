"""ALBERT's pretraining: sentence-order pairs from create_pretraining_data.py, and
run_pretraining.py training AlbertPretrainer (masked LM + sentence order) to a Hugging Face
AlbertForPreTraining release."""

import os
import types

import numpy as np
import pytest

import hub_layouts
from bert_tf.models.albert import AlbertConfig, AlbertPretrainer
from bert_tf.tokenization.template import Template
from in_process import run_checked, run_script
from tasks.pretraining import examples
from testing import built_once

SEQ, PRED, STEPS, VOCAB = 32, 5, 40, 120


def sentence_chunk(documents=1500, seed=0):
    """Documents of 2 to 9 sentences of 3 to 14 tokens; token t of sentence s is 1000 * s + t,
    so a segment says which sentences it holds."""
    rng = np.random.default_rng(seed)
    docs, s = [], 0
    for _ in range(documents):
        doc = []
        for _ in range(rng.integers(2, 10)):
            doc.append(1000 * s + np.arange(rng.integers(3, 15)))
            s += 1
        docs.append(doc)
    return examples.Chunk.from_documents(docs), s


def test_sentence_order_pairs_are_consecutive_segments_swapped_half_the_time():
    chunk, _ = sentence_chunk()
    options = examples.Options(max_seq_length=40, template=Template.bert(2, 3, 0),
                               sentence_order=True, vocab_size=10 ** 6, mask_id=4)
    rng = np.random.default_rng(1)
    rows = [r for d in range(chunk.num_documents)
            for r in examples.instances_from_document(chunk, d, options, rng)]
    document_of = np.searchsorted(chunk.document_splits, np.searchsorted(
        chunk.sentence_splits, np.arange(len(chunk.tokens)), side="right") - 1, side="right") - 1
    kinds = {"in order": 0, "swapped": 0, "other document": 0}
    for a0, a1, b0, b1, label in rows:
        same = document_of[a0] == document_of[b0 if b1 > b0 else a0]
        if a1 == b0 and same:  # A then B, consecutive
            assert not label
            kinds["in order"] += 1
        elif b1 == a0 and same:  # B's text comes right before A's: the pair swapped
            assert label
            kinds["swapped"] += 1
        else:
            # ALBERT's one exception: a group of one sentence takes B from another document.
            assert label and not same
            first = np.searchsorted(chunk.sentence_splits, a0)
            assert chunk.sentence_splits[first + 1] == a1  # A is one whole sentence
            kinds["other document"] += 1
    total = sum(kinds.values())
    print("sentence-order pairs:", kinds)
    assert total > 1000
    labels = np.array([r[4] for r in rows], float)
    # Half the splittable groups are swapped; one-sentence groups (about 14% of the pairs of
    # these short documents) add other-document negatives, as in google-research/albert.
    assert 0.46 < kinds["swapped"] / (kinds["swapped"] + kinds["in order"]) < 0.54, kinds
    assert kinds["other document"] < 0.2 * total and 0.5 < labels.mean() < 0.65
    # BERT's next-sentence pairs from the same chunk: negatives from other documents.
    bert = examples.Options(max_seq_length=40, template=Template.bert(2, 3, 0), vocab_size=10 ** 6,
                            mask_id=4)
    rows = [r for d in range(chunk.num_documents)
            for r in examples.instances_from_document(chunk, d, bert, np.random.default_rng(1))]
    assert all(document_of[b0] != document_of[a0] for a0, a1, b0, b1, label in rows if label)


WORDS = ("the a reader library book shelf borrows returns quiet room opens closes late early "
         "today card staff helps finds lends new old story history science map desk lamp "
         "window floor stairs catalogue index page chapter author title copy loan fine").split()


def _write_data(directory):
    """24 documents of 8 short sentences over a few dozen words, repeated (a SentencePiece
    model of 120 pieces holds the words whole, so pairs span several sentences); a
    spiece.model learned from it; an ALBERT config of that vocabulary; sentence-order
    records from create_pretraining_data.py."""
    rng = np.random.default_rng(0)
    documents = ["\n".join(" ".join(rng.choice(WORDS, rng.integers(3, 7))).capitalize() + "."
                           for _ in range(8)) for _ in range(24)]
    text = "\n\n".join(documents) + "\n"
    (directory / "corpus.txt").write_text(text * 3, encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    hub_layouts.write_spiece_model(directory / "spiece", lines, vocab_size=VOCAB)
    config = AlbertConfig(vocab_size=VOCAB, embedding_size=10, hidden_size=24,
                          num_hidden_layers=2, num_hidden_groups=1, num_attention_heads=3,
                          intermediate_size=37, max_position_embeddings=SEQ)
    config.to_json_file(str(directory / "config.json"))
    done = run_checked("create_pretraining_data.py", f"--input_file={directory / 'corpus.txt'}",
                       f"--output_file={directory / 'train.tfrecord'}",
                       f"--vocab_file={directory / 'spiece'}", f"--max_seq_length={SEQ}",
                       f"--max_predictions_per_seq={PRED}", "--dupe_factor=2",
                       "--num_workers=0")
    (directory / "data.log").write_text(done.stdout + done.stderr)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    def build(directory):
        _write_data(directory)
        done = run_checked(
            "run_pretraining.py", f"--input_file={directory / 'train.tfrecord'}",
            f"--output_dir={directory / 'run'}",
            f"--model_config_file={directory / 'config.json'}",
            f"--vocab_file={directory / 'spiece' / 'spiece.model'}", "--do_train", "--do_eval",
            "--train_batch_size=8", "--eval_batch_size=16", "--max_eval_steps=4",
            f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PRED}",
            f"--num_train_steps={STEPS}", "--num_warmup_steps=3", "--learning_rate=1e-2",
            "--iterations_per_loop=20", "--save_checkpoints_steps=40", "--seed=3")
        (directory / "run.log").write_text(done.stdout + done.stderr)

    directory = built_once(tmp_path_factory, "albert_pretraining", build)
    results = {key: float(value) for key, value in (
        line.split(" = ") for line in open(directory / "run" / "eval_results.txt"))}
    return types.SimpleNamespace(dir=directory, log=(directory / "run.log").read_text(),
                                 results=results)


def test_sentence_order_records_by_default_for_a_sentencepiece_model(trained):
    import tensorflow as tf

    from tasks.pretraining import inputs

    spec = inputs.feature_spec(SEQ, PRED, masked=True, next_sentence=True)
    records = [tf.io.parse_single_example(r, spec) for r in
               tf.data.TFRecordDataset(str(trained.dir / "train.tfrecord"))]
    labels = np.array([int(r["next_sentence_labels"][0]) for r in records])
    assert len(records) > 100 and 0.4 < labels.mean() < 0.65, labels.mean()
    first = records[0]["input_ids"].numpy()
    assert first[0] == 2 and 3 in first  # [CLS] A [SEP] B [SEP]
    # Whole-word masking has no "##" pieces to go by in a SentencePiece model.
    done = run_script("create_pretraining_data.py", f"--input_file={trained.dir / 'corpus.txt'}",
                      f"--output_file={trained.dir / 'x.tfrecord'}",
                      f"--vocab_file={trained.dir / 'spiece'}", "--do_whole_word_mask")
    assert done.returncode == 1 and "is a SentencePiece model" in done.stderr


def test_albert_pretraining_learns_and_releases_albert_for_pretraining(trained):
    """40 steps from random weights take the held-out masked-LM loss well below a random
    model's ln(120) = 4.79 (measured 3.56; the corpus's unigram entropy is about 3.9);
    the sentence-order terms are reported beside it, the loss their
    sum; the release is AlbertForPreTraining's layout with the spiece.model."""
    from safetensors.numpy import load_file

    r = trained.results
    assert set(r) == {"global_step", "loss", "masked_lm_accuracy", "masked_lm_loss",
                      "sentence_order_accuracy", "sentence_order_loss"}
    print("ALBERT pretraining eval:", r)
    assert r["global_step"] == STEPS
    assert abs(r["loss"] - r["masked_lm_loss"] - r["sentence_order_loss"]) < 1e-4
    assert r["masked_lm_loss"] < 0.85 * np.log(VOCAB), r
    assert r["sentence_order_loss"] < 1.0, r  # ln 2 = 0.69 at chance; finite, trained
    release = trained.dir / "run" / "pretrained"
    assert sorted(os.listdir(release)) == ["config.json", "model.safetensors", "spiece.model"]
    arrays = load_file(str(release / "model.safetensors"))
    assert arrays["predictions.dense.weight"].shape == (10, 24)  # H -> E
    assert arrays["sop_classifier.classifier.weight"].shape == (2, 24)
    assert "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight" in arrays
    model = AlbertPretrainer.from_pretrained(str(release), require_head=True)
    np.testing.assert_array_equal(model.sop.kernel.numpy(),
                                  arrays["sop_classifier.classifier.weight"].T)
