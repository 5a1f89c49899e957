"""Reference agents with SB3's ``predict`` interface: :class:`RandomAgent` and :class:`OracleAgent`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def _batch_size(observation: Any) -> int | None:
    """Leading batch size of a (vectorised) Dict observation, or ``None`` for a single one."""
    if isinstance(observation, dict) and "mission" in observation:
        mission = np.asarray(observation["mission"])
        return mission.shape[0] if mission.ndim == 2 else None
    return None


class RandomAgent:
    """Uniformly random actions (the chance baseline)."""

    def __init__(self, action_space: gym.spaces.Space, seed: int | None = None) -> None:
        self.action_space = action_space
        self.rng = np.random.default_rng(seed)

    def predict(self, observation: Any = None, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise TypeError(f"RandomAgent supports Discrete action spaces, got {self.action_space}")
        n = _batch_size(observation)
        low, size = int(self.action_space.start), int(self.action_space.n)
        actions = self.rng.integers(low, low + size, size=n if n is not None else ())
        return np.asarray(actions), None


class OracleAgent:
    """The env's oracle bot (the upper bound): ``env.unwrapped.oracle_action(use_facts=...)``.

    ``use_facts=False`` gives the fact-blind oracle, which must fail on levels that need knowledge.
    """

    def __init__(self, env: gym.Env, use_facts: bool = True) -> None:
        if not hasattr(env.unwrapped, "oracle_action"):
            raise TypeError(f"{type(env.unwrapped).__name__} has no oracle_action(); OracleAgent needs a fusiongym "
                            "env (fusiongym.envs.FusionEnv)")
        self.env = env
        self.use_facts = use_facts

    def predict(self, observation: Any = None, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """The oracle's action for the env's current state (``observation`` is not needed)."""
        unwrapped = self.env.unwrapped
        assert hasattr(unwrapped, "oracle_action")  # as __init__ checked
        return np.asarray(int(unwrapped.oracle_action(use_facts=self.use_facts))), None
