"""Runs one `module:function` with JSON keyword arguments in this fresh process (see harness.run_child).

    python -m bench.child bench.workloads.encoder:train_memory '{"preset": "tiny"}'

Prints the function's dict, with `peak_rss_mib` added, as the last line of stdout.
"""

import importlib
import json
import os
import resource
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def peak_rss_mib():
    """This process's peak resident memory in MiB.

    VmHWM, the high-water mark of this process's own address space, not
    getrusage's ru_maxrss: Linux carries ru_maxrss over an exec, so a child
    started by a big benchmark process would report at least the parent's
    peak (both contenders then showed the parent's figure).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv):
    if len(argv) != 3 or ":" not in argv[1]:
        sys.exit("usage: python -m bench.child module:function '{json kwargs}'")
    module_name, function_name = argv[1].split(":", 1)
    function = getattr(importlib.import_module(module_name), function_name)
    result = dict(function(**json.loads(argv[2])))
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)
