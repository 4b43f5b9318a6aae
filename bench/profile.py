"""Where a step's time goes, by TensorFlow op type, from the profiler's own trace (XPlane).

`op_table(fn, logdir)` runs `fn` under `tf.profiler.experimental`, reads
the `*.xplane.pb` file the profiler writes, and sums the host-side TF-op
events (named "op_name:OpType" on the executor's threads, e.g.
"encoder/layer_0/.../MatMul:_MklMatMul") by op type. oneDNN kernels keep
their names (`_MklMatMul`, `_MklSoftmax`, `_FusedMatMul`): they are the
kernels that ran. Ops of one step can run at once on several threads, so
the percentages of the step's wall time may add up to more than 100%.
On a GPU these are the host-side launches, not the device kernels.
"""

import collections
import glob
import os
import time


def _latest_xplane(logdir):
    paths = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
    if not paths:
        raise FileNotFoundError(f"the profiler wrote no *.xplane.pb under {logdir}")
    return max(paths, key=os.path.getmtime)


def op_durations(xplane_path):
    """{op type: (total seconds, count)} of the TF-op events of every host plane of the trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(xplane_path, "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.defaultdict(lambda: [0.0, 0])
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        for line in plane.lines:
            for event in line.events:
                meta = plane.event_metadata[event.metadata_id]
                # A TF op's event is named "name:Type" and carries its type as
                # display name; runtime events (ExecutorState::Process, ...) have none.
                if not meta.display_name or ":" not in meta.name:
                    continue
                total = totals[meta.display_name]
                total[0] += event.duration_ps * 1e-12
                total[1] += 1
    return {op: (seconds, count) for op, (seconds, count) in totals.items()}


def op_table(fn, logdir, top=15):
    """Runs `fn()` under the profiler and returns rows [op type, total ms, % of step, count].

    `fn` should have run once already (tracing and compiling are not the
    step). The last row sums the op types beyond the `top` largest. The
    first row is the wall time of `fn` itself, for scale.
    """
    import tensorflow as tf

    os.makedirs(logdir, exist_ok=True)
    tf.profiler.experimental.start(logdir)
    try:
        start = time.perf_counter()
        fn()
        wall = time.perf_counter() - start
    finally:
        tf.profiler.experimental.stop()
    ops = sorted(op_durations(_latest_xplane(logdir)).items(), key=lambda kv: -kv[1][0])
    rows = [["(wall time of the profiled run)", f"{wall * 1e3:.1f}", "100%", ""]]
    for op, (seconds, count) in ops[:top]:
        rows.append([op, f"{seconds * 1e3:.1f}", f"{100 * seconds / wall:.1f}%", count])
    rest = ops[top:]
    if rest:
        seconds = sum(s for _, (s, _) in rest)
        rows.append([f"({len(rest)} other op types)", f"{seconds * 1e3:.1f}",
                     f"{100 * seconds / wall:.1f}%", sum(c for _, (_, c) in rest)])
    return rows


HEADER = ["op type", "total ms", "% of step wall time", "events"]
