"""GPU check: BERT-Large pretraining at 128 and SQuAD fine-tuning at 384 tokens, as MFU of the bf16 ceiling.

Meant for one H100/H200 via `bench/gpu_check.sh` (at most 8 minutes, no
network). Measures the bfloat16 matmul ceiling of the device itself
(--gpu_matmul_size² matmul), then times two training steps of our Trainer
under mixed_bfloat16 with XLA (default --jit_compile=on): (a) pretraining
(masked LM + next sentence) at sequence 128 and (b) SQuAD-style span
fine-tuning (`tasks/question_answering`) at sequence 384. Each part: one
warm-up call (tracing, XLA compilation, autotuning), then timed calls until
--gpu_steps steps or --gpu_part_time_limit_s seconds. Reports sequences/s
and model-FLOPs utilisation: achieved model FLOP/s (a training step = 3x
the forward pass, attention and the heads' matmuls included) over the
measured bf16 ceiling, next to published reference points. Without a GPU
it runs on the CPU: a functional check, not a measurement (see tests).
"""

import time

from absl import flags

import bench
from bench import harness, training
from bench.workloads import pretraining

IN_ALL = False  # a CPU run of `all` should not train BERT-Large

FLAGS = flags.FLAGS
flags.DEFINE_integer("gpu_matmul_size", 8192, "Side of the square bfloat16 matmul whose rate "
                     "is the device's ceiling.")
flags.DEFINE_integer("gpu_matmul_repeats", 50, "Matmuls per timed round of the ceiling.")
flags.DEFINE_integer("gpu_steps", 100, "Timed training steps per part (at most).")
flags.DEFINE_integer("gpu_steps_per_loop", 20, "Training steps per tf.function call.")
flags.DEFINE_float("gpu_part_time_limit_s", 90, "Wall-clock cap on each part's timed steps.")
flags.DEFINE_float("gpu_deadline_s", 420, "A part is skipped when less than 120 s are left "
                   "before this many seconds since the workload began (gpu_check.sh itself "
                   "stops everything at 480 s).")
flags.DEFINE_integer("gpu_pretraining_batch", 64, "Sequences per pretraining step.")
flags.DEFINE_integer("gpu_pretraining_seq_length", 128, "Tokens per pretraining sequence.")
flags.DEFINE_integer("gpu_squad_batch", 32, "Windows per SQuAD fine-tuning step.")
flags.DEFINE_integer("gpu_squad_seq_length", 384, "Tokens per SQuAD window.")
flags.DEFINE_string("gpu_precision", "mixed_bfloat16", "Dtype policy of both parts.")

