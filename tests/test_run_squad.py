"""run_squad.py end to end: SQuAD 2.0 learned from generated data, every output file, the served
model in a fresh TensorFlow-only process, the all-MiniLM-L6-v2 directory, and bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.errors import DataError, UserError
from bert_tf.training.run import FlagError
from in_process import run_checked, run_script
from tasks import export as export_run
from tasks.question_answering.run import SquadRun, SquadSettings
from testing import built_once, minilm_dir, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKERS = ("zebra", "violet", "copper")
# Hand-written paragraphs beside the generated ones: accents precomposed and combining
# (the uncased model drops the latter), CJK, and a context of one word.
EXTRA = [
    ("Le cre\u0301me de Zu\u0308rich zebra caf\u00e9 Stra\u00dfe fin.", "What follows zebra?",
     "caf\u00e9 Stra\u00dfe"),
    ("\u6771\u4eac\u306f violet \u5317\u4eac na\u00efve \u3067\u3059\u3002",
     "What follows violet?", "\u5317\u4eac"),
    ("copper", "What follows copper?", None),
]


def run(flags, check=True):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "run_squad.py"), *flags],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if check and done.returncode:
        raise AssertionError(f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}")
    return done


def run_here(flags):
    """run_squad.py with these flags in this process (see in_process.py); `run` starts a
    process of its own."""
    return run_checked("run_squad.py", *flags)


def results(path):
    return dict(line.split(" = ") for line in open(path).read().splitlines())


def write_marker_squad(path, count, seed, version_2=False, long_every=5, extra=()):
    """A learnable SQuAD file: the answer is the word(s) right after the marker the question names.

    Contexts are random vocabulary words; answers come from a word list of
    their own (some not ASCII) that appears nowhere else; every
    `long_every`-th context is long enough for several windows. For 2.0, about
    a third of the questions name a marker their context lacks: unanswerable.
    """
    rng = np.random.default_rng(seed)
    vocab = [w.strip() for w in open(os.path.join(minilm_dir(), "vocab.txt"), encoding="utf-8")]
    words = [w for w in vocab[3000:6000] if w.isalpha() and w.isascii() and w not in MARKERS]
    answers = words[:20] + ["caf\u00e9", "Z\u00fcrich", "na\u00efve", "\u6771\u4eac",
                            "cre\u0301me", "Stra\u00dfe"]
    words = words[20:]
    paragraphs = []
    for i in range(count):
        long = long_every and i % long_every == 0
        context = list(rng.choice(words, int(rng.integers(60, 90) if long else
                                             rng.integers(6, 16))))
        marker = MARKERS[int(rng.integers(len(MARKERS)))]
        qa = {"id": f"{seed}-{i}", "question": f"What follows {marker}?", "answers": []}
        impossible = version_2 and rng.random() < 0.3
        if not impossible:
            at = int(rng.integers(0, len(context) - 2))
            answer = list(rng.choice(answers, int(rng.integers(1, 3))))
            context[at:at] = [marker] + answer
            start = len(" ".join(context[:at + 1])) + 1
            qa["answers"] = [{"text": " ".join(answer), "answer_start": start}]
        if version_2:
            qa["is_impossible"] = bool(impossible)
        paragraphs.append({"context": " ".join(context), "qas": [qa]})
    for n, (context, question, answer) in enumerate(extra):
        qa = {"id": f"extra-{n}", "question": question, "answers": [], "is_impossible": True}
        if answer is not None:
            qa.update(answers=[{"text": answer, "answer_start": context.index(answer)}],
                      is_impossible=False)
        paragraphs.append({"context": context, "qas": [qa]})
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": "v2.0" if version_2 else "1.1",
                   "data": [{"title": "markers", "paragraphs": paragraphs}]}, f,
                  ensure_ascii=False)
    return str(path)


def tiny_files(directory):
    config = os.path.join(directory, "config.json")
    tiny_config(vocab_size=30522, max_position_embeddings=64, hidden_size=32,
                num_attention_heads=4, intermediate_size=64, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0).to_json_file(config)
    return [f"--vocab_file={os.path.join(minilm_dir(), 'vocab.txt')}",
            f"--bert_config_file={config}"]


WINDOWS = ["--max_seq_length=48", "--doc_stride=16", "--max_query_length=12"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model fine-tuned on generated SQuAD 2.0 data, predicted and exported in one run,
    once per test run (whichever worker gets here first)."""
    def train(tmp):
        train = write_marker_squad(tmp / "train.json", 400, seed=1, version_2=True)
        dev = write_marker_squad(tmp / "dev.json", 60, seed=2, version_2=True, extra=EXTRA)
        run_here([*tiny_files(str(tmp)), f"--train_file={train}", f"--predict_file={dev}",
                  "--do_train", "--do_predict", "--version_2_with_negative", *WINDOWS,
                  "--train_batch_size=16", "--learning_rate=3e-3", "--num_train_epochs=3",
                  "--adam_bias_correction", "--iterations_per_loop=75",
                  f"--output_dir={tmp / 'run'}", f"--export_dir={tmp / 'serving'}", "--seed=3"])

    tmp = built_once(tmp_path_factory, "test_run_squad", train)
    return {"dev": str(tmp / "dev.json"), "out": str(tmp / "run"),
            "serving": str(tmp / "serving" / "75")}


