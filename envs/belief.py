"""What an agent can tell in an episode, which the oracle plans from: the looks it sees, the facts it is shown (when
it reads them) and what the training split could have taught it. Each level's ``oracle_subgoal`` reads it."""

from __future__ import annotations

import functools
import zlib
from typing import TYPE_CHECKING

import numpy as np

from fusiongym.envs.knowledge import EpisodeKnowledge
from fusiongym.envs.ontology import load_ontology

if TYPE_CHECKING:
    from fusiongym.envs.levels.base import Episode


class Belief:
    """What an agent can tell in an episode: the look of each object, the facts it is shown (when it reads them),
    and what training could have taught it — the look and category of every training kind, valid only while
    appearances are not shuffled. The oracle plans from this, so ``use_facts=False`` is an honest fact-blind agent
    and knowledge controls (dropped, corrupted, contradicting facts) mislead it as they would mislead a reader.
    """

    def __init__(self, episode: Episode, use_facts: bool) -> None:
        self.episode = episode
        self.facts = episode.shown if use_facts else EpisodeKnowledge([])
        shapes: dict[str, set[str]] = {}
        colours: dict[str, set[str]] = {}
        for f in self.facts.facts:
            if f.relation == "has_shape":
                shapes.setdefault(f.subject, set()).add(f.object)
            elif f.relation == "has_colour":
                colours.setdefault(f.subject, set()).add(f.object)
        memory = {} if episode.shuffled_looks else _training_kind_by_look()
        self.kinds: list[str | None] = []
        for obj in episode.layout.objects:
            stated = [k for k in shapes if obj.shape in shapes[k] and obj.colour in colours.get(k, ())]
            if len(stated) == 1:
                self.kinds.append(stated[0])
            elif not stated and (obj.shape, obj.colour) in memory:
                self.kinds.append(memory[(obj.shape, obj.colour)].name)
            else:
                self.kinds.append(None)

    def slots_of(self, kind: str) -> list[int]:
        """Object slots believed to be of ``kind``."""
        return [i for i, k in enumerate(self.kinds) if k == kind]

    def candidates(self, category: str, exclude: tuple[int | None, ...] = ()) -> list[int]:
        """Slots that are, or might be, of ``category``: believed members first, else the unidentified ones."""
        members = [i for i, k in enumerate(self.kinds) if k and self.category_of(k) == category and i not in exclude]
        unknown = [i for i, k in enumerate(self.kinds) if (not k or self.category_of(k) is None) and i not in exclude]
        return members or unknown

    def one_of(self, tokens: list[str], decision: str) -> str | None:
        """The token the facts give (a guess among several if they contradict); ``None`` if they say nothing."""
        return tokens[self.choose(list(range(len(tokens))), decision)] if tokens else None

    def slot_of(self, kind: str | None, category: str, decision: str,
                exclude: tuple[int | None, ...] = ()) -> int | None:
        """The slot of ``kind`` if it can be told, else a guess among the objects that may be of ``category``."""
        known = [i for i in self.slots_of(kind) if i not in exclude] if kind else []
        options = known or self.candidates(category, exclude)
        return self.choose(options, decision) if options else None

    def objects(self, subject: str, relation: str) -> list[str]:
        """What the shown facts say ``subject relation ?`` is (several if contradicted, none if unknown)."""
        return sorted(set(self.facts.objects(subject, relation)))

    def subjects(self, relation: str, obj: str) -> list[str]:
        """What the shown facts say ``? relation obj`` is (several if contradicted, none if unknown)."""
        return sorted(set(self.facts.subjects(relation, obj)))

    def category_of(self, kind: str) -> str | None:
        """``kind``'s category as the facts state it (a guess if they contradict), else as training taught it;
        ``None`` if neither tells."""
        stated = self.objects(kind, "is_a")
        if stated:
            return stated[0] if len(stated) == 1 else stated[self.choose(list(range(len(stated))), f"is_a {kind}")]
        known = _training_kinds().get(kind)
        return known.category if known else None

    def choose(self, options: list[int], decision: str) -> int:
        """One of ``options``, guessed; the same decision gets the same guess at every step of the episode."""
        rng = np.random.default_rng([self.episode.guess_seed, zlib.crc32(decision.encode())])
        return options[int(rng.integers(len(options)))]


@functools.lru_cache(maxsize=1)
def _training_kinds() -> dict:
    """Training kinds by name: what a fact-blind agent could know of them (their category, their look)."""
    return {k.name: k for k in load_ontology().kinds if k.split == "train"}


@functools.lru_cache(maxsize=1)
def _training_kind_by_look() -> dict:
    """What a fact-blind agent could memorise in training: the look of every training kind."""
    return {(k.shape, k.colour): k for k in load_ontology().kinds if k.split == "train"}
