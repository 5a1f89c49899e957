"""Avoid: reach the <colour> <shape> across a wall whose gaps hold creatures; which are dangerous is a per-episode
fact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fusiongym.envs.belief import Belief
from fusiongym.envs.knowledge import Fact
from fusiongym.envs.language import AvoidInstr, ObjectDescription
from fusiongym.envs.levels.base import Episode, GenerationError, Level, RoomGrid, Subgoal, compositions, kinds_of
from fusiongym.envs.world import FLOOR, WALL, WorldObject


@dataclass
class AvoidLevel(Level):
    """Reach the <colour> <shape> across a wall whose gaps hold creatures; which are dangerous is a fact."""

    room_size: int = 9
    num_distractors: int = 1  # other shapes beyond the wall
    num_crossings: int = 3
    num_harmless: int = 1

    needs_knowledge: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.num_rows, self.num_cols) != (1, 1):
            raise ValueError("Avoid is one room split by a wall: num_rows and num_cols must be 1")
        if self.room_size < 8:
            raise ValueError(f"room_size={self.room_size} must be at least 8 for a wall with gaps between two halves")
        if not 2 <= self.num_crossings <= self.room_size - 4:
            raise ValueError(f"num_crossings={self.num_crossings} must be 2 to room_size - 4")
        if not 1 <= self.num_harmless < self.num_crossings:
            raise ValueError(f"num_harmless={self.num_harmless} must be at least 1 and less than num_crossings")

    @property
    def max_objects(self) -> int:
        return self.num_crossings + 1 + self.num_distractors

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        onto = self.ontology
        own = list(kinds_of("animal", self.split) + kinds_of("monster", self.split))
        extra = list(kinds_of("animal", "train") + kinds_of("monster", "train")) if self.split == "test" else []
        if self.num_crossings > len(own) + len(extra):
            raise GenerationError(
                f"num_crossings={self.num_crossings} exceeds the {len(own) + len(extra)} creature kinds")
        ordered = ([own[int(i)] for i in rng.permutation(len(own))]
                   + [extra[int(i)] for i in rng.permutation(len(extra))])
        chosen = ordered[: self.num_crossings]  # held-out kinds first on the test split
        creatures = [chosen[int(i)] for i in rng.permutation(len(chosen))]
        harmless = set(int(i) for i in rng.choice(self.num_crossings, size=self.num_harmless, replace=False))
        grid = RoomGrid(self.room_size, 1, 1)
        wall_row = self.room_size // 2
        grid.cells[wall_row, :] = WALL
        gaps = [1 + int(i) for i in np.sort(rng.choice(self.room_size - 2, size=self.num_crossings, replace=False))]
        for x in gaps:
            grid.cells[wall_row, x] = FLOOR
            grid.doors.append((wall_row, x))  # keeps the cells beside each gap free
            grid.occupied.add((wall_row, x))
        objects, facts = self._kind_objects(rng, creatures)
        facts += [Fact(c.name, "is", "harmless" if i in harmless else "dangerous", True)
                  for i, c in enumerate(creatures)]
        shapes, colours = onto.shapes, onto.colours
        train, test = compositions(len(shapes), len(colours))
        target_pool = train if self.split == "train" else test
        ts, tc = target_pool[int(rng.integers(len(target_pool)))]
        shapes_beyond = [(shapes[ts], colours[tc])]
        for _ in range(self.num_distractors):
            s, c = train[int(rng.integers(len(train)))]
            if (s, c) != (ts, tc):
                shapes_beyond.append((shapes[s], colours[c]))
        objects += [WorldObject(shape=s, colour=c) for s, c in shapes_beyond]
        step = self.room_size - 1
        beyond = [(y, x) for y in range(wall_row + 1, step) for x in range(1, step)]
        free_beyond = [cell for cell in beyond if cell not in grid.occupied and not grid.next_to_door(*cell)]
        picks = rng.choice(len(free_beyond), size=len(shapes_beyond), replace=False)
        positions = [(wall_row, x) for x in gaps] + [free_beyond[int(i)] for i in picks]
        grid.occupied.update(positions)
        facts += self._ontology_distractor_facts(rng, exclude={c.name for c in creatures})
        instruction = AvoidInstr(ObjectDescription(colour=colours[tc], shape=shapes[ts]))
        above = [(y, x) for y in range(1, wall_row) for x in range(1, step)]
        agent_cells = [cell for cell in above if cell not in grid.occupied and not grid.next_to_door(*cell)]
        walkable = frozenset(positions[: self.num_crossings])
        return self._finish(
            rng, grid, objects, positions, instruction, facts, max_facts, agent_cells=agent_cells, walkable=walkable
        )

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        if carrying >= 0:
            return Subgoal("drop")
        belief = Belief(episode, use_facts)
        objects = episode.layout.objects
        creatures = [i for i, o in enumerate(objects) if o.kind is not None]
        said = {i: belief.one_of(belief.objects(kind, "is"), f"is {i}") if (kind := belief.kinds[i]) else None
                for i in creatures}
        safe = [i for i in creatures if said[i] == "harmless"]
        unsure = [i for i in creatures if said[i] is None]
        crossing = safe or unsure or creatures
        walk = belief.choose(crossing, "crossing")
        instruction = episode.instruction
        assert isinstance(instruction, AvoidInstr)
        targets = [i for i, o in enumerate(objects) if o.kind is None and instruction.target.matches(o)]
        return Subgoal("face", targets, walk_over=[walk])
