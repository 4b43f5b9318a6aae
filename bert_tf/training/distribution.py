"""Choosing a tf.distribute strategy from flags, and who is the chief."""

import json
import os

import tensorflow as tf

STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical devices (to run mirrored training without GPUs).

    Must run before TensorFlow initializes its devices.
    """
    if num_devices and num_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])


def create_strategy(name, tpu_name=None):
    """The strategy named by --distribution_strategy.

    - one_device: the first GPU if there is one, else the CPU;
    - mirrored: every local GPU (or every logical CPU device) of this host;
    - multi_worker_mirrored: several hosts, described by the TF_CONFIG
      environment variable (each process runs the same command);
    - tpu: the TPU named by `tpu_name` ("" or "local" for a TPU VM).
    """
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        if not devices:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker_mirrored":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--distribution_strategy=multi_worker_mirrored needs the TF_CONFIG "
                             "environment variable describing the cluster and this task")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_name or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown distribution strategy {name!r}; choose one of {STRATEGIES}")


def task_info():
    """(task type, task id) from TF_CONFIG, or (None, 0) when there is no cluster."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    return task.get("type"), int(task.get("index", 0))


def is_chief():
    """Whether this process writes checkpoints, summaries and exports.

    The chief is the "chief" task, or worker 0 in a cluster without one.
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task_type, task_id = task_info()
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in config.get("cluster", {})
