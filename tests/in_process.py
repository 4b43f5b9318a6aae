"""A top-level script's main() run in this process, as `python SCRIPT FLAGS...` runs it: no
interpreter start-up, no second TensorFlow import.

What a subprocess would add is checked once per script family elsewhere (the one-line
`SCRIPT: error: ...` on stderr, SIGKILL and restart, the cluster's processes); everything
else goes through the same path: the script's absl flags parsed from the same command
line, its main(), `scripts.run_or_exit` turning a UserError into `sys.exit(message)`.
"""

import contextlib
import dataclasses
import importlib.util
import io
import logging as python_logging
import os
import sys

from absl import flags, logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE_PREFIX = "_in_process_script_"


@dataclasses.dataclass
class Done:
    """What subprocess.run would have returned: the exit code and both outputs."""

    returncode: int
    stdout: str
    stderr: str


def _hidden_while_a_script_runs(module):
    # Every flag but absl's own: bench/, tasks/, quickstart.py and the scripts (imported
    # under private names here and in test_docs.py) define flags of the same names
    # ("output_dir" everywhere; "jit_compile" is a list in bench, a bool in the scripts).
    return not module.startswith("absl.")


@contextlib.contextmanager
def _own_flags():
    """Every flag but absl's hidden; afterwards the ones the script defined are removed and
    the hidden ones restored, with absl's per-module bookkeeping."""
    fv = flags.FLAGS
    saved = {name: fv[name] for name in list(fv)
             if _hidden_while_a_script_runs(fv.find_module_defining_flag(name) or "")}
    module_dicts = [fv.flags_by_module_dict(), fv.flags_by_module_id_dict(),
                    fv.key_flags_by_module_dict()]
    saved_dicts = [{key: list(value) for key, value in d.items()} for d in module_dicts]
    was_parsed = fv.is_parsed()
    before = set(fv)
    for name in saved:
        delattr(fv, name)
    try:
        yield fv
    finally:
        for name in set(fv) - (before - set(saved)):
            delattr(fv, name)
        for name, flag in saved.items():
            fv[name] = flag
        for d, old in zip(module_dicts, saved_dicts):
            d.clear()
            d.update(old)
        if not was_parsed:
            fv.unparse_flags()


_count = 0


def run_script(name, *argv):
    """`python ROOT/name argv...` in this process; a Done with its exit code and outputs.

    An exception other than SystemExit propagates (a subprocess would print its
    traceback). Process-wide settings a run may change are put back: absl's
    verbosity and TensorFlow's op determinism (--deterministic).
    """
    global _count
    from tensorflow.python.framework import config as tf_config

    _count += 1
    module_name = f"{MODULE_PREFIX}{_count}"
    stdout, stderr = io.StringIO(), io.StringIO()
    handler = python_logging.StreamHandler(stderr)
    verbosity = logging.get_verbosity()
    deterministic = tf_config.is_op_determinism_enabled()
    returncode = 0
    with _own_flags() as fv:
        spec = importlib.util.spec_from_file_location(module_name, os.path.join(ROOT, name))
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        python_logging.getLogger("absl").addHandler(handler)
        try:
            spec.loader.exec_module(module)
            fv([name, *argv])
            logging.set_verbosity(logging.WARNING)  # as scripts.start does
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    module.main([name])
                except SystemExit as e:
                    if isinstance(e.code, str):
                        print(e.code, file=sys.stderr)
                        returncode = 1
                    else:
                        returncode = e.code or 0
        finally:
            python_logging.getLogger("absl").removeHandler(handler)
            del sys.modules[module_name]
            logging.set_verbosity(verbosity)
            if tf_config.is_op_determinism_enabled() and not deterministic:
                tf_config.disable_op_determinism()
    return Done(returncode, stdout.getvalue(), stderr.getvalue())


def run_checked(name, *argv):
    """run_script, failing the test with the script's outputs unless it exits 0."""
    done = run_script(name, *argv)
    if done.returncode:
        raise AssertionError(f"{name} exit {done.returncode}\n{done.stdout[-3000:]}\n"
                             f"{done.stderr[-3000:]}")
    return done
