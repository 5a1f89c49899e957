"""Train an agent into a run folder (:mod:`fusiongym.training.run_folder`), with periodic atomic checkpoints that
resume to the same total budget.

:func:`train` reads top to bottom: resolve the folder, build the env, build (or load) the model, attach the
logger and callbacks, learn, save. The SB3 algorithms' build and learn steps are here; imitation's are in
:mod:`fusiongym.training.imitation_training`, tabular Q-learning's in :mod:`fusiongym.training.qlearning_training`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fusiongym.agents.registry import algorithm
from fusiongym.training.build import check_device, count_parameters, new_model, training_env
from fusiongym.training.config import ConfigError, RunConfig
from fusiongym.training.evaluation import atomic_write, atomic_write_text
from fusiongym.training.imitation_training import build_imitation, learn_imitation
from fusiongym.training.qlearning_training import build_qlearning, learn_qlearning
from fusiongym.training.run_folder import (
    AGENT_FOLDER,
    BEST_AGENT_FOLDER,
    CONFIG_FILE,
    RunFolderError,
    file_record,
    read_run_config,
    read_state,
    remove_older,
    verified_checkpoint,
    write_state,
)

# ----------------------------------------------------------------------------------------------------------------
# Checkpoints, progress bar, evaluation during training, wandb (SB3 callbacks)
# ----------------------------------------------------------------------------------------------------------------


class PeriodicEvaluation:
    """Every ``config.eval_every`` steps: the protocol's evaluation of the policy being trained on the
    ``config.eval_split`` split (test unless a sweep chose train; ``eval_episodes`` fixed seeds, sampled actions),
    logged as ``eval/success_rate`` and ``eval/mean_return``, appended to ``evaluations.jsonl`` and handed to
    ``on_evaluation``; the best agent so far is kept in ``best_agent/``."""

    def __init__(self, config: RunConfig, run_dir: Path, state: dict[str, Any],
                 on_evaluation: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.config, self.run_dir, self.state = config, Path(run_dir), state
        self.on_evaluation = on_evaluation
        self.last = state["num_timesteps"]

    def __call__(self, model: Any, num_timesteps: int, logger: Any, final: bool = False) -> None:
        every = self.config.eval_every  # at every multiple of it, so a resumed run keeps the same schedule
        if not every or (num_timesteps // every <= self.last // every and not (final and num_timesteps > self.last)):
            return
        from fusiongym.agents.checkpoint import save_agent
        from fusiongym.agents.policies import SB3Policy
        from fusiongym.training.evaluation import evaluate

        self.last = num_timesteps
        split = self.config.eval_split
        result = evaluate(SB3Policy(model, deterministic=False, seed=0), self.config.env_id, split=split,
                          episodes=self.config.eval_episodes, env_kwargs=self.config.env_kwargs, progress=False)
        success = result.success_rate.value
        logger.record("eval/success_rate", success)
        logger.record("eval/mean_return", result.mean_return.value)
        logger.record("time/total_timesteps", int(num_timesteps))
        record = {"num_timesteps": int(num_timesteps), "split": split, "episodes": result.episodes,
                  "success_rate": success, "success_low": result.success_rate.low,
                  "success_high": result.success_rate.high, "mean_return": result.mean_return.value}
        with open(self.run_dir / "evaluations.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        best = self.state.get("best_eval") or {}
        if success > best.get("success_rate", -1.0):
            tmp = self.run_dir / (BEST_AGENT_FOLDER + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            save_agent(model, tmp)
            shutil.rmtree(self.run_dir / BEST_AGENT_FOLDER, ignore_errors=True)
            os.replace(tmp, self.run_dir / BEST_AGENT_FOLDER)
            self.state["best_eval"] = record
            write_state(self.run_dir, self.state)
        if self.on_evaluation is not None:
            self.on_evaluation(dict(record))


def _callbacks(run_dir: Path, config: RunConfig, state: dict[str, Any], segment_start: float, progress: bool,
               evaluation: PeriodicEvaluation):
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    class CheckpointCallback(BaseCallback):
        """Every ``checkpoint_every`` steps, between rollouts (so every saved step was trained on); the periodic
        evaluation runs at the same point."""

        def __init__(self) -> None:
            super().__init__()
            self.last_saved = state["num_timesteps"]

        def _on_rollout_start(self) -> None:
            evaluation(self.model, self.num_timesteps, self.model.logger)
            if self.num_timesteps - self.last_saved >= config.checkpoint_every:
                save_sb3_checkpoint(self.model, run_dir, state, segment_start, config.save_replay_buffer)
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
            if self.model.ep_success_buffer:
                self.bar.set_postfix(success=f"{np.mean(self.model.ep_success_buffer):.2f}")

        def _on_training_end(self) -> None:
            self.bar.close()

    class ValueWarmupCallback(BaseCallback):
        """For the first ``value_warmup`` steps only the value head learns (the policy it was given, e.g. by
        imitation, which trains no value head, is held still until the advantages mean something)."""

        def _on_training_start(self) -> None:
            self.frozen = [p for name, p in self.model.policy.named_parameters()
                           if p.requires_grad and not name.startswith(("value_net", "mlp_extractor.value_net"))]
            self._hold(self.num_timesteps < config.value_warmup)

        def _hold(self, hold: bool) -> None:
            for parameter in self.frozen:
                parameter.requires_grad_(not hold)
            self.holding = hold

        def _on_rollout_start(self) -> None:
            if self.holding and self.num_timesteps >= config.value_warmup:
                self._hold(False)

        def _on_step(self) -> bool:
            return True

    callbacks = [CheckpointCallback(), ProgressBarCallback()]
    return callbacks + [ValueWarmupCallback()] if config.value_warmup else callbacks


def save_sb3_checkpoint(model: Any, run_dir: Path, state: dict[str, Any], segment_start: float,
                        save_replay_buffer: bool = True) -> None:
    """Write ``checkpoint-<steps>.zip`` (and the replay buffer, as ``.npz``: arrays, no pickle) atomically under a
    new name, record it in state.json, then remove the older ones: a kill at any instant leaves a resumable run."""
    steps = int(model.num_timesteps)
    path = Path(run_dir) / f"checkpoint-{steps}.zip"
    atomic_write(path, model.save)
    records = {"checkpoint": file_record(path, steps)}
    if save_replay_buffer and getattr(model, "replay_buffer", None) is not None:  # off-policy: the transitions
        buffer_path = Path(run_dir) / f"replay_buffer-{steps}.npz"
        atomic_write(buffer_path, lambda handle: save_replay_buffer_arrays(model.replay_buffer, handle))
        records["replay_buffer"] = file_record(buffer_path, steps)
    state.update(records)
    state["num_timesteps"] = steps
    state["wall_time_s"] = state.get("wall_time_before_s", 0.0) + time.time() - segment_start
    write_state(run_dir, state)
    keep = {record["file"] for record in records.values()}
    remove_older(run_dir, keep, "checkpoint*.zip")
    remove_older(run_dir, keep, "replay_buffer*")


#: What a replay buffer is, besides its spaces: the arrays and counters that ``save_replay_buffer_arrays`` keeps.
_BUFFER_ARRAYS = ("actions", "rewards", "dones", "timeouts")


def save_replay_buffer_arrays(buffer: Any, handle: Any) -> None:
    """An SB3 (Dict)ReplayBuffer as a compressed ``.npz`` of its arrays (no pickle: SB3's own
    ``save_replay_buffer`` pickles the object). Only the filled part is written."""
    size = buffer.buffer_size if buffer.full else buffer.pos
    arrays: dict[str, np.ndarray] = {"pos": np.array(buffer.pos), "full": np.array(buffer.full)}
    for name in ("observations", "next_observations"):
        value = getattr(buffer, name, None)
        if isinstance(value, dict):
            arrays.update({f"{name}.{key}": part[:size] for key, part in value.items()})
        elif value is not None:
            arrays[name] = value[:size]
    arrays.update({name: getattr(buffer, name)[:size] for name in _BUFFER_ARRAYS})
    np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub lets ** bind allow_pickle


def load_replay_buffer_arrays(buffer: Any, path: Path) -> None:
    """Fill ``buffer`` (built for the same spaces and size) from :func:`save_replay_buffer_arrays`' file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                if key in ("pos", "full"):
                    continue
                name, _, part = key.partition(".")
                target = getattr(buffer, name)[part] if part else getattr(buffer, name)
                if len(data[key]) > len(target):
                    raise ValueError(f"{key} holds {len(data[key])} steps, the buffer only {len(target)}")
                target[:len(data[key])] = data[key]
            buffer.pos, buffer.full = int(data["pos"]), bool(data["full"])
    except (OSError, ValueError, KeyError, AttributeError) as err:
        raise RunFolderError(f"{path} is not a replay buffer this run can use ({err}); start a new run") from None


