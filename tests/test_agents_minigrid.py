"""MiniGrid / BabyAI ids seen as fusiongym envs: the wrapper's infos, and the wrapped ids that fusiongym's evaluation
and recording (native vector envs, ``info["mission"]`` / ``info["success"]``) run on."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import fusiongym  # noqa: F401
from fusiongym.agents.minigrid import MiniGridFusionWrapper, lost_words, wrapped_env_id


def test_the_wrapper_reports_the_mission_text_and_success() -> None:
    from minigrid.wrappers import RGBImgPartialObsWrapper

    env = MiniGridFusionWrapper(RGBImgPartialObsWrapper(gym.make("BabyAI-GoToLocal-v0")))
    obs, info = env.reset(seed=0)
    assert info["mission"] == env.unwrapped.mission and info["success"] is False
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        done = terminated or truncated
        assert info["success"] == (terminated and reward > 0)


def test_a_wrapped_id_is_a_vector_env_of_fusiongym_observations() -> None:
    env_id = wrapped_env_id("BabyAI-GoToLocal-v0")
    assert env_id == "fusiongym-wrapped/BabyAI-GoToLocal-v0" and wrapped_env_id("BabyAI-GoToLocal-v0") == env_id
    vector = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", split="test")
    obs, infos = vector.reset(seed=[5, 6, 7])
    assert obs["image"].shape == (3, 56, 56, 3) and obs["mission"].shape == (3, 16) and not obs["facts"].any()
    assert len(infos["mission"]) == 3 and all(m.startswith("go to") for m in infos["mission"])
    single = MiniGridFusionWrapper(__import__("minigrid.wrappers").wrappers.RGBImgPartialObsWrapper(
        gym.make("BabyAI-GoToLocal-v0")))
    first, _ = single.reset(seed=6)
    assert np.array_equal(first["image"], obs["image"][1])  # world i is reset with its own seed
    vector.close()


def test_ids_the_wrapper_cannot_read_are_refused_naming_what_it_needs() -> None:
    with pytest.raises(ValueError, match="MiniGrid"):
        wrapped_env_id("CartPole-v1")
    with pytest.raises(ValueError, match="not a registered"):
        wrapped_env_id("BabyAI-NoSuchLevel-v9")


def test_lost_words_names_the_mission_words_the_suite_vocabulary_lacks() -> None:
    assert lost_words(["go to the red ball", "pick up the key in front of you"]) == ["front", "you"]
