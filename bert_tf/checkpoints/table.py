"""Name tables between checkpoint formats and our weights, and the one strict loader."""

import dataclasses
import re
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
from absl import logging

from bert_tf.errors import UserError

TRANSFORMS = {
    "none": lambda a: a,
    "transpose": np.transpose,  # Hugging Face/PyTorch linear weights are [out, in]
}


class CheckpointMismatchError(UserError):
    """A checkpoint that does not fit the model: unplaced, unfilled or mis-shaped weights."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row: a source-format name template, our weight path template, a transform.

    Templates are literal except for indexes in braces: `{i}`, a layer index (ALBERT's
    shared blocks have two, `{g}` and `{j}`). `target=None` marks
    names that are known but not part of this model (optimizer slots,
    pretraining heads); `reason` says why. Transforms are their own inverse,
    so one table serves reading and writing.
    """

    source: str
    target: Optional[str]
    transform: str = "none"
    reason: str = ""

    def __post_init__(self):
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}")


def _template_regex(template: str, is_regex: bool) -> re.Pattern:
    if is_regex:
        return re.compile(template)
    parts = re.split(r"\{(\w+)\}", template)  # literal, index name, literal, ...
    return re.compile("".join(rf"(?P<{p}>\d+)" if k % 2 else re.escape(p)
                              for k, p in enumerate(parts)))


class NameTable:
    """Matches names of one checkpoint format against a list of Rules.

    `skip` rules use regular expressions (they describe families of names);
    mapping rules use literal templates with indexes (`{i}`). `optional_prefix` is
    stripped from source names before matching (Hugging Face's "bert.").
    `namespace` is a regular expression for the names the encoder family
    owns: a name outside it that no rule maps belongs to a head of another
    model (a classifier's, a span head's) and is skipped, while an unmapped
    name inside it is an error (a config that does not fit the checkpoint).
    `optional` are regular expressions of our weight paths that releases of
    this format may lack (then they keep their values, with a warning).
    """

    def __init__(self, rules: Sequence[Rule], skip: Sequence[Rule] = (), optional_prefix: str = "",
                 namespace: Optional[str] = None, optional: Sequence[str] = ()):
        self._rule_list = list(rules)
        self._skip_list = list(skip)
        self.optional = [re.compile(pattern) for pattern in optional]
        self.rules = [(r, _template_regex(r.source, False), _template_regex(r.target, False))
                      for r in rules]
        self.skip = [(r, _template_regex(r.source, True)) for r in skip]
        self.optional_prefix = optional_prefix
        self.namespace = namespace
        self._namespace = re.compile(namespace) if namespace else None

    def extended(self, rules: Sequence[Rule] = (), skip: Sequence[Rule] = (),
                 optional: Sequence[str] = ()) -> "NameTable":
        """This table with more rules (a head's names on top of an encoder's), and more of our
        weights releases may lack."""
        return NameTable(self._rule_list + list(rules), self._skip_list + list(skip),
                         self.optional_prefix, self.namespace,
                         [pattern.pattern for pattern in self.optional] + list(optional))

    def is_optional(self, path: str) -> bool:
        """Whether a checkpoint of this format may lack our weight `path`."""
        return any(pattern.fullmatch(path) for pattern in self.optional)

    def match(self, name: str):
        """-> (our path or None, transform, reason), or None for an unknown name."""
        for rule, pattern in self.skip:
            if pattern.fullmatch(name):
                return None, "none", rule.reason
        stripped = name
        if self.optional_prefix and name.startswith(self.optional_prefix):
            stripped = name[len(self.optional_prefix):]
        for rule, source, _ in self.rules:
            m = source.fullmatch(stripped)
            if m:
                return rule.target.format(**m.groupdict()), rule.transform, ""
        if self._namespace is not None and not self._namespace.fullmatch(name):
            return None, "none", "variable(s) of other models' heads"
        return None

    def has_source_name(self, path: str) -> bool:
        """Whether a rule gives our weight `path` a name in this format."""
        return any(target.fullmatch(path) for _, _, target in self.rules)

    def source_name(self, path: str):
        """Our weight path -> (source-format name, transform); KeyError if no rule."""
        for rule, _, target in self.rules:
            m = target.fullmatch(path)
            if m:
                return rule.source.format(**m.groupdict()), rule.transform
        raise KeyError(f"no checkpoint name for weight {path!r}")


