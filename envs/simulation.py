"""The engine under both Gymnasium faces (:mod:`fusiongym.envs.core`): a level, a
:class:`~fusiongym.envs.world.WorldBatch` of its worlds and the tile atlas that draws them, with the oracle's
view of each world and what each world's agent sees, in words."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from fusiongym.envs.levels import Episode, Level, Subgoal
from fusiongym.envs.ontology import load_ontology
from fusiongym.envs.oracle import EXPLORE, oracle_action, oracle_crossing_cells, oracle_heading_cells, oracle_subgoal
from fusiongym.envs.rendering import TileAtlas, text_panel
from fusiongym.envs.vocab import get_vocab
from fusiongym.envs.world import CELL_NAMES, TileIndex, WorldBatch


@functools.lru_cache(maxsize=8)
def tile_atlas(tile_size: int) -> TileAtlas:
    """The atlas of every tile at ``tile_size`` pixels, drawn once per process and shared."""
    onto = load_ontology()
    return TileAtlas(_tile_index(), onto.shapes, onto.colours, tile_size)


@functools.lru_cache(maxsize=1)
def _tile_index() -> TileIndex:
    onto = load_ontology()
    return TileIndex(len(onto.shapes), len(onto.colours))


class Simulation:
    """A level, a batch of worlds and the atlas that draws them; shared by the single and the vector env."""

    def __init__(self, level: Level, num_worlds: int, env_kwargs: dict[str, Any]) -> None:
        for name in ("tile_size", "view_size", "max_mission_len", "max_facts", "render_tile_size"):
            value = env_kwargs[name]
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        self.level = level
        self.env_kwargs = env_kwargs
        onto = level.ontology
        self.shape_index = {s: i for i, s in enumerate(onto.shapes)}
        self.colour_index = {c: i for i, c in enumerate(onto.colours)}
        self.tiles = _tile_index()
        self.atlas = tile_atlas(int(env_kwargs["tile_size"]))
        self.batch = WorldBatch(
            num_worlds,
            *level.grid_shape,
            max_objects=level.max_objects,
            mission_len=int(env_kwargs["max_mission_len"]),
            max_facts=int(env_kwargs["max_facts"]),
            tiles=self.tiles,
            view_size=int(env_kwargs["view_size"]),
            see_through_walls=bool(env_kwargs["see_through_walls"]),
            show_carried=bool(env_kwargs["show_carried"]),
        )
        self.episodes: list[Episode | None] = [None] * num_worlds
        # (B, padded cells) what each world's agent has seen this episode; kept from the first exploring oracle query
        self.seen: np.ndarray | None = None
        self.fact_sentences: list[list[str]] = [[] for _ in range(num_worlds)]
        vocab_size = get_vocab().size
        side = int(env_kwargs["view_size"]) * int(env_kwargs["tile_size"])
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, (side, side, 3), np.uint8),
                "mission": gym.spaces.Box(0, vocab_size - 1, (int(env_kwargs["max_mission_len"]),), np.int64),
                "facts": gym.spaces.Box(0, vocab_size - 1, (int(env_kwargs["max_facts"]), 3), np.int64),
            }
        )

    def reset_world(self, b: int, rng: np.random.Generator) -> None:
        self.reset_worlds([b], [rng])

    def episode(self, b: int) -> Episode:
        """World ``b``'s episode (:class:`gymnasium.error.ResetNeeded` before its first reset)."""
        episode = self.episodes[b]
        if episode is None:
            raise gym.error.ResetNeeded(f"world {b} has no episode yet: call reset() first")
        return episode

    def reset_worlds(self, rows: Sequence[int], rngs: Sequence[np.random.Generator]) -> None:
        """A new episode in each world of ``rows``, world ``rows[i]`` drawn with ``rngs[i]``."""
        max_facts = int(self.env_kwargs["max_facts"])
        vocab = get_vocab()
        for b, rng in zip(rows, rngs, strict=True):
            episode = self.level.generate(rng, max_facts)
            self.batch.load(b, episode.layout, self.shape_index, self.colour_index)
            self.episodes[b] = episode
            self.fact_sentences[b] = episode.shown.sentences(vocab)
        if self.seen is not None:
            self.seen[list(rows)] = False

    def observation(self) -> dict[str, np.ndarray]:
        if self.seen is not None:
            self._remember_sight(self.seen)
        return {
            "image": self.atlas.ego_image(self.batch.ego_tiles()),
            "mission": self.batch.mission.copy(),
            "facts": self.batch.facts.copy(),
        }

    def _remember_sight(self, seen: np.ndarray) -> None:
        cells = self.batch.ego_cells().reshape(self.batch.batch_size, -1)
        rows, columns = np.nonzero(cells >= 0)
        seen[rows, cells[rows, columns]] = True

    def _sight(self, b: int, explore: bool) -> np.ndarray | None:
        """World ``b``'s seen cells for an exploring oracle (``None`` for the privileged one). Sight is kept from
        the first exploring query on, what is in view then counting as seen."""
        if not explore:
            return None
        if self.seen is None:
            batch = self.batch
            self.seen = np.zeros((batch.batch_size, batch.cell[0].size), bool)
            self._remember_sight(self.seen)
        return self.seen[b]

    def oracle_action(self, b: int, use_facts: bool, explore: bool = False) -> int:
        return oracle_action(self.batch, b, self.level, self.episodes[b], use_facts, self._sight(b, explore))

    def oracle_subgoal(self, b: int, use_facts: bool, explore: bool = False) -> Subgoal:
        return oracle_subgoal(self.batch, b, self.level, self.episodes[b], use_facts, self._sight(b, explore))

    def oracle_goal_cells(self, use_facts: bool, explore: bool = False) -> np.ndarray:
        """(B, V * V + 1) bool: the cells of each world's view (row-major, as the ``image``) that hold what the
        oracle is after now (its target, or the object it must first walk over: Avoid's harmless crossing, also while
        an exploring oracle has not seen its target yet); the last column is set where none is in view (or the oracle
        is about to drop)."""
        batch = self.batch
        view = batch.ego_cells().reshape(batch.batch_size, -1)
        wp = batch.width + 2 * batch.pad  # ego_cells' row stride
        goals = np.zeros((batch.batch_size, view.shape[1] + 1), bool)
        for b in range(batch.batch_size):
            subgoal = self.oracle_subgoal(b, use_facts, explore)
            if subgoal.action == "drop":
                continue
            if subgoal.action == EXPLORE:  # its target not seen yet: of what it is after, only the crossing is known
                cells = oracle_crossing_cells(batch, b, self.oracle_subgoal(b, use_facts))
            else:
                cells = oracle_heading_cells(batch, b, subgoal)
            goals[b, :-1] = np.isin(view[b], [y * wp + x for y, x in cells])
        goals[:, -1] = ~goals[:, :-1].any(axis=1)
        return goals

    def symbolic_states(self) -> list[bytes]:
        """Per world, the observation as compact bytes: view tile ids, carried sprite, mission and fact ids."""
        batch = self.batch
        view = batch.ego_tiles()
        held = np.where(batch.carrying >= 0, batch.obj_tile[batch._rows, batch.carrying], -1).astype(np.int16)
        return [
            view[b].tobytes() + held[b].tobytes() + batch.mission[b].tobytes() + batch.facts[b].tobytes()
            for b in range(batch.batch_size)
        ]

    def frame(self, b: int) -> np.ndarray:
        """Top-down RGB frame of world ``b`` with the instruction (and the facts) drawn beside it."""
        batch, p = self.batch, self.batch.pad
        ts = int(self.env_kwargs["render_tile_size"])
        tiles = batch.tile[b, p : p + batch.height, p : p + batch.width].copy()
        tiles[batch.agent_y[b] - p, batch.agent_x[b] - p] = self.tiles.agent(int(batch.agent_dir[b]))
        image = tile_atlas(ts).grid_image(tiles)
        episode = self.episodes[b]
        carried = int(batch.carrying[b])
        lines = [f"mission: {episode.mission}" if episode else "mission: -"]
        if episode and carried >= 0:
            obj = episode.layout.objects[carried]
            lines.append(f"carrying: {obj.kind or (obj.colour + ' ' + obj.shape)}")
        if self.env_kwargs["render_facts"] and self.fact_sentences[b]:
            lines += ["facts:"] + [f"- {s}" for s in self.fact_sentences[b]]
        # a fixed size per env (room for every fact), so frames of different episodes stack into one GIF
        panel = text_panel(lines, max(image.shape[0], 14 * (int(self.env_kwargs["max_facts"]) + 4)), 280)
        if panel.shape[0] > image.shape[0]:
            image = np.pad(image, ((0, panel.shape[0] - image.shape[0]), (0, 0), (0, 0)))
        return np.concatenate([image, panel], axis=1)


