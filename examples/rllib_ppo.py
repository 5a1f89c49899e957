"""Train RLlib's PPO (new API stack) on a fusiongym id.

The env reaches RLlib through a creator registered with ``ray.tune.registry.register_env``; the creator imports
``fusiongym`` itself, so every remote env runner registers the ids in its own process. RLlib's default model
takes flat vectors, so the ``FlattenObservations`` env-to-module connector turns each ``Dict`` observation
(``image``, ``mission``, ``facts``) into one float vector before it reaches the model.

    pip install "ray[rllib]"   # pins gymnasium==1.2.2
    python examples/rllib_ppo.py --iterations 2 --num-env-runners 1
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import gymnasium as gym
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.connectors.env_to_module import FlattenObservations
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.tune.registry import register_env


def make_env(env_config: dict[str, Any]) -> gym.Env:
    """A fusiongym env, made in whichever process calls this (``env_config["env_id"]`` names it; the rest are
    ``gym.make`` kwargs)."""
    import fusiongym  # noqa: F401  (registers the ids in this process: a remote env runner has not imported it)

    kwargs = dict(env_config)
    return gym.make(kwargs.pop("env_id"), **kwargs)


def flatten_observations(env: Any = None, spaces: Any = None, device: Any = None) -> FlattenObservations:
    """The env-to-module connector: each Dict observation, flattened into one float vector."""
    return FlattenObservations()


def build_config(env_id: str = "fusiongym/GoTo-v1", num_env_runners: int = 0, train_batch_size: int = 256,
                 seed: int = 0, **env_kwargs: Any) -> PPOConfig:
    """A small PPO config (one hidden layer of 64 units, ``train_batch_size`` steps an iteration) on ``env_id``;
    ``env_kwargs`` go to ``gym.make``."""
    register_env("fusiongym", make_env)
    return (
        PPOConfig()
        .environment("fusiongym", env_config={"env_id": env_id, **env_kwargs})
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=1,
                     rollout_fragment_length="auto", env_to_module_connector=flatten_observations)
        .training(train_batch_size_per_learner=train_batch_size, minibatch_size=64, num_epochs=2, lr=3e-4)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64], vf_share_layers=True))
        .debugging(seed=seed)
    )


def train(env_id: str = "fusiongym/GoTo-v1", iterations: int = 1, num_env_runners: int = 0,
          **config_kwargs: Any) -> list[dict[str, Any]]:
    """Train ``iterations`` PPO iterations on ``env_id``; return each iteration's result dict (Ray must be
    running, or is started with its defaults)."""
    algo = build_config(env_id, num_env_runners, **config_kwargs).build_algo()
    try:
        return [algo.train() for _ in range(iterations)]
    finally:
        algo.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, start a local Ray, train and print each iteration's return and step count."""
    import ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="fusiongym/GoTo-v1", help="a fusiongym id")
    parser.add_argument("--iterations", type=int, default=3, help="PPO iterations to train")
    parser.add_argument("--num-env-runners", type=int, default=1, help="remote env runners (0: sample in-process)")
    args = parser.parse_args(argv)

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network: no usage statistics unless asked for
    ray.init(address="local", num_cpus=max(2, args.num_env_runners + 1), include_dashboard=False, log_to_driver=False)
    try:
        for i, result in enumerate(train(args.env, args.iterations, args.num_env_runners), start=1):
            runners = result["env_runners"]
            print(f"iteration {i}: episode_return_mean={runners.get('episode_return_mean', float('nan')):.3f} "
                  f"env_steps={int(runners['num_env_steps_sampled_lifetime'])}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
