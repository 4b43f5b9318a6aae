"""What every workload shares: matmul ceilings, alternating timing, FLOP counts, tables, child processes.

Workloads import this module; it defines no flags and imports TensorFlow only
inside the functions that need it, so `python -m bench list` stays fast.
"""

import atexit
import dataclasses
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# The repository root: `python -m bench.child` must find `bench`, `bert_tf`
# and `tasks` whatever the caller's working directory is.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A training step (forward, backward for activations and for weights) costs
# about three forward passes in matmul FLOPs.
TRAIN_FLOP_FACTOR = 3


def scratch_dir(prefix):
    """A new temporary directory for one workload's files (exports, checkpoints, records),
    removed when this process exits: a benchmark leaves nothing behind in the temporary
    directory however often it runs (a serving run's exports: about 100 MB at the tests'
    tiny size, gigabytes at BERT-Base). A child that run_child kills is cleaned up by
    run_child."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


# ---------------------------------------------------------------- ceilings


def matmul_rate(dtype, size=2048, repeats=5):
    """GFLOP/s of a square `size`² matmul in `dtype` ("float32", "bfloat16") on the default device."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal([size, size], seed=[1, 2]), dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a)[0, 0].numpy()  # trace, allocate, and finish before timing
    start = time.perf_counter()
    for _ in range(repeats):
        out = matmul(a)
    # Ops on one device run in order: reading one element of the last result
    # waits for all of them (on a GPU the calls above only enqueue work).
    out[0, 0].numpy()
    return 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9


def measure_ceilings(size=2048, repeats=5):
    """{"float32": GFLOP/s, "bfloat16": GFLOP/s} of a `size`² matmul: what a workload is judged against.

    Each is the best of three rounds of `repeats` matmuls, so a burst of
    load from other jobs on a shared machine lowers it less.
    """
    return {dtype: max(matmul_rate(dtype, size, repeats) for _ in range(3))
            for dtype in ("float32", "bfloat16")}


def ceiling_for(ceilings, precision):
    """The ceiling a dtype policy ("float32", "mixed_bfloat16", ...) computes against."""
    name = precision.replace("mixed_", "")
    return ceilings.get(name, ceilings["float32"])


# ------------------------------------------------------------------ timing


def alternate(runners, repeats, per_run=1):
    """{name: median seconds per unit}: each runner is warmed up once, then they take turns.

    Alternating spreads the drift of a shared machine over all contenders.
    `per_run` is the number of units (steps, batches) one call processes; a
    runner must not return before its work is done (read a result back).
    """
    for run in runners.values():
        run()  # warm-up: tracing and first-run allocations
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / per_run)
    return {name: statistics.median(values) for name, values in times.items()}


# ------------------------------------------------------------------- FLOPs


def encoder_flops(config, batch, seq_length):
    """Matmul FLOPs (2 x multiply-adds) of one encoder forward pass; embedding lookups excluded.

    Per layer and token: Q, K, V and output projections (4·H²), the two
    feed-forward matmuls (2·H·I), attention scores and context (2·T·H); plus
    the pooler's H² per sequence.
    """
    h, i, n = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token = n * 2 * (4 * h * h + 2 * h * i + 2 * seq_length * h)
    return batch * (seq_length * per_token + 2 * h * h)


def gflops(flop, seconds):
    """GFLOP/s of `flop` floating-point operations done in `seconds`."""
    return flop / seconds / 1e9


def percent(x, ceiling):
    """`x` as a whole percentage of `ceiling`, e.g. "63%"."""
    return f"{100 * x / ceiling:.0f}%" if ceiling else "n/a"


def ratio(ours_seconds, theirs_seconds):
    """Speed of ours over theirs as "1.02x" (above 1: ours is faster)."""
    return f"{theirs_seconds / ours_seconds:.2f}x"


# ------------------------------------------------------------------ output