def describe_view(sim: Simulation, b: int) -> str:
    """What world ``b``'s agent sees, in words: the objects and doors in view with their rough position."""
    batch = sim.batch
    ids = batch.ego_tiles()[b]
    t = sim.tiles
    onto = sim.level.ontology
    v = batch.view_size
    parts = []
    for row in range(v):
        for col in range(v):
            if (row, col) == (v - 1, v // 2):
                continue  # the agent's own cell (with show_carried, what it carries: said below)
            tile = int(ids[row, col])
            ahead, side = v - 1 - row, col - v // 2
            where = f"{ahead} ahead" + (f", {abs(side)} {'right' if side > 0 else 'left'}" if side else "")
            if t.object_base <= tile < t.agent_base:
                shape, colour = divmod(tile - t.object_base, t.n_colours)
                parts.append(f"a {onto.colours[colour]} {onto.shapes[shape]} {where}")
            elif t.door_base <= tile < t.object_base:
                colour, state = divmod(tile - t.door_base, 3)
                parts.append(f"a {onto.colours[colour]} {CELL_NAMES[2 + state]} {where}")
    carried = int(batch.carrying[b])
    text = "You see " + ("; ".join(parts) if parts else "nothing") + "."
    if carried >= 0:
        obj = sim.episode(b).layout.objects[carried]
        text += f" You carry a {obj.colour} {obj.shape}."
    return text
