"""Bring: bring the cure for <ailment> to the <container>; what cures what is a per-episode fact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fusiongym.envs.belief import Belief
from fusiongym.envs.knowledge import Fact
from fusiongym.envs.language import BringInstr
from fusiongym.envs.levels.base import Episode, Level, Subgoal
from fusiongym.envs.levels.rules import draw_kinds, sample_rule


@dataclass
class BringLevel(Level):
    """Bring the cure for <ailment> to the <container>: what cures what is a per-episode fact."""

    num_distractors: int = 1  # other containers
    num_medicines: int = 3

    needs_knowledge: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 2 <= self.num_medicines <= 4:
            raise ValueError(f"num_medicines={self.num_medicines} must be 2 to 4")
        if self.num_distractors > 3:
            raise ValueError(f"num_distractors={self.num_distractors} (other containers) must be at most 3")

    @property
    def max_objects(self) -> int:
        return self.num_distractors + 1 + self.num_medicines

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        onto = self.ontology
        medicines = draw_kinds(rng, "medicine", self.split, self.num_medicines)
        containers = draw_kinds(rng, "container", self.split, self.num_distractors + 1)
        ailments = [onto.ailments[int(i)] for i in rng.permutation(len(onto.ailments))]
        cures = sample_rule(rng, [m.name for m in medicines], ailments, self.split)
        if cures is None:
            return None
        grid = self._new_grid(rng)
        objects, facts = self._kind_objects(rng, containers + medicines)
        facts += [Fact(m.name, "cures", a, True) for m, a in zip(medicines, cures, strict=True)]
        facts += self._ontology_distractor_facts(rng, exclude={k.name for k in medicines + containers})
        positions = grid.place(rng, len(objects))
        ailment = cures[int(rng.integers(len(cures)))]
        instruction = BringInstr(ailment, containers[0].name)
        return self._finish(rng, grid, objects, positions, instruction, facts, max_facts)

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        belief = Belief(episode, use_facts)
        instruction = episode.instruction
        assert isinstance(instruction, BringInstr)
        container = belief.slot_of(instruction.container, "container", "container")
        cure_kind = belief.one_of(belief.subjects("cures", instruction.ailment), "cures")
        cure = belief.slot_of(cure_kind, "medicine", "cure", exclude=(container,))
        if carrying >= 0:
            return Subgoal("toggle", [container]) if carrying == cure else Subgoal("drop")
        return Subgoal("pickup", [cure])
