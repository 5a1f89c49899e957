"""The exploring oracle (``explore=True``): BabyAI's bot, which knows only what its agent has seen."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import fusiongym  # noqa: F401
from fusiongym.agents.imitation import check_imitation_kwargs
from fusiongym.envs.conformance import oracle_success_rate
from fusiongym.envs.oracle import EXPLORE
from fusiongym.envs.registration import env_ids
from fusiongym.training.evaluation import evaluate
from fusiongym.training.runs import builtin_policy


@pytest.mark.parametrize("env_id", env_ids(include_deprecated=False))
def test_the_exploring_oracle_wins_every_level(env_id: str) -> None:
    """It explores until it has seen what it is after, so it must never walk into a room it cannot leave (on
    GoTo-Large-v1 a door with an object just beyond it can be passed only one way: 6 of these 100 episodes were
    lost so before the search kept to states from which the level can still be won)."""
    episodes = 100 if env_id == "fusiongym/GoTo-Large-v1" else 20
    make = lambda: gym.make(env_id, split="test")  # noqa: E731
    assert oracle_success_rate(make, episodes=episodes, explore=True) == 1.0


def test_the_exploring_oracle_is_after_only_what_its_agent_has_seen() -> None:
    """Every target of a subgoal that is not "explore" has been in the agent's view this episode; and on a level of
    nine rooms it does explore (the privileged oracle walks straight to targets it has never seen)."""
    env = gym.make("fusiongym/GoTo-Large-v1", split="test").unwrapped
    explored = 0
    for seed in range(10):
        env.reset(seed=seed)
        seen: set[int] = set()
        first = env.oracle_subgoal(explore=True)
        explored += first.action == EXPLORE
        while True:
            batch = env._sim.batch
            seen |= {int(c) for c in batch.ego_cells().reshape(-1) if c >= 0}
            subgoal = env.oracle_subgoal(explore=True)
            if subgoal.action != EXPLORE:
                width = batch.cell.shape[2]
                for slot in subgoal.targets:
                    y, x = np.argwhere(batch.obj_at[0] == slot)[0]
                    assert int(y) * width + int(x) in seen, f"seed {seed}: the oracle is after an object never seen"
            assert np.array_equal(np.flatnonzero(env._sim.seen[0]), sorted(seen))
            _, _, terminated, truncated, _ = env.step(env.oracle_action(explore=True))
            if terminated or truncated:
                break
    assert explored >= 5, f"the target was in the first view of {10 - explored} of 10 episodes of nine rooms"
    assert env.oracle_subgoal().action != EXPLORE  # the privileged oracle never explores


def test_a_world_that_restarts_forgets_what_it_saw() -> None:
    venv = gym.make_vec("fusiongym/GoTo-Large-v1", num_envs=2, vectorization_mode="vector_entry_point")
    venv.reset(seed=3)
    venv.unwrapped.oracle_actions(explore=True)
    sim = venv.unwrapped._sim
    for _ in range(5):
        venv.step(venv.unwrapped.oracle_actions(explore=True))
    before = sim.seen[1].copy()
    venv.reset(options={"reset_mask": np.array([True, False])})
    in_view = np.zeros_like(sim.seen[0])
    cells = sim.batch.ego_cells()[0].reshape(-1)
    in_view[cells[cells >= 0]] = True
    assert np.array_equal(sim.seen[0], in_view)  # world 0 sees only its first view again
    assert np.array_equal(sim.seen[1], before)  # world 1 remembers


def test_explore_must_be_a_boolean() -> None:
    with pytest.raises(ValueError, match="explore must be true"):
        check_imitation_kwargs(explore="yes")


def test_the_explorer_is_a_built_in_agent_of_eval(tmp_path) -> None:
    """``fusiongym eval --agent explorer``: the reading bot that knows only what its agent sees wins a level of
    nine rooms, and walks further than the privileged oracle to do it."""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "fusiongym.training.cli", "eval", "--agent", "explorer", "--env",
                          "fusiongym/Fetch-Large-v0", "--episodes", "20", "--no-progress"], capture_output=True,
                         text=True, timeout=600, cwd=tmp_path, env={**os.environ, "FUSIONGYM_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "success rate  1.000" in out.stdout, out.stdout
    explorer = evaluate(builtin_policy("explorer"), "fusiongym/Fetch-Large-v0", episodes=20, progress=False)
    oracle = evaluate(builtin_policy("oracle"), "fusiongym/Fetch-Large-v0", episodes=20, progress=False)
    assert explorer.success_rate.value == oracle.success_rate.value == 1.0
    assert explorer.mean_length.value > oracle.mean_length.value


def test_explore_true_makes_imitation_label_with_the_exploring_oracle(tmp_path) -> None:
    """``explore: true`` in a DAgger run config reaches the expert: after one update the training env keeps its
    agents' sight (only an exploring query starts that), and the labels are the explorer's."""
    from fusiongym.training.config import build_run_config
    from fusiongym.training.imitation_training import build_imitation

    config = build_run_config("fusiongym/GoTo-Large-v1", "dagger", "fusion", seed=0,
                              overrides=["explore=true", "recurrent=false", "n_envs=4", "rollout=2", "n_timesteps=16"])
    learner = build_imitation(config, tmp_path, {"num_timesteps": 0})
    learner.update(0.5)
    native = learner.env.native
    assert native._sim.seen is not None
    assert np.array_equal(learner.expert(), native.oracle_actions(True, explore=True))
