"""Alias of `python -m bench`: `python bench/run.py WORKLOAD [...] [--flags]`."""

import os
import runpy
import sys

if __name__ == "__main__":
    # The script's own folder must not stay first on the path: bench/profile.py
    # would shadow the standard library's profile module.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runpy.run_module("bench", run_name="__main__", alter_sys=True)
