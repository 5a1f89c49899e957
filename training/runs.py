"""What the commands do with a finished run folder: load its agent, evaluate it, record it, submit it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fusiongym.agents.policies import BatchPolicy, OraclePolicy, QTablePolicy, RandomPolicy, SB3Policy
from fusiongym.agents.registry import algorithm
from fusiongym.training.build import check_device
from fusiongym.training.config import BUILTIN_AGENTS, RunConfig
from fusiongym.training.evaluation import DEFAULT_EPISODES, EvalResult, eval_name, evaluate, write_eval
from fusiongym.training.leaderboard import Submission
from fusiongym.training.qlearning_training import load_qtable
from fusiongym.training.run_folder import (
    AGENT_FOLDER,
    QTABLE_CHECKPOINT,
    RunFolderError,
    read_run_config,
    read_state,
    verified_checkpoint,
)


def builtin_policy(name: str, seed: int = 0) -> BatchPolicy:
    """The oracle, the fact-blind oracle, the exploring oracle (it knows only what its agent has seen, as BabyAI's
    bot) or the random agent."""
    if name == "oracle":
        return OraclePolicy(use_facts=True)
    if name == "blind-oracle":
        return OraclePolicy(use_facts=False)
    if name == "explorer":
        return OraclePolicy(use_facts=True, explore=True)
    if name == "random":
        return RandomPolicy(seed)
    raise ValueError(f"unknown agent {name!r}: choose one of {', '.join(BUILTIN_AGENTS)}")


def load_run_policy(run_dir: Path, trust_pickle: bool = False, deterministic: bool = False,
                    seed: int = 0, device: str = "cpu") -> tuple[BatchPolicy, RunConfig]:
    """The trained agent of a run folder (sampling its actions unless ``deterministic``; Q-learning is greedy).

    SB3 agents load from ``agent/`` (safetensors + JSON, no pickle); if that is missing, from the run's own
    ``checkpoint.zip`` only when its sha256 is the one the run recorded (or ``trust_pickle``). ``device``: where the
    agent runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``); one this machine lacks is a ConfigError that says so
    (SB3 would quietly fall back to the CPU); a tabular agent ignores it.
    """
    run_dir = Path(run_dir)
    device = check_device(device)
    config = read_run_config(run_dir)
    state = read_state(run_dir)
    if state.get("status") != "finished":
        raise RunFolderError(f"{run_dir} has not finished training ({state['num_timesteps']} of "
                             f"{config.total_timesteps} steps): finish it with `fusiongym train --resume {run_dir}`")
    if algorithm(config.algo).family == "tabular":
        from fusiongym.agents.qlearning import QLearningAgent

        agent = QLearningAgent(seed=config.seed, **config.hyperparams)  # its width comes with its table
        table = run_dir / QTABLE_CHECKPOINT
        if not table.is_file():
            raise RunFolderError(f"{table} is missing: the run folder is incomplete; train again")
        load_qtable(agent, table)
        return QTablePolicy(agent), config
    if (run_dir / AGENT_FOLDER / "config.json").is_file():
        from fusiongym.agents.checkpoint import CheckpointError, load_agent

        try:
            return SB3Policy(load_agent(run_dir / AGENT_FOLDER, device=device), deterministic, seed), config
        except CheckpointError as err:
            raise RunFolderError(f"{run_dir / AGENT_FOLDER} cannot be loaded: {err}") from None
    from fusiongym.agents.factory import algorithm_class

    checkpoint = verified_checkpoint(run_dir, state, trust_pickle)
    return SB3Policy(algorithm_class(config.algo).load(str(checkpoint), device=device), deterministic, seed), config


def evaluate_run(run_dir: Path, split: str = "test", episodes: int = DEFAULT_EPISODES, trust_pickle: bool = False,
                 progress: bool = True, deterministic: bool = False, ablate: Sequence[str] = (),
                 device: str = "cpu") -> EvalResult:
    """Evaluate a run's agent with the protocol and write ``eval-<split>.json`` / ``episodes-<split>.jsonl``
    (``ablate``: observation keys zeroed, written to ``eval-<split>-no-<key>.json``; ``deterministic`` for an agent
    that samples: ``eval-<split>-greedy.json``; other than the protocol's ``DEFAULT_EPISODES`` episodes:
    ``eval-<split>-<n>ep.json``). ``device``: where the agent runs (sampled actions
    are seeded per device: a GPU draws other samples than the CPU, so compare evaluations made on one kind)."""
    import torch

    torch.set_num_threads(1)
    policy, config = load_run_policy(run_dir, trust_pickle, deterministic, device=device)
    result = evaluate(policy, config.env_id, split=split, episodes=episodes, env_kwargs=config.env_kwargs,
                      progress=progress, ablate=ablate)
    # DQN's predict is epsilon-greedy with the loaded model's exploration rate, 0: greedy either way.
    greedy_protocol = algorithm(config.algo).greedy
    result.actions = "greedy" if deterministic or greedy_protocol else "sampled"
    # a sampling agent's greedy evaluation goes beside its protocol evaluation, never over it
    write_eval(result, Path(run_dir), greedy=deterministic and not greedy_protocol)
    return result


def read_eval(run_dir: Path, split: str, ablate: Sequence[str] = (), episodes: int | None = None) -> dict[str, Any]:
    """A run's evaluation, ``eval-<split>[-no-<key>][-<n>ep].json`` (see :func:`eval_name`).

    ``episodes=None`` reads the protocol's evaluation (``DEFAULT_EPISODES`` episodes) or, when the run has none, its
    one evaluation of another size (several are an error that lists them).
    """
    run_dir = Path(run_dir)
    stem = eval_name(split, ablate)
    path = run_dir / f"eval-{eval_name(split, ablate, episodes or DEFAULT_EPISODES)}.json"
    if episodes is None and not path.is_file():
        sizes = sorted(int(m.group(1)) for p in run_dir.glob(f"eval-{stem}-*ep.json")
                       if (m := re.fullmatch(rf"eval-{re.escape(stem)}-(\d+)ep\.json", p.name)))
        if len(sizes) > 1:
            raise RunFolderError(f"{run_dir} has no {DEFAULT_EPISODES}-episode evaluation ({path.name}) but several "
                                 f"of other sizes ({', '.join(map(str, sizes))} episodes): choose one with --episodes "
                                 f"N, or run `fusiongym eval {run_dir}` for the protocol's")
        if sizes:
            path = run_dir / f"eval-{stem}-{sizes[0]}ep.json"
    if not path.is_file():
        command = f"fusiongym eval {run_dir} --split {split}" + "".join(f" --ablate {k}" for k in sorted(ablate))
        command += f" --episodes {episodes}" if episodes else ""
        raise RunFolderError(f"{run_dir} has no {path.name}: run `{command}` first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RunFolderError(f"{path} is corrupt ({err}): evaluate again") from None


def read_episodes(run_dir: Path, name: str) -> list[dict[str, Any]]:
    """The per-episode records ``episodes-<name>.jsonl`` beside ``eval-<name>.json`` ([] if missing)."""
    path = Path(run_dir) / f"episodes-{name}.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _backbone(fusion: dict[str, Any] | None) -> str:
    """The language backbone a fusion policy's config dict names (``"none"`` when it cannot be read)."""
    from fusiongym.fusion.config import FusionConfig, FusionConfigError

    try:
        return FusionConfig.from_dict(fusion or {}).language.backbone
    except (FusionConfigError, TypeError):
        return "none"


