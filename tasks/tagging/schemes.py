"""Tag schemes (IOB1, IOB2 a.k.a. BIO, IOBES): checking a file's tags, converting them to IOB2 and back.

The model always learns IOB2 labels (B- starts an entity, I- continues it):
one label set whatever the file used, and the first piece of every word
carries a label that says whether an entity starts there. Files are
converted to IOB2 when read and predictions back to the file's scheme when
written.

A tag is "O" or "<prefix>-<type>"; the type is any non-empty text (it may
itself contain "-"). What each scheme allows, and what happens otherwise:

- A tag that is not of that form, or whose prefix the scheme lacks (E-/S- in
  IOB1 or IOB2; a bare "PER"; "B-"): DataError. No repair could guess it.
- IOB1 (original CoNLL-2003): I- continues an entity or starts one after O or
  another type; B- starts an entity right after one of the same type. B-
  where no entity of its type precedes is accepted as it is: it means the
  same start of an entity, and conlleval reads it that way.
- IOB2: I-X after O, after another type or first in a sentence: DataError
  naming the file:line and tag. Such a file is most often IOB1 given as
  IOB2, and read as IOB2 it would silently change entities' boundaries;
  the message says to read it as IOB1, which accepts it with conlleval's
  reading (an entity starts there).
- IOBES: every entity is S-X alone or B-X, I-X..., E-X of one type; anything
  else (an I-/E- outside an entity, B-/I- not closed by E-, a type change
  inside one): DataError. Machine-made IOBES should never break; a break
  means a wrong scheme.
- Predicted tags (`repair_iob2`, `from_iob2`) are never an error: an I-X
  that starts an entity is read as B-X, exactly as conlleval and seqeval's
  default mode read it, so the written tags hold the entities the metrics
  counted.
"""

from typing import List, Optional, Sequence, Tuple, Union

from bert_tf.errors import DataError, UserError

SCHEMES = ("IOB1", "IOB2", "IOBES")
_ALIASES = {"BIO": "IOB2"}
_PREFIXES = {"IOB1": ("B", "I"), "IOB2": ("B", "I"), "IOBES": ("B", "I", "E", "S")}
OUTSIDE = "O"

Where = Union[None, str, Sequence[str]]


def scheme_name(name: str) -> str:
    """The canonical name of a scheme ("iob2" and "BIO" give "IOB2"); a UserError for others."""
    canonical = _ALIASES.get(name.upper(), name.upper())
    if canonical not in SCHEMES:
        raise UserError(f"unknown tag scheme {name!r}; choose one of {SCHEMES + tuple(_ALIASES)}")
    return canonical


def split_tag(tag: str) -> Tuple[str, Optional[str]]:
    """("O", None) for "O", else (prefix, type): "B-PER" -> ("B", "PER"); ValueError if malformed.

    The prefix is one of B, I, E, S; the type is everything after the first "-".
    """
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, dash, kind = tag.partition("-")
    if prefix not in ("B", "I", "E", "S") or not dash or not kind:
        raise ValueError(f"tag {tag!r} is neither O nor B-, I-, E- or S- followed by a type")
    return prefix, kind


def _place(where: Where, index: int) -> str:
    """Where tag `index` came from: its own file:line, the sentence's plus its position, or its position."""
    if where is None:
        return f"tag {index + 1}"
    if isinstance(where, str):
        return f"{where}: word {index + 1}"
    return where[index]


def _parsed(tags, scheme, where):
    parsed = []
    for index, tag in enumerate(tags):
        try:
            prefix, kind = split_tag(tag)
        except ValueError:
            prefix, kind = None, None
        if prefix is None or (prefix != OUTSIDE and prefix not in _PREFIXES[scheme]):
            allowed = ", ".join(p + "-" for p in _PREFIXES[scheme])
            raise DataError(f"{_place(where, index)}: tag {tag!r} is not valid in {scheme} "
                            f"(O, or {allowed} followed by a type)")
        parsed.append((prefix, kind))
    return parsed


