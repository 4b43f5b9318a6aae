"""The benchmark harness end to end on a tiny model: every workload runs and prints its tables.

Timings on a busy two-core machine mean nothing; these tests check that each
workload still runs against today's APIs (ours and keras-hub's) and prints
numbers where its table has them.
"""

import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--preset=tiny", "--ceiling_size=256"]


def bench(*args, script=None, timeout=600, tmpdir=None):
    command = [script] if script else [sys.executable, "-m", "bench"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if tmpdir:
        env["TMPDIR"] = str(tmpdir)
    done = subprocess.run(command + list(args), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)
    return done.returncode, done.stdout, done.stderr


def tables(text):
    """{bold title: (header, rows)} of the markdown tables in the output."""
    found = {}
    for match in re.finditer(r"^\*\*(.+)\*\*\n\n((?:\|.*\|\n)+)", text, re.M):
        lines = [[cell.strip() for cell in line.strip("|").split("|")]
                 for line in match.group(2).splitlines()]
        found[match.group(1)] = (lines[0], lines[2:])
    return found


def table(found, prefix):
    titles = [title for title in found if title.startswith(prefix)]
    assert len(titles) == 1, (prefix, list(found))
    header, rows = found[titles[0]]
    assert rows, titles[0]
    return header, rows


def column(header, rows, name):
    return [row[header.index(name)] for row in rows]


def seconds(cell):
    """The leading number of "0.012 s ..." or "3.1 ms"."""
    value = float(re.match(r"([0-9.]+) m?s", cell).group(1))
    assert value > 0, cell
    return value


def check_ceilings(stdout):
    f32, bf16 = map(float, re.search(
        r"matmul ceiling: float32 ([0-9.]+) GFLOP/s, bfloat16 ([0-9.]+) GFLOP/s", stdout).groups())
    assert f32 > 0 and bf16 > 0


def test_list_and_flag_errors():
    rc, out, _ = bench("list")
    assert rc == 0
    for name in ("encoder", "pretraining", "finetuning", "serving", "pretraining_data", "gpu"):
        assert re.search(rf"^{name} +\S", out, re.M), out
    rc, _, err = bench("encoder", "nosuch")
    assert rc != 0 and "nosuch" in err
    rc, _, err = bench("encoder", "--jit_compile=maybe")
    assert rc != 0 and "maybe" in err
    rc, _, err = bench("finetuning", "--finetuning_heads=span,nosuch")
    assert rc != 0 and "finetuning_heads" in err


def test_scratch_dirs_are_removed_when_the_process_exits(tmp_path):
    """Workloads write exports and checkpoints into `harness.scratch_dir`s, gone with their
    process (the serving workload alone wrote about 100 MiB per run, never removed)."""
    done = subprocess.run(
        [sys.executable, "-c", "from bench import harness; path = harness.scratch_dir('w_'); "
         "open(path + '/file', 'w').write('x' * 1000); print(path)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    path = done.stdout.strip()
    assert os.path.dirname(path) == str(tmp_path) and os.path.basename(path).startswith("w_")
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_workloads_on_a_tiny_model(tmp_path):
    # One precision and XLA off keep this short. float32: bfloat16 is emulated, and slower,
    # on CPUs without AVX512-BF16; the GPU check below runs the harness under mixed_bfloat16
    # and the Trainer under XLA. The encoder's peak memory (a
    # fresh process per contender) is left out: the memory workload's fresh process is
    # checked here, the encoder's child function in this process below.
    rc, out, err = bench("encoder", "pretraining", "finetuning", "serving", "memory", "distill",
                         *TINY,
                         "--seq_length=16", "--batch_size=3", "--steps=1", "--repeats=1",
                         "--serving_requests=2", "--precisions=float32",
                         "--jit_compile=off", "--finetuning_heads=classifier,span,tagging",
                         "--memory_batch=6", "--memory_accumulation=3", "--noencoder_memory",
                         "--memory_search_seq_lengths=16", "--memory_search_probes=1,2",
                         "--memory_search_max_batch=2", "--memory_budget_gib=8",
                         "--memory_extrapolate_gib=9",
                         "--distill_init=random", "--distill_train_examples=12",
                         "--distill_dev_examples=6", "--distill_epochs=1",
                         "--distill_alphas=1.0", "--distill_students=teacher_cut",
                         "--distill_transfer_examples=0", "--distill_tasks=classification",
                         tmpdir=tmp_path)
    assert rc == 0, out[-3000:] + err[-3000:]
    assert os.listdir(tmp_path) == []  # every workload's files removed
    assert "TensorFlow 2." in out.splitlines()[0] and "--preset=tiny" in out.splitlines()[0]
    check_ceilings(out)
    found = tables(out)

    header, rows = table(found, "encoder, tiny")
    assert column(header, rows, "mode") == ["forward", "train step"]
    for name in ("bert_tf", "keras-hub"):
        for cell in column(header, rows, name):
            seconds(cell)
            assert float(re.search(r"\(([0-9.]+) GFLOP/s\)", cell).group(1)) > 0
        assert f"{name} peak RSS (train)" not in header  # --noencoder_memory
    finetuning = [f"fine-tuning step, {head}, tiny, batch 3 x 16"
                  for head in ("classifier", "span", "tagging")]
    for title, prefix in (("encoder", "encoder, tiny"), ("pretraining", "pretraining step"),
                          *(("finetuning", prefix) for prefix in finetuning)):
        header, rows = table(found, prefix)
        for cell in column(header, rows, "ratio"):
            assert re.fullmatch(r"[0-9]+\.[0-9]{2}x", cell) and float(cell[:-1]) > 0, title
    for prefix in ("pretraining step", *finetuning):
        header, rows = table(found, prefix)
        for cell in column(header, rows, "bert_tf"):
            assert float(re.search(r"([0-9.]+) sequences/s", cell).group(1)) > 0
        assert all(re.fullmatch(r"[0-9]+%", c) for c in column(header, rows, "% of ceiling"))

    header, rows = table(found, "serving exported SavedModels, tiny, real lengths")
    contenders = ["bert_tf `serving_default`, raw text", "bert_tf `serve_ids`, ids",
                  "keras-hub `export()`, ids"]
    assert [row[:3] for row in rows] == [["float32", lengths, name] for lengths in ("real", "16")
                                         for name in contenders]
    for row in rows:
        seconds(row[3]), seconds(row[4])
    assert all(float(cell) > 0 for cell in column(header, rows, "batch 3 sequences/s"))
    header, rows = table(found, "throughput at batch 3, bert_tf over keras-hub")
    assert [row[:2] for row in rows] == [["float32", "real"], ["float32", "16"]]
    assert all(re.fullmatch(r"[0-9]+\.[0-9]{2}x", cell) for row in rows for cell in row[2:])
    header, rows = table(found, "batch-1 p50 latency, real requests over 16-token")
    assert header[1:] == contenders and rows[0][0] == "float32"
    assert all(float(cell) > 0 for cell in rows[0][1:])
    header, rows = table(found, "tokenization alone")
    assert [row[0] for row in rows] == ["core", "text", "core / text"]

    header, rows = table(found, "SQuAD fine-tuning step, tiny")
    assert rows == [[*rows[0][:1], "3", "2 x 16", *rows[0][3:]]]  # micro-batch = 6 / 3
    assert float(column(header, rows, "peak RSS")[0].split()[0]) > 0.2  # GiB; TF alone > 200 MiB
    # The search in fresh processes, capped at its probes (1, and 2 timed): its prediction,
    # the runs above and the kill over the budget are checked without TensorFlow below.
    header, rows = table(found, "Largest SQuAD fine-tuning micro-batch within 8 GiB")
    assert [row[:3] for row in rows] == [["16", "off", ">= 2"], ["16", "on", ">= 2"]]
    assert column(header, rows, "first micro-batch over") == ["-", "-"]
    assert column(header, rows, "runs") == ["2", "2"]
    for row in rows:
        assert 0.2 < float(row[header.index("its peak RSS")].split()[0]) < 8
        assert re.fullmatch(r"[0-9.]+ GiB \+ -?[0-9]+ MiB/seq", row[header.index("fitted peak")])
        # At 16 tokens the tiny model's memory per sequence is within the noise: any sign.
        assert re.fullmatch(r"[0-9]+|-", row[header.index(
            "fitted line's largest at 9 GiB (extrapolated, not run)")])
        seconds(row[header.index("step time per sequence at micro-batch 2")])
    assert column(header, rows, "vs. off")[0] == "1.00x"
    assert re.fullmatch(r"[0-9]+\.[0-9]{2}x", column(header, rows, "vs. off")[1])

    header, rows = table(found, "distillation, tiny, random weights teacher")
    assert column(header, rows, "model") == [
        "teacher", "cut of the fine-tuned teacher, distilled (alpha 1)"]
    assert column(header, rows, "layers") == ["2", "1"]
    assert all(0 <= float(cell) <= 1 for cell in column(header, rows, "held-out accuracy"))
    seconds(column(header, rows, "batch 1 p50")[0])
    assert all(float(cell) > 0 for cell in column(header, rows, "batch 3 sequences/s"))
    assert all(re.fullmatch(r"[0-9]+\.[0-9]{2}x", c)
               for c in column(header, rows, "speed-up at batch 3"))


def test_distill_tasks_pass_their_scripts_checks_and_fill_their_tables(tmp_path):
    """`python -m bench distill`'s three tasks at a tiny size, trained by no one (the tiny
    run above trains, exports and serves classification, and QA and tagging go through the
    same `_measure_task`): each task's data and settings pass every check of its script's run
    (`Run.checked`), with the number of training examples asked for, and its transfer set
    holds those and the unlabelled ones more; the serving call feeds the inputs of the
    task's export kind; the table takes "% of teacher" from the last score."""
    import tensorflow as tf
    from absl import flags
    from absl.testing import flagsaver

    from bench import text_data
    from bench.workloads import distill, realistic

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    config_file = str(tmp_path / "bert_config.json")
    realistic.model_config("random", "tiny").to_json_file(config_file)
    model = {"vocab_file": realistic.vocab_file(), "bert_config_file": config_file}
    with flagsaver.flagsaver(distill_train_examples=12, distill_dev_examples=6,
                             distill_transfer_examples=7, distill_tagging_train_examples=11,
                             distill_tagging_dev_examples=5, distill_tagging_transfer_examples=9,
                             distill_qa_train_paragraphs=3, distill_qa_dev_paragraphs=2,
                             distill_qa_transfer_paragraphs=2):
        tasks = {name: build(str(tmp_path)) for name, build in distill.TASK_BUILDERS.items()}
    assert list(tasks) == list(distill.TASKS)

    def checked(task, name, transfer=False):
        settings = task.settings_class(
            **{**task.settings, **(task.transfer if transfer else {})}, **model,
            output_dir=str(tmp_path / name), do_train=True, train_batch_size=4)
        return task.run_class.checked(settings)

    def questions(path, paragraphs):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        assert len(data["data"]) == paragraphs, path
        return len(text_data.squad_questions(data))

    for name, task in tasks.items():
        run = checked(task, name)
        wanted = {"classification": 12, "tagging": 11}.get(name)
        if name == "qa":  # the questions of 3 paragraphs, and of 2 more in the transfer set
            wanted = questions(task.settings["train_file"], 3)
            assert questions(task.transfer["train_file"], 5) > wanted
        assert run.num_train_examples == wanted, name
        more = checked(task, f"{name}_transfer", transfer=True).num_train_examples - wanted
        if name == "classification":
            assert more == 7
        elif name == "qa":
            assert more == questions(task.transfer["train_file"], 5) - wanted
        assert 0 < more <= 9 and f"{more:,} more unlabelled" in task.transfer_note, name
        seen = {}

        def signature(**inputs):
            seen.update(inputs)
            return {key: tf.constant([0]) for key in ("probabilities", "answer", "tags")}

        task.call(signature, task.served[:2])
        assert sorted(seen) == sorted(run.export_kind().text_inputs), name
        assert all(value.shape == [2] and value.dtype == tf.string for value in seen.values())
        if name == "qa":
            assert [seen["question"].numpy()[1].decode(),
                    seen["context"].numpy()[1].decode()] == list(task.served[1])

    runs = {"teacher": ([0.5, 0.8], None, 10.0, 6), "student": ([0.4, 0.6], None, 5.0, 3)}
    speed = {"teacher": {"p50": 0.02, 8: 100.0, 32: 80.0},
             "student": {"p50": 0.01, 8: 190.0, 32: 200.0}}
    header, rows = distill.table(tasks["qa"], runs, speed, [8, 32])
    assert header == ["model", "layers", "held-out EM", "held-out F1", "% of teacher (F1)",
                      "run s", "batch 1 p50", "batch 8 questions/s", "batch 32 questions/s",
                      "speed-up at batch 32"]
    assert rows[1] == ["student", 3, "0.4000", "0.6000", "75.0%", "5", "10.0 ms", "190.0",
                       "200.0", "2.50x"]
    header, rows = distill.table(tasks["tagging"], {"teacher": ([0.8], None, 1.0, 6)}, speed,
                                 [8])
    assert header[2:4] == ["held-out entity F1", "% of teacher"] and rows[0][3:4] == ["100.0%"]


@pytest.mark.parametrize("contender", ["bert_tf", "keras-hub"])
def test_encoder_memory_child_trains(contender):
    """What the encoder workload runs in a fresh process per contender for its peak-RSS
    column (`harness.run_child`, whose fresh process and peak RSS the memory workload
    checks above), here in this process."""
    from bench.workloads import encoder

    found = encoder.train_memory(contender, "tiny", batch_size=3, seq_length=16,
                                 precision="mixed_bfloat16", jit_compile=False, steps=1)
    assert set(found) == {"seconds"} and found["seconds"] > 0


@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu():
    flags = [*TINY, "--gpu_steps=2", "--gpu_matmul_size=256", "--gpu_matmul_repeats=3",
             "--gpu_pretraining_batch=2", "--gpu_squad_batch=2", "--gpu_squad_seq_length=64",
             "--serving_batches=3", "--serving_requests=3", "--repeats=1", "--serving_xla=on"]
    if os.path.exists(os.path.join(ROOT, ".venv", "bin", "python")):
        rc, out, err = bench(*flags, script=os.path.join(ROOT, "bench", "gpu_check.sh"))
    else:  # the script would build .venv first
        rc, out, err = bench("gpu", *flags)
    assert rc == 0, out[-3000:] + err[-3000:]
    assert "bfloat16 256² matmul ceiling" in out
    header, rows = table(tables(out), "GPU check, tiny, mixed_bfloat16")
    assert [row[0].split(",")[0] for row in rows] == ["(a) pretraining", "(b) SQuAD fine-tuning"]
    assert column(header, rows, "XLA") == ["on", "on"]
    for row in rows:
        assert float(row[header.index("sequences/s")]) > 0
    mfu = re.findall(r"^MFU \((a|b)\) .*: ([0-9.]+)% of the measured bf16 ceiling", out, re.M)
    assert [part for part, _ in mfu] == ["a", "b"] and all(float(v) > 0 for _, v in mfu)
    assert "485.6 sequences/s" in out
    # Serving at 128 tokens in float16 (gpu_check.sh's flags; batch 3 here, and only the XLA
    # export: the plain one is the serving workload's, measured above).
    header, rows = table(tables(out), "serving exported SavedModels, tiny, 128 tokens")
    assert [row[:3] for row in rows] == [["float16 XLA", "128", contender]
                                         for contender in ("bert_tf `serving_default`, raw text",
                                                           "bert_tf `serve_ids`, ids")]
    for row in rows:
        seconds(row[3])
    assert all(float(cell) > 0 for cell in column(header, rows, "batch 3 sequences/s"))
    assert "Anchors, BERT-Base at 128 tokens: TensorRT on A100: batch 1 0.62 ms" in out
    assert "Not taken" not in out


def test_serving_lists_the_figures_it_had_no_time_for():
    from bench.workloads import serving

    labels, sets = ["float16", "float16 XLA"], ["128"]
    taken = {("float16", "128"): {"ours": {"single": [0.1], 128: 0.5}},
             ("float16 XLA", "128"): {"ours": {"single": [0.1]}}}
    assert serving.not_taken(taken, labels, sets, [128]) == [
        "float16 XLA, 128: batch 128 sequences/s"]
    assert serving.not_taken({}, labels, sets, [8, 128]) == [
        f"{name}, 128: batch 1 p50 and p99, batch 8 sequences/s, batch 128 sequences/s"
        for name in labels]


def test_largest_within_measures_predicts_and_verifies():
    """The memory search on a made-up peak (fixed + per item, and a jump the line cannot
    foresee): it runs the probes, the predicted size and the one above it, corrects a wrong
    prediction, never runs a size twice, and reports only what ran."""
    from bench.harness import largest_within

    def search(peak, limit, **kwargs):
        tried = []
        found = largest_within(lambda n: tried.append(n) or peak(n), limit, **kwargs)
        assert len(tried) == len(set(tried)), tried
        assert [n for n, _ in found.tries] == tried
        return found, tried

    def linear(n):
        return 1000 + 37 * n

    found, tried = search(linear, 1000 + 37 * 41 + 5)  # the largest within is 41
    assert (found.largest, found.first_over, found.peak_mib) == (41, 42, linear(41))
    assert tried == [2, 4, 16, 41, 42]  # a prediction is at most 4x the largest that ran
    found, tried = search(linear, 1000 + 37 * 12 + 5)
    assert (found.largest, found.first_over, tried) == (12, 13, [2, 4, 12, 13])
    assert found.line() == (1000, 37) and found.predict(1000 + 37 * 100) == 100
    # A step up in memory past 30 (a second buffer the line cannot see): the prediction of 41
    # goes over, runs stepping back from it fit and refit the line, then it closes in.
    found, tried = search(lambda n: linear(n) + (300 if n > 30 else 0), 1000 + 37 * 41 + 5)
    assert (found.largest, found.first_over) == (33, 34)
    assert tried[:5] == [2, 4, 16, 41, 38] and len(tried) <= 8, tried
    # A cap: the prediction is not run beyond it, and no size above it is reported.
    found, tried = search(linear, 1000 + 37 * 41 + 5, most=10)
    assert (found.largest, found.first_over, tried) == (10, None, [2, 4, 10])
    # A flat start (a fixed peak above the growing one at small sizes): doubling while flat,
    # then at most 4x the largest that ran, not the barely rising line's prediction.
    found, tried = search(lambda n: max(1500, linear(n)), 1000 + 37 * 41 + 5)
    assert (found.largest, found.first_over) == (41, 42)
    assert tried[:5] == [2, 4, 8, 16, 64] and len(tried) <= 10, tried
    # Probes over the limit: the search goes below them; nothing fits: 0.
    found, tried = search(linear, 1000 + 37 * 1 + 5, probes=(2, 4))
    assert (found.largest, found.first_over, tried) == (1, 2, [2, 1])
    found, _ = search(linear, 900)
    assert (found.largest, found.first_over, found.peak_mib) == (0, 1, None)
    # A run that finished but peaked over the limit counts as over; a prediction far off
    # still ends, the steps back growing to bisection.
    found, tried = search(lambda n: linear(n) if n < 9 else 10 ** 6, 1000 + 37 * 41 + 5)
    assert (found.largest, found.first_over) == (8, 9) and len(tried) <= 10, tried


def hold_memory(mib, seconds):
    """In a fresh process (harness.run_child): holds `mib` MiB, touched, for `seconds`,
    with a file in a scratch directory (as a workload's checkpoints)."""
    import time

    from bench import harness

    with open(os.path.join(harness.scratch_dir("held_"), "file"), "w") as f:
        f.write("x" * 1000)
    held = b"\x01" * (mib << 20)
    time.sleep(seconds)
    return {"held": len(held) >> 20}


def test_memory_search_kills_fresh_processes_over_the_budget():
    """The search's machinery for real, without TensorFlow: each run a fresh process
    holding 40 + 9 n MiB, killed by run_child as soon as it is seen over the budget."""
    from bench import harness

    limit = None
    runs = {}

    def peak(n):
        found = harness.run_child("tests.test_bench:hold_memory",
                                  {"mib": 40 + 9 * n, "seconds": 0.3}, rss_limit_mib=limit)
        runs[n] = found
        return None if found is None else found["peak_rss_mib"]

    base = peak(0)  # the interpreter with this module imported, holding 40 MiB
    limit = base + 9 * 12 + 4  # room for 12 more items
    found = harness.largest_within(peak, limit, probes=(1, 3))
    assert (found.largest, found.first_over) == (12, 13), found.tries
    assert runs[13] is None and found.peak_mib <= limit
    assert len(found.tries) <= 5, found.tries
    # The killed children's files are gone too (their own atexit clean-up never ran).
    import glob
    import tempfile

    for left in ("bench_child_*", "held_*"):
        assert glob.glob(os.path.join(tempfile.gettempdir(), left)) == []
    fixed, per = found.line()
    assert abs(per - 9) < 1 and abs(fixed - base) < 5, (fixed, per, base)
    # A machine short of memory (other jobs) stops a child within its limit: not an over.
    with pytest.raises(harness.MachineShortOfMemory, match="MiB available"):
        harness.run_child("tests.test_bench:hold_memory", {"mib": 40, "seconds": 5},
                          rss_limit_mib=limit, keep_available_mib=10 ** 9)


def graph_matmul_flops(model, batch):
    """2 x multiply-adds of every MatMul, BatchMatMulV2 and Einsum in the traced forward pass
    of `model` on `batch` (static shapes): a count independent of the harness's formulas."""
    import numpy as np
    import tensorflow as tf

    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        {name: tf.TensorSpec(value.shape, tf.as_dtype(value.dtype))
         for name, value in batch.items()}).graph
    total = 0
    for op in graph.get_operations():
        shapes = [tuple(t.shape.as_list()) for t in op.inputs[:2]]
        if op.type == "MatMul":
            (a0, a1), (b0, b1) = shapes
            m = a1 if op.get_attr("transpose_a") else a0
            k = a0 if op.get_attr("transpose_a") else a1
            n = b0 if op.get_attr("transpose_b") else b1
            total += 2 * m * k * n
        elif op.type in ("BatchMatMulV2", "BatchMatMulV3"):
            a, b = shapes
            m, k = (a[-1], a[-2]) if op.get_attr("adj_x") else (a[-2], a[-1])
            n = b[-2] if op.get_attr("adj_y") else b[-1]
            batch_dims = np.broadcast_shapes(a[:-2], b[:-2])
            total += 2 * int(np.prod(batch_dims)) * m * k * n
        elif op.type == "Einsum":
            inputs, _ = op.get_attr("equation").decode().split("->")
            sizes = {}
            for letters, shape in zip(inputs.split(","), shapes):
                sizes.update(zip(letters, shape))
            total += 2 * int(np.prod(list(sizes.values())))
        else:
            assert "MatMul" not in op.type and "Conv" not in op.type, op.type
    return total


def test_objectives_flop_count_matches_the_traced_models():
    """The budget of `python -m bench objectives`: its per-step FLOPs of each objective equal
    the matmuls of that pretraining model's traced forward pass (ELECTRA's generator and
    ALBERT's shared layer, applied once per layer, included)."""
    import numpy as np

    from bench.workloads import objectives
    from bert_tf import BertConfig
    from bert_tf.models.albert import AlbertPretrainer
    from bert_tf.models.albert.config import AlbertConfig
    from bert_tf.models.bert import BertPretrainer
    from bert_tf.models.electra.config import ElectraConfig
    from bert_tf.models.electra.pretrainer import ElectraPretrainer

    b, t, k = 3, 11, 4
    shape = dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                 intermediate_size=37, max_position_embeddings=13)
    bert = BertConfig(vocab_size=53, **shape)
    electra = ElectraConfig(vocab_size=53, embedding_size=16, **shape)
    albert = AlbertConfig(vocab_size=47, embedding_size=10, **shape)
    rng = np.random.default_rng(0)
    batch = {"input_ids": rng.integers(5, 47, (b, t)).astype(np.int32),
             "input_mask": np.ones((b, t), np.int32), "segment_ids": np.zeros((b, t), np.int32),
             "masked_lm_positions": np.sort(rng.choice(np.arange(1, t), (b, k)), 1)
             .astype(np.int32),
             # ELECTRA's discriminator runs only where the masked tokens are given.
             "masked_lm_ids": rng.integers(5, 47, (b, k)).astype(np.int32),
             "masked_lm_weights": np.ones((b, k), np.float32)}
    generator = electra.generator(0.25, 1.0)  # hidden 6, 1 head: its own projection from E
    for name, model, config in (("bert", BertPretrainer(bert), bert),
                                ("electra", ElectraPretrainer(electra), electra),
                                ("albert", AlbertPretrainer(albert), albert)):
        counted = graph_matmul_flops(model, batch)
        assert objectives.forward_flops(name, config, b, t, k, generator=generator) == counted, \
            name
    per_step = {"bert": 300.0, "mlm": 300.0, "electra": 330.0, "albert": 290.0}
    assert objectives.equal_budget_steps(per_step, "bert", 10) == {
        "bert": 10, "mlm": 10, "electra": 9, "albert": 10}
    assert objectives.spread([0.5, 0.7]) == "0.600 ± 0.141"


@pytest.mark.slow
def test_objectives_workload_on_a_tiny_setting(capsys):
    """`python -m bench objectives` end to end in this process at a tiny size: every objective
    pretrains through run_pretraining.py's run and fine-tunes through run_classifier.py's,
    run_tagging.py's and run_squad.py's, and the table's steps, parameters and scores are
    consistent (one seed: the spread's arithmetic is checked above)."""
    from absl import flags
    from absl.testing import flagsaver

    from bench.workloads import objectives

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(objectives_seeds=["2"], objectives_pretrain_steps=6,
                             objectives_corpus_mb=0.15, objectives_vocab_size=500,
                             objectives_sentences_per_library=12, objectives_tagging_sentences=16,
                             objectives_qa_paragraphs=4,
                             objectives_tasks=["library", "tagging", "qa"],
                             objectives_finetune_epochs=1.0,
                             objectives_albert_embedding_size=64):
        objectives.run({})
    header, rows = table(tables(capsys.readouterr().out), "pretraining objectives at equal FLOPs")
    assert column(header, rows, "objective") == [objectives.DESCRIPTIONS[name]
                                                 for name in objectives.OBJECTIVES]
    budget = 6 * float(rows[0][header.index("GFLOP/step")])
    for row in rows:
        step = float(row[header.index("GFLOP/step")])
        assert abs(int(row[header.index("steps")]) * step - budget) <= step / 2 + 0.01, row
        for task in ("library acc.", "tagging F1", "qa F1"):
            per_seed = [float(a) for a in row[header.index(f"{task} per seed")].split(", ")]
            assert len(per_seed) == 1 and 0 <= per_seed[0] <= 1
            assert row[header.index(f"{task} mean ± sd")] == objectives.spread(per_seed)
    params = [int(p.replace(",", "")) for p in column(header, rows, "encoder params")]
    # MLM only trains BERT's model; ELECTRA's encoder is BERT's without the pooler (H² + H);
    # ALBERT's one shared layer and 64-wide embeddings hold fewer.
    assert params[0] == params[1] and params[0] - params[2] == 128 * 128 + 128
    assert params[3] < params[2]