def submission_from_eval(result: dict[str, Any], agent: str, algo: str, policy: str,
                         policy_config: dict[str, Any] | None = None, parameters: int = 0, training_steps: int = 0,
                         wall_time_s: float = 0.0, run: str = "", notes: str = "",
                         episodes: list[dict[str, Any]] | None = None) -> Submission:
    """A leaderboard submission from an evaluation (``EvalResult.to_dict()`` or a run's ``eval-<split>.json``);
    what the evaluation zeroed (``ablated``) goes with it."""
    import fusiongym

    policy_config = policy_config or {}
    backbone = _backbone(policy_config.get("fusion")) if policy == "fusion" else "none"
    episodes = episodes or result.get("per_episode") or []
    return Submission.from_dict({
        "agent": agent, "algo": algo, "policy": policy, "env_id": result["env_id"], "split": result["split"],
        "seeds": list(result["seeds"]), "seeds_version": int(result.get("seeds_version", 1)),
        "episodes": int(result["episodes"]),
        "success_rate": result["success_rate"]["value"], "success_low": result["success_rate"]["low"],
        "success_high": result["success_rate"]["high"],
        "mean_return": result["mean_return"]["value"], "return_low": result["mean_return"]["low"],
        "return_high": result["mean_return"]["high"],
        "mean_length": result["mean_length"]["value"], "length_low": result["mean_length"]["low"],
        "length_high": result["mean_length"]["high"],
        "suite_version": fusiongym.__version__, "ablated": ",".join(sorted(result.get("ablated") or [])),
        "policy_config": policy_config, "backbone": backbone,
        "parameters": int(parameters), "training_steps": int(training_steps), "wall_time_s": float(wall_time_s),
        "run": run, "notes": notes,
        "episode_success": [float(e["success"]) for e in episodes],
        "episode_return": [float(e["return"]) for e in episodes],
    }, where=f"submission of {agent}")


def submission_from_run(run_dir: Path, split: str = "test", name: str | None = None, ablate: Sequence[str] = (),
                        episodes: int | None = None) -> Submission:
    """The submission of a trained and evaluated run folder: its evaluation with the ``ablate`` keys zeroed
    (``eval-<split>-no-<key>.json``) and of ``episodes`` episodes (see :func:`read_eval`)."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    state = read_state(run_dir)
    policy_config = {"fusion": config.fusion, "policy_kwargs": config.policy_kwargs, "hyperparams":
                     config.hyperparams, "n_envs": config.n_envs, "seed": config.seed}
    if config.policy == "fusion":
        from fusiongym.fusion.config import FusionConfig

        policy_config["fusion"] = FusionConfig.from_dict(config.fusion).to_dict()
    result = read_eval(run_dir, split, ablate, episodes)
    return submission_from_eval(
        result, agent=name or run_dir.name, algo=config.algo, policy=config.policy,
        policy_config=policy_config, parameters=(state.get("parameters") or {}).get("total", 0),
        training_steps=state["num_timesteps"], wall_time_s=state.get("wall_time_s", 0.0), run=str(run_dir),
        notes=f"{result.get('actions', 'sampled')} actions",
        episodes=read_episodes(run_dir, eval_name(split, result.get("ablated") or [], int(result["episodes"]))))
