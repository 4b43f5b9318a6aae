"""The workloads `python -m bench` runs: every module of this package with a `run(ceilings)`.

Importing this package imports all of them, so that their flags exist before
the command line is parsed.
"""

import importlib
import pkgutil

# Shown and run in this order; modules not named here follow alphabetically.
ORDER = ("encoder", "pretraining", "finetuning", "serving", "pretraining_data", "gpu")


def _discover():
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return {name: importlib.import_module(f"{__name__}.{name}") for name in names}


WORKLOADS = _discover()


def description(module):
    """The first line of a workload's docstring."""
    return (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""


def in_all(module):
    """Whether `all` runs it (the GPU check does not belong in a CPU run of everything)."""
    return getattr(module, "IN_ALL", True)
