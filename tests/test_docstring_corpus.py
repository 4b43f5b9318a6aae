"""The docstring corpus the Quick start and the benchmarks read: every docstring of a module, in
source order, wherever the definition is nested."""

import ast

from bert_tf.data import docstring_corpus

SOURCE = '''"""Module docstring. It has two sentences here."""

class Outer:
    """Outer class."""

    def method(self):
        """A method."""

        def inner():
            """Nested in a method."""

    class Inner:
        """Nested class."""


if True:
    def in_if():
        """Inside an if."""
else:
    def in_else():
        """Inside an else."""

try:
    def in_try():
        """Inside a try."""
except ValueError:
    def in_handler():
        """Inside an except."""
finally:
    async def in_finally():
        """Async, inside a finally."""

with open(__file__) as f:
    for i in range(2):
        while False:
            def deep():
                """Inside with, for and while."""

match 1:
    case 1:
        def in_case():
            """Inside a match case."""

f = lambda: None  # no docstring, and no definition inside an expression
'''


def test_module_docstrings_finds_every_definition_in_source_order(tmp_path):
    path = tmp_path / "module.py"
    path.write_text(SOURCE)
    # The reference: every node of the tree, as ast.walk visits them.
    tree = ast.parse(SOURCE)
    nodes = [tree] + sorted((n for n in ast.walk(tree) if isinstance(
        n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))), key=lambda n: n.lineno)
    expected = [ast.get_docstring(n) for n in nodes]
    assert docstring_corpus.module_docstrings(str(path)) == expected
    assert len(expected) == 12


def test_documents_drop_repeated_sentences(tmp_path):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text('"""Shared first sentence here. Only in ' + name +
                                     ' this one."""\n')
    seen = set()
    documents = list(docstring_corpus.documents(str(tmp_path), seen=seen))
    # b.py keeps one new sentence: too few for a document (two at least).
    assert documents == [["Shared first sentence here.", "Only in a.py this one."]]
    assert "Only in b.py this one." in seen
