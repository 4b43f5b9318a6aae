import os

# Quieter TensorFlow start-up in test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so that tests can run MirroredStrategy in this process
# (one-device runs use the first; the split must happen before TensorFlow starts).
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])


import gc  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

# Fewer, cheaper garbage collections in the test workers: what the imports allocated (the
# modules of TensorFlow, Keras and their tables, about a million objects) is moved out of
# the collector's sight, and the youngest generation is collected after 50,000 allocations
# instead of 700 (measured: 6% of a worker's time went to collections).
gc.freeze()
gc.set_threshold(50_000, 20, 20)


@pytest.fixture(scope="session", autouse=True)
def temporary_files_under_pytests_own_directory(tmp_path_factory):
    """Whatever a test, its subprocesses or a library write to the temporary directory goes
    under pytest's base directory, of which pytest keeps the last three runs: a test that
    leaks a file cannot fill the machine's disk over many runs."""
    path = str(tmp_path_factory.mktemp("tmp"))
    before = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = path
    yield
    if before[0] is None:
        del os.environ["TMPDIR"]
    else:
        os.environ["TMPDIR"] = before[0]
    tempfile.tempdir = before[1]


@pytest.fixture(autouse=True)
def collective_keys_of_its_own():
    """Each test's MirroredStrategy takes collective keys no earlier test used, as
    TensorFlow's own tests do (distribute/strategy_combinations.py). The runtime keeps the
    shape of each collective instance for the life of the process: a second strategy
    all-reducing other shapes under the same keys fails ("Shape mismatch in the collective
    instance"), and runs in this process now come after one another."""
    from tensorflow.python.distribute import mirrored_strategy

    mirrored_strategy.MirroredStrategy._collective_key_base += 100000
    yield


@pytest.hookimpl(trylast=True)  # after `-m` has deselected the other tier
def pytest_collection_modifyitems(config, items):
    """Two halves for `-n 2 --dist worksteal`, which hands each worker one contiguous half of
    this order and later moves the tail of the longer queue to the idle worker. Each half
    starts with its share of the modules holding long tests, marked slow or heavy (shared so
    that the halves' estimated times are close), then modules without: no long test starts last and leaves
    one worker running it alone, and the two workers never start on the same module, whose
    fixtures built once (testing.built_once) one of them would otherwise sit waiting for.
    Each module's tests stay together."""
    modules = {}
    for item in items:
        modules.setdefault(item.module.__name__, []).append(item)

    def long(test):
        return test.get_closest_marker("slow") or test.get_closest_marker("heavy")

    def estimate(tests):  # seconds on two cores: long tests about a minute, others a few
        return sum(60 if long(test) else 3 for test in tests)

    heavy = [m for m, tests in modules.items() if any(long(t) for t in tests)]
    halves, load = ([], []), [0, 0]
    for name in sorted(heavy, key=lambda m: -estimate(modules[m])):
        side = load.index(min(load))
        halves[side].extend(modules[name])
        load[side] += estimate(modules[name])
    light = [t for m, tests in modules.items() if m not in heavy for t in tests]
    room = max(0, len(items) // 2 - len(halves[0]))
    items[:] = halves[0] + light[:room] + halves[1] + light[room:]
