"""Train an agent into a run folder, with periodic atomic checkpoints that resume to the same total budget.

A run folder holds::

    config.yaml        the fully resolved RunConfig (hyperparameters after YAML defaults and --hp overrides)
    state.json         progress: steps done, wall time, the checkpoint's file name, step count and sha256
    checkpoint.zip     SB3's own save of the model and optimiser (for resuming; opened only when its sha256 is
                       the one this run recorded in state.json)  — Q-learning: qtable.npz
    agent/             the trained policy as policy.safetensors + config.json (fusiongym.agents.save_agent)
    logs/segment-K/    SB3 logger output of the K-th (re)start: progress.csv and TensorBoard events
    learning_curve.png success rate and return against steps, from the CSVs

:func:`train` reads top to bottom: resolve the folder, build the env, build (or load) the model, attach the
logger and callbacks, learn, save.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from fusiongym.training.config import ConfigError, RunConfig
from fusiongym.training.evaluation import atomic_write, atomic_write_text

CONFIG_FILE = "config.yaml"
STATE_FILE = "state.json"
SB3_CHECKPOINT = "checkpoint.zip"
REPLAY_BUFFER = "replay_buffer.pkl"  # off-policy algorithms (DQN): what a resumed run goes on learning from
QTABLE_CHECKPOINT = "qtable.npz"
AGENT_FOLDER = "agent"


class RunFolderError(ValueError):
    """A run folder that is missing, incomplete or was changed by something other than ``fusiongym train``."""


# ----------------------------------------------------------------------------------------------------------------
# The run folder
# ----------------------------------------------------------------------------------------------------------------


def default_run_name(config: RunConfig) -> str:
    """``<env>-<algo>-<policy>-s<seed>-<timestamp>`` (the env id without its ``fusiongym/`` namespace)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{config.env_id.split('/')[-1]}-{config.algo}-{config.policy}-s{config.seed}-{stamp}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_run_config(run_dir: Path) -> RunConfig:
    """The run's ``config.yaml`` as a validated :class:`RunConfig`, with errors that say what is wrong."""
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise RunFolderError(f"run folder {run_dir} does not exist: pass a folder made by `fusiongym train`")
    if not path.is_file():
        raise RunFolderError(f"{run_dir} is not a fusiongym run folder ({CONFIG_FILE} is missing): pass a folder "
                             "made by `fusiongym train`")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RunFolderError(f"{path} is corrupt (not valid YAML: {err}); start a new run") from None
    try:
        return RunConfig.from_dict(data, where=str(path))
    except (ConfigError, TypeError) as err:
        raise RunFolderError(f"{path} is corrupt: {err}") from None


