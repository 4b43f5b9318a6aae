"""Writing files so that a crash never leaves half a file under its final name; reading inputs by glob.

Local paths are written to a temporary name in the same directory and
renamed with `os.replace` (atomic on POSIX file systems); remote paths
(`gs://...`) go through tf.io.gfile, whose rename is a copy then delete.
"""

import contextlib
import os
import re
import shutil
import socket
import uuid

from absl import logging

from bert_tf.errors import MissingFileError, UserError

BOM = "\ufeff"


def _is_remote(path):
    return "://" in os.fspath(path)


def check_output_file(path, flag, directory_made=False):
    """UserError naming `--flag` unless `path` can be written as a file: not a directory, in a
    directory that exists (unless the writer makes it: `directory_made`). Checked before any
    work, so that nothing is computed in vain."""
    path = os.fspath(path)
    if _is_remote(path):
        return
    if os.path.isdir(path):
        raise UserError(f"--{flag}={path} is a directory; give the path of a file in it")
    directory = os.path.dirname(path) or "."
    if directory_made and not os.path.exists(directory):
        return
    if not os.path.isdir(directory):
        what = "is not a directory" if os.path.exists(directory) else "does not exist"
        raise UserError(f"--{flag}={path}: the directory {directory} {what}")
    if not os.access(directory, os.W_OK):
        raise UserError(f"--{flag}={path}: the directory {directory} is not writable")


TEMPORARY_TAGS = ("tmp", "incomplete", "old")


def is_out_of_space(error):
    """Whether an exception is a full disk (or quota): TensorFlow's ResourceExhaustedError from a
    write, or an OSError ENOSPC/EDQUOT."""
    import errno

    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return type(error).__name__ == "ResourceExhaustedError" and "allocat" not in str(error)


def first_line(error):
    """An exception's message, first line only (TensorFlow's run to dozens)."""
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def temporary_name(path, tag):
    """A hidden name beside `path`, unique to this process and call.

    What earlier processes on this machine left beside `path` under such
    names (killed, or out of disk, before they could clean up) is removed
    first, once those processes are gone.
    """
    directory, name = os.path.split(os.fspath(path))
    if not _is_remote(path):
        remove_stale_temporaries(directory or ".", name)
    return os.path.join(directory, f".{name}.{tag}-{socket.gethostname()}-{os.getpid()}-"
                                   f"{uuid.uuid4().hex[:8]}")


def remove_stale_temporaries(directory, name):
    """Removes the temporary files and directories of `name` in `directory` that processes of
    this machine which no longer run left behind; returns their paths."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:{'|'.join(TEMPORARY_TAGS)})-(.+)-(\d+)-"
                         r"[0-9a-f]{8}")
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = pattern.fullmatch(entry)
        if not match or match.group(1) != socket.gethostname():
            continue
        if _process_runs(int(match.group(2))):
            continue
        path = os.path.join(directory, entry)
        remove_quietly(path)
        removed.append(path)
        logging.warning("removed %s, left by process %s, which no longer runs", path,
                        match.group(2))
    return removed


def _process_runs(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding="utf-8"):
    """A file object to write `path` through; it appears under `path` only when the block succeeds.

    On an exception the temporary file is removed and `path` keeps what it
    held before (or stays absent).
    """
    path = os.fspath(path)
    temporary = temporary_name(path, "tmp")
    binary = "b" in mode
    if _is_remote(path):
        import tensorflow as tf

        f = tf.io.gfile.GFile(temporary, mode)
    else:
        f = open(temporary, mode, **({} if binary else {"encoding": encoding}))
    try:
        with f:
            yield f
            if not _is_remote(path):
                f.flush()
                os.fsync(f.fileno())
        if _is_remote(path):
            import tensorflow as tf

            tf.io.gfile.rename(temporary, path, overwrite=True)
        else:
            os.replace(temporary, path)
    except BaseException:
        remove_quietly(temporary)
        raise


def write_text(path, text):
    """Writes a whole text file atomically."""
    with atomic_write(path) as f:
        f.write(text)


@contextlib.contextmanager
def atomic_directory(path):
    """A staging directory to fill; it replaces `path` only when the block succeeds.

    An existing `path` is moved aside, the staging directory renamed into
    place, and the old one deleted, so at no time does `path` hold a
    half-written directory.
    """
    path = os.fspath(path).rstrip("/")
    staging = temporary_name(path, "incomplete")
    if _is_remote(path):
        import tensorflow as tf

        tf.io.gfile.makedirs(staging)
    else:
        os.makedirs(staging)
    try:
        yield staging
        if _is_remote(path):
            import tensorflow as tf

            if tf.io.gfile.exists(path):
                tf.io.gfile.rmtree(path)
            tf.io.gfile.rename(staging, path)
            return
        old = None
        if os.path.exists(path):
            old = temporary_name(path, "old")
            os.rename(path, old)
        os.rename(staging, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        remove_quietly(staging)
        raise


def remove_quietly(path):
    """Deletes a file or directory if it exists; errors are ignored (clean-up after a failure)."""
    try:
        if _is_remote(path):
            import tensorflow as tf

            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            elif tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        elif os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.remove(path)
    except OSError:
        pass


def strip_bom(text):
    """Text without the byte-order mark spreadsheet programs put at the start of UTF-8 files."""
    return text[1:] if text.startswith(BOM) else text


def list_input_files(patterns):
    """Expands comma-separated globs (or a list of them); an empty match names the pattern."""
    import tensorflow as tf

    files = []
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p]
    for pattern in patterns:
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise MissingFileError(f"no input file matches {pattern}")
        files.extend(matched)
    return files
