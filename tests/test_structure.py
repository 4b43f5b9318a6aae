"""The layout's rules: the library imports no task, project modules import each other without cycles."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("bert_tf", "tasks")


def project_modules():
    """{module name: path} of every module in bert_tf/ and tasks/, and the top-level scripts."""
    found = {}
    for package in PACKAGES:
        for directory, _, names in os.walk(os.path.join(ROOT, package)):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    found[module.removesuffix(".__init__")] = path
    for name in os.listdir(ROOT):
        if name.endswith(".py"):
            found[name[:-3]] = os.path.join(ROOT, name)
    return found


def imports_of(path, module, modules):
    """Project modules `path` imports anywhere in it (function-level imports included)."""
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            # "from pkg import sub" imports the submodule pkg.sub when there is one.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def test_the_library_imports_no_task():
    modules = project_modules()
    offenders = {module: sorted(m for m in imports_of(path, module, modules)
                                if m.split(".")[0] == "tasks")
                 for module, path in modules.items() if module.split(".")[0] == "bert_tf"}
    assert not {m: found for m, found in offenders.items() if found}


def test_no_import_cycles():
    modules = project_modules()
    graph = {m: imports_of(path, m, modules) for m, path in modules.items()}
    state, stack, cycles = {}, [], []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                cycles.append(stack[stack.index(other):] + [other])
            elif other not in state:
                visit(other)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_scripts_are_flags_and_main():
    """Scripts hold flags and main() only; every other function lives in an importable module."""
    for name in os.listdir(ROOT):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(ROOT, name), encoding="utf-8").read())
        functions = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        if name == "quickstart.py":
            continue  # the Quick start is a program of its own (stages, printing)
        assert functions == ["main"], (name, functions)