# Published reference points (sequences/s and the utilisation quoted with them).
NVIDIA_A100_SEQ_PER_S = 485.6  # DeepLearningExamples TF2 BERT-Large pretraining, seq 128, 1 A100-80GB
NVIDIA_A100_QUOTED_MFU = 0.41
A100_BF16_PEAK = 312e12  # dense bfloat16, spec sheet
TARGET_MFU = 0.45  # our target on an H100
# Dense bfloat16 spec-sheet peaks, by device name (first match wins): shown beside the
# measured ceiling, which is what utilisation is computed against.
NOMINAL_BF16_PEAKS = (("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12),
                      ("A100", 312e12))


def squad_batch(config, b, t, seed=0):
    """A fixed batch of SQuAD-style windows: random ids, a question segment, answer positions."""
    import numpy as np

    rng = np.random.default_rng(seed)
    starts = rng.integers(t // 4, t - 8, b).astype(np.int32)
    return {"input_ids": rng.integers(1000, config.vocab_size, (b, t)).astype(np.int32),
            "input_mask": np.ones((b, t), np.int32),
            "segment_ids": (np.arange(t)[None, :] >= t // 4).repeat(b, 0).astype(np.int32),
            "start_positions": starts, "end_positions": starts + 3}


def squad_forward_flops(config, b, t):
    """Encoder forward FLOPs plus the span head (two logits per token)."""
    return harness.encoder_flops(config, b, t) + b * t * 2 * config.hidden_size * 2


def time_steps(run, steps_per_call, max_steps, time_limit):
    """(seconds per step, steps timed) after one warm-up call, stopping at `max_steps` or
    when `time_limit` seconds have passed."""
    run()
    done, start = 0, time.perf_counter()
    while done < max_steps and (done == 0 or time.perf_counter() - start < time_limit):
        run()
        done += steps_per_call
    return (time.perf_counter() - start) / done, done


def rate(flop_per_second):
    """"612.3 TFLOP/s" on a GPU, "88 GFLOP/s" on a CPU."""
    if flop_per_second >= 1e12:
        return f"{flop_per_second / 1e12:.1f} TFLOP/s"
    return f"{flop_per_second / 1e9:.1f} GFLOP/s"


def nominal_peak(device_name):
    for key, peak in NOMINAL_BF16_PEAKS:
        if key in device_name:
            return key, peak
    return None, None


def run(ceilings):
    del ceilings  # this check measures the device's own ceiling, at its own size
    import keras
    import tensorflow as tf

    from bert_tf import BertConfig
    from bert_tf.models.bert import BertPretrainer
    from bert_tf.models.bert.pretraining_objective import PretrainingObjective
    from tasks.question_answering.model import BertSpanLabeler
    from tasks.question_answering.objective import SpanObjective

    began = time.perf_counter()
    # BERT-Large unless --preset is given (its default, base, is the CPU workloads').
    preset = FLAGS.preset if FLAGS["preset"].present else "large"
    config = BertConfig.preset(preset)
    precision = FLAGS.gpu_precision
    gpus = tf.config.list_physical_devices("GPU")
    name = (tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
            if gpus else "no GPU")
    if not gpus:
        print("No GPU found: running on the CPU as a functional check; the numbers below say "
              "nothing about a GPU.")
    ceiling = max(harness.matmul_rate("bfloat16", FLAGS.gpu_matmul_size,
                                      FLAGS.gpu_matmul_repeats) for _ in range(3))
    key, peak = nominal_peak(name)
    nominal = (f"; spec-sheet dense bf16 peak of an {key}: {peak / 1e12:.0f} TFLOP/s "
               f"(measured = {ceiling * 1e9 / peak:.0%} of it)" if peak else "")
    print(f"{training.device()} ({name}): bfloat16 {FLAGS.gpu_matmul_size}² matmul ceiling "
          f"{rate(ceiling * 1e9)}{nominal}", flush=True)

    steps_per_call = max(1, min(FLAGS.gpu_steps_per_loop, FLAGS.gpu_steps))
    k = min(FLAGS.pretraining_predictions, FLAGS.gpu_pretraining_seq_length - 1)
    parts = []
    b, t = FLAGS.gpu_pretraining_batch, FLAGS.gpu_pretraining_seq_length
    parts.append((
        f"(a) pretraining, MLM + NSP, {k} masked positions", b, t,
        pretraining.forward_flops(config, b, t, k),
        lambda jit, b=b, t=t: training.ours(
            PretrainingObjective(), lambda: BertPretrainer(config, dtype=precision),
            pretraining.synthetic_batch(config, b, t, k), steps_per_call, jit_compile=jit,
            learning_rate=1e-4)))
    b, t = FLAGS.gpu_squad_batch, FLAGS.gpu_squad_seq_length
    parts.append((
        "(b) SQuAD fine-tuning, span head", b, t, squad_forward_flops(config, b, t),
        lambda jit, b=b, t=t: training.ours(
            SpanObjective(), lambda: BertSpanLabeler(config, dtype=precision),
            squad_batch(config, b, t), steps_per_call, jit_compile=jit, learning_rate=3e-5)))

    rows, mfu = [], {}
    for title, b, t, forward, build in parts:
        flop = harness.TRAIN_FLOP_FACTOR * forward
        for jit in bench.jit_variants(["on"]):
            left = FLAGS.gpu_deadline_s - (time.perf_counter() - began)
            xla = "on" if jit else "off"
            if left < 120:
                print(f"{title}, XLA {xla}: skipped, {left:.0f} s left before the deadline",
                      flush=True)
                rows.append([title, f"{b} x {t}", xla, "skipped (time)", "", "", ""])
                continue
            keras.utils.set_random_seed(0)
            seconds, steps = time_steps(build(jit), steps_per_call, FLAGS.gpu_steps,
                                        min(FLAGS.gpu_part_time_limit_s, left - 60))
            achieved = flop / seconds
            mfu[title, xla] = achieved / (ceiling * 1e9)
            row = [title, f"{b} x {t}", xla, f"{b / seconds:.1f}", f"{seconds * 1e3:.1f} ms",
                   rate(achieved), f"{mfu[title, xla]:.1%}"]
            rows.append(row)
            print(f"  {title}, XLA {xla}: {steps} steps timed; " + " | ".join(row[3:]),
                  flush=True)
    harness.print_table(
        f"GPU check, {preset}, {precision}, our Trainer, on {name}; MFU = model FLOP/s "
        f"(3x forward incl. attention and heads) / measured bf16 ceiling "
        f"{rate(ceiling * 1e9)}",
        ["part", "batch x seq", "XLA", "sequences/s", "step", "model FLOP/s", "MFU"], rows)
    for (title, xla), value in mfu.items():
        print(f"MFU {title.split(',')[0]} (XLA {xla}): {value:.1%} of the measured bf16 "
              f"ceiling (target on H100: >= {TARGET_MFU:.0%})")
    large = BertConfig.preset("large")
    ours_count = (NVIDIA_A100_SEQ_PER_S * harness.TRAIN_FLOP_FACTOR
                  * pretraining.forward_flops(large, 1, 128, 20) / A100_BF16_PEAK)
    print(f"Reference: NVIDIA DeepLearningExamples TF2 BERT-Large pretraining at sequence 128 "
          f"on one A100-80GB: {NVIDIA_A100_SEQ_PER_S} sequences/s, quoted as about "
          f"{NVIDIA_A100_QUOTED_MFU:.0%} of the {A100_BF16_PEAK / 1e12:.0f} TFLOP/s bf16 peak "
          f"({ours_count:.0%} by this script's FLOP count, 20 masked positions); "
          f"target on H100: >= {TARGET_MFU:.0%}.", flush=True)
