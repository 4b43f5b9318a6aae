"""Benchmarks of bert_tf against keras-hub: one harness (`python -m bench WORKLOAD ...`), workloads as modules.

The flags every workload shares are defined here, so that they exist as soon
as any `bench` module is imported. A flag left unset (None) means "the
workload's own default": an encoder forward pass and a pretraining step are
not measured at the same batch size.
"""

from absl import flags

FLAGS = flags.FLAGS

flags.DEFINE_string("preset", "base", "BertConfig preset (tiny, mini, small, base, large); "
                    "the gpu workload takes large unless this is given.")
flags.DEFINE_integer("batch_size", None, "Sequences per batch (default: the workload's).")
flags.DEFINE_integer("seq_length", None, "Tokens per sequence (default: the workload's).")
flags.DEFINE_integer("steps", None, "Steps per timed run (default: the workload's).")
flags.DEFINE_integer("repeats", None, "Timed runs per contender, after a warm-up; the median "
                     "is reported (default: the workload's).")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Keras dtype policies to measure.")
flags.DEFINE_list("jit_compile", None, "XLA variants to measure where a workload offers them: "
                  "off, on or off,on (default: the workload's).")
flags.DEFINE_bool("skip_keras_hub", False, "Measure bert_tf alone (no keras-hub contender).")
flags.DEFINE_string("profile_dir", None, "Where to write TensorFlow profiles; workloads that "
                    "support it then print an op-level table of their step.")


def setting(name, default):
    """FLAGS.<name>, or the workload's `default` when the flag was not given."""
    value = getattr(FLAGS, name)
    return default if value is None else value


def jit_variants(default):
    """The --jit_compile variants as booleans, e.g. [False, True]."""
    values = setting("jit_compile", default)
    unknown = [v for v in values if v not in ("off", "on")]
    if unknown:
        raise flags.ValidationError(f"--jit_compile takes off and/or on, got {unknown}")
    return [v == "on" for v in values]
