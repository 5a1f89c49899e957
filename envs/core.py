"""The Gymnasium faces of the batched world: a single env (a batch of one) and the native vector env.

Both own a :class:`Simulation` — a :class:`~fusiongym.envs.world.WorldBatch`, its level and its tile atlas —
so a single env and world ``i`` of a vector env run the very same code. Seeding follows Gymnasium: the single
env draws from ``self.np_random`` (``reset(seed=s)``); world ``i`` of the vector env from its own generator,
seeded ``s + i`` by ``reset(seed=s)``, so it reproduces ``FusionEnv.reset(seed=s + i)`` step for step.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from fusiongym.envs.levels import Episode, Level, Subgoal
from fusiongym.envs.ontology import load_ontology
from fusiongym.envs.oracle import EXPLORE, oracle_action, oracle_heading_cells, oracle_subgoal
from fusiongym.envs.rendering import TileAtlas, text_panel
from fusiongym.envs.vocab import get_vocab
from fusiongym.envs.world import ACTION_NAMES, CELL_NAMES, SUCCESS, TileIndex, WorldBatch, WorldObject

#: kwargs every env takes besides its level's own (see each level's fields).
ENV_KWARGS: dict[str, Any] = {
    "tile_size": 8,
    "view_size": 7,
    "see_through_walls": False,
    "show_carried": False,
    "max_mission_len": 16,
    "max_facts": 32,
    "render_facts": True,
    "render_tile_size": 16,
}
NUM_ACTIONS = len(ACTION_NAMES)
_ALLOWED_ACTIONS = ", ".join(f"{i} {name}" for i, name in enumerate(ACTION_NAMES))


class InvalidActionError(ValueError):
    """An action outside ``Discrete(7)``."""


def check_action(action: Any) -> int:
    """``action`` as a Python int, or :class:`InvalidActionError` naming the allowed actions."""
    try:
        value = operator.index(action)
    except TypeError:
        if isinstance(action, np.ndarray) and action.size == 1 and np.issubdtype(action.dtype, np.integer):
            value = int(action.reshape(()))
        else:
            raise InvalidActionError(
                f"action {action!r} is not an integer; the actions are {_ALLOWED_ACTIONS}"
            ) from None
    if not 0 <= value < NUM_ACTIONS:
        raise InvalidActionError(f"action {value} is out of range; the actions are {_ALLOWED_ACTIONS}")
    return value


def split_kwargs(env_name: str, level_class: type[Level], kwargs: dict[str, Any]) -> tuple[dict, dict]:
    """Separate level kwargs from env kwargs; unknown names raise a TypeError that lists the allowed ones."""
    level_names = set(level_class.kwarg_names())
    unknown = sorted(set(kwargs) - level_names - set(ENV_KWARGS))
    if unknown:
        allowed = sorted(level_names | set(ENV_KWARGS) | {"render_mode"})
        raise TypeError(f"{env_name} got unknown kwargs {unknown}; allowed kwargs are: {', '.join(allowed)}")
    level_kwargs = {k: v for k, v in kwargs.items() if k in level_names}
    env_kwargs = {**ENV_KWARGS, **{k: v for k, v in kwargs.items() if k in ENV_KWARGS}}
    return level_kwargs, env_kwargs


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
        oracle is after now (its target, or the object it must first walk over: Avoid's harmless crossing); the last
        column is set where none is in view (or the oracle is about to drop)."""
        batch = self.batch
        view = batch.ego_cells().reshape(batch.batch_size, -1)
        wp = batch.width + 2 * batch.pad  # ego_cells' row stride
        goals = np.zeros((batch.batch_size, view.shape[1] + 1), bool)
        for b in range(batch.batch_size):
            subgoal = self.oracle_subgoal(b, use_facts, explore)
            if subgoal.action not in ("drop", EXPLORE):
                goals[b, :-1] = np.isin(view[b], [y * wp + x for y, x in oracle_heading_cells(batch, b, subgoal)])
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


