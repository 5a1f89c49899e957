"""Registry-wide conformance: every registered id is tested the moment it is registered."""

from __future__ import annotations

import subprocess
import sys
from functools import partial

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import fusiongym
from fusiongym.envs import conformance, env_ids
from fusiongym.envs.core import InvalidActionError

ENV_IDS = env_ids()


def test_registry_lists_every_fusiongym_id() -> None:
    registered = sorted(i for i in gym.registry if i.startswith("fusiongym/"))
    assert registered == sorted(ENV_IDS)
    assert {"fusiongym/GoTo-v0", "fusiongym/Fetch-v0"} <= set(ENV_IDS)


def test_deprecated_ids_are_the_superseded_versions_and_say_so() -> None:
    from fusiongym.envs.registration import REGISTRATIONS, is_deprecated

    current = set(env_ids(include_deprecated=False))
    for reg in REGISTRATIONS:
        name, _, version = reg.id.rpartition("-v")
        newest = max(int(i.rpartition("-v")[2]) for i in ENV_IDS if i.rpartition("-v")[0] == name)
        assert is_deprecated(reg.id) == (int(version) < newest) == (reg.id not in current)
        assert reg.description.startswith("deprecated") == is_deprecated(reg.id), reg.id
    assert {"fusiongym/GoTo-v1", "fusiongym/Defeat-v1", "fusiongym/Fetch-v0"} <= current
    assert "fusiongym/Defeat-v0" not in current


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array")
    gym_check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id: str) -> None:
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_env_checker.check_env(gym.make(env_id).unwrapped, warn=False)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_trajectory(env_id: str) -> None:
    conformance.check_determinism(lambda: gym.make(env_id), steps=250)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_different_seeds_differ(env_id: str) -> None:
    a, _ = gym.make(env_id).reset(seed=1)
    b, _ = gym.make(env_id).reset(seed=2)
    assert not (np.array_equal(a["image"], b["image"]) and np.array_equal(a["mission"], b["mission"]))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_observations_inside_space(env_id: str) -> None:
    conformance.check_observations_in_space(lambda: gym.make(env_id), steps=250)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickle_round_trip(env_id: str) -> None:
    conformance.check_pickle(lambda: gym.make(env_id))


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_native_vector_env_equals_single_envs(env_id: str, mode: str) -> None:
    short = {"max_steps": 40}  # so that time limits, as well as successes and failures, cross autoresets
    ended = conformance.check_vector_matches_single(
        lambda n: gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", autoreset_mode=mode,
                               **short),
        lambda: gym.make(env_id, **short),
        num_envs=4,
        steps=150,
    )
    assert ended >= 2, "the check never crossed an autoreset; lengthen it"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_vec_returns_native_batch(env_id: str) -> None:
    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    assert type(vec).__name__.endswith("VectorEnv") and vec.num_envs == 3
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, info = vec.reset(seed=0)
    assert obs["image"].shape == (3, 56, 56, 3) and list(info["mission"]) == [e.mission for e in vec.unwrapped.episodes]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_oracle_succeeds(env_id: str) -> None:
    for split in ("train", "test"):
        rate = conformance.oracle_success_rate(partial(gym.make, env_id, split=split), episodes=100)
        assert rate >= 0.99, f"{env_id} {split}: oracle won {rate:.0%}"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_oracle_actions(env_id: str) -> None:
    vec = gym.make_vec(env_id, num_envs=8, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    wins = 0
    for _ in range(400):
        _, _, _, _, info = vec.step(vec.unwrapped.oracle_actions())
        wins += int(info["success"].sum())
    assert wins >= 8


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_needs_knowledge_flag(env_id: str) -> None:
    env = gym.make(env_id)
    assert isinstance(env.unwrapped.needs_knowledge, bool)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_invalid_action_says_what_is_allowed(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=0)
    for bad in (7, -1, 2.5, "forward"):
        with pytest.raises(InvalidActionError, match="0 left, 1 right, 2 forward"):
            env.unwrapped.step(bad)
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    with pytest.raises(InvalidActionError, match="actions are"):
        vec.step(np.array([0, 9]))
    with pytest.raises(InvalidActionError, match=r"shape \(2,\)"):
        vec.step(np.array([0]))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_unknown_kwarg_lists_allowed(env_id: str) -> None:
    with pytest.raises(TypeError, match=r"unknown kwargs \['room_sise'\]; allowed kwargs are: .*room_size"):
        gym.make(env_id, room_sise=9)
    with pytest.raises(TypeError, match="allowed kwargs"):
        gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", colour="red")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_bad_kwarg_values_name_the_fix(env_id: str) -> None:
    with pytest.raises(ValueError, match="split"):
        gym.make(env_id, split="validation")
    with pytest.raises(ValueError, match="room_size"):
        gym.make(env_id, room_size=2)
    with pytest.raises(ValueError, match="view_size"):
        gym.make(env_id, view_size=4)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_info_text_matches_ids(env_id: str) -> None:
    from fusiongym.envs.vocab import get_vocab

    vocab = get_vocab()
    env = gym.make(env_id, distractor_facts=3)
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        assert vocab.decode(obs["mission"]) == info["mission"] == env.unwrapped.mission
        shown = [" ".join(vocab.surface(int(i)) for i in row) for row in obs["facts"] if row.any()]
        assert shown == info["facts"]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_frame_has_map_and_text(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[1] > frame.shape[0] * 0.5  # the text panel sits beside the map


def test_import_does_not_import_torch() -> None:
    code = ("import sys, fusiongym, fusiongym.envs, gymnasium as gym; gym.make('fusiongym/Fetch-v0').reset(seed=0); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_fusiongym_registers() -> None:
    assert fusiongym.__version__
    assert "fusiongym/GoTo-v0" in gym.registry


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_symbolic_state_tracks_observation(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=0)
    first = env.unwrapped.symbolic_state()
    assert isinstance(first, bytes) and first == env.unwrapped.symbolic_state()
    env.step(0)  # turning left changes the view
    assert env.unwrapped.symbolic_state() != first
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    assert vec.unwrapped.symbolic_states()[0] == first


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_step_after_episode_end_says_call_reset(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=0)
    while True:  # terminated: the oracle wins
        _, _, terminated, truncated, _ = env.step(env.unwrapped.oracle_action())
        if terminated or truncated:
            break
    assert terminated
    for step in (env.step, env.unwrapped.step):
        with pytest.raises(gym.error.ResetNeeded, match=r"call reset\(\)"):
            step(0)
    env.reset(seed=1)  # a reset makes the env usable again
    env.step(0)
    short = gym.make(env_id, max_steps=3)
    short.reset(seed=0)
    ends = [short.step(0)[2:4] for _ in range(3)]
    assert ends[-1] == (False, True)  # truncated
    with pytest.raises(gym.error.ResetNeeded, match=r"call reset\(\)"):
        short.unwrapped.step(0)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_accessors_before_reset_say_call_reset(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    for name in ("oracle_action", "describe_view", "symbolic_state"):
        with pytest.raises(gym.error.ResetNeeded, match=r"call reset\(\) first"):
            getattr(env, name)()
    for name in ("mission", "facts", "knowledge", "true_knowledge", "episode"):
        with pytest.raises(gym.error.ResetNeeded, match=r"call reset\(\) first"):
            getattr(env, name)
    with pytest.raises(gym.error.ResetNeeded, match=r"call reset\(\)"):
        env.step(0)
    env.reset(seed=0)
    assert env.mission and isinstance(env.oracle_action(), int)
