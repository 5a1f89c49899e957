"""Unlock: reach the <target> behind one of several locked doors; which key opens which door is a per-episode
fact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fusiongym.envs.belief import Belief
from fusiongym.envs.knowledge import Fact
from fusiongym.envs.language import UnlockInstr
from fusiongym.envs.levels.base import Episode, Level, RoomGrid, Subgoal
from fusiongym.envs.levels.rules import draw_kinds, sample_rule
from fusiongym.envs.vocab import door_token
from fusiongym.envs.world import DOOR_LOCKED, WALL


@dataclass
class UnlockLevel(Level):
    """Reach the <target> behind one of several locked doors; which key opens which door is a per-episode fact."""

    room_size: int = 6
    num_rows: int = 3
    num_cols: int = 3
    num_distractors: int = 0  # objects in the other side rooms
    num_doors: int = 3

    needs_knowledge: ClassVar[bool] = True
    _SIDE_ROOMS: ClassVar[tuple[tuple[int, int], ...]] = ((1, 2), (1, 0), (2, 1), (0, 1))  # E, W, S, N of the centre

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.num_rows, self.num_cols) != (3, 3):
            raise ValueError("Unlock is laid out as a centre room with side rooms: num_rows and num_cols must be 3")
        if not 2 <= self.num_doors <= 4:
            raise ValueError(f"num_doors={self.num_doors} must be 2 to 4 (one per side of the centre room)")
        if self.num_distractors > self.num_doors - 1:
            raise ValueError(
                f"num_distractors={self.num_distractors} must be at most num_doors - 1 (one per side room)")

    @property
    def max_objects(self) -> int:
        return self.num_doors + 1 + self.num_distractors

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        onto = self.ontology
        keys = draw_kinds(rng, "key", self.split, self.num_doors)
        treasures = draw_kinds(rng, "gem", self.split, 1 + self.num_distractors)
        colours = [onto.colours[int(i)] for i in rng.choice(len(onto.colours), size=self.num_doors, replace=False)]
        opens = sample_rule(rng, [k.name for k in keys], [door_token(c) for c in colours], self.split)
        if opens is None:
            return None
        grid = RoomGrid(self.room_size, 3, 3)
        step = self.room_size - 1
        for r, c in ((0, 0), (0, 2), (2, 0), (2, 2)):  # the corners are solid rock
            grid.cells[r * step : (r + 1) * step + 1, c * step : (c + 1) * step + 1] = WALL
        rooms = [self._SIDE_ROOMS[int(i)] for i in rng.permutation(4)[: self.num_doors]]
        for (r, c), colour in zip(rooms, colours, strict=True):
            offset = int(rng.integers(1, step))
            y, x = (max(r, 1) * step, step + offset) if c == 1 else (step + offset, max(c, 1) * step)
            grid.cells[y, x] = DOOR_LOCKED
            grid.door_colour[y, x] = onto.colours.index(colour)
            grid.doors.append((y, x))
        objects, facts = self._kind_objects(rng, keys + treasures)
        positions = grid.place(rng, len(keys), rooms=[(1, 1)])
        for treasure_room in rooms[: 1 + self.num_distractors]:
            positions += grid.place(rng, 1, rooms=[treasure_room])
        for slot, door in enumerate(opens):  # the dynamics: each door opens for the key (slot) the facts name
            y, x = grid.doors[colours.index(door.removesuffix("_door"))]
            grid.door_key[y, x] = slot
        facts += [Fact(k.name, "opens", door, True) for k, door in zip(keys, opens, strict=True)]
        # the first 1 + num_distractors side rooms hold a treasure each: fewer treasures than doors, on purpose
        facts += [Fact(t.name, "lies_behind", door_token(colour), True)
                  for t, colour in zip(treasures, colours, strict=False)]
        facts += self._ontology_distractor_facts(rng, exclude={k.name for k in keys + treasures})
        instruction = UnlockInstr(treasures[0].name)
        return self._finish(
            rng, grid, objects, positions, instruction, facts, max_facts, agent_rooms=[(1, 1)],
            must_reach=positions[: len(keys)] + grid.doors,  # every key, and the front of every door
        )

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        belief = Belief(episode, use_facts)
        assert isinstance(episode.instruction, UnlockInstr)
        target_kind = episode.instruction.target
        layout = episode.layout
        onto = self.ontology
        doors = {door_token(onto.colours[int(layout.door_colour[y, x])]): (int(y), int(x))
                 for y, x in zip(*np.nonzero(layout.cells == DOOR_LOCKED), strict=True)}
        door = belief.one_of(belief.objects(target_kind, "lies_behind"), "lies_behind") or sorted(doors)[
            belief.choose(list(range(len(doors))), "door")
        ]
        target = belief.slot_of(target_kind, "gem", "target")
        if door in doors and cells[doors[door]] != DOOR_LOCKED:
            return Subgoal("face", [target])
        key_kind = belief.one_of(belief.subjects("opens", door), "opens")
        key = belief.slot_of(key_kind, "key", "key", exclude=(target,))
        if carrying >= 0 and carrying != key:
            return Subgoal("drop")
        if carrying < 0:
            return Subgoal("pickup", [key])
        return Subgoal("toggle", cells=[doors[door]])
