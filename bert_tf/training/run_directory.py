"""A training run's output_dir: one run at a time, and a rerun that must match what the directory holds.

- **Lock**: the chief holds an exclusive `flock` on `output_dir/run.lock`
  for as long as it runs. A second run into the same directory is refused
  at start, naming the holder; the kernel drops the lock when its process
  dies, however it dies, so restarting a killed run simply takes it over.
- **Run files** (`bert_config.json`, `vocab.txt`, `run.json`,
  `label_list.txt`, ...) are what later steps read (resuming, evaluation,
  export). Before anything is written, a run compares the files it would
  write with those a trained directory already holds, and refuses with the
  difference: a rerun with other labels, another config or another
  max_seq_length would otherwise pair the old weights with new meanings.
  Files are written atomically (temporary name, then rename).
"""

import json
import os
import socket
import time
from typing import Dict, Optional, Union

import tensorflow as tf
from absl import logging

from bert_tf.data import files
from bert_tf.errors import UserError

LOCK_NAME = "run.lock"
RUN_INFO = "run.json"


class RunDirectoryError(UserError):
    """An output_dir in use by another run, or holding a run this one does not match."""


def has_trained_state(directory):
    """Whether a directory holds a training checkpoint (then its run files must not change)."""
    return tf.io.gfile.isdir(directory) and tf.train.latest_checkpoint(directory) is not None


class RunLock:
    """An exclusive lock on a local output_dir, released when the process ends."""

    def __init__(self, directory):
        self.directory = directory
        self.path = os.path.join(directory, LOCK_NAME)
        self._file = None

    def acquire(self):
        if "://" in self.directory:
            logging.warning("%s is not a local directory: it cannot be locked against a second "
                            "run; make sure only one run writes it", self.directory)
            return self
        import fcntl

        try:
            os.makedirs(self.directory, exist_ok=True)
            f = open(self.path, "a+", encoding="utf-8")
        except FileExistsError:
            raise RunDirectoryError(f"--output_dir={self.directory} is a file, not a "
                                    "directory") from None
        except OSError as e:
            raise RunDirectoryError(f"--output_dir={self.directory} cannot be created or "
                                    f"written: {e.strerror or e}") from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise RunDirectoryError(
                f"--output_dir={self.directory} is in use by another run ({holder}); wait for "
                "it to finish or choose another --output_dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        self._file = f
        return self

    def release(self):
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None


def _describe(value, limit=200):
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


LATER_KEYS = frozenset({"seed"})


def _differences(name, old, new):
    """Human-readable differences between two versions of a run file."""
    if name.endswith(".json"):
        try:
            old_values, new_values = json.loads(old), json.loads(new)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return [f"{name} differs"]
        if isinstance(old_values, dict) and isinstance(new_values, dict):
            keys = sorted(set(old_values) | set(new_values))
            # Keys run.json gained later: a directory written before is not compared on them.
            keys = [key for key in keys if key in old_values or key not in LATER_KEYS]
            return [f"{name}: {key} is {_describe(old_values.get(key))} in the directory but "
                    f"{_describe(new_values.get(key))} for this run"
                    for key in keys if old_values.get(key) != new_values.get(key)]
        return [] if old_values == new_values else [f"{name} differs"]
    if name.endswith(".txt") and name not in ("vocab.txt", "merges.txt"):
        old_lines, new_lines = old.decode().splitlines(), new.decode().splitlines()
        if old_lines != new_lines:
            return [f"{name} holds {_describe(old_lines)} but this run has "
                    f"{_describe(new_lines)}"]
        return []
    return [] if old == new else [f"{name} differs from this run's"]


class RunDirectory:
    """output_dir of a run: lock, compare, write. Only the chief calls `claim`."""

    def __init__(self, path):
        self.path = path
        self.lock = RunLock(path)

    def claim(self, run_files: Dict[str, Union[str, bytes]], compare: Optional[bool] = None):
        """Takes the lock, checks `run_files` against the directory, then writes them.

        `run_files` maps file names to their content. When the directory
        holds trained state (`compare` defaults to that), every file that
        exists must equal what this run would write; otherwise nothing is
        written and RunDirectoryError lists the differences.
        """
        self.lock.acquire()
        try:
            contents = {name: (value.encode("utf-8") if isinstance(value, str) else value)
                        for name, value in run_files.items()}
            if compare is None:
                compare = has_trained_state(self.path)
            if compare:
                problems = []
                for name, new in contents.items():
                    path = os.path.join(self.path, name)
                    if tf.io.gfile.exists(path):
                        with tf.io.gfile.GFile(path, "rb") as f:
                            problems += _differences(name, f.read(), new)
                if problems:
                    raise RunDirectoryError(
                        f"--output_dir={self.path} holds a trained run that this one does not "
                        f"match: {'; '.join(problems)}. Use another --output_dir (or the "
                        "original flags and data).")
            for name, content in contents.items():
                path = os.path.join(self.path, name)
                if tf.io.gfile.exists(path):
                    with tf.io.gfile.GFile(path, "rb") as f:
                        if f.read() == content:
                            continue
                with files.atomic_write(path, "wb") as f:
                    f.write(content)
        except BaseException:
            self.lock.release()
            raise
        return self

    def release(self):
        self.lock.release()


def run_info(**values) -> str:
    """run.json's text: what a run was asked to do, compared by later runs into the same directory."""
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


def read_run_info(directory) -> dict:
    """run.json of a run directory ({} for a directory without one)."""
    path = os.path.join(directory, RUN_INFO)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path, "r") as f:
        try:
            return json.loads(f.read())
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON ({e.msg})") from None


LABELS_FILE = "label_list.txt"  # a run's labels, one per line, in id order


def label_list_text(labels) -> str:
    for label in labels:
        if not label or label != label.strip() or "\n" in label:
            raise UserError(f"label {label!r} cannot be written to {LABELS_FILE} (empty, or "
                            "with surrounding spaces or a line break)")
    return "".join(label + "\n" for label in labels)


def read_label_list(path):
    """The labels of label_list.txt, in id order; a blank line is an error naming the line."""
    with tf.io.gfile.GFile(path, "r") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise UserError(f"{path}:{number}: empty label")
    if not lines:
        raise UserError(f"{path} holds no labels")
    return lines