def read_state(run_dir: Path) -> dict[str, Any]:
    """The run's ``state.json`` (steps done, checkpoint record, wall time)."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise RunFolderError(f"{run_dir} has no {STATE_FILE}: it is not a fusiongym run folder, or its first "
                             "checkpoint was never written; start a new run")
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFolderError(f"{path} is corrupt (not valid JSON: {err}); start a new run") from None
    if not isinstance(state, dict) or "num_timesteps" not in state:
        raise RunFolderError(f"{path} is corrupt (no num_timesteps); start a new run")
    return state


def write_state(run_dir: Path, state: dict[str, Any]) -> None:
    atomic_write_text(Path(run_dir) / STATE_FILE, json.dumps(state, indent=2) + "\n")


def verified_checkpoint(run_dir: Path, state: dict[str, Any], trust_pickle: bool = False,
                        key: str = "checkpoint") -> Path:
    """The run's SB3 checkpoint (``key="replay_buffer"``: its replay buffer), after checking it is the very file
    this run wrote (its sha256 in state.json).

    SB3 zips and replay buffers hold pickles; a file this run did not write is opened only with
    ``trust_pickle=True``.
    """
    record = state.get(key) or {}
    path = Path(run_dir) / record.get("file", SB3_CHECKPOINT if key == "checkpoint" else REPLAY_BUFFER)
    if not path.is_file():
        raise RunFolderError(f"{run_dir} has no {key.replace('_', ' ')} ({path.name} is missing): the run was killed "
                             "before its first checkpoint, or the file was removed; start the run again")
    if not trust_pickle and sha256_of(path) != record.get("sha256"):
        raise RunFolderError(f"{path} is not the {key.replace('_', ' ')} this run wrote (its sha256 differs from "
                             f"{STATE_FILE}); it holds pickles, so it is not opened. If you trust it, pass "
                             "--trust-pickle")
    return path


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints, progress bar, wandb (SB3 callbacks)
# ----------------------------------------------------------------------------------------------------------------


def _callbacks(run_dir: Path, config: RunConfig, state: dict[str, Any], segment_start: float, progress: bool):
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    class CheckpointCallback(BaseCallback):
        """Every ``checkpoint_every`` steps, between rollouts (so every saved step was trained on)."""

        def __init__(self) -> None:
            super().__init__()
            self.last_saved = state["num_timesteps"]

        def _on_rollout_start(self) -> None:
            if self.num_timesteps - self.last_saved >= config.checkpoint_every:
                save_sb3_checkpoint(self.model, run_dir, state, segment_start)
                self.last_saved = self.num_timesteps

        def _on_step(self) -> bool:
            return True

    class ProgressBarCallback(BaseCallback):
        """A tqdm bar over the whole budget, with the recent training success rate."""

        def _on_training_start(self) -> None:
            self.bar = tqdm(total=config.total_timesteps, initial=self.num_timesteps, unit="step",
                            desc=f"training {config.algo}-{config.policy} on {config.env_id}", disable=not progress,
                            mininterval=0.5)

        def _on_step(self) -> bool:
            self.bar.update(self.num_timesteps - self.bar.n)
            return True

        def _on_rollout_end(self) -> None:
            if len(self.model.ep_success_buffer):
                self.bar.set_postfix(success=f"{np.mean(self.model.ep_success_buffer):.2f}")

        def _on_training_end(self) -> None:
            self.bar.close()

    return [CheckpointCallback(), ProgressBarCallback()]


def save_sb3_checkpoint(model: Any, run_dir: Path, state: dict[str, Any], segment_start: float) -> None:
    """Write ``checkpoint.zip`` atomically (temp file, fsync, ``os.replace``), then record it in state.json."""
    path = Path(run_dir) / SB3_CHECKPOINT
    atomic_write(path, model.save)
    if getattr(model, "replay_buffer", None) is not None:  # off-policy: the transitions go with the weights
        buffer_path = Path(run_dir) / REPLAY_BUFFER
        atomic_write(buffer_path, model.save_replay_buffer)
        state["replay_buffer"] = {"file": buffer_path.name, "num_timesteps": int(model.num_timesteps),
                                  "sha256": sha256_of(buffer_path)}
    state["num_timesteps"] = int(model.num_timesteps)
    state["checkpoint"] = {"file": path.name, "num_timesteps": int(model.num_timesteps), "sha256": sha256_of(path)}
    state["wall_time_s"] = state.get("wall_time_before_s", 0.0) + time.time() - segment_start
    write_state(run_dir, state)


class WandbOutputFormat:
    """An SB3 logger output that forwards every numeric value (success rate, return, fps…) to wandb."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        numbers = {k: v for k, v in key_values.items() if isinstance(v, (int, float, np.number))}
        self.run.log(numbers, step=step)

    def close(self) -> None:
        pass


def start_wandb(config: RunConfig, run_dir: Path) -> Any:
    """A wandb run (offline unless the user's ``WANDB_MODE`` says otherwise), or a clear error if wandb is absent."""
    try:
        import wandb
    except ImportError:
        raise ConfigError("--wandb needs the wandb package: pip install 'fusiongym[wandb]'") from None
    return wandb.init(project="fusiongym", name=Path(run_dir).name, dir=str(run_dir), config=config.to_dict(),
                      mode=os.environ.get("WANDB_MODE", "offline"), resume="allow", id=Path(run_dir).name[-64:])


def log_episodes_to_wandb(wandb_run: Any, run_dir: Path, config: RunConfig) -> None:
    """Record two greedy test-split episodes of the trained agent and log the GIF to wandb."""
    import wandb
    from fusiongym.training.recording import record_episodes
    from fusiongym.training.runs import load_run_policy

    policy, _ = load_run_policy(run_dir)
    gif = Path(run_dir) / "episodes-test.gif"
    stats = record_episodes(config.env_id, policy, gif, episodes=2, split="test", progress=False,
                            **config.env_kwargs)
    wandb_run.log({"eval/episodes": wandb.Video(str(gif), format="gif"),
                   "eval/recorded_success_rate": stats["success_rate"]})


