"""Defeat: defeat the <monster> with the weapon it is weak to, a per-episode fact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fusiongym.envs.belief import Belief
from fusiongym.envs.knowledge import Fact
from fusiongym.envs.language import DefeatInstr
from fusiongym.envs.levels.base import Episode, Level, Subgoal
from fusiongym.envs.levels.rules import draw_kinds, sample_rule


@dataclass
class DefeatLevel(Level):
    """Defeat the <monster>: use on it the weapon it is weak to, a per-episode fact."""

    num_distractors: int = 1  # other monsters
    num_weapons: int = 3

    needs_knowledge: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.num_distractors + 1 <= self.num_weapons <= 4:
            raise ValueError(
                f"num_weapons={self.num_weapons} must be between the number of monsters ({self.num_distractors + 1}) "
                "and 4 (the weapons of one split)"
            )

    @property
    def max_objects(self) -> int:
        return self.num_distractors + 1 + self.num_weapons

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        monsters = draw_kinds(rng, "monster", self.split, self.num_distractors + 1)
        weapons = draw_kinds(rng, "weapon", self.split, self.num_weapons)
        weak_to = sample_rule(rng, [m.name for m in monsters], [w.name for w in weapons], self.split)
        if weak_to is None:
            return None
        grid = self._new_grid(rng)
        objects, facts = self._kind_objects(rng, monsters + weapons)
        facts += [Fact(m.name, "weak_to", w, True) for m, w in zip(monsters, weak_to, strict=True)]
        facts += self._ontology_distractor_facts(rng, exclude={k.name for k in monsters + weapons})
        positions = grid.place(rng, len(objects))
        instruction = DefeatInstr(monsters[0].name)
        return self._finish(rng, grid, objects, positions, instruction, facts, max_facts)

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        belief = Belief(episode, use_facts)
        assert isinstance(episode.instruction, DefeatInstr)
        monster = episode.instruction.monster
        target = belief.slot_of(monster, "monster", "monster")
        weapon_kind = belief.one_of(belief.objects(monster, "weak_to"), "weak_to")
        weapon = belief.slot_of(weapon_kind, "weapon", "weapon", exclude=(target,))
        if carrying >= 0:
            return Subgoal("toggle", [target]) if carrying == weapon else Subgoal("drop")
        return Subgoal("pickup", [weapon])