class FusionEnv(gym.Env):
    """Base of every single-agent fusiongym env; a subclass names its level and documents its spec."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 8}  # gym.Env: not a ClassVar
    level_class: ClassVar[type[Level]]

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        name = type(self).__name__
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; choose one of "
                             f"{self.metadata['render_modes']} or None")
        level_kwargs, env_kwargs = split_kwargs(name, self.level_class, kwargs)
        self.level = self.level_class(**level_kwargs)
        self.render_mode = render_mode
        self._sim = Simulation(self.level, 1, env_kwargs)
        self.observation_space = self._sim.observation_space
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.needs_knowledge = self.level.needs_knowledge
        self._ended = False  # the episode terminated or was truncated: step() needs a reset() first

    # --- Gymnasium API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self._sim.reset_world(0, self.np_random)
        self._ended = False
        return self._observation(), self._info()

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self._sim.episodes[0] is None or self._ended:
            raise gym.error.ResetNeeded("the episode is over (or never began): call reset() before step()")
        a = check_action(action)
        reward, terminated, truncated = self._sim.batch.step(np.array([a]))
        self._ended = bool(terminated[0] or truncated[0])
        info = self._info()
        info["success"] = bool(terminated[0] and reward[0] > 0)
        return self._observation(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self._sim.frame(0)
        return None

    # --- fusiongym API ---------------------------------------------------------------------------------
    def oracle_action(self, use_facts: bool = True, explore: bool = False) -> int:
        """The privileged planner's next action; ``use_facts=False`` plans without the episode's facts;
        ``explore=True`` knows only what the agent has seen (from the first such call on), as BabyAI's bot."""
        self._current_episode()
        return self._sim.oracle_action(0, use_facts, explore)

    def oracle_subgoal(self, use_facts: bool = True, explore: bool = False) -> Subgoal:
        """What the oracle is after now: the object slots to face and the action to take there (``"pickup"``,
        ``"toggle"``, ``"face"``; ``"drop"`` when what is carried is not what it needs; ``"explore"`` when it
        explores and has seen none of its targets)."""
        self._current_episode()
        return self._sim.oracle_subgoal(0, use_facts, explore)

    def oracle_goal_cells(self, use_facts: bool = True, explore: bool = False) -> np.ndarray:
        """``(V * V + 1,)`` bool: the view cells holding what the oracle is after now; the last entry marks "none
        in view" (see the vector env's ``oracle_goal_cells``)."""
        self._current_episode()
        return self._sim.oracle_goal_cells(use_facts, explore)[0]

    @property
    def episode(self) -> Episode:
        return self._current_episode()

    @property
    def mission(self) -> str:
        return self._current_episode().mission

    @property
    def facts(self) -> list[str]:
        self._current_episode()
        return self._sim.fact_sentences[0]

    @property
    def knowledge(self):
        """The facts the agent is shown, an :class:`~fusiongym.envs.knowledge.EpisodeKnowledge` (``.to_graph()``,
        ``.to_turtle()``); the same as ``true_knowledge`` unless a knowledge control altered them."""
        return self._current_episode().shown

    @property
    def true_knowledge(self):
        """The facts the dynamics follow."""
        return self._current_episode().knowledge

    def facing_object(self) -> WorldObject | None:
        """The object in the cell in front of the agent (``None`` when that cell holds none), as MiniGrid's
        ``grid.get(*env.front_pos)``."""
        slot = int(self._sim.batch.facing()[0])
        return self._current_episode().layout.objects[slot] if slot >= 0 else None

    def describe_view(self) -> str:
        """What the agent sees, in words ("You see a red ball 2 ahead, 1 left. You carry …"), for language-model
        agents such as :class:`~fusiongym.agents.LMScorerAgent`; computed on request, never in ``step``."""
        self._current_episode()
        return describe_view(self._sim, 0)

    def symbolic_state(self) -> bytes:
        """A compact, hashable key of what the agent observes, for tabular agents: the egocentric view as tile
        ids, the carried object's sprite, the mission ids and the fact ids."""
        self._current_episode()
        return self._sim.symbolic_states()[0]

    def _current_episode(self) -> Episode:
        """The episode under way, or :class:`gymnasium.error.ResetNeeded` before the first ``reset()``."""
        episode = self._sim.episodes[0]
        if episode is None:
            raise gym.error.ResetNeeded(f"{type(self).__name__} has no episode yet: call reset() first")
        return episode

    def _observation(self) -> dict[str, np.ndarray]:
        obs = self._sim.observation()
        return {key: value[0] for key, value in obs.items()}

    def _info(self) -> dict[str, Any]:
        return {"mission": self._current_episode().mission, "facts": self._sim.fact_sentences[0]}


