"""The policies evaluation, recording and the leaderboard drive, one family: random, oracle, a trained SB3 model,
a tabular Q-learner.

Each is a :class:`BatchPolicy`: ``act`` gives one action per world of a native vector env, the evaluation
protocol's way (:func:`fusiongym.training.evaluation.evaluate`). :class:`RandomPolicy` and :class:`OraclePolicy` also
answer SB3's ``predict(observation)``, so a script steps them on a single env as it steps a trained model.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from fusiongym.envs.core import NUM_ACTIONS


class BatchPolicy(Protocol):
    """What evaluation and recording drive: actions for a batch of observations of a native vector env."""

    def reset(self, num_envs: int) -> None: ...

    def act(self, observations: dict[str, np.ndarray], vector_env: Any, episode_start: np.ndarray) -> np.ndarray: ...


def _batch_size(observation: Any) -> int | None:
    """Leading batch size of a (vectorised) Dict observation, or ``None`` for a single one."""
    if isinstance(observation, dict) and "mission" in observation:
        mission = np.asarray(observation["mission"])
        return mission.shape[0] if mission.ndim == 2 else None
    return None


class RandomPolicy:
    """Uniformly random actions (the chance baseline), from a generator seeded with ``seed``."""

    def __init__(self, seed: int = 0, n_actions: int = NUM_ACTIONS) -> None:
        self.seed, self.n_actions = seed, n_actions
        self.rng = np.random.default_rng(seed)

    def reset(self, num_envs: int) -> None:
        pass

    def act(self, observations: dict[str, np.ndarray], vector_env: Any, episode_start: np.ndarray) -> np.ndarray:
        return self.rng.integers(self.n_actions, size=len(episode_start))

    def predict(self, observation: Any = None, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """SB3's interface: one action, or one per row of a batched observation."""
        n = _batch_size(observation)
        return np.asarray(self.rng.integers(self.n_actions, size=n if n is not None else ())), None


class OraclePolicy:
    """The level's oracle bot (the upper bound). ``use_facts=False``: the fact-blind oracle, which must fail on
    levels that need knowledge; ``explore=True``: the oracle that knows only what its agent has seen.

    ``env`` (a fusiongym env or native vector env) is what ``predict`` asks; ``act`` asks the vector env it is given.
    """

    def __init__(self, use_facts: bool = True, explore: bool = False, env: gym.Env | gym.vector.VectorEnv | None = None
                 ) -> None:
        self.use_facts, self.explore = use_facts, explore
        self.env = env
        if env is not None:
            self._native(env)

    @staticmethod
    def _native(env: Any) -> Any:
        native = env.unwrapped
        if not (hasattr(native, "oracle_action") or hasattr(native, "oracle_actions")):
            raise TypeError(f"{type(native).__name__} has no oracle_action(): OraclePolicy plays a fusiongym env "
                            "(gym.make('fusiongym/...'))")
        return native

    def reset(self, num_envs: int) -> None:
        pass

    def act(self, observations: dict[str, np.ndarray], vector_env: Any, episode_start: np.ndarray) -> np.ndarray:
        native = self._native(vector_env)
        return np.asarray(native.oracle_actions(use_facts=self.use_facts, explore=self.explore))

    def predict(self, observation: Any = None, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """SB3's interface: the oracle's action for ``env``'s current state (one per world of a vector env); the
        observation is not needed."""
        if self.env is None:
            raise ValueError("OraclePolicy.predict asks the env for the oracle's action: pass env= when you make it")
        native = self._native(self.env)
        if hasattr(native, "oracle_actions"):
            return np.asarray(native.oracle_actions(use_facts=self.use_facts, explore=self.explore)), None
        return np.asarray(int(native.oracle_action(use_facts=self.use_facts, explore=self.explore))), None


class SB3Policy:
    """A trained SB3 model; keeps RecurrentPPO's LSTM state.

    By default actions are sampled from the policy (``deterministic=False``; torch is seeded with ``seed`` at each
    batch, so an evaluation is reproducible), as RL Zoo does for grid worlds: a greedy policy that has not fully
    converged loops forever in front of a wall. ``deterministic=True`` takes the most likely action.
    """

    def __init__(self, model: Any, deterministic: bool = False, seed: int = 0) -> None:
        self.model = model
        self.deterministic = deterministic
        self.seed = seed
        self.state: Any = None

    def reset(self, num_envs: int) -> None:
        import torch

        self.state = None
        torch.manual_seed(self.seed)

    def act(self, observations: dict[str, np.ndarray], vector_env: Any, episode_start: np.ndarray) -> np.ndarray:
        actions, self.state = self.model.predict(observations, state=self.state, episode_start=episode_start,
                                                 deterministic=self.deterministic)
        return np.asarray(actions).reshape(len(episode_start))


class QTablePolicy:
    """A tabular Q-learning agent acting greedily on each world's observation."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def reset(self, num_envs: int) -> None:
        pass

    def act(self, observations: dict[str, np.ndarray], vector_env: Any, episode_start: np.ndarray) -> np.ndarray:
        rows = [{k: v[i] for k, v in observations.items()} for i in range(len(episode_start))]
        return np.asarray([self.agent.act(row, explore=False) for row in rows])
