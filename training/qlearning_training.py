"""A run of the tabular Q-learner (``--algo qlearning``): its table saved as ``.npz`` (no pickle), read back on
resume, checkpointed every ``checkpoint_every`` steps."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from fusiongym.training.config import ConfigError, RunConfig
from fusiongym.training.evaluation import atomic_write
from fusiongym.training.run_folder import QTABLE_CHECKPOINT, RunFolderError, sha256_of, write_state


def save_qtable(agent: Any, path: Path) -> None:
    """The Q-table as ``.npz`` (digest keys and value rows; no pickle), written atomically."""
    keys = list(agent.q)
    atomic_write(path, lambda handle: np.savez(
        handle, keys=np.array(keys, dtype="S16") if keys else np.zeros(0, dtype="S16"),
        values=np.stack([agent.q[k] for k in keys]) if keys else np.zeros((0, agent.n_actions))))


def load_qtable(agent: Any, path: Path) -> None:
    """Fill ``agent.q`` (and ``agent.n_actions``, the table's width) from :func:`save_qtable`'s file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            agent.q = {bytes(k): np.array(v) for k, v in zip(data["keys"], data["values"], strict=True)}
            agent.n_actions = int(data["values"].shape[1])
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise RunFolderError(f"{path} is corrupt ({err}); start a new run") from None


def build_qlearning(config: RunConfig, run_dir: Path, state: dict[str, Any]) -> tuple[Any, Any]:
    """The tabular agent (its table read back on resume) and the one training env."""
    import gymnasium as gym

    from fusiongym.agents.qlearning import QLearningAgent

    done = state["num_timesteps"]
    try:
        env = gym.make(config.env_id, split="train", **config.training_env_kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"env_kwargs / train_env_kwargs do not fit {config.env_id}: {err}") from None
    assert isinstance(env.action_space, gym.spaces.Discrete)
    agent = QLearningAgent(n_actions=int(env.action_space.n), seed=config.seed + done, **config.hyperparams)
    if done:
        table = run_dir / QTABLE_CHECKPOINT
        if not table.is_file():
            env.close()
            raise RunFolderError(f"{table} is missing: the run's checkpoint is gone; start a new run")
        load_qtable(agent, table)
    return agent, env


def learn_qlearning(learner: tuple[Any, Any], config: RunConfig, run_dir: Path, state: dict[str, Any], logger: Any,
                    segment_start: float, progress: bool) -> None:
    """Watkins' Q-learning on one env, checkpointing the table every ``checkpoint_every`` steps."""
    from tqdm import tqdm

    agent, env = learner
    done = state["num_timesteps"]
    table = run_dir / QTABLE_CHECKPOINT
    successes: list[bool] = []
    returns: list[float] = []
    bar = tqdm(total=config.total_timesteps, initial=done, unit="step", disable=not progress, mininterval=0.5,
               desc=f"training qlearning on {config.env_id}")
    last_saved, started = done, time.time()

    def on_step(step: int, ended: Any) -> None:  # the agent's loop steps; the run logs and checkpoints
        nonlocal last_saved
        if ended is not None:
            successes.append(ended.success)
            returns.append(ended.episode_return)
        if step % 1000 == 0 or step == config.total_timesteps:
            bar.update(step - bar.n)
            if successes:
                logger.record("rollout/success_rate", float(np.mean(successes[-100:])))
                logger.record("rollout/ep_rew_mean", float(np.mean(returns[-100:])))
            logger.record("time/fps", int((step - done) / max(time.time() - started, 1e-9)))
            logger.record("train/q_table_states", len(agent.q))
            logger.record("time/total_timesteps", step)
            logger.dump(step)
        if step - last_saved >= config.checkpoint_every or step == config.total_timesteps:
            save_qtable(agent, table)
            state["num_timesteps"] = step
            state["checkpoint"] = {"file": table.name, "num_timesteps": step, "sha256": sha256_of(table)}
            state["wall_time_s"] = state["wall_time_before_s"] + time.time() - segment_start
            write_state(run_dir, state)
            last_saved = step

    agent.learn(env, config.total_timesteps, seed=config.seed + done, start=done, on_step=on_step)
    bar.close()
    state["parameters"] = {"total": int(len(agent.q) * agent.n_actions), "trainable": int(len(agent.q) *
                                                                                          agent.n_actions)}
    env.close()
