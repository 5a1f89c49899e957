"""The evaluation protocol: fixed seeds per split, batched episodes, bootstrap confidence intervals, IQM.

Episode ``k`` on a split starts from ``reset(seed=SEEDS[split][k])`` (``training/seeds.py``, committed), so every
agent meets the same worlds. Episodes run in the native vector env, many at a time. Each metric comes with a 95%
percentile-bootstrap interval over episodes (``scipy.stats.bootstrap``); across levels, the interquartile mean
(IQM, rliable's aggregate: the mean of the middle 50% of level scores, ``scipy.stats.trim_mean(x, 0.25)``) comes
with a stratified bootstrap interval (episodes resampled within each level, as rliable resamples runs within
each task).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import gymnasium as gym
import numpy as np
from scipy import stats

import fusiongym  # noqa: F401  (registers the ids)
from fusiongym.agents.policies import BatchPolicy
from fusiongym.training.seeds import SEEDS, SEEDS_VERSION

DEFAULT_EPISODES = 100
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


@dataclass
class Estimate:
    """A point estimate with its 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass
class EvalResult:
    """One agent on one level and split: the protocol's metrics and what produced them."""

    env_id: str
    split: str
    episodes: int
    seeds: list[int]
    seeds_version: int
    success_rate: Estimate
    mean_return: Estimate
    mean_length: Estimate
    per_episode: list[dict[str, Any]] = field(default_factory=list, repr=False)
    actions: str = "policy"  # how a learned agent chose its actions: "sampled" or "greedy"
    ablated: list[str] = field(default_factory=list)  # observation keys zeroed before the policy saw them

    def to_dict(self, with_episodes: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_episodes:
            data.pop("per_episode")
        return data


def bootstrap_mean(values: Sequence[float], seed: int = 0) -> Estimate:
    """Mean and its 95% percentile-bootstrap interval (a constant sample gives a zero-width interval)."""
    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean())
    if len(data) < 2 or np.all(data == data[0]):
        return Estimate(mean, mean, mean)
    result = stats.bootstrap((data,), np.mean, confidence_level=CONFIDENCE, n_resamples=BOOTSTRAP_RESAMPLES,
                             method="percentile", random_state=np.random.default_rng(seed))
    return Estimate(mean, float(result.confidence_interval.low), float(result.confidence_interval.high))


def iqm(level_scores: Sequence[float]) -> float:
    """Interquartile mean of per-level scores (rliable's ``aggregate_iqm``: trim 25% from each end)."""
    return float(stats.trim_mean(np.asarray(level_scores, dtype=np.float64), proportiontocut=0.25, axis=None))


def iqm_across_levels(per_level_episodes: Sequence[Sequence[float]], seed: int = 0) -> Estimate:
    """IQM of the per-level means, with a stratified bootstrap interval (episodes resampled within each level)."""
    samples = [np.asarray(s, dtype=np.float64) for s in per_level_episodes]
    if not samples or any(len(s) == 0 for s in samples):
        raise ValueError("iqm_across_levels needs at least one episode for every level")
    point = iqm([s.mean() for s in samples])
    if all(np.all(s == s[0]) for s in samples) or min(len(s) for s in samples) < 2:
        return Estimate(point, point, point)

    def statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        means = np.stack([r.mean(axis=axis) for r in resampled], axis=-1)
        return stats.trim_mean(means, proportiontocut=0.25, axis=-1)

    result = stats.bootstrap(samples, statistic, confidence_level=CONFIDENCE, n_resamples=BOOTSTRAP_RESAMPLES,
                             method="percentile", vectorized=True, random_state=np.random.default_rng(seed))
    return Estimate(point, float(result.confidence_interval.low), float(result.confidence_interval.high))


def evaluation_seeds(split: str, episodes: int) -> list[int]:
    """The first ``episodes`` fixed seeds of a split."""
    if split not in SEEDS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SEEDS)}")
    if not 1 <= episodes <= len(SEEDS[split]):
        raise ValueError(f"episodes must be between 1 and {len(SEEDS[split])} (the fixed seed list), got {episodes}")
    return list(SEEDS[split][:episodes])