def _wandb_output_format(run: Any) -> Any:
    """An SB3 logger output (a ``KVWriter``, the only kind SB3's logger writes to) that forwards every numeric
    value (success rate, return, losses, fps…) to the wandb run."""
    from stable_baselines3.common.logger import KVWriter

    class WandbOutputFormat(KVWriter):
        def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
            numbers = {k: float(v) for k, v in key_values.items()
                       if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)}
            if numbers:
                run.log(numbers, step=int(step))

        def close(self) -> None:
            pass

    return WandbOutputFormat()


def start_wandb(config: RunConfig, run_dir: Path) -> Any:
    """A wandb run (offline unless the user's ``WANDB_MODE`` says otherwise), or a clear error if wandb is absent."""
    try:
        import wandb
    except ImportError:
        raise ConfigError("--wandb needs the wandb package: pip install 'fusiongym[wandb]'") from None
    return wandb.init(project="fusiongym", name=Path(run_dir).name, dir=str(run_dir), config=config.to_dict(),
                      mode=os.environ.get("WANDB_MODE", "offline"),  # type: ignore[arg-type]  # wandb checks it
                      resume="allow", id=Path(run_dir).name[-64:])


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
        logger.output_formats.append(_wandb_output_format(wandb_run))
    return logger


# ----------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What :func:`train` returns: the run folder, its steps and its training wall time in seconds."""
    run_dir: Path
    num_timesteps: int
    wall_time_s: float


