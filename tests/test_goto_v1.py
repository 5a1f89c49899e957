"""GoTo-v1 tests language: facing or toggling a wrong object, or ``done``, fails the episode (under v0 an agent
with its instruction zeroed won 0.85 of test episodes by visiting every object)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import fusiongym  # noqa: F401  (registers the ids)
from fusiongym.agents.policies import OraclePolicy
from fusiongym.envs.world import DIR_YX, DONE, FORWARD, LEFT, RIGHT, TOGGLE
from fusiongym.training.evaluation import evaluate


def _facing(env: gym.Env) -> int:
    """The object slot the agent faces (-1: none)."""
    batch = env.unwrapped._sim.batch
    y, x, d = int(batch.agent_y[0]), int(batch.agent_x[0]), int(batch.agent_dir[0])
    return int(batch.obj_at[0, y + DIR_YX[d][0], x + DIR_YX[d][1]])


def _target_slots(env: gym.Env) -> set[int]:
    episode = env.unwrapped._sim.episodes[0]
    return {i for i, o in enumerate(episode.layout.objects) if episode.instruction.target.matches(o)}


@pytest.mark.parametrize("env_id", ["fusiongym/GoTo-v1", "fusiongym/GoTo-Large-v1"])
def test_no_world_starts_facing_an_object(env_id: str) -> None:
    env = gym.make(env_id)
    for seed in range(40):
        env.reset(seed=seed)
        assert _facing(env) == -1


def test_done_fails() -> None:
    env = gym.make("fusiongym/GoTo-v1")
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(DONE)
    assert terminated and reward == 0 and not info["success"]
    v0 = gym.make("fusiongym/GoTo-v0")
    v0.reset(seed=0)
    assert not v0.step(DONE)[2]  # v0: done ends nothing


def test_facing_a_wrong_object_fails_and_the_oracle_never_does() -> None:
    """Walk at random until some object is faced: a wrong one fails, the target wins; the oracle always wins."""
    env = gym.make("fusiongym/GoTo-v1")
    rng = np.random.default_rng(0)
    outcomes = {"wrong": 0, "target": 0}
    for seed in range(60):
        env.reset(seed=seed)
        targets = _target_slots(env)
        for _ in range(200):
            _, reward, terminated, truncated, info = env.step(int(rng.choice([LEFT, RIGHT, FORWARD, FORWARD])))
            faced = _facing(env)
            if faced >= 0:
                assert terminated
                kind = "target" if faced in targets else "wrong"
                assert info["success"] == (kind == "target") and (reward > 0) == (kind == "target")
                outcomes[kind] += 1
                break
            assert not terminated
            if truncated:
                break
    assert outcomes["wrong"] > 10 and outcomes["target"] > 0, outcomes
    for split in ("train", "test"):
        assert evaluate(OraclePolicy(), "fusiongym/GoTo-v1", split=split, episodes=100,
                        progress=False).success_rate.value == 1.0


def test_toggling_a_wrong_object_fails() -> None:
    from fusiongym.envs.language import GoToInstr, ObjectDescription
    from fusiongym.envs.world import FAILURE, SUCCESS, OutcomeTables, WorldObject

    objects = [WorldObject("ball", "red"), WorldObject("key", "blue")]
    tables = OutcomeTables(2)
    GoToInstr(ObjectDescription(colour="red", shape="ball"), strict=True).compile(objects, None, tables)
    assert tables.face.tolist() == [SUCCESS, FAILURE] and (tables.use[:, 1] == FAILURE).all()
    assert tables.done == FAILURE and TOGGLE == 5


def test_a_policy_blind_to_the_instruction_is_near_chance() -> None:
    """The oracle aimed at a random object (what an agent that cannot read does at best) wins about 1 in 4."""

    class GuessingOracle(OraclePolicy):
        def act(self, observations, vector_env, episode_start):  # type: ignore[no-untyped-def]
            sim = vector_env.unwrapped._sim
            for b in np.flatnonzero(episode_start):
                episode = sim.episodes[b]
                guess = np.random.default_rng(int(b) + 17 * int(episode.guess_seed)).integers(
                    len(episode.layout.objects))
                obj = episode.layout.objects[guess]
                target = episode.instruction.target
                episode.instruction.__dict__["target"] = type(target)(colour=obj.colour, shape=obj.shape)
            return super().act(observations, vector_env, episode_start)

    result = evaluate(GuessingOracle(), "fusiongym/GoTo-v1", split="test", episodes=200, progress=False)
    assert 0.1 < result.success_rate.value < 0.4


@pytest.mark.parametrize("env_id", ["fusiongym/GoTo-v1", "fusiongym/Fetch-Large-v0"])
def test_facing_object_is_the_object_in_the_cell_ahead(env_id: str) -> None:
    env = gym.make(env_id)
    rng = np.random.default_rng(0)
    met = 0
    for seed in range(5):
        env.reset(seed=seed)
        for _ in range(60):
            _, _, terminated, truncated, _ = env.step(int(rng.choice([LEFT, RIGHT, FORWARD, FORWARD])))
            slot = _facing(env)  # checked after the step, the episode's last one included
            faced = env.unwrapped.facing_object()
            assert (faced is None) == (slot < 0)
            if slot >= 0:
                met += 1
                assert faced is env.unwrapped.episode.layout.objects[slot]
            if terminated or truncated:
                break
    assert met > 0  # the walk did meet objects
