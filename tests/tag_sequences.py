"""Generated tag sequences for the tagging tests: entities placed at random, written in any scheme."""

import random

TYPES = ["PER", "LOC", "GEO-POL", "X"]  # "GEO-POL": a type name that holds the separator
PREFIXES = {"IOB1": "BI", "IOB2": "BI", "IOBES": "BIES"}


def encode(length, chunks, scheme):
    """Tags of `length` words holding `chunks` [(type, start, stop)], written independently of schemes.py."""
    tags = ["O"] * length
    for kind, start, stop in chunks:
        for i in range(start, stop):
            tags[i] = f"I-{kind}"
        touching = any(s < start == e and k == kind for k, s, e in chunks)
        if scheme == "IOB2" or (scheme == "IOB1" and touching):
            tags[start] = f"B-{kind}"
        elif scheme == "IOBES":
            if stop - start == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[start], tags[stop - 1] = f"B-{kind}", f"E-{kind}"
    return tags


def random_chunks(rng: random.Random, length):
    """Entities (type, start, stop) in order over `length` words; neighbours may touch."""
    chunks, i = [], 0
    while i < length:
        if rng.random() < 0.45:
            stop = min(length, i + rng.choice([1, 1, 2, 3, 5]))
            chunks.append((rng.choice(TYPES), i, stop))
            i = stop
        else:
            i += rng.randint(1, 3)
    return chunks


def random_tag(rng: random.Random, scheme):
    """Any tag of the scheme, "O" about a third of the time: malformed sequences when strung together."""
    return "O" if rng.random() < 0.3 else f"{rng.choice(PREFIXES[scheme])}-{rng.choice(TYPES)}"
