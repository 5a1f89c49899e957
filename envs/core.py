"""The Gymnasium faces of the batched world: a single env (a batch of one) and the native vector env.

Both own a :class:`Simulation` — a :class:`~fusiongym.envs.world.WorldBatch`, its level and its tile atlas —
so a single env and world ``i`` of a vector env run the very same code. Seeding follows Gymnasium: the single
env draws from ``self.np_random`` (``reset(seed=s)``); world ``i`` of the vector env from its own generator,
seeded ``s + i`` by ``reset(seed=s)``, so it reproduces ``FusionEnv.reset(seed=s + i)`` step for step.
"""

from __future__ import annotations

import operator
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from fusiongym.envs.levels import Episode, Level, Subgoal
from fusiongym.envs.simulation import Simulation, describe_view
from fusiongym.envs.world import ACTION_NAMES, SUCCESS, WorldObject

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

    def render(self) -> np.ndarray | None:  # type: ignore[override, unused-ignore]  # gymnasium 1.2's TypeVar
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

    def render(self) -> tuple[np.ndarray, ...] | None:  # type: ignore[override, unused-ignore]  # as above
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


__all__ = ["FusionEnv", "FusionVectorEnv", "InvalidActionError", "SUCCESS", "check_action"]
