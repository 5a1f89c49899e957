"""RLlib compatibility: ``examples/rllib_ppo.py`` trains PPO on a fusiongym id, sampling in a remote env runner."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ray.rllib")
pytest.importorskip("torch")

import ray  # noqa: E402
import ray.cloudpickle  # noqa: E402

import fusiongym  # noqa: E402, F401  (the ids, for the env this test compares with)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import rllib_ppo  # noqa: E402

ENV_ID = "fusiongym/GoTo-v1"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local two-CPU Ray for this module's tests, shut down after them."""
    # examples/ is no package a Ray worker can import: ship the example's functions (the env creator) by value
    ray.cloudpickle.register_pickle_by_value(rllib_ppo)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(rllib_ppo)


def _weights(algo: Any) -> dict[str, np.ndarray]:
    """A copy of the learner's module weights."""
    module = algo.get_module()
    assert module is not None
    return {name: tensor.detach().cpu().numpy().copy() for name, tensor in module.state_dict().items()}


def test_rllib_ppo_trains_an_iteration_on_a_fusiongym_id_in_a_remote_worker(local_ray: None) -> None:
    algo = rllib_ppo.build_config(ENV_ID, num_env_runners=1, train_batch_size=256).build_algo()
    try:
        # the env lives in a remote worker process, which imported fusiongym (and registered the ids) itself
        def view(runner: Any) -> tuple[int, str, gym.Space, bool]:  # nested: Ray ships it by value
            env = runner.env.unwrapped.envs[0].unwrapped  # (RLlib re-registers the creator under an id of its own)
            kind = f"{type(env).__module__}.{type(env).__qualname__}"
            return os.getpid(), kind, runner.env.single_observation_space, "fusiongym" in sys.modules

        assert algo.env_runner_group is not None
        views = algo.env_runner_group.foreach_env_runner(view, local_env_runner=False)
        assert len(views) == 1
        pid, kind, observation_space, imported = views[0]
        reference = gym.make(ENV_ID).unwrapped
        assert pid != os.getpid() and imported
        assert kind == f"{type(reference).__module__}.{type(reference).__qualname__}"  # fusiongym.envs.suite.GoToEnv
        # the runner's env gives the env's Dict observations; the connector flattens them into the model's input vector
        assert isinstance(observation_space, gym.spaces.Dict) and observation_space == reference.observation_space
        module = algo.get_module()
        assert module is not None and module.observation_space is not None
        assert module.observation_space.shape == (gym.spaces.flatdim(observation_space),)  # 56·56·3 + 16 + 32·3

        before = _weights(algo)
        result = algo.train()
        after = _weights(algo)
    finally:
        algo.stop()

    assert result["env_runners"]["num_env_steps_sampled"] >= 256
    assert result["env_runners"]["num_episodes"] > 0
    learner = result["learners"]["default_policy"]
    assert learner["num_module_steps_trained"] > 0
    for loss in ("policy_loss", "vf_loss", "total_loss"):
        assert math.isfinite(float(learner[loss])), f"{loss} = {learner[loss]}"
    changed = [name for name in before if not np.array_equal(before[name], after[name])]
    assert any(name.startswith("pi.") for name in changed) and any(name.startswith("encoder.") for name in changed)
