"""The docs stay true: relative links resolve, and every --flag they name exists in its script.

Which script a flag belongs to:

- a command that runs a script, in a shell code block or in inline code
  (`python run_squad.py --doc_stride=128`, `.venv/bin/python -m bench ...`,
  or inline code that starts with the script: `run_squad.py --do_predict`):
  that script's flags;
- any other `--flag` in a page's text or inline code: the scripts the page
  declares for that part of it, in a comment `<!-- flags: run_squad.py -->`
  that holds until the next such comment (a flag must exist in one of them);
- other commands (`pip install --no-deps`, `docker run --mount ...`) are not
  ours and are not checked; a line whose command is neither is an error.

A script's flags are read by importing it here, under a module name of its
own, with every other project flag hidden and restored afterwards (absl keeps
flags in one global registry): one process for all scripts, and one
`--helpfull` subprocess to check that this gives what the script lists.
"""

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
import urllib.parse

import pytest
from absl import app, flags
from absl.flags import _argument_parser, _helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = (["README.md", "CONTRIBUTING.md"]
         + sorted(os.path.join("docs", n) for n in os.listdir(os.path.join(ROOT, "docs"))
                  if n.endswith(".md")))
# Scripts a page may run: the top-level ones, the examples, and `python -m bench`.
SCRIPTS = dict(
    {n: n for n in sorted(os.listdir(ROOT)) if n.endswith(".py")},
    **{f"examples/{n}": f"examples/{n}"
       for n in sorted(os.listdir(os.path.join(ROOT, "examples"))) if n.endswith(".py")},
    bench="bench/__main__.py")
# Flags the docs name that belong to programs that are not ours.
FOREIGN_FLAGS = {"na-prob-file": "the SQuAD 2.0 evaluation script's"}
# Commands whose flags are not ours (the first word of a line or of inline code).
FOREIGN_COMMANDS = {"pip", "pip3", "docker", "curl", "make", "git", "saved_model_cli",
                    "tensorboard", "pytest"}
# The script whose --helpfull the in-process reading must match: one that imports no
# TensorFlow, so the subprocess takes 0.1 s instead of 4 s (run_squad.py works too).
HELPFULL_SCRIPT = "create_pretraining_data.py"
MODULE_PREFIX = "_docs_flags_"

FLAG = re.compile(r"(?<![\w-])--(?:\[no\])?([A-Za-z][\w-]*)(?:=(\S*))?")
SCRIPT_RUN = re.compile(r"(?:^|[\s;&|(])(?:\S*/)?python3?\s+(?:-m\s+([\w.]+)|([\w./-]+\.py))")
LEADING_SCRIPT = re.compile(r"^([\w./-]+\.py)(?=\s|$)")
LINK = re.compile(r"!?\[(?:[^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
LINK_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)")
DECLARATION = re.compile(r"<!--\s*flags:([^>]*)-->")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
SHELLS = {"", "sh", "bash", "shell", "console"}


# ------------------------------------------------------------ reading pages


def read(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return f.read()


def blocks(text):
    """[(kind, lang, first line number, [lines])]: kind "code" (fenced) or "text"."""
    out, lines, kind, lang, start, fence = [], [], "text", "", 1, None
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip()
        if fence is None and (stripped.startswith("```") or stripped.startswith("~~~")):
            if lines:
                out.append((kind, lang, start, lines))
            fence = stripped[:3]
            kind, lang, start, lines = "code", stripped[3:].strip().lower(), number + 1, []
        elif fence is not None and stripped.startswith(fence) and not stripped[3:].strip():
            out.append((kind, lang, start, lines))
            fence, kind, lang, start, lines = None, "text", "", number + 1, []
        else:
            lines.append(line)
    assert fence is None, "a code block is never closed"
    if lines:
        out.append((kind, lang, start, lines))
    return out


def text_lines(text):
    """(line number, line) of every line outside fenced code."""
    for kind, _, start, lines in blocks(text):
        if kind == "text":
            yield from enumerate(lines, start)


def slug(heading):
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation out, spaces -> -."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    heading = re.sub(r"<[^>]+>", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def anchors(page):
    seen, found = {}, set()
    for _, line in text_lines(read(page)):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page):
    """(line number, target) of every link outside code."""
    return links_in(read(page))


