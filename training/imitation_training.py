"""A run of an imitation learner (``--algo bc | dagger``: the level's reading oracle cloned into PPO's policy): build
it from the run folder, learn to the budget with safetensors checkpoints, save the agent."""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fusiongym.training.build import count_parameters, new_model, training_env
from fusiongym.training.config import RunConfig
from fusiongym.training.evaluation import DiskFullError
from fusiongym.training.run_folder import AGENT_FOLDER, RunFolderError, remove_older, write_state

if TYPE_CHECKING:
    from fusiongym.training.train import PeriodicEvaluation


def build_imitation(config: RunConfig, run_dir: Path, state: dict[str, Any], device: str = "cpu") -> Any:
    """The :class:`~fusiongym.agents.imitation.Imitation` learner of a run: PPO's policy, or RecurrentPPO's with
    ``recurrent: true`` (so the agent evaluates, records and fine-tunes like a PPO agent), the oracle reading the
    facts as the expert (with ``explore: true`` knowing only what the agent has seen, exploring for the rest)."""
    from fusiongym.agents.checkpoint import CheckpointError
    from fusiongym.agents.imitation import Imitation

    done = state["num_timesteps"]
    env = training_env(config, done)
    kwargs = dict(config.hyperparams)
    model = new_model(config, env, "recurrent_ppo" if kwargs.pop("recurrent", False) else "ppo", device)
    explore = kwargs.pop("explore", False)
    if config.algo == "bc":
        kwargs["mix"] = 0.0
    learner = Imitation(model, env, expert=lambda: env.native.oracle_actions(True, explore), seed=config.seed + done,
                        goal_cells=lambda: env.native.oracle_goal_cells(True, explore), **kwargs)
    if done:
        folder = Path(run_dir) / (state.get("checkpoint") or {}).get("file", "")
        if not (state.get("checkpoint") or {}).get("file") or not folder.is_dir():
            raise RunFolderError(f"{run_dir} has no imitation checkpoint ({folder.name or 'none recorded'}): start "
                                 "the run again")
        try:
            learner.load(folder)
        except CheckpointError as err:
            raise RunFolderError(str(err)) from None
    else:
        state["agent_spec"] = model.fusiongym_spec
        state["parameters"] = count_parameters(model)
    return learner


def save_imitation_checkpoint(learner: Any, run_dir: Path, state: dict[str, Any], segment_start: float) -> None:
    """``checkpoint-<steps>/`` (safetensors + JSON), written complete under a temporary name, renamed, recorded in
    state.json, and only then are older ones removed."""
    steps = int(learner.num_timesteps)
    folder = Path(run_dir) / f"checkpoint-{steps}"
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        learner.save(tmp)
        for path in tmp.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave half a checkpoint behind
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise DiskFullError(f"the disk is full: {folder} could not be written (the previous checkpoint is "
                                "intact); free some space and resume (fusiongym train --resume RUN)") from None
        raise
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    state["checkpoint"] = {"file": folder.name, "num_timesteps": steps}
    state["num_timesteps"] = steps
    state["wall_time_s"] = state.get("wall_time_before_s", 0.0) + time.time() - segment_start
    write_state(run_dir, state)
    remove_older(run_dir, {folder.name}, "checkpoint-*")


def learn_imitation(learner: Any, config: RunConfig, run_dir: Path, state: dict[str, Any], logger: Any,
                    segment_start: float, progress: bool, evaluation: PeriodicEvaluation) -> None:
    """Run an imitation learner to the run's budget with checkpoints and evaluations, then save it and the agent."""
    from tqdm import tqdm

    from fusiongym.agents.checkpoint import save_agent

    learner.logger = logger
    bar = tqdm(total=config.total_timesteps, initial=learner.num_timesteps, unit="step", disable=not progress,
               mininterval=0.5, desc=f"training {config.algo}-{config.policy} on {config.env_id}")
    last_saved = learner.num_timesteps

    def after_update(learner: Any) -> None:
        nonlocal last_saved
        bar.update(min(learner.num_timesteps, config.total_timesteps) - bar.n)
        if learner.ep_success_buffer:
            bar.set_postfix(success=f"{np.mean(learner.ep_success_buffer):.2f}")
        evaluation(learner.model, learner.num_timesteps, logger)
        if learner.num_timesteps - last_saved >= config.checkpoint_every:
            save_imitation_checkpoint(learner, run_dir, state, segment_start)
            last_saved = learner.num_timesteps

    learner.learn(config.total_timesteps, callback=after_update)
    bar.close()
    evaluation(learner.model, learner.num_timesteps, logger, final=True)
    if config.eval_every:
        logger.dump(learner.num_timesteps)
    save_imitation_checkpoint(learner, run_dir, state, segment_start)
    save_agent(learner.model, run_dir / AGENT_FOLDER)
    learner.env.close()
