"""`python -m bench WORKLOAD [WORKLOAD...] [--flags]`: benchmarks as markdown tables for RESULTS.md.

    python -m bench list                    # the workloads, one line each
    python -m bench encoder finetuning      # these two
    python -m bench all --preset=base       # every workload except the GPU check

Prints a header (date, machine, versions, this command line), the float32
and bfloat16 matmul ceilings, then each workload's tables.
"""

import datetime
import os
import platform
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

import bench  # noqa: E402,F401  (the shared flags)
from bench import harness  # noqa: E402
from bench.workloads import WORKLOADS, description, in_all  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("ceiling_size", 2048, "Side of the square matmul whose rate is the ceiling.")


def cpu_summary():
    """"<model>, <n> cores, <vector units>" from /proc/cpuinfo (what decides bfloat16 speed)."""
    model, cpu_flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    cpu_flags = set(value.split())
                    break
    except OSError:
        pass
    units = []
    if "amx_bf16" in cpu_flags:
        units.append("AMX-bf16")
    if "avx512_bf16" in cpu_flags:
        units.append("AVX512_BF16")
    if "avx512f" not in cpu_flags:
        units.append("no AVX-512 (bfloat16 emulated)")
    elif not units:
        units.append("AVX-512 without bfloat16 instructions")
    return f"{model}, {os.cpu_count()} cores, {', '.join(units)}"


def gpu_summary():
    import tensorflow as tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
    return ", ".join(names) or "no GPU"


def header():
    import keras
    import tensorflow as tf

    try:
        import keras_hub
        hub = keras_hub.__version__
    except ImportError:
        hub = "not installed"
    command = shlex.join(getattr(sys, "orig_argv", sys.argv))
    return (f"{datetime.date.today().isoformat()} — {cpu_summary()}; {gpu_summary()}; "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}, keras-hub {hub}; "
            f"command: `{command}`")


def chosen_workloads(names):
    """The workload modules the positional arguments name, checked before anything runs."""
    if not names:
        raise app.UsageError("name at least one workload (or `all`, or `list`)")
    unknown = [n for n in names if n not in WORKLOADS and n != "all"]
    if unknown:
        raise app.UsageError(f"unknown workload(s) {unknown}; known: {', '.join(WORKLOADS)}")
    chosen = []
    for name in names:
        for found in ([n for n, m in WORKLOADS.items() if in_all(m)] if name == "all" else [name]):
            if found not in chosen:
                chosen.append(found)
    return chosen


def quiet_logs():
    """Tables stay readable: no TF INFO lines, no retracing warnings (every contender's
    functions trace once; TF counts calls of one method across objects), no Keras
    UserWarnings about ignored shuffling or unreached pooler weights."""
    import warnings

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"keras\.")


def main(argv):
    names = argv[1:]
    if names == ["list"]:
        for name, module in WORKLOADS.items():
            note = "" if in_all(module) else " (not part of `all`)"
            print(f"{name:18s} {description(module)}{note}")
        return
    chosen = chosen_workloads(names)
    quiet_logs()
    from bert_tf import BertConfig

    try:  # an unknown preset or a wrong --jit_compile fails here, before any work
        BertConfig.preset(FLAGS.preset)
        bench.jit_variants([])
    except (ValueError, flags.ValidationError) as e:
        raise app.UsageError(str(e)) from None
    print(header())
    ceilings = harness.measure_ceilings(FLAGS.ceiling_size)
    print(f"{FLAGS.ceiling_size}² matmul ceiling: float32 {ceilings['float32']:.0f} GFLOP/s, "
          f"bfloat16 {ceilings['bfloat16']:.0f} GFLOP/s", flush=True)
    for name in chosen:
        print(f"\n## {name}: {description(WORKLOADS[name])}", flush=True)
        start = time.perf_counter()
        WORKLOADS[name].run(ceilings)
        print(f"({name} took {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    app.run(main)
