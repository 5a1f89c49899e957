"""Pickled and deep-copied envs simulate the world they are reset to (issue: a copy's flat views of the grids
became arrays of their own, so after ``reset`` it stepped a stale world and the oracle lost every episode)."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest

import fusiongym  # noqa: F401  (registers the ids)

COPIERS = {"pickle": lambda env: pickle.loads(pickle.dumps(env)), "deepcopy": copy.deepcopy}


def _oracle_wins(env: gym.Env, seeds: range) -> int:
    wins = 0
    for seed in seeds:
        env.reset(seed=seed)
        for _ in range(200):
            _, _, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
            if terminated or truncated:
                wins += bool(info["success"])
                break
    return wins


@pytest.mark.parametrize("how", COPIERS)
def test_the_oracle_wins_in_a_copy_as_in_the_original(how: str) -> None:
    env = gym.make("fusiongym/GoTo-v0")
    env.reset(seed=0)
    clone = COPIERS[how](env)
    assert _oracle_wins(env, range(20)) == 20
    assert _oracle_wins(clone, range(20)) == 20


@pytest.mark.parametrize("how", COPIERS)
def test_a_copied_vector_env_steps_the_worlds_it_resets_to(how: str) -> None:
    vec = gym.make_vec("fusiongym/Fetch-v0", num_envs=4, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    clone = COPIERS[how](vec)
    first, second = vec.reset(seed=10)[0], clone.reset(seed=10)[0]
    for t in range(40):
        for key in first:
            assert np.array_equal(first[key], second[key]), f"step {t}: {key} differs"
        actions = vec.unwrapped.oracle_actions()
        assert np.array_equal(actions, clone.unwrapped.oracle_actions())
        first, r1, te1, tr1, _ = vec.step(actions)
        second, r2, te2, tr2, _ = clone.step(actions)
        assert np.array_equal(r1, r2) and np.array_equal(te1, te2) and np.array_equal(tr1, tr2)


@pytest.mark.parametrize("env_id", ["fusiongym/GuideFollower-v0", "fusiongym/KnowledgeSplit-v0"])
@pytest.mark.parametrize("how", COPIERS)
def test_a_copied_pettingzoo_env_steps_the_world_it_resets_to(env_id: str, how: str) -> None:
    pettingzoo = pytest.importorskip("pettingzoo")
    env = pettingzoo.make("parallel", env_id)
    env.reset(seed=0)
    clone = COPIERS[how](env)
    first, _ = env.reset(seed=3)
    second, _ = clone.reset(seed=3)
    rng = np.random.default_rng(0)
    for t in range(30):
        for agent in first:
            for key in first[agent]:
                assert np.array_equal(first[agent][key], second[agent][key]), f"step {t}: {agent} {key} differs"
        if not env.agents:
            break
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        rng.random()
        first, r1, te1, tr1, _ = env.step(actions)
        second, r2, te2, tr2, _ = clone.step(actions)
        assert r1 == r2 and te1 == te2 and tr1 == tr2