def test_learns_squad_2_and_writes_the_original_files(trained):
    out = trained["out"]
    found = {k: float(v) for k, v in results(os.path.join(out, "eval_results.txt")).items()}
    assert set(found) == {"exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total",
                          "NoAns_exact", "NoAns_f1", "NoAns_total", "best_exact",
                          "best_exact_thresh", "best_f1", "best_f1_thresh", "global_step"}
    assert found["global_step"] == 75 and found["total"] == 63
    # Seen with seeds 3, 4, 5: exact 76 to 83, f1 85 to 94, HasAns_f1 76 to 91. Chance: ""
    # everywhere scores NoAns_total / total (about 35); a random span hardly ever matches.
    assert found["exact"] > 60 and found["f1"] > 70 and found["HasAns_f1"] > 60
    dev = json.load(open(trained["dev"], encoding="utf-8"))
    ids = [qa["id"] for p in dev["data"][0]["paragraphs"] for qa in p["qas"]]
    predictions = json.load(open(os.path.join(out, "predictions.json"), encoding="utf-8"))
    assert list(predictions) == ids and all(isinstance(v, str) for v in predictions.values())
    nbest = json.load(open(os.path.join(out, "nbest_predictions.json"), encoding="utf-8"))
    assert list(nbest) == ids
    for entries in nbest.values():
        assert 1 <= len(entries) <= 21  # n_best_size spans, and for 2.0 the null answer
        assert all(set(e) == {"text", "probability", "start_logit", "end_logit"} for e in entries)
        assert abs(sum(e["probability"] for e in entries) - 1) < 1e-6
    odds = json.load(open(os.path.join(out, "null_odds.json"), encoding="utf-8"))
    assert list(odds) == ids and all(isinstance(v, float) for v in odds.values())
    assert all((odds[i] > 0) == (predictions[i] == "") for i in ids)  # threshold 0
    shapes = dict(tf.train.list_variables(os.path.join(out, "finetuned", "bert_model.ckpt")))
    assert shapes["cls/squad/output_weights"] == [2, 32]
    info = json.load(open(os.path.join(out, "run.json")))
    assert info["version_2_with_negative"] is True and info["doc_stride"] == 16
    warmup = os.path.join(trained["serving"], "assets.extra", "tf_serving_warmup_requests")
    assert os.path.getsize(warmup) > 0
    # export_model.py --task=question_answering takes the run's settings from run.json.
    settings = export_run.ExportSettings(checkpoint=out, task="question_answering",
                                         export_dir="unused", max_seq_length=48,
                                         n_best_size=5)
    files = export_run.resolve_model_files(out, checkpoint_flag="checkpoint")
    _, kind, constants = export_run.EXPORTERS["question_answering"](settings, files)
    assert kind.name == "question_answering" and constants == {
        "doc_stride": 16, "max_query_length": 12, "n_best_size": 5, "max_answer_length": 30,
        "version_2_with_negative": True, "null_score_diff_threshold": 0.0}