def train(config: RunConfig | None, run_dir: Path, resume: bool = False, progress: bool = True,
          threads: int = 1, trust_pickle: bool = False, device: str = "cpu",
          extend_to: int | None = None,
          on_evaluation: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train ``config`` into ``run_dir`` (or, with ``resume=True``, continue the run there to its total budget).

    ``extend_to``: with ``resume``, first raise the run's budget to that many steps (a finished run goes on from
    its last checkpoint, as if it had been started with that budget; config.yaml and state.json say so).
    ``device``: where the policy runs (``"cpu"``, ``"cuda"``, ``"auto"``); not part of the run, so a resumed run
    takes the one given now.
    ``on_evaluation``: called with each periodic evaluation's record (the line appended to ``evaluations.jsonl``)
    as it is made, e.g. to report it to a hyperparameter search."""
    import torch

    torch.set_num_threads(threads)
    device = check_device(device)
    run_dir = Path(run_dir)

    # 1. What to run: a new config, or the run folder's own.
    extended = False
    if resume:
        config = read_run_config(run_dir)
        state = read_state(run_dir)
        if extend_to is not None and extend_to != config.total_timesteps:
            extended = True  # written to the folder with the rest in step 3, once nothing can refuse
            if extend_to < max(config.total_timesteps, state["num_timesteps"]):
                raise ConfigError(f"--timesteps {extend_to} is below {run_dir}'s budget of {config.total_timesteps} "
                                  "steps: a resumed run can only be given a larger budget")
            config.total_timesteps = extend_to
            state["total_timesteps"], state["status"] = extend_to, "running"
            state.setdefault("extended", []).append({"to": extend_to, "at_step": state["num_timesteps"]})
        if state.get("status") == "finished":
            print(f"{run_dir} already finished its budget of {config.total_timesteps} steps; nothing to resume")
            return TrainResult(run_dir, state["num_timesteps"], state.get("wall_time_s", 0.0))
    else:
        assert config is not None
        config.validate()
        if (run_dir / CONFIG_FILE).exists():
            raise RunFolderError(f"{run_dir} already holds a run: resume it with `fusiongym train --resume "
                                 f"{run_dir}` or choose another --run-dir")
        state = {"status": "running", "num_timesteps": 0, "total_timesteps": config.total_timesteps,
                 "checkpoint": None, "wall_time_s": 0.0, "segments": []}

    # 2. The env and the model (or the learner), from the config or the checkpoint. Everything that can refuse
    #    bad input happens here, before a new run folder exists or a resumed one is written to.
    family = algorithm(config.algo).family
    if family == "tabular":
        learner = build_qlearning(config, run_dir, state)
    elif family == "imitation":
        learner = build_imitation(config, run_dir, state, device)
    else:
        learner = build_sb3(config, run_dir, state, trust_pickle, device)

    # 3. The run folder: a new one gets config.yaml and state.json; every (re)start opens a log segment.
    if not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
    if not resume or extended:
        atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False))
    segment_start = time.time()
    state["wall_time_before_s"] = state.get("wall_time_s", 0.0)
    state["segments"].append({"resumed_from_step": state["num_timesteps"], "started": time.strftime("%F %T")})
    write_state(run_dir, state)
    wandb_run = start_wandb(config, run_dir) if config.wandb else None
    logger = make_logger(run_dir, len(state["segments"]) - 1, wandb_run)
    evaluation = PeriodicEvaluation(config, run_dir, state, on_evaluation)

    # 4. Learn, checkpointing (and evaluating) on the way; save the trained agent.
    if family == "tabular":
        learn_qlearning(learner, config, run_dir, state, logger, segment_start, progress)
    elif family == "imitation":
        learn_imitation(learner, config, run_dir, state, logger, segment_start, progress, evaluation)
    else:
        learn_sb3(learner, config, run_dir, state, logger, segment_start, progress, evaluation)

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


def build_sb3(config: RunConfig, run_dir: Path, state: dict[str, Any], trust_pickle: bool = False,
              device: str = "cpu") -> Any:
    """PPO / DQN / RecurrentPPO through ``fusiongym.agents.make_agent`` on the native batch (or its checkpoint)."""
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
    from stable_baselines3.common.vec_env import VecMonitor

    from fusiongym.agents.factory import algorithm_class

    done = state["num_timesteps"]
    if done:
        checkpoint = verified_checkpoint(run_dir, state, trust_pickle)
        buffer = (verified_checkpoint(run_dir, state, trust_pickle, key="replay_buffer")
                  if "replay_buffer" in state else None)
    env = VecMonitor(training_env(config, done))  # VecMonitor: episode returns / lengths for the logger
    if not done:
        model = new_model(config, env, config.algo, device)
        state["agent_spec"] = model.fusiongym_spec
        state["parameters"] = count_parameters(model)
        return model
    try:
        model = algorithm_class(config.algo).load(str(checkpoint), env=env, device=device)
    except Exception as err:  # noqa: BLE001  (whatever a foreign or damaged zip raises)
        raise RunFolderError(f"{checkpoint} cannot be loaded ({type(err).__name__}: {err}); start a new run") from None
    _check_architecture(model, config, env, checkpoint)
    model.fusiongym_spec = state["agent_spec"]  # type: ignore[attr-defined]  # as make_agent sets it
    if buffer is not None and isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        if buffer.suffix == ".npz":
            load_replay_buffer_arrays(model.replay_buffer, buffer)
        else:  # a run written before buffers were arrays: SB3's pickle (its signature was checked above)
            model.load_replay_buffer(str(buffer))
    return model


def _check_architecture(model: Any, config: RunConfig, env: Any, checkpoint: Path) -> None:
    """Refuse a checkpoint whose policy is not the one this run's config builds (its agent could not be saved in a
    form anyone can load)."""
    reference = new_model(dataclasses.replace(config, init_from=""), env, config.algo)
    mine = {k: tuple(v.shape) for k, v in model.policy.state_dict().items()}
    expected = {k: tuple(v.shape) for k, v in reference.policy.state_dict().items()}
    if mine != expected:
        differ = sorted(set(mine) ^ set(expected)) or sorted(k for k in mine if mine[k] != expected[k])
        raise RunFolderError(f"{checkpoint} holds a policy of another architecture than this run's config.yaml "
                             f"builds (differs in {differ[:4]}): resume the run that wrote it, or start a new run")


def learn_sb3(model: Any, config: RunConfig, run_dir: Path, state: dict[str, Any], logger: Any,
              segment_start: float, progress: bool, evaluation: PeriodicEvaluation) -> None:
    """Train an SB3 model to the run's budget with its callbacks, evaluate it, save the checkpoint and the agent."""
    from fusiongym.agents.checkpoint import save_agent

    done = int(model.num_timesteps)
    model.set_logger(logger)
    model.learn(total_timesteps=max(config.total_timesteps - done, 0), reset_num_timesteps=done == 0,
                callback=_callbacks(run_dir, config, state, segment_start, progress, evaluation))
    evaluation(model, model.num_timesteps, logger, final=True)
    if config.eval_every:
        logger.dump(model.num_timesteps)
    save_sb3_checkpoint(model, run_dir, state, segment_start, config.save_replay_buffer)
    save_agent(model, run_dir / AGENT_FOLDER)
    model.get_env().close()
