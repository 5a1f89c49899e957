"""The level KnowledgeSplit is built on: Fetch for two agents (a second agent, its instruction and its pickup table)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from fusiongym.envs.language import PickupCategoryInstr
from fusiongym.envs.levels import Episode, FetchLevel, RoomGrid
from fusiongym.envs.world import DOOR_CLOSED, DOOR_OPEN, FLOOR, OutcomeTables


@dataclass
class PairEpisode(Episode):
    """A Fetch episode for two agents: the level's agent is ``agent_0``; these fields add ``agent_1``."""

    partner_pos: tuple[int, int] = (0, 0)
    partner_dir: int = 0
    partner_instruction: PickupCategoryInstr | None = None
    partner_mission: str = ""
    partner_mission_ids: list[int] = dataclasses.field(default_factory=list)
    partner_pickup: np.ndarray | None = None  # pickup outcome table of agent_1, per object slot


@dataclass
class PairFetchLevel(FetchLevel):
    """Fetch for two: the level's target category is ``agent_0``'s; ``agent_1`` is asked for the category of another
    object and placed on a free cell reachable from ``agent_0``. ``num_distractors`` counts the objects besides the
    two targets. Two object slots past the objects are kept for the agents' bodies."""

    num_distractors: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_distractors + 2 > len(self.fetchable_categories):
            raise ValueError(
                f"num_distractors={self.num_distractors} is too many: the two targets and the distractors each need "
                f"their own category, and there are {len(self.fetchable_categories)}; use at most "
                f"{len(self.fetchable_categories) - 2}"
            )
        # the single-agent Fetch level that generates the world: one more distractor, whose category is agent_1's
        fetch = {f.name: getattr(self, f.name) for f in dataclasses.fields(FetchLevel)}
        self._fetch = FetchLevel(**{**fetch, "num_distractors": self.num_distractors + 1})

    @property
    def max_objects(self) -> int:
        """Object slots of a world: the objects, then the two agents' bodies."""
        return self.num_distractors + 2 + 2  # the objects, then the two bodies

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        episode = self._fetch._try_generate(rng, max_facts)
        if episode is None:
            return None
        layout = episode.layout
        objects, knowledge = layout.objects, episode.knowledge
        category: dict[str, str] = {}
        for o in objects:
            assert o.kind is not None  # Fetch's objects are ontology kinds
            category[o.kind] = knowledge.objects(o.kind, "is_a")[0]
        assert isinstance(episode.instruction, PickupCategoryInstr)
        others = sorted(set(category.values()) - {episode.instruction.category})
        partner_category = others[int(rng.integers(len(others)))]
        grid = RoomGrid(self.room_size, self.num_rows, self.num_cols)
        grid.cells = layout.cells.copy()
        grid.doors = [(int(y), int(x))
                      for y, x in np.argwhere((layout.cells == DOOR_OPEN) | (layout.cells == DOOR_CLOSED))]
        grid.occupied = set(layout.object_pos) | {layout.agent_pos}
        reachable = grid.reachable_from(layout.agent_pos)
        free = sorted(
            c for c in reachable
            if c not in grid.occupied and grid.cells[c] == FLOOR and not grid.next_to_door(*c)
        )
        if not free:
            return None
        partner_pos = free[int(rng.integers(len(free)))]
        instruction = PickupCategoryInstr(partner_category)
        tables = OutcomeTables(len(objects))
        instruction.compile(objects, knowledge, tables)
        mission, mission_ids = instruction.sample_render(rng, self.split, self.vocab)
        fields = {f.name: getattr(episode, f.name) for f in dataclasses.fields(Episode)}
        return PairEpisode(
            **fields,
            partner_pos=partner_pos,
            partner_dir=int(rng.integers(4)),
            partner_instruction=instruction,
            partner_mission=mission,
            partner_mission_ids=mission_ids,
            partner_pickup=tables.pickup.copy(),
        )


__all__ = ["PairEpisode", "PairFetchLevel"]
