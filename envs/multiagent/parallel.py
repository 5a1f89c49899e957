"""The PettingZoo faces shared by the multi-agent envs: the Parallel env over a batched core of one world, and the
AEC env that is the Parallel env in turns (PettingZoo's ``parallel_to_aec``)."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec_wrapper

from fusiongym.envs.levels import Episode
from fusiongym.envs.vocab import get_vocab


class FusionParallelEnv(ParallelEnv):
    """Base of the multi-agent envs: the PettingZoo Parallel face of a batched core of one world."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 8, "is_parallelizable": True}
    core_class: ClassVar[type]

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; choose one of {self.metadata['render_modes']} or None"
            )
        self.render_mode = render_mode
        self.core = self.core_class(1, **kwargs)
        self.possible_agents = list(self.core.agents)
        self.agents: list[str] = []
        self._np_random: np.random.Generator | None = None
        self._np_random_seed: int | None = None
        self._last_obs: dict[str, dict] = {}

    # --- spaces ----------------------------------------------------------------------------------------
    @property
    def episode(self) -> Episode:
        """The episode the level generated at the last reset."""
        return self.core.sim.episodes[0]

    def observation_space(self, agent: str) -> gym.spaces.Dict:
        """``agent``'s observation space (a KeyError naming the agents for any other name)."""
        return self.core.observation_spaces[self._known(agent)]

    def action_space(self, agent: str) -> gym.spaces.Space:
        """``agent``'s action space (a KeyError naming the agents for any other name)."""
        return self.core.action_spaces[self._known(agent)]

    def _known(self, agent: str) -> str:
        if agent not in self.core.observation_spaces:
            raise KeyError(f"{agent!r} is not an agent of {type(self).__name__}; the agents are {self.possible_agents}")
        return agent

    @property
    def message_tokens(self) -> list[str]:
        """What each message token index says (index 0: no token)."""
        vocab = get_vocab()
        return [""] + [vocab.token(int(i)) for i in self.core.alphabet[1:]]

    @property
    def np_random(self) -> np.random.Generator:
        """The generator the worlds are drawn with, seeded by ``reset(seed=...)`` (unseeded until then)."""
        if self._np_random is None:
            self._np_random, self._np_random_seed = seeding.np_random()
        return self._np_random

    # --- Parallel API ----------------------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
        """A new episode (drawn from ``seed`` when given): every agent's observation and info."""
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        self.core.reset_world(0, self.np_random)
        self.agents = list(self.possible_agents)
        obs = self._observations()
        return obs, self._infos()

    def step(self, actions: dict[str, Any]) -> tuple[
        dict[str, dict[str, np.ndarray]], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:
        """One simultaneous move of every live agent: observations, rewards, terminations, truncations, infos."""
        if not self.agents:
            raise gym.error.ResetNeeded("the episode is over (or never began): call reset() before step()")
        missing = [a for a in self.agents if a not in actions]
        unknown = [a for a in actions if a not in self.agents]
        if missing or unknown:
            raise KeyError(
                f"step() needs one action for each live agent {self.agents}; "
                + (f"missing {missing}" if missing else f"got actions for {unknown}")
            )
        batched = {agent: np.asarray(self._check(agent, actions[agent]))[None] for agent in self.agents}
        reward, terminated, truncated, success = self.core.step(batched)
        obs = self._observations()
        infos = self._infos()
        for info in infos.values():
            info["success"] = bool(success[0])
        r, term, trunc = float(reward[0]), bool(terminated[0]), bool(truncated[0])
        agents = self.agents
        if term or trunc:
            self.agents = []
        return (
            obs,
            {a: r for a in agents},
            {a: term for a in agents},
            {a: trunc for a in agents},
            infos,
        )

    def close(self) -> None:
        """Nothing to release: the worlds are arrays."""
        pass

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        batched = self.core.observe()
        return {agent: {k: v[0] for k, v in batched[agent].items()} for agent in self.possible_agents}

    def _check(self, agent: str, action: Any):
        raise NotImplementedError


class FusionAECEnv(parallel_to_aec_wrapper):
    """The AEC face: the Parallel env in turns (PettingZoo's ``parallel_to_aec``), in ``possible_agents`` order.
    An agent's action is held until the last agent of the cycle has acted; then the moves are applied together."""

    parallel_class: ClassVar[type[FusionParallelEnv]]

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        super().__init__(self.parallel_class(render_mode=render_mode, **kwargs))


__all__ = ["FusionAECEnv", "FusionParallelEnv"]