# The client of the served model: TensorFlow only.
CLIENT = """
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
request = json.load(open(sys.argv[2], encoding="utf-8"))
outputs = model.signatures["serving_default"](
    question=tf.constant(request["question"]), context=tf.constant(request["context"]))
result = {k: [x.decode() if isinstance(x, bytes) else x for x in v.numpy().tolist()]
          for k, v in outputs.items()}
ids = model.signatures["serve_ids"](**{k: tf.constant(v) for k, v in request["ids"].items()})
result["serve_ids"] = {k: v.numpy().tolist() for k, v in ids.items()}
result["ours"] = sorted(m for m in sys.modules if m.split(".")[0] in ("bert_tf", "tasks"))
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def reduced(trained, tmp_path_factory):
    """The trained span labeler exported by a second run_squad.py run (the first run's
    output_dir as --init_checkpoint, --do_predict again) in bfloat16 and XLA-compiled, once
    per test run: what a break in passing --serving_precision and --serving_xla from
    run_squad.py to the export would show."""
    def export(tmp):
        done = run_here([f"--init_checkpoint={trained['out']}", f"--predict_file={trained['dev']}",
                         "--do_predict", "--version_2_with_negative", *WINDOWS,
                         f"--output_dir={tmp / 'run'}", f"--export_dir={tmp / 'serving'}",
                         "--serving_precision=bfloat16", "--serving_xla"])
        (tmp / "stdout.txt").write_text(done.stdout)

    tmp = built_once(tmp_path_factory, "test_run_squad-bfloat16-xla", export)
    (version,) = os.listdir(tmp / "serving")
    return {"out": str(tmp / "run"), "serving": str(tmp / "serving" / version),
            "stdout": (tmp / "stdout.txt").read_text()}


# The bfloat16 export against do_predict (float32). This model's answers are near-ties: start
# and end logits end near 3 both at the answer and at [CLS], so the null odds of an answerable
# question are about -0.01, and several spans score within 0.02 of the best, while bfloat16
# rounds a logit near 3 to a multiple of 1/64. Measured (2026-12-07, AVX512-BF16): every
# served answer is one of float32's n-best at most 0.013 below its best, scored at most 0.015
# from float32's score of it; 56 of 63 answers the same. Bounds with headroom for emulated
# bfloat16; the spans that are not near-ties score about 6 below the best.
BFLOAT16_SCORE = 0.1  # the served score against float32's score of the same answer
NEAR_TIE = 0.1  # float32's score of the served answer at most this below its best
MIN_SAME_ANSWERS = 0.7


# CI's slow tier (an export option at full length: bfloat16 and XLA through the script):
# make test checks both options' flags through run_pretraining.py's test_train_eval_export
# and the QA module under XLA in test_serving_xla.
@pytest.mark.slow
def test_bfloat16_xla_export_answers_as_do_predict(trained, reduced):
    """run_squad.py --export_dir --serving_precision=bfloat16 --serving_xla: the export says
    so, has the float32 export's signatures, pins no op to a device, compiles the model alone,
    and answers the predict set as do_predict did, within bfloat16's rounding."""
    from bert_tf.serving import precision, xla
    from test_export import signature_table
    from test_serving_xla import assert_compiles_the_model_only, assert_no_op_pinned

    path = reduced["serving"]
    assert f"Exported question_answering (core tokenizer ops, bfloat16, XLA) to {path}" in (
        reduced["stdout"])
    assert open(os.path.join(path, precision.RECORD)).read() == (
        "bfloat16 (Keras policy bfloat16)\n")
    assert open(os.path.join(path, xla.RECORD)).read() == (
        "model function XLA-compiled (jit_compile); sequence length padded to a multiple of "
        "32, at most 48\n")
    assert signature_table(path) == signature_table(trained["serving"])
    assert_no_op_pinned(path, "squad bfloat16 xla")
    assert_compiles_the_model_only(path, trained["serving"])

    out = reduced["out"]
    predictions = json.load(open(os.path.join(out, "predictions.json"), encoding="utf-8"))
    nbest = json.load(open(os.path.join(out, "nbest_predictions.json"), encoding="utf-8"))
    # The second run predicts with the first run's weights, in float32: the same answers.
    assert predictions == json.load(open(os.path.join(trained["out"], "predictions.json"),
                                         encoding="utf-8"))
    dev = json.load(open(trained["dev"], encoding="utf-8"))
    rows = [(qa["id"], qa["question"], p["context"]) for p in dev["data"][0]["paragraphs"]
            for qa in p["qas"]]
    served = tf.saved_model.load(path).signatures["serving_default"](
        question=tf.constant([q for _, q, _ in rows]), context=tf.constant([c for *_, c in rows]))
    served = {k: v.numpy() for k, v in served.items()}
    assert served["score"].dtype == np.float32
    same, below_best, score_diffs = 0, [], []
    for i, (qas_id, _, context) in enumerate(rows):
        scores = {e["text"]: e["start_logit"] + e["end_logit"] for e in nbest[qas_id]}
        answer = served["answer"][i].decode()
        assert answer in scores, (qas_id, answer)  # the null answer "" is one of them
        below_best.append(max(scores.values()) - scores[answer])
        score_diffs.append(abs(served["score"][i] - scores[answer]))
        assert served["has_answer"][i] == bool(answer)
        start, end = served["start"][i], served["end"][i]
        assert (context[start:end] == answer) if answer else (start == end == -1)
        same += answer == predictions[qas_id]
    print(f"bfloat16 + XLA export: {same} of {len(rows)} answers as do_predict's, "
          f"at most {max(below_best):.4f} below float32's best, scores at most "
          f"{max(score_diffs):.4f} from float32's")
    assert max(below_best) <= NEAR_TIE and max(score_diffs) <= BFLOAT16_SCORE
    assert same >= MIN_SAME_ANSWERS * len(rows)
    assert max(score_diffs) > 0  # it computes in bfloat16


