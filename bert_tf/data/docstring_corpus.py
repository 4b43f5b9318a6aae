"""Real English text found on any machine with this project installed: package docstrings.

Used by the Quick start and the benchmarks, which must run with no download.
Each module's docstrings form one document, one sentence per line.
"""

import ast
import os
import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _sentences(text):
    text = re.sub(r"\s+", " ", text).strip()
    return [s for s in _SENTENCE_END.split(text) if len(s.split()) >= 3]


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# The fields that hold statements: a definition can only be in one of them (ast.walk would
# visit every expression node too, three quarters of the time spent here).
_STATEMENT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _definitions(statements):
    """Every function and class defined among `statements`, at any depth."""
    for node in statements:
        if isinstance(node, _DEFINITIONS):
            yield node
        for field in _STATEMENT_FIELDS:
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _definitions(children)


def module_docstrings(path):
    """Docstrings of a Python file (module, classes, functions), in source order."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    nodes = [tree] + list(_definitions(tree.body))
    nodes.sort(key=lambda n: getattr(n, "lineno", 0))
    docs = []
    for node in nodes:
        doc = ast.get_docstring(node, clean=True)
        if doc:
            # Prose only: stop at the first section header or code example.
            prose = re.split(r"\n\s*(Args|Arguments|Returns|Raises|Example|Examples|Usage|"
                             r"Parameters|Note|>>>)[:\s]", doc)[0]
            docs.append(prose)
    return docs


_SKIPPED_DIRS = {"tests", "test", "__pycache__", "site-packages", "dist-packages", "idlelib",
                 "lib2to3", "turtledemo"}


def package_files(package_dir):
    files = []
    for root, dirs, names in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        files += [os.path.join(root, n) for n in sorted(names)
                  if n.endswith(".py") and not n.startswith("test_")]
    return files


def documents(package_dir, min_sentences=2, seen=None):
    """Yields one list of sentences per module of a package.

    Sentences already in `seen` (a set, updated) are dropped: generated
    modules repeat the same boilerplate thousands of times.
    """
    return documents_of_files(package_files(package_dir), min_sentences, seen)


def documents_of_files(paths, min_sentences=2, seen=None):
    """Yields one list of sentences per Python file of `paths` (see `documents`)."""
    seen = set() if seen is None else seen
    for path in paths:
        sentences = []
        for doc in module_docstrings(path):
            for sentence in _sentences(doc):
                if sentence not in seen:
                    seen.add(sentence)
                    sentences.append(sentence)
        if len(sentences) >= min_sentences:
            yield sentences


def write_corpus(package_dirs, path, max_bytes=None):
    """Writes a pretraining corpus file (blank line between documents); returns its size."""
    size, seen = 0, set()
    with open(path, "w", encoding="utf-8") as f:
        for package_dir in package_dirs:
            for document in documents(package_dir, seen=seen):
                block = "\n".join(document) + "\n\n"
                f.write(block)
                size += len(block.encode())
                if max_bytes and size >= max_bytes:
                    return size
    return size


def standard_library():
    """The directory of Python's standard library (its site-packages is skipped when walking)."""
    import sysconfig

    return sysconfig.get_paths()["stdlib"]


def site_packages(*names):
    """Directories of installed packages, by import name (those not installed are skipped)."""
    import importlib.util

    dirs = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            dirs.append(list(spec.submodule_search_locations)[0])
    return dirs
