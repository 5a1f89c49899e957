"""The per-episode rules of the knowledge levels: which rule pairs each split holds, how a rule assignment is drawn,
and how a level draws the kinds a rule is about.

Each knowledge level draws a rule assignment per episode (which weapon defeats which monster, which key opens which
door, what cures what, which creature is dangerous), states it as facts, and compiles its outcome tables from those
same facts. On the test split every kind is a held-out kind and every rule pair a held-out pair, so an agent that
ignores the facts is at chance there; ``benchmarks/knowledge_gap.py`` prints the gap.
"""

from __future__ import annotations

import zlib

import numpy as np

from fusiongym.envs.levels.base import GenerationError, kinds_of
from fusiongym.envs.ontology import load_ontology


def held_out_rule(subject: str, obj: str) -> bool:
    """Rule pairs (``goblin weak_to axe``) reserved for the test split: every pair with a held-out kind, and a
    fixed quarter of the pairs of training kinds (by a hash of the names, so the choice never changes)."""
    kinds = load_ontology().kind_by_name
    if any(name in kinds and kinds[name].split == "test" for name in (subject, obj)):
        return True
    return zlib.crc32(f"{subject} {obj}".encode()) % 4 == 0


def sample_rule(
    rng: np.random.Generator, subjects: list[str], objects: list[str], split: str, tries: int = 50
) -> list[str] | None:
    """A distinct object for each subject (a random injection) whose pairs belong to ``split``; ``None`` if none."""
    if len(objects) < len(subjects):
        raise GenerationError(f"{len(subjects)} rule subjects need at least as many objects, got {len(objects)}")
    for _ in range(tries):
        picks = [objects[int(i)] for i in rng.permutation(len(objects))[: len(subjects)]]
        if all(held_out_rule(s, o) == (split == "test") for s, o in zip(subjects, picks, strict=True)):
            return picks
    return None


def draw_kinds(rng: np.random.Generator, category: str, split: str, count: int) -> list:
    """``count`` distinct kinds of ``category``: the first always of the split's own kinds. The test split has two
    held-out kinds per category; when a level needs more, the rest are training kinds (their rules with a held-out
    kind are still held out, so nothing about them can have been learnt)."""
    own = list(kinds_of(category, split))
    extra = list(kinds_of(category, "train")) if split == "test" else []
    if count > len(own) + len(extra):
        raise GenerationError(f"{count} kinds of {category} asked for; the {split} split has {len(own) + len(extra)}")
    first = [own[int(i)] for i in rng.permutation(len(own))]
    rest = [extra[int(i)] for i in rng.permutation(len(extra))]
    chosen = (first + rest)[:count]
    return [chosen[0]] + [chosen[1:][int(i)] for i in rng.permutation(count - 1)]
