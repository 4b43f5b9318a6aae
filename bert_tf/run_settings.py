"""What every script's run shares: settings read from absl flags, and the process set-up."""

import dataclasses

import keras
import tensorflow as tf

from bert_tf import distribution


class FlagSettings:
    """Mixin for a settings dataclass whose field names are the script's flag names."""

    @classmethod
    def from_flags(cls, flag_values):
        """The fields that are flags take the flags' values; the others keep their defaults."""
        return cls(**{f.name: getattr(flag_values, f.name) for f in dataclasses.fields(cls)
                      if f.name in flag_values})


def prepare_process(seed, deterministic=False, num_cpu_devices=0):
    """Before any model: virtual CPU devices, every random seed, optional op determinism."""
    distribution.split_cpu(num_cpu_devices)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