class FusionVectorEnv(gym.vector.VectorEnv):
    """The native batch: ``num_envs`` worlds stepped together by one array step (no subprocesses).

    ``autoreset_mode`` is Gymnasium's ``NEXT_STEP`` by default (the step after a world ends resets it and
    ignores its action), or ``SAME_STEP`` (a world that ends is reset at once; its last observation and info
    are in ``info["final_obs"]`` / ``info["final_info"]``). The mode is in ``metadata["autoreset_mode"]``.
    """

    env_class: ClassVar[type[FusionEnv]]

    def __init__(
        self,
        num_envs: int,
        render_mode: str | None = None,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        **kwargs: Any,
    ) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be a positive integer")
        modes = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP}
        key = str(autoreset_mode).lower().replace("step", "_step").replace("__", "_")  # NextStep → next_step
        mode = autoreset_mode if isinstance(autoreset_mode, AutoresetMode) else modes.get(key)
        if mode not in modes.values():
            raise ValueError(f"autoreset_mode={autoreset_mode!r} is not supported: choose one of {sorted(modes)}")
        level_kwargs, env_kwargs = split_kwargs(self.env_class.__name__, self.env_class.level_class, kwargs)
        self.level = self.env_class.level_class(**level_kwargs)
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.metadata = {**self.env_class.metadata, "autoreset_mode": mode}
        self._sim = Simulation(self.level, self.num_envs, env_kwargs)
        self.single_observation_space = self._sim.observation_space
        self.single_action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.needs_knowledge = self.level.needs_knowledge
        self._rngs: list[np.random.Generator] = [np.random.default_rng() for _ in range(self.num_envs)]
        self._ended = np.zeros(self.num_envs, bool)
        self._missions = np.empty(self.num_envs, dtype=object)
        self._facts = np.empty(self.num_envs, dtype=object)
        self._all = np.ones(self.num_envs, bool)
        self._started = False

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs: pass one per env, an int or None")
        mask = np.asarray((options or {}).get("reset_mask", self._all), bool)
        rows = np.flatnonzero(mask).tolist()
        for i in rows:
            if seeds[i] is not None or self._sim.episodes[i] is None:
                self._rngs[i], _ = seeding.np_random(seeds[i])
        self._reset_worlds(rows)
        self._ended[mask] = False
        self._started = all(e is not None for e in self._sim.episodes)
        return self._sim.observation(), self._infos()

    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise InvalidActionError(
                f"actions must be an integer array of shape ({self.num_envs},), got {actions.dtype} {actions.shape}; "
                f"the actions are {_ALLOWED_ACTIONS}"
            )
        if actions.min() < 0 or actions.max() >= NUM_ACTIONS:
            raise InvalidActionError(f"actions {actions} include one out of range; the actions are {_ALLOWED_ACTIONS}")
        if not self._started:
            raise gym.error.ResetNeeded("call reset() before step()")
        reward, terminated, truncated = self._sim.batch.step(actions)
        success = terminated & (reward > 0)
        mode = self.metadata["autoreset_mode"]
        infos: dict[str, Any] = {}
        if mode == AutoresetMode.NEXT_STEP:
            restarted = np.flatnonzero(self._ended)
            self._reset_worlds(restarted.tolist())
            reward[restarted], terminated[restarted], truncated[restarted] = 0.0, False, False
            success[restarted] = False
            self._ended = terminated | truncated
            obs = self._sim.observation()
        else:
            ended = np.flatnonzero(terminated | truncated)
            if ended.size:
                final = self._sim.observation()
                final_obs = np.empty(self.num_envs, dtype=object)
                final_info = np.empty(self.num_envs, dtype=object)
                for i in ended:
                    final_obs[i] = {k: v[i] for k, v in final.items()}
                    final_info[i] = {"mission": self._missions[i], "facts": self._facts[i], "success": bool(success[i])}
                self._reset_worlds(ended.tolist())
                infos.update(final_obs=final_obs, _final_obs=terminated | truncated)
                infos.update(final_info=final_info, _final_info=terminated | truncated)
            obs = self._sim.observation()
        infos.update(self._infos())
        infos["success"], infos["_success"] = success, self._all
        return obs, reward, terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode == "rgb_array":
            return tuple(self._sim.frame(i) for i in range(self.num_envs))
        return None

    def symbolic_states(self) -> list[bytes]:
        """Every world's ``FusionEnv.symbolic_state``."""
        return self._sim.symbolic_states()

    def oracle_actions(self, use_facts: bool = True, explore: bool = False) -> np.ndarray:
        """The oracle's next action in every world (``explore``: knowing only what each agent has seen, from the
        first such call on; see :func:`fusiongym.envs.oracle.oracle_subgoal`)."""
        return np.array([self._sim.oracle_action(i, use_facts, explore) for i in range(self.num_envs)], np.int64)

    def oracle_goal_cells(self, use_facts: bool = True, explore: bool = False) -> np.ndarray:
        """``(num_envs, V * V + 1)`` bool: which cells of each world's view (row-major, laid out as the ``image``
        observation) hold what the oracle is after now (an object to reach, pick up or use, a door to open); the
        last column marks worlds where none is in view. Imitation's auxiliary goal labels (``goal_loss``)."""
        return self._sim.oracle_goal_cells(use_facts, explore)

    def describe_views(self) -> list[str]:
        """What each world's agent sees, in words: every world's :meth:`FusionEnv.describe_view` (for
        language-model agents; computed on request, never in ``step``)."""
        if not self._started:
            raise gym.error.ResetNeeded(f"{type(self).__name__} has no episodes yet: call reset() first")
        return [describe_view(self._sim, b) for b in range(self.num_envs)]

    @property
    def episodes(self) -> list[Episode | None]:
        return list(self._sim.episodes)  # None before a world's first reset

    def view_slots(self) -> np.ndarray:
        """``(num_envs, V, V)`` object slot each world's agent sees at each cell of its view, laid out as the
        ``image`` observation (agent at the bottom centre facing up); -1 where there is no object or it is out of
        sight. ``episodes[b].layout.objects[slot]`` says what the object is."""
        return self._sim.batch.ego_slots()

    def _reset_worlds(self, rows: list[int]) -> None:
        self._sim.reset_worlds(rows, [self._rngs[i] for i in rows])
        for i in rows:
            self._missions[i] = self._sim.episode(i).mission
            self._facts[i] = self._sim.fact_sentences[i]

    def _infos(self) -> dict[str, Any]:
        return {"mission": self._missions.copy(), "_mission": self._all,
                "facts": self._facts.copy(), "_facts": self._all}


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


__all__ = ["FusionEnv", "FusionVectorEnv", "InvalidActionError", "SUCCESS", "check_action"]
