"""Instructions as structured objects (BabyAI's verifier pattern).

An :class:`Instruction` produces its surface text from one of several paraphrase templates and compiles to
the outcome tables that the batched step checks (:class:`~fusiongym.envs.world.OutcomeTables`). Text and
success both come from the one object; the text is never parsed back.

Templates are split: ``TEMPLATES`` are used in the training split, ``HELD_OUT_TEMPLATES`` only in the test
split, so a test-split phrasing never occurs in training.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fusiongym.envs.knowledge import EpisodeKnowledge
from fusiongym.envs.vocab import Vocabulary
from fusiongym.envs.world import FAILURE, SUCCESS, OutcomeTables, WorldObject

SPLITS = ("train", "test")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def article(token: str) -> str:
    """``a`` or ``an`` before a noun token."""
    return "an" if token[0] in "aeiou" else "a"


@dataclass(frozen=True)
class ObjectDescription:
    """Which objects an instruction refers to: any of colour / shape / kind may be given."""

    colour: str | None = None
    shape: str | None = None
    kind: str | None = None

    def tokens(self) -> str:
        if self.kind is not None:
            return self.kind
        return " ".join(t for t in (self.colour, self.shape) if t is not None)

    def matches(self, obj: WorldObject) -> bool:
        return (
            (self.colour is None or obj.colour == self.colour)
            and (self.shape is None or obj.shape == self.shape)
            and (self.kind is None or obj.kind == self.kind)
        )


class Instruction(ABC):
    """An instruction: its paraphrases and the outcome tables it compiles to."""

    TEMPLATES: ClassVar[tuple[str, ...]]
    HELD_OUT_TEMPLATES: ClassVar[tuple[str, ...]]

    @abstractmethod
    def slots(self) -> dict[str, str]:
        """Placeholder name → the vocabulary tokens that fill it (space-separated)."""

    @abstractmethod
    def compile(self, objects: list[WorldObject], knowledge: EpisodeKnowledge, tables: OutcomeTables) -> None:
        """Write this instruction's success/failure conditions into ``tables``."""

    @classmethod
    def templates(cls, split: str) -> tuple[str, ...]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: choose one of {SPLITS}")
        return cls.TEMPLATES if split == "train" else cls.HELD_OUT_TEMPLATES

    def render(self, template: str, vocab: Vocabulary) -> tuple[str, list[int]]:
        """The instruction through ``template``: its surface text and its vocabulary ids."""
        text, ids = _render(template, tuple(self.slots().items()), vocab)
        return text, list(ids)

    def sample_render(self, rng: np.random.Generator, split: str, vocab: Vocabulary) -> tuple[str, list[int]]:
        options = self.templates(split)
        return self.render(options[int(rng.integers(len(options)))], vocab)


@functools.lru_cache(maxsize=4096)
def _render(template: str, slots: tuple[tuple[str, str], ...], vocab: Vocabulary) -> tuple[str, tuple[int, ...]]:
    """``template`` filled with ``slots``: its surface text and its vocabulary ids (rendered once, then cached)."""
    ids = tuple(vocab.id(t) for t in template.format(**dict(slots)).split())
    return " ".join(vocab.surface(i) for i in ids), ids


@dataclass(frozen=True)
class GoToInstr(Instruction):
    """Go to (face) an object matching the description. ``strict``: facing or using any other object, or the
    ``done`` action, fails (so that only reading the instruction wins, not visiting every object)."""

    target: ObjectDescription
    strict: bool = False
    TEMPLATES = ("go to the {object}", "walk to the {object}", "find the {object}", "move next to the {object}")
    HELD_OUT_TEMPLATES = ("make your way to the {object}", "head over to the {object}")

    def slots(self) -> dict[str, str]:
        return {"object": self.target.tokens()}

    def compile(self, objects: list[WorldObject], knowledge: EpisodeKnowledge, tables: OutcomeTables) -> None:
        for slot, obj in enumerate(objects):
            if self.target.matches(obj):
                tables.face[slot] = SUCCESS
            elif self.strict:
                tables.face[slot] = FAILURE
                tables.use[:, slot] = FAILURE
        if self.strict:
            tables.done = FAILURE


@dataclass(frozen=True)
class PickupCategoryInstr(Instruction):
    """Pick up any object whose kind is, by the episode's facts, of ``category``; any other pickup fails."""

    category: str
    TEMPLATES = ("pick up {a_category}", "fetch {a_category}", "grab {a_category}", "get {a_category}")
    HELD_OUT_TEMPLATES = ("collect one {category}", "take hold of {a_category}")

    def slots(self) -> dict[str, str]:
        return {"category": self.category, "a_category": f"{article(self.category)} {self.category}"}

    def compile(self, objects: list[WorldObject], knowledge: EpisodeKnowledge, tables: OutcomeTables) -> None:
        members = set(knowledge.subjects("is_a", self.category))
        for slot, obj in enumerate(objects):
            tables.pickup[slot] = SUCCESS if obj.kind is not None and obj.kind in members else FAILURE


