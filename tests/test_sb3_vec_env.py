"""The SB3 VecEnv adapter over the native batch."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

import gymnasium as gym
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor

import fusiongym  # noqa: F401
from fusiongym.agents.sb3_vec_env import FusionSB3VecEnv


def test_adapter_matches_native_vector_env_and_autoresets() -> None:
    venv = FusionSB3VecEnv("fusiongym/GoTo-v0", num_envs=4, seed=3, max_steps=20)
    obs = venv.reset()
    native = gym.make_vec("fusiongym/GoTo-v0", num_envs=4, vectorization_mode="vector_entry_point",
                          autoreset_mode="same_step", max_steps=20)
    ref, _ = native.reset(seed=3)
    assert all(np.array_equal(obs[k], ref[k]) for k in ref)
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(60):
        actions = rng.integers(0, 7, 4)
        obs, rewards, dones, infos = venv.step(actions)
        ref, ref_rewards, term, trunc, ref_info = native.step(actions)
        assert all(np.array_equal(obs[k], ref[k]) for k in ref)
        assert np.allclose(rewards, ref_rewards) and np.array_equal(dones, term | trunc)
        for i in np.flatnonzero(dones):
            ended += 1
            assert set(infos[i]["terminal_observation"]) == {"image", "mission", "facts"}
            assert infos[i]["TimeLimit.truncated"] == bool(trunc[i] and not term[i])
            assert "is_success" in infos[i]
    assert ended >= 4


def test_ppo_learns_on_the_adapter_without_errors() -> None:
    venv = VecMonitor(FusionSB3VecEnv("fusiongym/GoTo-v0", num_envs=4, seed=0, max_steps=30))
    model = PPO("MultiInputPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    actions, _ = model.predict(venv.reset(), deterministic=True)
    assert actions.shape == (4,)


def test_get_attr_reaches_native_batch() -> None:
    venv = FusionSB3VecEnv("fusiongym/Fetch-v0", num_envs=2, seed=0)
    venv.reset()
    assert venv.get_attr("needs_knowledge") == [True, True]
    assert venv.env_method("oracle_actions")[0].shape == (2,)
