"""run_tagging.py end to end: a generated NER set is learned, every file is written, the export
tags raw text in a fresh TensorFlow-only process exactly as --do_predict did, and a run starts
from the real all-MiniLM-L6-v2 directory."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from in_process import run_checked
from tasks.tagging import conll, metrics, schemes
from testing import built_once, minilm_dir, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ("PER", "LOC", "ORG")
MAX_SEQ = 24


def run(flags):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "run_tagging.py"), *flags],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if done.returncode:
        raise AssertionError(f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}")
    return done


def run_here(flags):
    """run_tagging.py with these flags in this process (see in_process.py); `run` starts a
    process of its own."""
    return run_checked("run_tagging.py", *flags)


def results(path):
    return dict(line.split(" = ") for line in open(path).read().splitlines())


def generated_sentences(rng, count, lengths):
    """A learnable NER set: per type, words that start an entity and words that continue one
    (as first names and surnames do), in random context; a third of the entity words are two
    glued together (several wordpieces). Entities of a type never touch. Returns [(words, IOB2)]."""
    words = [w.strip() for w in open(os.path.join(minilm_dir(), "vocab.txt"), encoding="utf-8")]
    words = [w for w in words[2000:12000] if w.isalpha() and w.isascii()]
    order = np.random.default_rng(0).permutation(len(words))  # the same lists for every split
    lists = {(kind, part): [words[i] for i in order[40 * k + 25 * p:40 * k + 25 + 15 * p]]
             for k, kind in enumerate(TYPES) for p, part in enumerate("BI")}
    context = [words[i] for i in order[120:320]] + [",", ".", "(", ")"]

    def entity_word(kind, part):
        word = rng.choice(lists[kind, part])
        return word + rng.choice(lists[kind, part]) if rng.random() < 0.3 else word

    found = []
    for _ in range(count):
        length, sentence, tags = rng.choice(lengths), [], []
        while len(sentence) < length:
            if (not tags or tags[-1] == "O") and rng.random() < 0.35:
                kind = rng.choice(TYPES)
                for i in range(rng.integers(1, 4)):
                    sentence.append(entity_word(kind, "I" if i else "B"))
                    tags.append(f"{'I' if i else 'B'}-{kind}")
            else:
                sentence.append(rng.choice(context))
                tags.append("O")
        found.append((sentence, tags))
    return found


def write_conll(path, sentences):
    """CoNLL-2003's layout (word POS chunk NER, -DOCSTART- per document) with IOB1 tags."""
    lines = []
    for i, (words, tags) in enumerate(sentences):
        if i % 10 == 0:
            lines += ["-DOCSTART- -X- -X- O", ""]
        iob1 = schemes.from_iob2(tags, "IOB1")
        lines += [f"{w} NN I-NP {t}" for w, t in zip(words, iob1)] + [""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run: train, evaluate, predict (sentences up to 70 words: windows) and export;
    once per test run, whichever worker gets here first."""
    rng = np.random.default_rng(1)
    data = {split: generated_sentences(rng, n, lengths) for split, n, lengths in
            (("train", 320, range(3, 14)), ("dev", 100, range(3, 14)),
             ("test", 24, [3, 8, 13, 45, 70]))}

    def train(tmp):
        paths = {split: write_conll(tmp / f"{split}.txt", rows) for split, rows in data.items()}
        config = tmp / "config.json"
        tiny_config(vocab_size=30522, max_position_embeddings=64, hidden_size=32,
                    num_attention_heads=4, intermediate_size=64, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0).to_json_file(str(config))
        done = run_here([f"--train_file={paths['train']}", f"--eval_file={paths['dev']}",
                         f"--predict_file={paths['test']}", "--tag_scheme=iob1",
                         f"--vocab_file={os.path.join(minilm_dir(), 'vocab.txt')}",
                         f"--bert_config_file={config}", f"--max_seq_length={MAX_SEQ}",
                         "--train_batch_size=16", "--learning_rate=3e-3",
                         "--num_train_epochs=3", "--adam_bias_correction", "--deterministic",
                         "--seed=3", "--do_train", "--do_eval", "--do_predict",
                         f"--output_dir={tmp / 'run'}", f"--export_dir={tmp / 'serving'}"])
        (tmp / "stdout.txt").write_text(done.stdout)

    tmp = built_once(tmp_path_factory, "test_run_tagging", train)
    paths = {split: str(tmp / f"{split}.txt") for split in data}
    return data, paths, tmp / "run", tmp / "serving", (tmp / "stdout.txt").read_text()


@pytest.mark.heavy
def test_learns_entities_and_writes_every_file(trained):
    data, paths, out, serving, stdout = trained
    found = results(out / "eval_results.txt")
    assert {"eval_precision", "eval_recall", "eval_f1", "eval_accuracy", "eval_loss",
            "global_step", "loss", "eval_PER_f1", "eval_LOC_support"} <= set(found)
    gold = [tags for _, tags in data["dev"]]
    baseline, _ = metrics.entity_scores(gold, [["O"] * len(tags) for tags in gold])
    # The majority tag, O, finds no entity: F1 0. Seen here: 0.98 after these 60 steps.
    assert baseline.f1 == 0.0 and float(found["eval_f1"]) > baseline.f1 + 0.6
    assert found["global_step"] == str(int(320 / 16 * 3))
    assert int(found["eval_PER_support"]) == sum(t.startswith("B-PER") for ts in gold for t in ts)
    assert open(out / "label_list.txt").read().split() == [
        "O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER"]
    info = json.load(open(out / "run.json"))
    assert info["task"] == "tagging" and info["window_stride"] == (MAX_SEQ - 2) // 2
    reader = tf.train.load_checkpoint(str(out / "finetuned" / "bert_model.ckpt"))
    assert reader.get_variable_to_shape_map()["output_weights"] == [7, 32]
    assert os.path.isfile(out / "finetuned" / "vocab.txt")
    # The predict file as it was, one predicted IOB1 column more; -DOCSTART- lines kept.
    source = open(paths["test"]).read().splitlines()
    written = open(out / "test_predictions.txt").read().splitlines()
    assert [line.rsplit(" ", 1)[0] if line and not line.startswith("-DOC") else line
            for line in written] == source
    predicted = conll.read_conll(str(out / "test_predictions.txt"))
    assert [s.words for s in predicted] == [tuple(w) for w, _ in data["test"]]
    iob2 = [schemes.to_iob2(s.tags, "IOB1") for s in predicted]  # valid IOB1
    scores, _ = metrics.entity_scores([t for _, t in data["test"]], iob2)
    assert scores.f1 > 0.6
    assert os.listdir(serving) == [str(int(320 / 16 * 3))]
    assert "Exported tagger (core tokenizer ops)" in stdout


# The client of the fresh-process check: TensorFlow only.
FRESH_CLIENT = """
import json, sys
import tensorflow as tf
sentences = json.load(open(sys.argv[2]))
before = set(sys.modules)
model = tf.saved_model.load(sys.argv[1])
width = max(map(len, sentences))
answers = {
    "serving_default": model.signatures["serving_default"](
        text=tf.constant([" ".join(words) for words in sentences])),
    "serve_words": model.signatures["serve_words"](
        words=tf.constant([words + [""] * (width - len(words)) for words in sentences]),
        num_words=tf.constant([len(words) for words in sentences], tf.int32)),
}
result = {}
for name, out in answers.items():
    result[name] = {k: [[x.decode() if isinstance(x, bytes) else x for x in row]
                        for row in v.numpy().tolist()] if v.shape.rank == 2 else v.numpy().tolist()
                    for k, v in out.items()}
result["modules"] = sorted(m for m in set(sys.modules) - before
                           if m.split(".")[0] in ("bert_tf", "tasks", "keras", "keras_hub"))
print(json.dumps(result))
"""


@pytest.mark.slow
def test_export_in_a_fresh_process_tags_as_do_predict(trained, tmp_path):
    data, _, out, serving, _ = trained
    predicted = conll.read_conll(str(out / "test_predictions.txt"))
    sentences = [list(s.words) for s in predicted] + [[]]
    expected = [schemes.to_iob2(s.tags, "IOB1") for s in predicted] + [[]]
    assert max(map(len, sentences)) > MAX_SEQ  # some sentences need windows
    (tmp_path / "client.py").write_text(FRESH_CLIENT)
    (tmp_path / "sentences.json").write_text(json.dumps(sentences))
    done = subprocess.run([sys.executable, str(tmp_path / "client.py"),
                           str(serving / os.listdir(serving)[0]), str(tmp_path / "sentences.json")],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                          env={"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got.pop("modules") == []  # loading needed no bert_tf and no more of keras
    for signature, answer in got.items():
        for b, (words, tags) in enumerate(zip(sentences, expected)):
            n = answer["num_words"][b]
            assert n == len(words) and answer["words"][b][:n] == words, signature
            assert answer["tags"][b][:n] == tags, (signature, b)
            entities = metrics.entities(tags)
            e = answer["num_entities"][b]
            assert [(answer["entity_type"][b][k], answer["entity_word_start"][b][k],
                     answer["entity_word_end"][b][k]) for k in range(e)] == entities
            texts = [" ".join(words[s:t]) for _, s, t in entities]
            assert answer["entity_text"][b][:e] == texts
    text = " ".join(sentences[0])
    default = got["serving_default"]
    assert [text[s:t] for s, t in zip(default["entity_start"][0], default["entity_end"][0])
            if s >= 0] == default["entity_text"][0][:default["num_entities"][0]]


@pytest.fixture(scope="module")
def reduced(trained, tmp_path_factory):
    """The trained tagger exported in bfloat16 by a second run_tagging.py run (the first run's
    output_dir as --init_checkpoint, --do_predict again), once per test run."""
    _, paths, out, _, _ = trained

    def export(tmp):
        done = run_here([f"--init_checkpoint={out}", f"--predict_file={paths['test']}",
                         "--tag_scheme=iob1", f"--max_seq_length={MAX_SEQ}", "--do_predict",
                         f"--output_dir={tmp / 'run'}", f"--export_dir={tmp / 'serving'}",
                         "--serving_precision=bfloat16"])
        (tmp / "stdout.txt").write_text(done.stdout)

    tmp = built_once(tmp_path_factory, "test_run_tagging-bfloat16", export)
    (version,) = os.listdir(tmp / "serving")
    return tmp / "run", tmp / "serving" / version, (tmp / "stdout.txt").read_text()


# The bfloat16 export's tag probabilities against the float32 export's: bounded by 0.01 as the
# classifier's (test_serving_precision.py). Measured (2026-12-07, AVX512-BF16): 0.0037 apart;
# all 780 tags of the predict set the same as do_predict's.
BFLOAT16_PROBABILITY = 0.01


# make test: run_squad.py's --export_dir in bfloat16 with XLA (test_run_squad.py), through the
# same fine-tuning export code as run_tagging.py's; the tagger's XLA module, test_serving_xla.py.
@pytest.mark.slow
def test_bfloat16_export_tags_as_do_predict(trained, reduced):
    """run_tagging.py --export_dir --serving_precision=bfloat16: the export says so, has the
    float32 export's signatures, pins no op to a device, answers within bfloat16's rounding of
    the float32 export, and tags the predict set (windows included) as do_predict did."""
    from bert_tf.serving import precision
    from test_export import signature_table
    from test_serving_xla import assert_no_op_pinned

    _, _, out, serving, _ = trained
    run, path, stdout = reduced
    assert f"Exported tagger (core tokenizer ops, bfloat16) to {path}" in stdout
    assert open(path / precision.RECORD).read() == "bfloat16 (Keras policy bfloat16)\n"
    float32 = serving / os.listdir(serving)[0]
    assert not os.path.exists(float32 / precision.RECORD)
    assert signature_table(path) == signature_table(float32)
    assert_no_op_pinned(str(path), "tagger bfloat16")

    predicted = conll.read_conll(str(run / "test_predictions.txt"))
    # The second run predicts with the first run's weights, in float32: the same tags.
    assert [s.tags for s in predicted] == [s.tags for s in conll.read_conll(
        str(out / "test_predictions.txt"))]
    sentences = [list(s.words) for s in predicted]
    expected = [schemes.to_iob2(s.tags, "IOB1") for s in predicted]
    assert max(map(len, sentences)) > MAX_SEQ  # some sentences need windows
    width = max(map(len, sentences))
    request = {"words": tf.constant([words + [""] * (width - len(words)) for words in sentences]),
               "num_words": tf.constant([len(words) for words in sentences], tf.int32)}
    served, reference = ({k: v.numpy() for k, v in tf.saved_model.load(str(export)).signatures[
        "serve_words"](**request).items()} for export in (path, float32))
    tags = [[t.decode() for t in row[:len(words)]]
            for row, words in zip(served["tags"], sentences)]
    probability = served["tag_probability"]
    assert probability.dtype == np.float32
    apart = np.abs(probability - reference["tag_probability"]).max()
    differ = [(b, i, tags[b][i], expected[b][i], reference["tag_probability"][b, i])
              for b in range(len(sentences)) for i in range(len(sentences[b]))
              if tags[b][i] != expected[b][i]]
    print(f"bfloat16 export: {len(differ)} of {sum(map(len, sentences))} tags unlike "
          f"do_predict's; tag probabilities at most {apart:.5f} from the float32 export's")
    assert 0 < apart <= BFLOAT16_PROBABILITY
    # A word's tag may differ only where float32's two likeliest labels are near-ties (its
    # probability of the first below 0.5 + BFLOAT16_PROBABILITY), or where the word before
    # is one, whose flip the IOB2 repair carries over (an I-X after O becomes B-X).
    near_tie = reference["tag_probability"] < 0.5 + BFLOAT16_PROBABILITY
    assert all(near_tie[b, max(i - 1, 0):i + 1].any() for b, i, *_ in differ), differ
    assert len(differ) <= 0.02 * sum(map(len, sentences)), differ


def test_export_model_finds_the_tagger_of_a_run_directory(trained):
    """export_model.py --task=tagger: the run's labels, stride and weights (exported above by
    the same export code that --export_dir used)."""
    from tasks import export as export_run
    from bert_tf.models.bert.release import resolve_model_files

    _, _, out, _, _ = trained
    settings = export_run.ExportSettings(checkpoint=str(out), task="tagger",
                                         max_seq_length=MAX_SEQ)
    files = resolve_model_files(str(out), checkpoint_flag="checkpoint")
    model, kind, kwargs = export_run.EXPORTERS["tagger"](settings, files)
    assert kind.name == "tagger" and kwargs["window_stride"] == (MAX_SEQ - 2) // 2
    assert kwargs["labels"] == open(out / "label_list.txt").read().split()
    reader = tf.train.load_checkpoint(str(out / "finetuned" / "bert_model.ckpt"))
    np.testing.assert_array_equal(model.classifier.kernel.numpy(),
                                  reader.get_tensor("output_weights").T)
    settings.max_seq_length = 32  # windows of another size: the stride is half of them
    assert export_run.EXPORTERS["tagger"](settings, files)[2]["window_stride"] is None


def test_evaluation_alone_reads_the_run_directory(trained):
    from tasks.tagging.run import TaggerRun, TaggerSettings

    _, paths, out, _, _ = trained
    settings = TaggerSettings(do_eval=True, eval_file=paths["dev"], tag_scheme="iob1",
                              init_checkpoint=str(out), output_dir=str(out),
                              max_seq_length=MAX_SEQ)
    run = TaggerRun.checked(settings)
    assert run.labels == open(out / "label_list.txt").read().split()


@pytest.mark.slow  # make test: the soft targets' loss (test_distillation.py), the classifier's run
def test_distils_a_cut_of_the_tagger_from_it(trained, tmp_path):
    """--teacher with --student_layers_from_teacher: a one-layer student starts from the
    trained tagger's layer 0 (its embeddings and head too) and learns its per-token
    distributions at the labelled word pieces alone (--distill_alpha=1)."""
    _, paths, out, _, _ = trained
    done = run_here([f"--train_file={paths['train']}", f"--eval_file={paths['dev']}",
                     "--tag_scheme=iob1", f"--teacher={out}", "--distill_alpha=1",
                     "--student_layers_from_teacher=every_other", f"--max_seq_length={MAX_SEQ}",
                     "--train_batch_size=16", "--learning_rate=3e-3", "--num_train_epochs=0.5",
                     "--adam_bias_correction", "--seed=3", "--do_train", "--do_eval",
                     f"--output_dir={tmp_path / 'student'}"])
    assert "Initialized the student from the teacher's layers [0]" in done.stdout
    assert "distill_loss" in done.stdout
    # Seen: 0.98, as the teacher.
    assert float(results(tmp_path / "student" / "eval_results.txt")["eval_f1"]) > 0.8
