"""Tabular Q-learning on a hashable state key (Watkins' update).

``Q(s, a) += α (r + γ max_a' Q(s', a') − Q(s, a))`` (no bootstrap on termination; truncation bootstraps).
The default key is a stable hash of the observation's mission, facts and image bytes; pass ``state_key`` to use
a symbolic state instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from fusiongym.envs.core import NUM_ACTIONS


class EpisodeEnd(NamedTuple):
    """An episode that ended during :meth:`QLearningAgent.learn`: its return and whether it succeeded."""

    episode_return: float
    success: bool


def observation_key(observation: dict[str, Any]) -> bytes:
    """A stable (process-independent) digest of ``mission``, ``facts`` and ``image``."""
    digest = hashlib.blake2b(digest_size=16)
    for name in ("mission", "facts", "image"):
        if name in observation:
            value = np.ascontiguousarray(observation[name])
            digest.update(name.encode())
            digest.update(str(value.shape).encode())
            digest.update(value.tobytes())
    return digest.digest()


class QLearningAgent:
    """Epsilon-greedy tabular Q-learning.

    Args:
        n_actions: size of the Discrete action space.
        alpha: learning rate α.
        gamma: discount γ.
        epsilon: exploration rate while learning.
        state_key: observation → hashable state (default :func:`observation_key`).
        seed: seed of the exploration / tie-breaking generator.
    """

    def __init__(self, n_actions: int = NUM_ACTIONS, alpha: float = 0.1, gamma: float = 0.99, epsilon: float = 0.1,
                 state_key: Callable[[Any], Hashable] = observation_key, seed: int | None = None) -> None:
        if not 0 < alpha <= 1 or not 0 <= gamma <= 1 or not 0 <= epsilon <= 1:
            raise ValueError(f"need 0 < alpha <= 1, 0 <= gamma <= 1, 0 <= epsilon <= 1; got {alpha}, {gamma}, "
                             f"{epsilon}")
        self.n_actions = n_actions
        self.alpha = alpha
        self.gamma = gamma
        self.epsilon = epsilon
        self.state_key = state_key
        self.rng = np.random.default_rng(seed)
        self.q: dict[Hashable, np.ndarray] = {}

    def values(self, key: Hashable) -> np.ndarray:
        """Q-values of a state key (zeros for an unseen state)."""
        if key not in self.q:
            self.q[key] = np.zeros(self.n_actions, dtype=np.float64)
        return self.q[key]

    def _greedy(self, values: np.ndarray) -> int:
        best = np.flatnonzero(values == values.max())
        return int(self.rng.choice(best))

    def act(self, observation: Any, explore: bool = True) -> int:
        """Epsilon-greedy action (greedy when ``explore=False``; ties broken at random)."""
        if explore and self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.n_actions))
        return self._greedy(self.values(self.state_key(observation)))

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """SB3-style ``predict`` (greedy unless ``deterministic=False``)."""
        return np.asarray(self.act(observation, explore=not deterministic)), None

    def update(self, key: Hashable, action: int, reward: float, next_key: Hashable, terminated: bool) -> float:
        """One Q-learning update; returns the TD error."""
        target = reward if terminated else reward + self.gamma * float(self.values(next_key).max())
        values = self.values(key)
        td_error = target - values[action]
        values[action] += self.alpha * td_error
        return float(td_error)

    def learn(self, env: gym.Env, total_timesteps: int, seed: int | None = None, start: int = 0,
              on_step: Callable[[int, EpisodeEnd | None], None] | None = None) -> list[float]:
        """Q-learning on ``env`` from step ``start`` to ``total_timesteps``; returns the finished episodes' returns.

        ``on_step(step, ended)`` runs after every step (numbered ``start + 1`` on), ``ended`` the episode that
        ended there (its return and ``info["success"]``) or ``None``: where a run logs and checkpoints.
        """
        returns: list[float] = []
        observation, _ = env.reset(seed=seed)
        key = self.state_key(observation)
        episode_return = 0.0
        for step in range(start + 1, total_timesteps + 1):
            action = self.act(observation)
            observation, reward, terminated, truncated, info = env.step(action)
            next_key = self.state_key(observation)
            self.update(key, action, float(reward), next_key, bool(terminated))
            episode_return += float(reward)
            key = next_key
            ended = None
            if terminated or truncated:
                returns.append(episode_return)
                ended = EpisodeEnd(episode_return, bool(info.get("success", False)))
                episode_return = 0.0
                observation, _ = env.reset()
                key = self.state_key(observation)
            if on_step is not None:
                on_step(step, ended)
        return returns