def make_logger(run_dir: Path, segment: int, wandb_run: Any = None) -> Any:
    """SB3 logger writing CSV and TensorBoard (when installed) to ``logs/segment-<segment>``, and wandb."""
    from stable_baselines3.common.logger import configure

    folder = Path(run_dir) / "logs" / f"segment-{segment}"
    formats = ["csv"]
    try:
        import tensorboard  # noqa: F401

        formats.append("tensorboard")
    except ImportError:
        pass
    logger = configure(str(folder), formats)
    if wandb_run is not None:
        logger.output_formats.append(WandbOutputFormat(wandb_run))
    return logger


# ----------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    run_dir: Path
    num_timesteps: int
    wall_time_s: float


def train(config: RunConfig | None, run_dir: Path, resume: bool = False, progress: bool = True,
          threads: int = 1, trust_pickle: bool = False) -> TrainResult:
    """Train ``config`` into ``run_dir`` (or, with ``resume=True``, continue the run there to its total budget)."""
    import torch

    torch.set_num_threads(threads)
    run_dir = Path(run_dir)

    # 1. The run folder: a new one gets config.yaml and state.json; a resumed one is read back.
    if resume:
        config = read_run_config(run_dir)
        state = read_state(run_dir)
        if state.get("status") == "finished":
            print(f"{run_dir} already finished its budget of {config.total_timesteps} steps; nothing to resume")
            return TrainResult(run_dir, state["num_timesteps"], state.get("wall_time_s", 0.0))
    else:
        assert config is not None
        config.validate()
        if (run_dir / CONFIG_FILE).exists():
            raise RunFolderError(f"{run_dir} already holds a run: resume it with `fusiongym train --resume "
                                 f"{run_dir}` or choose another --run-dir")
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False))
        state = {"status": "running", "num_timesteps": 0, "total_timesteps": config.total_timesteps,
                 "checkpoint": None, "wall_time_s": 0.0, "segments": []}
        write_state(run_dir, state)
    segment_start = time.time()
    state["wall_time_before_s"] = state.get("wall_time_s", 0.0)
    state["segments"].append({"resumed_from_step": state["num_timesteps"], "started": time.strftime("%F %T")})
    write_state(run_dir, state)
    wandb_run = start_wandb(config, run_dir) if config.wandb else None
    logger = make_logger(run_dir, len(state["segments"]) - 1, wandb_run)

    if config.algo == "qlearning":
        train_qlearning(config, run_dir, state, logger, segment_start, progress)
    else:
        train_sb3(config, run_dir, state, logger, segment_start, progress, trust_pickle)

    state["status"] = "finished"
    state["wall_time_s"] = state["wall_time_before_s"] + time.time() - segment_start
    write_state(run_dir, state)
    logger.close()
    from fusiongym.training.plots import plot_learning_curve

    plot_learning_curve(run_dir)
    if wandb_run is not None:
        log_episodes_to_wandb(wandb_run, run_dir, config)
        wandb_run.finish()
    return TrainResult(run_dir, state["num_timesteps"], state["wall_time_s"])