@dataclasses.dataclass
class Source:
    """A checkpoint opened for reading: every name's shape, and a reader per name."""

    origin: str  # file or prefix, for messages
    shapes: Mapping[str, tuple]
    read: Callable[[str], np.ndarray]


def listing(names, limit=20):
    names = list(names)
    shown = "\n  ".join(names[:limit])
    more = f"\n  ... and {len(names) - limit} more" if len(names) > limit else ""
    return f"\n  {shown}{more}"


def load_into(named: Mapping[str, object], source: Source, table: NameTable, strict=True):
    """Assigns every weight of `named` ({path: variable}) from `source`.

    Nothing is assigned unless the whole checkpoint fits. A shape mismatch is
    always an error. With `strict`, so are a checkpoint name no rule places and
    a weight of ours no checkpoint name fills (unless the table says the
    format may omit it); without it those are logged and skipped (unfilled
    weights keep their initial values). Known names of other
    models (pretraining heads, optimizer slots) are skipped and logged.
    Returns the list of our paths that were filled.
    """
    placed = {}  # our path -> (source name, transform)
    unknown, mismatched, skipped = [], [], {}
    for name in sorted(source.shapes):
        found = table.match(name)
        if found is None:
            unknown.append(name)
            continue
        target, transform, reason = found
        if target is None:
            skipped.setdefault(reason, []).append(name)
            continue
        if target not in named:
            unknown.append(f"{name} (would be {target}, which this model does not have)")
            continue
        if target in placed:
            raise CheckpointMismatchError(
                f"{source.origin}: {placed[target][0]} and {name} both map to {target}")
        shape = tuple(source.shapes[name])
        if transform == "transpose":
            shape = shape[::-1]
        expected = tuple(named[target].shape)
        if shape != expected:
            mismatched.append(f"{name} {list(shape)} vs {target} {list(expected)}")
            continue
        placed[target] = (name, transform)
    unfilled = [p for p in named if p not in placed and not table.is_optional(p)]
    absent = [p for p in named if p not in placed and table.is_optional(p)]

    errors = []
    if mismatched:
        errors.append(f"shape mismatches (checkpoint vs model):{listing(mismatched)}")
    if strict and unknown:
        errors.append(f"checkpoint variables with no place in the model:{listing(unknown)}")
    if strict and unfilled:
        errors.append(f"model weights missing from the checkpoint:{listing(unfilled)}")
    if errors:
        raise CheckpointMismatchError(
            f"{source.origin} does not fit the model (does its config match?):\n"
            + "\n".join(errors))
    if unknown:
        logging.warning("%s: skipped %d unknown variable(s):%s", source.origin, len(unknown),
                        listing(unknown))
    if unfilled:
        logging.warning("%s: %d weight(s) not in the checkpoint keep their initial values:%s",
                        source.origin, len(unfilled), listing(unfilled))
    if absent:
        logging.warning("%s does not hold %s: kept as initialized (releases of this format may "
                        "omit them)", source.origin, ", ".join(absent))
    for reason, names in skipped.items():
        logging.info("%s: skipped %d %s", source.origin, len(names), reason)

    # Every array is read before the first is assigned: a file that fails half-way
    # (truncated, corrupted) leaves the model as it was.
    values = {target: TRANSFORMS[transform](source.read(name))
              for target, (name, transform) in placed.items()}
    for target, value in values.items():
        variable = named[target]
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return list(placed)
