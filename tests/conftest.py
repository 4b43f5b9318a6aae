import os

# Quieter TensorFlow start-up in test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so that tests can run MirroredStrategy in this process
# (one-device runs use the first; the split must happen before TensorFlow starts).
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])


import pytest  # noqa: E402


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


def pytest_collection_modifyitems(config, items):
    """Modules with a test marked slow run first, so that with `-n 2` no long test starts last
    and leaves one worker running it alone at the end (each module's tests stay together:
    module-scoped fixtures are built once)."""
    heavy = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in heavy)  # a stable sort