def print_table(title, header, rows):
    """Prints a markdown table under a bold title line, ready to paste into RESULTS.md."""
    print()
    print(f"**{title}**")
    print()
    print("| " + " | ".join(str(h) for h in header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print(flush=True)


# --------------------------------------------------------- fresh processes


class MachineShortOfMemory(RuntimeError):
    """A child was stopped because the machine, not the child, ran short of memory; `rss_mib`
    is what the child held then."""

    def __init__(self, message, rss_mib):
        super().__init__(message)
        self.rss_mib = rss_mib


def run_child(module_function, kwargs, rss_limit_mib=None, keep_available_mib=None):
    """Runs `module:function(**kwargs)` in a fresh `python -m bench.child` and returns its dict.

    The function returns a JSON-serializable dict; `peak_rss_mib` (the
    child's peak resident memory, VmHWM: see bench/child.py) is added to it.
    One fresh process per contender makes peak memories comparable: nothing
    else has run there. With `rss_limit_mib`, the child is killed as soon as
    its resident memory is seen above that many MiB (checked every 50 ms),
    or if the kernel kills it for memory, and None is returned: it does not fit. With
    `keep_available_mib`, a child is also killed while within its limit if the machine's
    available memory falls below that (other jobs on a shared machine), before the kernel's
    OOM killer would take it for an over; that raises MachineShortOfMemory.
    """
    import signal

    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The child's temporary files go in a directory removed here, however the child ends:
    # one killed over its budget never runs its own clean-up (scratch_dir's atexit).
    scratch = tempfile.mkdtemp(prefix="bench_child_")
    env["TMPDIR"] = scratch
    command = [sys.executable, "-m", "bench.child", module_function, json.dumps(kwargs)]
    try:
        # Files rather than pipes: a child that fills a pipe while it is watched would block.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
            over = short = False
            rss = 0
            while child.poll() is None:
                rss = _rss_mib(child.pid)
                if rss_limit_mib is not None and rss > rss_limit_mib:
                    child.kill()
                    child.wait()
                    over = True
                    break
                if keep_available_mib is not None and _available_mib() < keep_available_mib:
                    child.kill()
                    child.wait()
                    short = True
                    break
                time.sleep(0.05)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if short:
        raise MachineShortOfMemory(
            f"bench.child {module_function} {kwargs}: stopped, the machine had under "
            f"{keep_available_mib:.0f} MiB available (the child held {rss / 1024:.1f} GiB)",
            rss)
    if rss_limit_mib is not None and (over or child.returncode == -signal.SIGKILL):
        return None
    # The child prints its result as the last line of stdout (TF may log before).
    lines = stdout.strip().splitlines()
    if child.returncode or not lines:
        raise RuntimeError(
            f"bench.child {module_function} failed (exit {child.returncode}):\n"
            + stderr[-3000:])
    return json.loads(lines[-1])


def _rss_mib(pid):
    """Resident memory of process `pid` in MiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0


@dataclasses.dataclass
class Search:
    """What `largest_within` ran: every figure in it was measured, none predicted.

    `largest` is the largest n whose run stayed within the limit (0: none did), `peak_mib`
    that run's peak, `first_over` the smallest n that went over (None: not run, because
    `largest` reached the cap), `tries` every (n, peak MiB or None for over) in the order run.
    """

    largest: int
    peak_mib: float
    first_over: int
    tries: list

    def line(self):
        """(fixed MiB, MiB per item) of the line through the two largest n that ran within the
        limit, or None with fewer than two."""
        fits = sorted((n, peak) for n, peak in self.tries if peak is not None)
        if len(fits) < 2:
            return None
        (a, peak_a), (b, peak_b) = fits[-2:]
        per = (peak_b - peak_a) / (b - a)
        return peak_b - per * b, per

    def predict(self, limit_mib):
        """The line's largest n within `limit_mib`: an extrapolation, not a measurement."""
        line = self.line()
        if line is None or line[1] <= 0:
            return None
        return max(0, math.floor((limit_mib - line[0]) / line[1]))


def wait_for_available(mib, patience_s, poll_s=10):
    """Waits until the machine has `mib` MiB available or `patience_s` seconds have passed;
    returns whether it has."""
    deadline = time.monotonic() + patience_s
    while _available_mib() < mib:
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True


def _available_mib():
    """The machine's MemAvailable in MiB (infinite where /proc/meminfo is not there)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")


def largest_within(peak, limit_mib, probes=(2, 4), most=None, max_tries=16):
    """The largest n >= 1 whose run `peak(n)` stays within `limit_mib`, found by measuring.

    `peak(n)` runs the job at size n and returns its peak memory in MiB, or None when it
    went over (killed). The small `probes` run first; the line through the two largest
    sizes that ran predicts the largest size within the limit, which is then run; the search
    goes on, refitting the line through each new run, until it has run a size within the
    limit and the next size up over it (or `most`, a cap on n, has run within it). A
    prediction that went over is followed by one a tenth of the way back towards the largest
    size that ran, so that the next run likely fits and measures a point close to the limit;
    each further run over doubles that step, up to bisection.
    A prediction is at most four times the largest size that ran. Assumes that what fits at
    n fits below n and that memory grows about linearly with n: typically the probes, the
    prediction and the size above it, four runs in all.
    """
    tried = {}
    order = []

    def run(n):
        found = peak(n)
        if found is not None and found > limit_mib:
            found = None
        tried[n] = found
        order.append((n, found))
        return found

    for n in sorted(set(probes)):
        if most is not None and n > most:
            break
        if run(n) is None:
            break  # the larger probes would go over too
    while len(order) < max_tries:
        fits = sorted(n for n, found in tried.items() if found is not None)
        lower = fits[-1] if fits else 0
        upper = min((n for n, found in tried.items() if found is None), default=None)
        if upper == lower + 1 or (most is not None and lower >= most):
            break
        search = Search(lower, 0.0, upper, order)
        guess = search.predict(limit_mib)
        if guess is None:  # no slope yet: double, or halve towards the smallest over
            guess = 2 * lower if upper is None else (lower + upper) // 2
        # At most 4x the largest fit: at small sizes a fixed peak (the optimizer's, say) can
        # hide the growth per item, and a flat line would predict far too much.
        guess = min(guess, 4 * lower) if lower else guess
        n = max(lower + 1, guess)
        if upper is not None and n >= upper:
            # The line overshot: step back from the smallest over towards the largest fit,
            # a tenth of the way, doubling with every run that went over above that fit.
            overs = sum(1 for m, found in tried.items() if found is None and m > lower)
            back = min(0.5, 0.1 * 2 ** (overs - 1))
            n = max(lower + 1, min(upper - 1, lower + int((upper - lower) * (1 - back))))
        if most is not None:
            n = min(n, most)
        run(n)
    fits = [n for n, found in tried.items() if found is not None]
    largest = max(fits, default=0)
    first_over = min((n for n, found in tried.items() if found is None and n > largest),
                     default=None)
    return Search(largest, tried.get(largest), first_over, order)


# ----------------------------------------------------------------- models


def keras_hub_backbone(config, dtype):
    """keras-hub's BertBackbone with the shape of our `config` (its GELU is always the tanh form)."""
    import keras_hub

    return keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size, dropout=config.hidden_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size, dtype=dtype)


def random_batch(config, batch, seq_length, seed=0):
    """Fixed-shape encoder inputs of random ids (numpy int32): input_ids, input_mask, segment_ids."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(1, config.vocab_size, (batch, seq_length)).astype(np.int32),
            "input_mask": np.ones((batch, seq_length), np.int32),
            "segment_ids": np.zeros((batch, seq_length), np.int32)}


def keras_hub_inputs(batch):
    """Our encoder inputs renamed for keras-hub's BertBackbone."""
    return {"token_ids": batch["input_ids"], "padding_mask": batch["input_mask"],
            "segment_ids": batch["segment_ids"]}


def release():
    """Frees the models and traced steps of contenders that are done with (BERT-Base
    contenders of several heads and precisions do not fit in memory together)."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
