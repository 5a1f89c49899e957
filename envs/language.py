"""Instructions as structured objects (BabyAI's verifier pattern).

An :class:`Instruction` produces its surface text from one of several paraphrase templates and compiles to
the outcome tables that the batched step checks (:class:`~fusiongym.envs.world.OutcomeTables`). Text and
success both come from the one object; the text is never parsed back.

Templates are split: ``TEMPLATES`` are used in the training split, ``HELD_OUT_TEMPLATES`` only in the test
split, so a test-split phrasing never occurs in training.
"""

from __future__ import annotations

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
        tokens = template.format(**self.slots()).split()
        ids = [vocab.id(t) for t in tokens]
        return " ".join(vocab.surface(i) for i in ids), ids

    def sample_render(self, rng: np.random.Generator, split: str, vocab: Vocabulary) -> tuple[str, list[int]]:
        options = self.templates(split)
        return self.render(options[int(rng.integers(len(options)))], vocab)


@dataclass(frozen=True)
class GoToInstr(Instruction):
    """Go to (face) an object matching the description."""

    target: ObjectDescription
    TEMPLATES = ("go to the {object}", "walk to the {object}", "find the {object}", "move next to the {object}")
    HELD_OUT_TEMPLATES = ("make your way to the {object}", "head over to the {object}")

    def slots(self) -> dict[str, str]:
        return {"object": self.target.tokens()}

    def compile(self, objects: list[WorldObject], knowledge: EpisodeKnowledge, tables: OutcomeTables) -> None:
        for slot, obj in enumerate(objects):
            if self.target.matches(obj):
                tables.face[slot] = SUCCESS


@dataclass(frozen=True)
class PickupCategoryInstr(Instruction):
    """Pick up any object whose kind is, by the episode's facts, of ``category``; any other pickup fails."""

    category: str
    TEMPLATES = ("pick up {a_category}", "fetch {a_category}", "grab {a_category}", "get {a_category}")
    HELD_OUT_TEMPLATES = ("collect one {category}", "take hold of {a_category}")

    def slots(self) -> dict[str, str]:
        return {"category": self.category, "a_category": f"{article(self.category)} {self.category}"}

    def compile(self, objects: list[WorldObject], knowledge: EpisodeKnowledge, tables: OutcomeTables) -> None:
        for slot, obj in enumerate(objects):
            is_member = obj.kind is not None and knowledge.holds(obj.kind, "is_a", self.category)
            tables.pickup[slot] = SUCCESS if is_member else FAILURE


#: Every instruction type, in the order its words enter the vocabulary. Append new types at the end.
INSTRUCTION_TYPES: tuple[type[Instruction], ...] = (GoToInstr, PickupCategoryInstr)

#: Words the templates of later levels use, reserved so the vocabulary does not change when they land.
_RESERVED_WORDS = (
    "a an defeat slay vanquish beat get rid of unlock and behind locked door open way reach without touching "
    "anything dangerous avoid danger safely bring cure for take something that cures deliver put remedy in "
    "it to"
)


def template_words() -> list[str]:
    """Every literal word of every template, in order of first appearance (placeholders excluded)."""
    words: list[str] = []
    for instr in INSTRUCTION_TYPES:
        for template in instr.TEMPLATES + instr.HELD_OUT_TEMPLATES:
            words += _PLACEHOLDER.sub(" ", template).split()
    words += _RESERVED_WORDS.split()
    return list(dict.fromkeys(words))