def train_sb3(config: RunConfig, run_dir: Path, state: dict[str, Any], logger: Any, segment_start: float,
              progress: bool, trust_pickle: bool = False) -> None:
    """PPO / DQN / RecurrentPPO through ``fusiongym.agents.make_agent`` on the native batch."""
    from fusiongym.agents.checkpoint import save_agent
    from fusiongym.agents.factory import algorithm_class, make_agent
    from fusiongym.agents.sb3_vec_env import FusionSB3VecEnv
    from fusiongym.fusion.config import FusionConfig
    from stable_baselines3.common.vec_env import VecMonitor

    done = state["num_timesteps"]
    # A resumed run meets fresh worlds (seeded past the steps already taken), not the first ones again.
    env = VecMonitor(FusionSB3VecEnv(config.env_id, num_envs=config.n_envs, seed=config.seed + done, split="train",
                                     **config.training_env_kwargs))  # VecMonitor: episode returns / lengths for the logger
    if done:
        checkpoint = verified_checkpoint(run_dir, state, trust_pickle)
        model = algorithm_class(config.algo).load(str(checkpoint), env=env, device="cpu")
        model.fusiongym_spec = state["agent_spec"]
        if getattr(model, "replay_buffer", None) is not None and "replay_buffer" in state:
            model.load_replay_buffer(str(verified_checkpoint(run_dir, state, trust_pickle, key="replay_buffer")))
    else:
        fusion = FusionConfig.from_dict(config.fusion) if config.policy == "fusion" else None
        model = make_agent(config.algo, env, policy=config.policy, fusion=fusion, seed=config.seed,
                           policy_kwargs=config.policy_kwargs or None, **config.hyperparams)
        state["agent_spec"] = model.fusiongym_spec
        state["parameters"] = count_parameters(model)
        write_state(run_dir, state)
    model.set_logger(logger)
    model.learn(total_timesteps=max(config.total_timesteps - done, 0), reset_num_timesteps=done == 0,
                callback=_callbacks(run_dir, config, state, segment_start, progress))
    save_sb3_checkpoint(model, run_dir, state, segment_start)
    save_agent(model, run_dir / AGENT_FOLDER)
    env.close()


def count_parameters(model: Any) -> dict[str, int]:
    """Total and trainable parameters of an SB3 model's policy."""
    parameters = list(model.policy.parameters())
    return {"total": int(sum(p.numel() for p in parameters)),
            "trainable": int(sum(p.numel() for p in parameters if p.requires_grad))}


# ----------------------------------------------------------------------------------------------------------------
# Tabular Q-learning
# ----------------------------------------------------------------------------------------------------------------


def save_qtable(agent: Any, path: Path) -> None:
    """The Q-table as ``.npz`` (digest keys and value rows; no pickle), written atomically."""
    keys = list(agent.q)
    atomic_write(path, lambda handle: np.savez(
        handle, keys=np.array(keys, dtype="S16") if keys else np.zeros(0, dtype="S16"),
        values=np.stack([agent.q[k] for k in keys]) if keys else np.zeros((0, agent.n_actions))))


def load_qtable(agent: Any, path: Path) -> None:
    """Fill ``agent.q`` from :func:`save_qtable`'s file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            agent.q = {bytes(k): np.array(v) for k, v in zip(data["keys"], data["values"])}
    except (OSError, ValueError, KeyError) as err:
        raise RunFolderError(f"{path} is corrupt ({err}); start a new run") from None


def train_qlearning(config: RunConfig, run_dir: Path, state: dict[str, Any], logger: Any, segment_start: float,
                    progress: bool) -> None:
    """Watkins' Q-learning on one env, checkpointing the table every ``checkpoint_every`` steps."""
    import gymnasium as gym
    from fusiongym.agents.qlearning import QLearningAgent
    from tqdm import tqdm

    done = state["num_timesteps"]
    agent = QLearningAgent(n_actions=7, seed=config.seed + done, **config.hyperparams)
    table = run_dir / QTABLE_CHECKPOINT
    if done:
        if not table.is_file():
            raise RunFolderError(f"{table} is missing: the run's checkpoint is gone; start a new run")
        load_qtable(agent, table)
    env = gym.make(config.env_id, split="train", **config.training_env_kwargs)
    observation, _ = env.reset(seed=config.seed + done)
    key = agent.state_key(observation)
    episode_return, episode_length, successes, returns = 0.0, 0, [], []
    bar = tqdm(total=config.total_timesteps, initial=done, unit="step", disable=not progress, mininterval=0.5,
               desc=f"training qlearning on {config.env_id}")
    last_saved, started = done, time.time()
    for step in range(done + 1, config.total_timesteps + 1):
        action = agent.act(observation)
        observation, reward, terminated, truncated, info = env.step(action)
        next_key = agent.state_key(observation)
        agent.update(key, action, float(reward), next_key, bool(terminated))
        key, episode_return, episode_length = next_key, episode_return + float(reward), episode_length + 1
        if terminated or truncated:
            successes.append(bool(info["success"]))
            returns.append(episode_return)
            episode_return, episode_length = 0.0, 0
            observation, _ = env.reset()
            key = agent.state_key(observation)
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
    bar.close()
    state["parameters"] = {"total": int(len(agent.q) * agent.n_actions), "trainable": int(len(agent.q) *
                                                                                          agent.n_actions)}
    env.close()