def evaluate(policy: BatchPolicy, env_id: str, split: str = "test", episodes: int = DEFAULT_EPISODES,
             batch_size: int = 50, env_kwargs: dict[str, Any] | None = None, progress: bool = True,
             ablate: Sequence[str] = ()) -> EvalResult:
    """Play ``episodes`` episodes from the split's fixed seeds, ``batch_size`` worlds at a time; return metrics.

    ``ablate`` names observation keys (``"facts"``, ``"mission"``, ``"image"``) that are zeroed before the policy
    sees them: ``ablate=["facts"]`` measures what reading the facts is worth to a learned agent.
    """
    from tqdm import tqdm

    seeds = evaluation_seeds(split, episodes)
    batch_size = min(batch_size, episodes)
    vector_env = gym.make_vec(env_id, num_envs=batch_size, vectorization_mode="vector_entry_point", split=split,
                              **(env_kwargs or {}))
    space = vector_env.single_observation_space
    assert isinstance(space, gym.spaces.Dict)  # every fusiongym id (and wrapped MiniGrid id) observes a Dict
    keys = list(space.spaces)
    unknown = sorted(set(ablate) - set(keys))
    if unknown:
        vector_env.close()
        raise ValueError(f"cannot ablate {unknown}: the observation's keys are {', '.join(keys)}")
    records: list[dict[str, Any]] = []
    bar = tqdm(total=episodes, desc=f"evaluating {env_id} ({split})", unit="episode", disable=not progress,
               leave=False)
    for start in range(0, episodes, batch_size):
        batch_seeds = seeds[start:start + batch_size]
        active = np.zeros(batch_size, dtype=bool)
        active[:len(batch_seeds)] = True
        seeds_now = [*batch_seeds, *[None] * (batch_size - len(batch_seeds))]
        # one seed per world: fusiongym's vector env takes a list, as Gymnasium's own do (its base class says int)
        observations, infos = vector_env.reset(seed=seeds_now)  # type: ignore[arg-type]
        missions = list(infos["mission"])
        policy.reset(batch_size)
        episode_start = np.ones(batch_size, dtype=bool)
        returns = np.zeros(batch_size)
        lengths = np.zeros(batch_size, dtype=np.int64)
        while active.any():
            if ablate:
                observations = {k: (np.zeros_like(v) if k in ablate else v) for k, v in observations.items()}
            actions = policy.act(observations, vector_env, episode_start)
            observations, rewards, terminated, truncated, infos = vector_env.step(actions)
            episode_start = np.zeros(batch_size, dtype=bool)
            returns[active] += rewards[active]
            lengths[active] += 1
            for i in np.flatnonzero(active & (terminated | truncated)):
                records.append({"episode": start + int(i), "seed": batch_seeds[i], "success": bool(infos["success"][i]),
                                "return": float(returns[i]), "length": int(lengths[i]), "mission": str(missions[i])})
                active[i] = False
                bar.update(1)
    bar.close()
    vector_env.close()
    records.sort(key=lambda r: r["episode"])
    return EvalResult(
        env_id=env_id, split=split, episodes=episodes, seeds=seeds, seeds_version=SEEDS_VERSION,
        success_rate=bootstrap_mean([r["success"] for r in records]),
        mean_return=bootstrap_mean([r["return"] for r in records]),
        mean_length=bootstrap_mean([r["length"] for r in records]),
        per_episode=records,
        ablated=sorted(ablate),
    )


def eval_name(split: str, ablated: Sequence[str] = (), episodes: int = DEFAULT_EPISODES, greedy: bool = False) -> str:
    """The stem of an evaluation's files: ``test``, ``test-no-facts``, ``test-greedy``, ``test-20ep``
    (``eval-<stem>.json``).

    Only the protocol's evaluation (``DEFAULT_EPISODES`` episodes, nothing zeroed, the agent's protocol actions) is
    plain ``<split>``; any other is named for what differs, so that it never overwrites the protocol's one.
    ``greedy``: the most likely actions of an agent whose protocol samples them (``fusiongym eval --deterministic``).
    """
    stem = split + "".join(f"-no-{key}" for key in sorted(ablated)) + ("-greedy" if greedy else "")
    return stem if episodes == DEFAULT_EPISODES else f"{stem}-{episodes}ep"


def write_eval(result: EvalResult, folder: Path, extra: dict[str, Any] | None = None,
               greedy: bool = False) -> tuple[Path, Path]:
    """Write ``eval-<split>.json`` (metrics) and ``episodes-<split>.jsonl`` (one line per episode) atomically;
    an ablated evaluation goes to ``eval-<split>-no-<keys>.json``, a greedy one of a sampling agent (``greedy``) to
    ``eval-<split>-greedy.json`` and one of other than ``DEFAULT_EPISODES`` episodes to ``eval-<split>-<n>ep.json``,
    beside (never over) the protocol's one (see :func:`eval_name`)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = eval_name(result.split, result.ablated, result.episodes, greedy)
    metrics_path, episodes_path = folder / f"eval-{name}.json", folder / f"episodes-{name}.jsonl"
    atomic_write_text(metrics_path, json.dumps({**result.to_dict(), **(extra or {})}, indent=2) + "\n")
    atomic_write_text(episodes_path, "".join(json.dumps(r) + "\n" for r in result.per_episode))
    return metrics_path, episodes_path


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file through ``write(handle)`` so that readers see the old or the new content, never half of it:
    a temp file beside it, flushed and fsynced, then ``os.replace``."""
    import errno
    import os

    tmp = Path(path).with_name(Path(path).name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:  # a full disk, a kill signal turned exception: leave no half-written temp file
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise DiskFullError(f"the disk is full: {path} could not be written (the previous version, if any, is "
                                "intact); free some space and resume (fusiongym train --resume RUN)") from None
        raise


class DiskFullError(OSError):
    """A write that ran out of disk space; the message says that the previous file is intact and how to go on."""


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write` of a text."""
    atomic_write(path, lambda handle: handle.write(text.encode()))