@pytest.mark.slow
def test_served_model_answers_as_do_predict_in_a_fresh_process(trained, tmp_path):
    dev = json.load(open(trained["dev"], encoding="utf-8"))
    rows = [(qa["id"], qa["question"], p["context"]) for p in dev["data"][0]["paragraphs"]
            for qa in p["qas"]]
    long_question = "What follows " + " ".join(["zebra"] * 30) + "?"
    # No context; nothing at all; a blank question (it asks nothing: no answer, as served).
    extra = [("What follows zebra?", ""), ("", ""), ("  ", "Zebra stripes are black."),
             (long_question, "zebra caf\u00e9")]
    request = {"question": [q for _, q, _ in rows] + [q for q, _ in extra],
               "context": [c for _, _, c in rows] + [c for _, c in extra],
               "ids": {"input_ids": [[101, 2054, 102, 4937, 102]], "input_mask": [[1] * 5],
                       "segment_ids": [[0, 0, 0, 1, 1]]}}
    (tmp_path / "request.json").write_text(json.dumps(request), encoding="utf-8")
    (tmp_path / "client.py").write_text(CLIENT)
    done = subprocess.run([sys.executable, str(tmp_path / "client.py"), trained["serving"],
                           str(tmp_path / "request.json")], capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path),
                          env={"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert served.pop("ours") == []  # no bert_tf code was needed
    assert set(served) == {"answer", "start", "end", "score", "has_answer", "truncated",
                           "serve_ids"}
    assert np.array(served["serve_ids"]["start_logits"]).shape == (1, 5)

    out = trained["out"]
    predictions = json.load(open(os.path.join(out, "predictions.json"), encoding="utf-8"))
    nbest = json.load(open(os.path.join(out, "nbest_predictions.json"), encoding="utf-8"))
    odds = json.load(open(os.path.join(out, "null_odds.json"), encoding="utf-8"))
    compared = long_contexts = 0
    for i, (qas_id, _, context) in enumerate(rows):
        spans = [e for e in nbest[qas_id] if e["text"]]
        scores = sorted((e["start_logit"] + e["end_logit"] for e in spans), reverse=True)
        if abs(odds[qas_id]) < 1e-4 or (len(scores) > 1 and scores[0] - scores[1] < 1e-4):
            continue  # a near-tie that float rounding between the two batchings may flip
        compared += 1
        long_contexts += len(context) > 300
        expected = predictions[qas_id]
        assert served["answer"][i] == expected, (qas_id, served["answer"][i], expected)
        assert served["has_answer"][i] == bool(expected)
        start, end = served["start"][i], served["end"][i]
        assert (context[start:end] == expected) if expected else (start == end == -1)
        chosen = [e for e in nbest[qas_id] if e["text"] == expected][0]
        assert abs(served["score"][i] - chosen["start_logit"] - chosen["end_logit"]) < 1e-3
    assert compared >= len(rows) - 2 and long_contexts >= 10
    assert served["answer"][-4:-1] == ["", "", ""] and served["start"][-4:-1] == [-1, -1, -1]
    assert served["has_answer"][-4:-1] == [False, False, False] and served["score"][-2] == 0.0
    assert served["truncated"][-1] and not any(served["truncated"][:-1])


def mismatch_second_answer(path):
    """Moves the second question's answer_start one character: the text no longer matches."""
    data = json.load(open(path, encoding="utf-8"))
    data["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] += 1
    json.dump(data, open(path, "w", encoding="utf-8"))
    return path


def test_bad_input_file_is_one_line_without_traceback(tmp_path):
    """main() in this process; a script's error as a process of its own is checked in
    test_reliability.py::test_scripts_print_one_line_errors."""
    bad = tmp_path / "dev.json"
    bad.write_text('{"data": [}')
    done = run_script("run_squad.py", *tiny_files(str(tmp_path)), f"--predict_file={bad}",
                      "--do_predict", *WINDOWS, f"--output_dir={tmp_path / 'out'}")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"run_squad.py: error: {bad}:1:11: not JSON"), line
    assert not os.path.exists(tmp_path / "out")  # nothing written


def squad_file(path, paragraphs, version="1.1"):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": version, "data": [{"title": "t", "paragraphs": paragraphs}]}, f)
    return str(path)


GOOD = {"context": "a zebra b", "qas": [{"id": "x", "question": "q?",
                                         "answers": [{"text": "b", "answer_start": 8}]}]}


@pytest.mark.parametrize("content,flags,error,message", [
    ({"data": [{"title": "t"}]}, {}, DataError, r"data\[0\]: has no 'paragraphs'"),
    ([{"context": "c"}], {}, DataError, r"paragraphs\[0\]: has no 'qas'"),
    ([{"context": " ", "qas": [{"id": "e", "question": "q"}]}], {}, DataError,
     r"\(id 'e'\): blank context"),
    ([{"context": "c", "qas": [{"id": "e", "question": "  "}]}], {}, DataError,
     r"\(id 'e'\): blank question"),
    ([GOOD, GOOD], {}, DataError, r"qas\[0\] \(id 'x'\): id repeats data\[0\]"),
    ([GOOD, {"context": "c", "qas": [{"id": "i", "question": "q", "is_impossible": True}]}],
     {}, DataError, r"1 questions are unanswerable \(is_impossible\), e.g. id 'i': pass "
     r"--version_2_with_negative"),
    ([GOOD], {"max_seq_length": 20, "max_query_length": 17}, FlagError,
     r"--max_seq_length=20 must be greater than --max_query_length=17 \+ 3"),
    ([GOOD], {"doc_stride": 0}, FlagError, "--doc_stride must be a positive integer"),
    ([GOOD], {"do_predict": False, "do_train": True}, FlagError,
     "--do_train needs --train_file"),
    ([GOOD], {"max_seq_length": 65}, FlagError, "exceeds the model's max_position_embeddings"),
])
def test_bad_input_is_named_before_anything_is_built(tmp_path, content, flags, error, message):
    path = (squad_file(tmp_path / "dev.json", content) if isinstance(content, list)
            else str(tmp_path / "dev.json"))
    if not isinstance(content, list):
        json.dump(content, open(path, "w"))
    vocab, config = (flag.split("=", 1)[1] for flag in tiny_files(str(tmp_path)))
    settings = SquadSettings(vocab_file=vocab, bert_config_file=config, predict_file=path,
                             do_predict=True, output_dir=str(tmp_path / "out"),
                             max_seq_length=48, max_query_length=12)
    for name, value in flags.items():
        setattr(settings, name, value)
    with pytest.raises(error, match=message) as caught:
        SquadRun.checked(settings)
    assert isinstance(caught.value, UserError) and "\n" not in str(caught.value)
    if error is DataError:
        assert path in str(caught.value)
    assert not os.path.exists(tmp_path / "out")


def test_mismatched_answers_are_dropped_for_training_and_kept_for_evaluation(tmp_path, caplog):
    """One warning line per answer naming file and id; the windows shown with --verbose_logging."""
    train = mismatch_second_answer(write_marker_squad(tmp_path / "train.json", 6, seed=7))
    dev = mismatch_second_answer(write_marker_squad(tmp_path / "dev.json", 6, seed=7))
    vocab, config = (flag.split("=", 1)[1] for flag in tiny_files(str(tmp_path)))
    settings = SquadSettings(vocab_file=vocab, bert_config_file=config, train_file=train,
                             predict_file=dev, do_train=True, do_predict=True,
                             output_dir=str(tmp_path / "out"), max_seq_length=48,
                             max_query_length=12, verbose_logging=True)
    # The absl logger's own level too: another test may have set absl's verbosity.
    with caplog.at_level("INFO"), caplog.at_level("INFO", logger="absl"):
        checked = SquadRun.checked(settings)
    assert [e.qas_id for e in checked.train_examples] == ["7-0", "7-2", "7-3", "7-4", "7-5"]
    assert len(checked.predict_examples) == 6 and checked.predict_examples[1].answers
    for path in (train, dev):
        assert f"{path}: data[0].paragraphs[1].qas[0] (id '7-1'): answer" in caplog.text
    assert "window 0 of id '7-0': [CLS] what follows" in caplog.text  # --verbose_logging


@pytest.mark.slow  # make test: the soft targets' loss (test_distillation.py), the classifier's run
def test_distils_a_cut_of_the_span_labeler_from_it(trained, tmp_path):
    """--teacher with --student_layers_from_teacher: a one-layer student starts from the
    trained span labeler's layer 0 and learns its start and end distributions."""
    dev = trained["dev"]
    train = write_marker_squad(tmp_path / "train.json", 160, seed=1, version_2=True)
    done = run_here([f"--train_file={train}", f"--predict_file={dev}", "--do_train",
                     "--do_predict", "--version_2_with_negative", *WINDOWS,
                     f"--teacher={trained['out']}", "--student_layers_from_teacher=every_other",
                     "--distill_alpha=0.7", "--train_batch_size=16", "--learning_rate=3e-3",
                     "--num_train_epochs=1", "--adam_bias_correction", "--seed=3",
                     f"--output_dir={tmp_path / 'student'}"])
    assert "Initialized the student from the teacher's layers [0]" in done.stdout
    assert "distill_loss" in done.stdout
    # Seen: 91, the teacher 85 to 94.
    assert float(results(os.path.join(tmp_path, "student", "eval_results.txt"))["f1"]) > 60
