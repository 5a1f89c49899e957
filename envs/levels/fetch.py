"""Fetch: pick up a <category> — which objects belong to it only the facts say."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fusiongym.envs.belief import Belief
from fusiongym.envs.language import PickupCategoryInstr
from fusiongym.envs.levels.base import Episode, GenerationError, Level, Subgoal, kinds_of


@dataclass
class FetchLevel(Level):
    """Pick up a <category>: which objects belong to the category is stated by the facts."""

    num_distractors: int = 2

    needs_knowledge: ClassVar[bool] = True

    @functools.cached_property
    def fetchable_categories(self) -> list[str]:
        pickable = {k.category for k in self.ontology.kinds if k.pickable}
        return [c for c in self.ontology.categories if c in pickable]

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        categories = self.fetchable_categories
        if self.num_distractors >= len(categories):
            raise GenerationError(
                f"num_distractors={self.num_distractors} needs more categories than the {len(categories)} fetchable"
            )
        chosen = rng.permutation(len(categories))[: self.num_distractors + 1]
        kinds = []
        for ci in chosen:  # one kind per category: the target's first, then one per distractor category
            pool = kinds_of(categories[int(ci)], self.split)
            kinds.append(pool[int(rng.integers(len(pool)))])
        grid = self._new_grid(rng)
        objects, facts = self._kind_objects(rng, kinds)
        positions = grid.place(rng, len(objects))
        instruction = PickupCategoryInstr(kinds[0].category)
        facts += self._ontology_distractor_facts(rng, exclude={k.name for k in kinds})
        # shuffle object slots so the target is not always slot 0
        order = rng.permutation(len(objects)).tolist()
        objects = [objects[i] for i in order]
        positions = [positions[i] for i in order]
        return self._finish(rng, grid, objects, positions, instruction, facts, max_facts)

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        if carrying >= 0:
            return Subgoal("drop")
        belief = Belief(episode, use_facts)
        assert isinstance(episode.instruction, PickupCategoryInstr)
        category = episode.instruction.category
        members = [i for i, kind in enumerate(belief.kinds) if kind and belief.category_of(kind) == category]
        if members:
            return Subgoal("pickup", members)
        unknown = [i for i, kind in enumerate(belief.kinds) if not kind or belief.category_of(kind) is None]
        return Subgoal("pickup", [belief.choose(unknown or list(range(len(belief.kinds))), "fetch")])