@dataclass(frozen=True)
class DefeatInstr(Instruction):
    """Use (toggle) the weapon the monster is weak to, by the facts, on the named monster.

    Using any other weapon on it, or any weapon on another monster, fails.
    """

    monster: str
    TEMPLATES = ("defeat the {monster}", "slay the {monster}", "vanquish the {monster}")
    HELD_OUT_TEMPLATES = ("get rid of the {monster}", "beat the {monster}")

    def slots(self) -> dict[str, str]:
        return {"monster": self.monster}

    def compile(self, objects: list[WorldObject], knowledge: EpisodeKnowledge, tables: OutcomeTables) -> None:
        weak_to = set(knowledge.objects(self.monster, "weak_to"))
        n = len(objects)
        for target, monster in enumerate(objects):
            if monster.pickable:
                continue  # weapons are not attacked
            for held, weapon in enumerate(objects):
                if not weapon.pickable:
                    continue
                right = monster.kind == self.monster and weapon.kind in weak_to
                tables.use[held, target] = SUCCESS if right else FAILURE
            tables.use[n, target] = 0  # bare hands: nothing happens


@dataclass(frozen=True)
class UnlockInstr(Instruction):
    """Reach the named object, which lies behind a locked door; the doors' keys are stated by the facts."""

    target: str
    TEMPLATES = (
        "get to the {target} behind the locked door",
        "unlock the way to the {target}",
        "open the door and reach the {target}",
    )
    HELD_OUT_TEMPLATES = ("find the locked {target} and go to it", "go to the {target} behind the door")

    def slots(self) -> dict[str, str]:
        return {"target": self.target}

    def compile(self, objects: list[WorldObject], knowledge: EpisodeKnowledge, tables: OutcomeTables) -> None:
        for slot, obj in enumerate(objects):
            if obj.kind == self.target:
                tables.face[slot] = SUCCESS
        tables.wrong_key = FAILURE  # a wrong key jams the lock


@dataclass(frozen=True)
class BringInstr(Instruction):
    """Put (toggle) what cures the ailment, by the facts, into the named container; anything else there fails."""

    ailment: str
    container: str
    TEMPLATES = (
        "bring the cure for {ailment} to the {container}",
        "take something that cures {ailment} to the {container}",
        "deliver the {ailment} cure to the {container}",
    )
    HELD_OUT_TEMPLATES = ("put the remedy for {ailment} in the {container}",)

    def slots(self) -> dict[str, str]:
        return {"ailment": self.ailment, "container": self.container}

    def compile(self, objects: list[WorldObject], knowledge: EpisodeKnowledge, tables: OutcomeTables) -> None:
        cures = set(knowledge.subjects("cures", self.ailment))
        for target, container in enumerate(objects):
            if container.pickable:
                continue
            for held, item in enumerate(objects):
                if item.pickable:
                    right = container.kind == self.container and item.kind in cures
                    tables.use[held, target] = SUCCESS if right else FAILURE


@dataclass(frozen=True)
class AvoidInstr(Instruction):
    """Go to (face) the described object; which creatures are dangerous to touch is a fact (compiled by the level)."""

    target: ObjectDescription
    TEMPLATES = (
        "reach the {object} without touching anything dangerous",
        "go to the {object} and avoid danger",
        "get to the {object} safely",
    )
    HELD_OUT_TEMPLATES = ("make your way to the {object} avoiding danger",)

    def slots(self) -> dict[str, str]:
        return {"object": self.target.tokens()}

    def compile(self, objects: list[WorldObject], knowledge: EpisodeKnowledge, tables: OutcomeTables) -> None:
        for slot, obj in enumerate(objects):
            if obj.kind is None and self.target.matches(obj):
                tables.face[slot] = SUCCESS
                continue
            if obj.kind is not None:  # a creature: walk over it; harm only if the facts call it dangerous
                tables.walkable[slot] = True
                if knowledge.holds(obj.kind, "is", "dangerous"):
                    tables.touch[slot] = FAILURE


#: Every instruction type, in the order its words enter the vocabulary. Append new types at the end.
INSTRUCTION_TYPES: tuple[type[Instruction], ...] = (
    GoToInstr,
    PickupCategoryInstr,
    DefeatInstr,
    UnlockInstr,
    BringInstr,
    AvoidInstr,
)

#: Words used by article choice, and the action names (what a guide agent says to a follower).
_RESERVED_WORDS = "a an left right forward pickup drop toggle done turn stop yes no here there"


def template_words() -> list[str]:
    """Every literal word of every template, in order of first appearance (placeholders excluded)."""
    words: list[str] = []
    for instr in INSTRUCTION_TYPES:
        for template in instr.TEMPLATES + instr.HELD_OUT_TEMPLATES:
            words += _PLACEHOLDER.sub(" ", template).split()
    words += _RESERVED_WORDS.split()
    return list(dict.fromkeys(words))
