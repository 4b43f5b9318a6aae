"""Shared by the benchmarks: run several contenders alternately and take medians."""

import statistics
import time


def alternate(runners, repeats, per_run=1):
    """{name: median seconds per unit}: each runner is warmed up once, then they take turns.

    Alternating spreads the drift of a shared machine over all contenders.
    `per_run` is the number of units (steps, batches) one call processes.
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