def to_iob2(tags: Sequence[str], scheme: str, where: Where = None) -> List[str]:
    """A sentence's tags in `scheme`, checked and converted to IOB2.

    `where` names the tags in errors: one "file:line" per tag (CoNLL, a word
    per line), one for the whole sentence (JSON lines), or None. Raises
    DataError for a tag sequence the scheme does not allow (see the module
    docstring for each case).
    """
    scheme = scheme_name(scheme)
    parsed = _parsed(tags, scheme, where)
    out = []
    open_type = None  # the type of the entity the previous tag left open, if any
    for index, ((prefix, kind), tag) in enumerate(zip(parsed, tags)):
        error = None
        if scheme == "IOB1":
            out.append(f"I-{kind}" if prefix == "I" and open_type == kind else
                       f"B-{kind}" if prefix != OUTSIDE else OUTSIDE)
            open_type = kind
        elif scheme == "IOB2":
            if prefix == "I" and open_type != kind:
                error = (f"starts an entity{_after(index, tags)}, which IOB2 does not allow (B-{kind} "
                         f"would); if the file is IOB1, as the original CoNLL-2003 is, read it as IOB1")
            out.append(tag)
            open_type = kind
        else:  # IOBES: B (I)* E or S; open_type is set only inside B...E
            if prefix in ("I", "E") and open_type != kind:
                error = f"does not continue a {kind} entity{_after(index, tags)}"
            elif prefix in ("B", "S", OUTSIDE) and open_type is not None:
                error = (f"interrupts the {open_type} entity still open after {tags[index - 1]!r} "
                         f"(IOBES closes it with E-{open_type})")
            out.append({"S": f"B-{kind}", "E": f"I-{kind}"}.get(prefix, tag))
            open_type = kind if prefix in ("B", "I") else None
        if error:
            raise DataError(f"{_place(where, index)}: tag {tag!r} {error}")
    if scheme == "IOBES" and open_type is not None:
        raise DataError(f"{_place(where, len(tags) - 1)}: tag {tags[-1]!r} ends the sentence "
                        f"inside a {open_type} entity (IOBES ends it with E-{open_type})")
    return out


def _after(index, tags):
    return f" after {tags[index - 1]!r}" if index else " at the start of the sentence"


def repair_iob2(tags: Sequence[str]) -> List[str]:
    """Any O/B-/I- sequence as valid IOB2: an I-X that starts an entity becomes B-X.

    This is how conlleval and seqeval's default mode read such a tag, so the
    repaired sequence holds the same entities the metrics count.
    """
    out = []
    previous_type = None
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix not in (OUTSIDE, "B", "I"):
            raise ValueError(f"{tag!r} is not an IOB2 tag")
        out.append(f"B-{kind}" if prefix == "I" and previous_type != kind else tag)
        previous_type = kind
    return out


def from_iob2(tags: Sequence[str], scheme: str) -> List[str]:
    """IOB2 tags (typically predictions; repaired first, never an error) written in `scheme`."""
    scheme = scheme_name(scheme)
    tags = repair_iob2(tags)
    if scheme == "IOB2":
        return tags
    parsed = [split_tag(tag) for tag in tags]
    out = []
    for index, (prefix, kind) in enumerate(parsed):
        if prefix == OUTSIDE:
            out.append(OUTSIDE)
            continue
        if scheme == "IOB1":
            # B- only where it separates two entities of one type.
            follows_same = prefix == "B" and index > 0 and parsed[index - 1][1] == kind
            out.append(f"B-{kind}" if follows_same else f"I-{kind}")
        else:
            # An entity ends where the next tag does not continue it (I- of its type).
            continues = index + 1 < len(parsed) and parsed[index + 1] == ("I", kind)
            if prefix == "B":
                out.append(f"B-{kind}" if continues else f"S-{kind}")
            else:
                out.append(f"I-{kind}" if continues else f"E-{kind}")
    return out
