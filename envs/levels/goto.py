"""GoTo: go to the <colour> <shape> — vision and language only."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fusiongym.envs.language import GoToInstr, ObjectDescription
from fusiongym.envs.levels.base import Episode, Level, Subgoal, compositions
from fusiongym.envs.world import WorldObject


@dataclass
class GoToLevel(Level):
    """Go to the <colour> <shape>: vision and language only. ``wrong_object_fails``: facing or toggling another
    object, or ``done``, ends the episode unsuccessfully (GoTo-v1)."""

    wrong_object_fails: bool = False

    uses_kinds: ClassVar[bool] = False

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        onto = self.ontology
        shapes, colours = onto.shapes, onto.colours
        train_pairs, test_pairs = compositions(len(shapes), len(colours))
        target_pool = train_pairs if self.split == "train" else test_pairs
        distractor_pool = train_pairs if self.split == "train" else train_pairs + test_pairs
        grid = self._new_grid(rng)
        ts, tc = target_pool[int(rng.integers(len(target_pool)))]
        target = _plain_object(shapes[ts], colours[tc])
        objects = [target]
        for _ in range(self.num_distractors):
            s, c = distractor_pool[int(rng.integers(len(distractor_pool)))]
            if (s, c) == (ts, tc):
                continue  # a second match would make the instruction ambiguous about which one
            objects.append(_plain_object(shapes[s], colours[c]))
        positions = grid.place(rng, len(objects))
        instruction = GoToInstr(ObjectDescription(colour=target.colour, shape=target.shape),
                                strict=self.wrong_object_fails)
        facts = self._ontology_distractor_facts(rng, exclude=set())
        return self._finish(rng, grid, objects, positions, instruction, facts, max_facts)

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        if carrying >= 0:
            return Subgoal("drop")
        instruction = episode.instruction
        assert isinstance(instruction, GoToInstr)
        targets = [i for i, o in enumerate(episode.layout.objects) if instruction.target.matches(o)]
        return Subgoal("face", targets)


@functools.lru_cache(maxsize=1024)
def _plain_object(shape: str, colour: str) -> WorldObject:
    """A plain shape in a colour (immutable, so shared)."""
    return WorldObject(shape=shape, colour=colour)
