"""The layout's rules: the library imports no task, no import cycles, no module imported for its side
effects, one meaning per name."""

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


def test_task_names_only_the_task_families():
    """The vocabulary of tasks/__init__.py: an objective, an export kind, a run type or a
    dataset is not called a task. Only settings fields that mirror a flag (--task_name,
    --task) and TensorFlow's cluster task (distribution.task_info) keep the word."""
    offenders = []
    for module, path in project_modules().items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.ClassDef):
                if node.name.endswith("Task"):
                    offenders.append(f"{module}: class {node.name}")
                fields = [target.id for item in node.body
                          for target in (item.targets if isinstance(item, ast.Assign) else
                                         [getattr(item, "target", None)])
                          if isinstance(target, ast.Name)]
                if not node.name.endswith("Settings"):  # a FlagSettings field is a flag's name
                    offenders += [f"{module}: {node.name}.{name}" for name in fields
                                  if "task" in name.lower()]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if "task" in node.name.lower() and (module, node.name) != (
                        "bert_tf.training.distribution", "task_info"):
                    offenders.append(f"{module}: def {node.name}")
                offenders += [f"{module}: {node.name}({a.arg})"
                              for a in node.args.args + node.args.kwonlyargs
                              if "task" in a.arg.lower()]
    assert not offenders, offenders


def test_project_modules_are_imported_to_be_used():
    """No module is imported for its side effects (registering itself somewhere): every name
    an import of a project module binds is used where it is imported (or re-exported in
    __all__), so what a table lists is what is imported."""
    modules = project_modules()
    for package in ("bench", "tests"):
        for directory, _, names in os.walk(os.path.join(ROOT, package)):
            modules.update({os.path.relpath(os.path.join(directory, name), ROOT): os.path.join(
                directory, name) for name in names if name.endswith(".py")})
    ours = {"bert_tf", "tasks", "bench"} | {name[:-3] for name in os.listdir(
        os.path.join(ROOT, "tests")) if name.endswith(".py")}
    unused = []
    for module, path in modules.items():
        tree = ast.parse(open(path, encoding="utf-8").read())
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        exported = {element.value for node in tree.body if isinstance(node, ast.Assign)
                    and any(getattr(t, "id", None) == "__all__" for t in node.targets)
                    for element in getattr(node.value, "elts", ())
                    if isinstance(element, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bound = [(a.asname or a.name.split(".")[0], a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                bound = [(a.asname or a.name, f"{node.module}.{a.name}") for a in node.names]
            else:
                continue
            unused += [f"{module}:{node.lineno} imports {name}" for name, full in bound
                       if full.split(".")[0] in ours and name not in used | exported]
    assert not unused, unused