def links_in(text):
    for number, line in text_lines(text):
        bare = CODE_SPAN.sub("", line)
        for match in LINK.finditer(bare):
            yield number, match.group(1)
        match = LINK_DEFINITION.match(bare)
        if match:
            yield number, match.group(1)


def link_problem(page, target):
    """Why `target`, linked from `page`, does not resolve (None when it does)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
        return None
    path, _, anchor = urllib.parse.unquote(target).partition("#")
    if path:
        resolved = os.path.normpath(os.path.join(ROOT, os.path.dirname(page), path))
        if os.path.relpath(resolved, ROOT).startswith(".."):
            return f"{target} leaves the repository"
        if not os.path.exists(resolved):
            return f"{target}: no such file"
        linked = os.path.relpath(resolved, ROOT)
    else:
        linked = page
    if anchor:
        if not linked.endswith(".md"):
            return f"{target}: an anchor into a file that is not markdown"
        if anchor not in anchors(linked):
            return f"{target}: {linked} has no heading #{anchor}"
    return None


# ------------------------------------------------------ flags named by pages


def command_word(line):
    """The first word of a shell line after VAR=value assignments, without its directory."""
    words = line.split()
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        words.pop(0)
    return os.path.basename(words[0]) if words else ""


def script_of(run_match):
    """The SCRIPTS key a `python ...` match runs, "" for a module that is not ours."""
    module, path = run_match.groups()
    if module is not None:
        return module if module in SCRIPTS else ""
    return os.path.normpath(path)


def flag_uses(page):
    """[(line number, where, scripts, flag name, value)]: every --flag the page names.

    `scripts` is the tuple of scripts the flag may belong to; `where` says why,
    for the failure message. A line with flags that cannot be attributed
    yields scripts=() (and fails).
    """
    uses, declared = [], None

    def command(number, line, what):
        """Flags of one command line; True when the line was attributed."""
        runs = list(SCRIPT_RUN.finditer(line))
        leading = LEADING_SCRIPT.match(line.strip())
        if leading and not runs:
            target, tail = os.path.normpath(leading.group(1)), line.strip()[leading.end():]
        elif runs:
            # Flags after the last `python X` up to a shell separator are X's.
            target = script_of(runs[-1])
            tail = re.split(r"\s(?:&&|\|\||;|\|)\s", line[runs[-1].end():])[0]
        else:
            return command_word(line) in FOREIGN_COMMANDS or not FLAG.search(line)
        if target == "":
            return True  # python -m pytest, python -m venv: not ours
        for match in FLAG.finditer(tail):
            uses.append((number, f"{what} running {target}", (target,), *match.groups()))
        return True

    for kind, lang, start, lines in blocks(read(page)):
        if kind == "code":
            if lang not in SHELLS:
                continue
            logical, first = "", None
            for number, line in enumerate(lines, start):
                line = re.sub(r"(^|\s)#.*$", "", line)  # shell comments
                first = number if first is None else first
                if line.rstrip().endswith("\\"):
                    logical += line.rstrip()[:-1] + " "
                    continue
                logical += line
                if not command(first, logical, "a code block") and FLAG.search(logical):
                    uses.append((first, "a code block line that runs nothing known", (),
                                 FLAG.search(logical).group(1), None))
                logical, first = "", None
            continue
        for number, line in enumerate(lines, start):
            if line.count("`") % 2:  # inline code across lines: its flags could not be attributed
                uses.append((number, "inline code that does not end on its line", (), "", None))
            match = DECLARATION.search(CODE_SPAN.sub(" ", line))
            if match:
                declared = tuple(match.group(1).split())
            prose = line
            for span in CODE_SPAN.finditer(line):
                code = span.group(2).strip()
                prose = prose.replace(span.group(0), " ", 1)
                if code.startswith("--"):
                    for flag in FLAG.finditer(code):
                        uses.append((number, "inline code", declared or (), *flag.groups()))
                elif not command(number, code, "inline code"):
                    uses.append((number, f"inline code {code!r} that runs nothing known", (),
                                 FLAG.search(code).group(1), None))
            prose = LINK.sub(" ", DECLARATION.sub(" ", prose))
            for flag in FLAG.finditer(prose):
                uses.append((number, "the text", declared or (), *flag.groups()))
    return uses


def flag_problem(name, value, scripts, known):
    """Why `--name[=value]` is not a flag of any of `scripts` (None when it is)."""
    if name in FOREIGN_FLAGS:
        return None
    if not scripts:
        return "cannot tell which script it belongs to: declare <!-- flags: SCRIPT ... -->"
    unknown = [s for s in scripts if s not in known]
    if unknown:
        return f"{', '.join(unknown)} is not a script here (known: {', '.join(sorted(known))})"
    for script in scripts:
        flag = known[script].get(name)
        if flag is None and name.startswith("no"):  # --nodo_lower_case
            flag = known[script].get(name[2:])
            flag = flag if flag is not None and flag.boolean else None
        if flag is None:
            continue
        parser = flag.parser
        if (value and isinstance(parser, _argument_parser.EnumParser)
                and re.fullmatch(r"[\w.-]+", value)):
            allowed = parser.enum_values
            if (value if parser.case_sensitive else value.upper()) not in (
                    allowed if parser.case_sensitive else [v.upper() for v in allowed]):
                return f"{script}: --{name} takes {', '.join(allowed)}, not {value!r}"
        return None
    return f"no --{name} in {' or '.join(scripts)}"


# --------------------------------------------------- the scripts' own flags


def project_module(name):
    """Whether the module that defined a flag is ours (a script, bench, tasks, bert_tf)."""
    top = name.split(".")[0]
    return (name.startswith(MODULE_PREFIX) or top in {"bench", "tasks", "bert_tf", "examples"}
            or os.path.isfile(os.path.join(ROOT, top + ".py"))
            or os.path.isfile(os.path.join(ROOT, name)))


@contextlib.contextmanager
def project_flags_hidden():
    """Hides every flag a project module defined; restores them (and `bench`'s modules) after.

    Inside, importing a script defines exactly its own flags again, whatever
    this process imported before (bench and the scripts share flag names).
    """
    fv = flags.FLAGS
    saved = {name: fv[name] for name in list(fv)
             if project_module(fv.find_module_defining_flag(name) or "")}
    module_dicts = [fv.flags_by_module_dict(), fv.flags_by_module_id_dict(),
                    fv.key_flags_by_module_dict()]
    saved_dicts = [{key: list(value) for key, value in d.items()} for d in module_dicts]
    saved_modules = {n: m for n, m in sys.modules.items() if n == "bench" or n.startswith("bench.")}
    saved_path = list(sys.path)
    for name in saved:
        delattr(fv, name)
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == "bench" or n.startswith("bench.")]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        sys.path[:] = saved_path
        for name, flag in saved.items():
            fv[name] = flag
        for d, before in zip(module_dicts, saved_dicts):
            d.update(before)
            for key in [k for k, v in d.items() if not v]:
                del d[key]


def import_for_flags(index, script):
    """Imports the script under a name of its own; returns {name: Flag} of the project flags it
    defined, and removes them again."""
    fv = flags.FLAGS
    # bench/__main__.py imports the package `bench`, whose modules define flags on import.
    for name in [n for n in sys.modules if n == "bench" or n.startswith("bench.")]:
        del sys.modules[name]
    before = set(fv)
    module_name = f"{MODULE_PREFIX}{index}"
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(ROOT, SCRIPTS[script]))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[module_name]
    added = {name: fv[name] for name in set(fv) - before
             if project_module(fv.find_module_defining_flag(name) or module_name)}
    for name in added:
        delattr(fv, name)
    return added


def read_script_flags():
    """{script: {flag name: Flag}}: each script's flags and every other flag of the process
    (absl's own, TensorFlow's), as `SCRIPT --helpfull` lists them."""
    app.define_help_flags()  # --help, --helpfull, ...: app.run defines them in a script
    with project_flags_hidden():
        own = {script: import_for_flags(i, script) for i, script in enumerate(SCRIPTS)}
        common = {name: flags.FLAGS[name] for name in flags.FLAGS}
    # --flagfile and --undefok live in absl's own registry of special flags.
    common.update({name: _helpers.SPECIAL_FLAGS[name] for name in _helpers.SPECIAL_FLAGS})
    return {script: dict(common, **flags_) for script, flags_ in own.items()}, own


@pytest.fixture(scope="module")
def helpfull():
    """`HELPFULL_SCRIPT --helpfull`, started first so it runs while this process imports."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen([sys.executable, HELPFULL_SCRIPT, "--helpfull"], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate()


@pytest.fixture(scope="module")
def script_flags(helpfull):
    return read_script_flags()


# -------------------------------------------------------------------- tests


def test_every_relative_link_resolves():
    problems = [f"{page}:{number}: {problem}"
                for page in PAGES for number, target in links(page)
                for problem in [link_problem(page, target)] if problem]
    assert not problems, "\n".join(problems)


def test_every_flag_a_page_names_exists_in_its_script(script_flags):
    known, _ = script_flags
    problems, checked = [], 0
    for page in PAGES:
        for number, where, scripts, name, value in flag_uses(page):
            checked += 1
            if not name:
                problems.append(f"{page}:{number}: {where}")
                continue
            problem = flag_problem(name, value, scripts, known)
            if problem:
                problems.append(f"{page}:{number}: --{name} ({where}): {problem}")
    assert not problems, "\n".join(problems)
    assert checked > 300  # the parsing found the docs' flags at all


def test_reading_flags_in_process_gives_what_helpfull_lists(script_flags, helpfull):
    known, own = script_flags
    out, _ = helpfull.communicate(timeout=120)
    listed, section = {}, None
    for line in out.splitlines():
        header = re.match(r"^(\S.*):$", line)
        if header:
            section = header.group(1)
            continue
        match = re.match(r"^  (?:-\S,)?--(?:\[no\])?([\w-]+):", line)
        if match and section is not None:
            listed[match.group(1)] = section
    ours = {name for name, section in listed.items() if project_module(section)}
    assert len(listed) > 20 and "helpfull" in listed, out[-2000:]
    assert ours == set(own[HELPFULL_SCRIPT]), (ours ^ set(own[HELPFULL_SCRIPT]))
    assert set(listed) <= set(known[HELPFULL_SCRIPT]), set(listed) - set(known[HELPFULL_SCRIPT])


def test_the_checks_catch_a_misspelled_flag_and_a_broken_link(script_flags):
    known, _ = script_flags
    assert flag_problem("doc_stride", "128", ("run_squad.py",), known) is None
    assert flag_problem("doc_strides", "128", ("run_squad.py",), known)
    assert flag_problem("distribution_strategy", "mirror", ("run_tagging.py",), known)
    assert flag_problem("nodo_lower_case", None, ("run_tagging.py",), known) is None
    assert flag_problem("doc_stride", None, (), known)
    assert link_problem("docs/README.md", "classification.md") is None
    assert link_problem("docs/README.md", "classifcation.md")
    assert link_problem("docs/README.md", "classification.md#no-such-heading")
    assert link_problem("README.md", "#quick-start") is None


def test_the_docs_index_lists_every_page_in_the_readmes_order():
    def pages_linked(page, section=None):
        order = []
        text = read(page)
        if section is not None:
            text = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
        for _, target in links_in(text):
            path = target.partition("#")[0]
            if path.endswith(".md") and not re.match(r"^[a-z]+:", path):
                linked = os.path.relpath(os.path.normpath(
                    os.path.join(ROOT, os.path.dirname(page), path)), ROOT)
                if linked.startswith("docs") and linked not in order:
                    order.append(linked)
        return order

    index = [p for p in pages_linked("docs/README.md") if p != "docs/README.md"]
    assert sorted(index) == sorted(p for p in PAGES if p.startswith("docs/") and
                                   p != "docs/README.md")
    readme = [p for p in pages_linked("README.md", "I want to ...") if p in index]
    assert readme == index
    # google-research/bert's order: fine-tuning before pretraining.
    assert index.index("docs/classification.md") < index.index("docs/pretraining.md")


def test_quick_start_begins_with_make_demo_then_make_test():
    text = read("README.md")
    section = text.split("\n## Quick start\n", 1)[1]
    code = next(lines for kind, _, _, lines in blocks(section) if kind == "code")
    commands = [c for c in (re.sub(r"\s#.*$", "", line).strip() for line in code) if c]
    assert commands[:2] == ["make demo", "make test"]
