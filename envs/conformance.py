"""Conformance checks for Gymnasium envs, shipped so that anyone's env can be held to the suite's standard.

Each check raises ``AssertionError`` with what differed. fusiongym's own tests run all of them on every
registered id; run them on yours with a callable that builds your env::

    from fusiongym.envs import conformance
    conformance.check_determinism(lambda: gym.make("MyEnv-v0"))
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np


def _num_actions(space: gym.Space) -> int:
    """The size of a ``Discrete`` action space: the checks step random actions of one."""
    assert isinstance(space, gym.spaces.Discrete), f"the checks need a Discrete action space, not {space}"
    return int(space.n)


def _assert_obs_equal(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: observation keys differ ({sorted(a)} vs {sorted(b)})"
        for key in a:
            _assert_obs_equal(a[key], b[key], f"{where}[{key!r}]")
    else:
        assert np.array_equal(a, b), f"{where}: observations differ"


def rollout(env: gym.Env, seed: int, steps: int, action_seed: int = 0) -> list[tuple]:
    """(obs, reward, terminated, truncated) for ``steps`` random actions, resetting (unseeded) after each end."""
    actions = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    trace: list[tuple[Any, SupportsFloat, bool, bool]] = [(obs, 0.0, False, False)]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(int(actions.integers(_num_actions(env.action_space))))
        trace.append((obs, reward, terminated, truncated))
        if terminated or truncated:
            obs, _ = env.reset()
            trace.append((obs, 0.0, False, False))
    return trace


def check_determinism(make_env: Callable[[], gym.Env], steps: int = 250, seed: int = 7) -> None:
    """The same seed gives identical observations, rewards and ends for ``steps`` steps, across resets."""
    first = rollout(make_env(), seed, steps)
    second = rollout(make_env(), seed, steps)
    assert len(first) == len(second), "the two runs ended episodes at different steps"
    for t, (a, b) in enumerate(zip(first, second, strict=True)):
        _assert_obs_equal(a[0], b[0], f"step {t}")
        assert a[1:] == b[1:], f"step {t}: (reward, terminated, truncated) {a[1:]} != {b[1:]}"


def check_observations_in_space(make_env: Callable[[], gym.Env], steps: int = 250, seed: int = 3) -> None:
    """Every observation lies inside the observation space, including those right after a reset."""
    env = make_env()
    for t, (obs, *_rest) in enumerate(rollout(env, seed, steps)):
        assert env.observation_space.contains(obs), f"step {t}: observation outside {env.observation_space}"


def check_pickle(make_env: Callable[[], gym.Env], steps: int = 60, seed: int = 5) -> None:
    """A pickled and a deep-copied env, made mid-episode, go on exactly like the original, across resets: a copy
    must simulate the world it is reset to, not a stale one (Gymnasium's own check crosses a reset too)."""
    env = make_env()
    env.reset(seed=seed)
    actions = np.random.default_rng(1)
    for _ in range(10):
        _, _, terminated, truncated, _ = env.step(int(actions.integers(_num_actions(env.action_space))))
        if terminated or truncated:
            env.reset()
    copiers = {"unpickled": lambda e: pickle.loads(pickle.dumps(e)), "deep-copied": copy.deepcopy}
    for name, copier in copiers.items():
        clone = copier(env)
        resets = 0
        for t in range(steps):
            a = int(actions.integers(_num_actions(env.action_space)))
            out_env, out_clone = env.step(a), clone.step(a)
            _assert_obs_equal(out_env[0], out_clone[0], f"{name}, step {t} (after {resets} resets)")
            assert out_env[1:4] == out_clone[1:4], f"{name}, step {t}: {out_env[1:4]} != {out_clone[1:4]}"
            if out_env[2] or out_env[3] or t == steps // 2:  # a reset mid-check, whether or not an episode ended
                _assert_obs_equal(env.reset(seed=seed + t)[0], clone.reset(seed=seed + t)[0],
                                  f"{name}, after reset(seed={seed + t})")
                resets += 1


def check_vector_matches_single(
    make_vector: Callable[[int], gym.vector.VectorEnv],
    make_env: Callable[[], gym.Env],
    num_envs: int = 4,
    steps: int = 150,
    seed: int = 11,
) -> int:
    """World ``i`` of the vector env equals a single env seeded ``seed + i``, step for step, across autoresets.

    Works for both autoreset modes the vector env declares in ``metadata["autoreset_mode"]``.
    Returns how many episodes ended (so a caller can require the check to have crossed autoresets).
    """
    vec = make_vector(num_envs)
    mode = vec.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    singles = [make_env() for _ in range(num_envs)]
    obs_v, _ = vec.reset(seed=seed)
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    ended = np.zeros(num_envs, bool)
    actions = np.random.default_rng(0)
    episodes_ended = 0
    for t in range(steps):
        for i in range(num_envs):
            _assert_obs_equal({k: v[i] for k, v in obs_v.items()}, obs_s[i], f"step {t}, env {i}")
        act = actions.integers(_num_actions(vec.single_action_space), size=num_envs)
        obs_v, rew_v, term_v, trunc_v, info_v = vec.step(act)
        for i, env in enumerate(singles):
            if mode == gym.vector.AutoresetMode.NEXT_STEP and ended[i]:
                obs_s[i], _ = env.reset()
                expected: tuple[SupportsFloat, bool, bool] = (0.0, False, False)
            else:
                obs_s[i], reward, terminated, truncated, _ = env.step(int(act[i]))
                expected = (reward, terminated, truncated)
                if mode == gym.vector.AutoresetMode.SAME_STEP and (terminated or truncated):
                    _assert_obs_equal(
                        info_v["final_obs"][i], obs_s[i], f"step {t}, env {i}: final observation"
                    )
                    obs_s[i], _ = env.reset()
            got = (float(rew_v[i]), bool(term_v[i]), bool(trunc_v[i]))
            assert np.isclose(got[0], float(expected[0])) and got[1:] == expected[1:], (
                f"step {t}, env {i}: {got} != {expected}")
        ended = term_v | trunc_v
        episodes_ended += int(ended.sum())
    return episodes_ended


def oracle_success_rate(
    make_env: Callable[[], gym.Env], episodes: int = 100, use_facts: bool = True, seed: int = 0, explore: bool = False
) -> float:
    """The fraction of ``episodes`` the env's oracle (``env.unwrapped.oracle_action``) wins (``explore``: the oracle
    that knows only what its agent has seen)."""
    env = make_env()
    assert hasattr(env.unwrapped, "oracle_action"), f"{type(env.unwrapped).__name__} has no oracle_action()"
    wins = 0
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        while True:
            action = env.unwrapped.oracle_action(use_facts=use_facts, explore=explore)
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                wins += bool(info.get("success", False))
                break
    return wins / episodes
