"""Hyperparameter search with Ray Tune: ``fusiongym sweep CONFIG.yml``.

The sweep file (``env``, ``algo``, ``timesteps``, ``eval_every`` and ``search_space`` are required)::

    env: fusiongym/GoTo-v1
    algo: ppo
    policy: cnn                   # default: the algorithm's first
    timesteps: 20000              # each trial's budget
    eval_every: 4000              # steps between evaluations, each one reported to Tune
    eval_episodes: 20             # default 20: episodes of each (the train split's fixed evaluation seeds)
    seeds: [0, 1]                 # default [0]: every draw is trained on every seed
    num_samples: 3                # default 1: hyperparameter draws; trials = num_samples x len(seeds)
    search_seed: 0                # default 0: the seed of the draws (a sweep is reproducible)
    search_space:                 # --hp keys (dotted ones too) and their distributions:
      learning_rate: {loguniform: [0.0001, 0.003]}   # also {uniform: [low, high]}
      ent_coef: {choice: [0.0, 0.01]}                 # and {randint: [low, high]}: ints, high excluded
    scheduler: {asha: {grace_period: 1, reduction_factor: 2}}  # also max_t, brackets; default: no early stopping
    hp: [n_envs=8]                # fixed --hp overrides
    hyperparams: my_ppo.yml       # default: training/configs/<algo>.yml, as `fusiongym train --hyperparams`

The draws are made up front (random search), so that each is trained on every seed. Each trial is a normal run
folder, ``<out>/trials/draw<i>-s<seed>``, evaluated on the **train** split's fixed seeds (``eval_split: train``):
hyperparameters are never selected on the test split. ASHA counts time in evaluations. A trial's score is its last
reported success rate (an early-stopped trial's: the one it was stopped at; a failed trial's: 0); the best draw has
the highest mean score over its seeds. ``<out>/best.yml`` holds its resolved hyperparameters under the env id, for
``fusiongym train --hyperparams``; ``<out>/trials.csv`` lists every trial; ``<out>/tune`` holds Tune's records.
With ``--address`` (an existing Ray cluster) ``--out`` must be a folder every node sees.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import difflib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fusiongym.training.config import ConfigError, RunConfig, build_run_config, resolve_hyperparams

#: How each distribution of the search space is written, and what it draws (floats to 4 significant digits).
DISTRIBUTIONS = {"uniform": "[low, high]", "loguniform": "[low, high], low > 0", "randint": "[low, high) ints",
                 "choice": "[value, value, ...]"}
_SAMPLERS: dict[str, Callable[[np.random.Generator, list[Any]], Any]] = {
    "uniform": lambda rng, args: float(f"{rng.uniform(args[0], args[1]):.4g}"),
    "loguniform": lambda rng, args: float(f"{math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))):.4g}"),
    "randint": lambda rng, args: int(rng.integers(args[0], args[1])),
    "choice": lambda rng, args: args[int(rng.integers(len(args)))],
}
ASHA_KEYS = ("grace_period", "reduction_factor", "max_t", "brackets")
_KEYS = ("env", "algo", "policy", "timesteps", "eval_every", "eval_episodes", "seeds", "num_samples", "search_seed",
         "search_space", "scheduler", "hp", "hyperparams")
_REQUIRED = ("env", "algo", "timesteps", "eval_every", "search_space")
#: A trial's name, and its run folder's under ``<out>/trials``, from its Tune config.
TRIAL_NAME = "draw{draw}-s{seed}"


@dataclass
class Sweep:
    """A validated sweep file (see the module docstring); ``search_space`` maps keys to (distribution, args)."""

    env_id: str
    algo: str
    policy: str
    timesteps: int
    eval_every: int
    search_space: dict[str, tuple[str, list[Any]]]
    eval_episodes: int = 20
    seeds: list[int] = field(default_factory=lambda: [0])
    num_samples: int = 1
    search_seed: int = 0
    asha: dict[str, Any] | None = None
    hp: list[str] = field(default_factory=list)
    hyperparams_file: Path | None = None
    source: str = "sweep"

    def draws(self) -> list[dict[str, Any]]:
        """``num_samples`` hyperparameter sets drawn from the search space (the same for the same search_seed)."""
        rng = np.random.default_rng(self.search_seed)
        return [{key: _SAMPLERS[name](rng, args) for key, (name, args) in self.search_space.items()}
                for _ in range(self.num_samples)]

    def overrides(self, draw: dict[str, Any]) -> list[str]:
        """The ``--hp`` overrides of a trial: the fixed ``hp``, then the draw's."""
        return [*self.hp, *(f"{key}={json.dumps(value)}" for key, value in draw.items())]

    def run_config(self, draw: dict[str, Any], seed: int) -> RunConfig:
        """The config of one trial, as ``fusiongym train`` builds it, evaluated on the train split."""
        config = build_run_config(self.env_id, self.algo, self.policy, seed=seed, timesteps=self.timesteps,
                                  overrides=[*self.overrides(draw), f"eval_episodes={self.eval_episodes}"],
                                  hyperparams_file=self.hyperparams_file, eval_every=self.eval_every)
        return dataclasses.replace(config, eval_split="train")  # validated: either split is a valid one


def _hint(name: Any, options: Any) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _int(data: dict[str, Any], key: str, where: str, default: int | None = None, least: int = 1,
         most: int | None = None) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= (most or value):
        raise ConfigError(f"{where}: {key} must be an int from {least}{f' to {most}' if most else ''}, got {value!r} "
                          "(write 20000, not 2e4)")
    return value


def _distribution(key: str, spec: Any, where: str) -> tuple[str, list[Any]]:
    forms = "; ".join(f"{{{name}: {form}}}" for name, form in DISTRIBUTIONS.items())
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(f"{where}: search_space.{key} must be one distribution, one of {forms}; got {spec!r}")
    (name, args), = spec.items()
    if name not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: search_space.{key}: unknown distribution {name!r}: {_hint(name, DISTRIBUTIONS)}"
                          f"write one of {forms}")
    number = int if name == "randint" else (int, float)
    if not isinstance(args, list) or not args or name != "choice" and (
            len(args) != 2 or not all(isinstance(a, number) and not isinstance(a, bool) for a in args)
            or not args[0] < args[1] or (name == "loguniform" and args[0] <= 0)):
        raise ConfigError(f"{where}: search_space.{key}: {name} takes {DISTRIBUTIONS[name]}"
                          f"{'' if name == 'choice' else ' with low < high'}, got {args!r}")
    return name, args


def load_sweep(path: Path) -> Sweep:
    """Read and validate a sweep file; every draw is checked as ``fusiongym train --hp`` would check it."""
    from fusiongym.agents.registry import ALGORITHMS, algorithm
    from fusiongym.training.config import coerce_numbers
    from fusiongym.training.seeds import TRAIN_SEEDS

    path = Path(path).resolve()
    try:
        data = coerce_numbers(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"sweep file {path} cannot be read ({err}): fix it (see examples/sweep_goto.yml)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must map sweep settings (env, algo, search_space …), got {type(data).__name__}")
    for key in data:
        if key not in _KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}: {_hint(key, _KEYS)}valid keys are {', '.join(_KEYS)}")
    if missing := [key for key in _REQUIRED if key not in data]:
        raise ConfigError(f"{path} lacks {', '.join(missing)}: add it (see examples/sweep_goto.yml)")
    if data["algo"] not in ALGORITHMS:
        raise ConfigError(f"{path}: unknown algo {data['algo']!r}: choose one of {', '.join(ALGORITHMS)}")
    seeds, space, hp = data.get("seeds", [0]), data["search_space"], data.get("hp", [])
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ConfigError(f"{path}: seeds must be a list of distinct ints, e.g. [0, 1], got {seeds!r}")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{path}: search_space must map --hp keys to distributions, e.g. "
                          "{learning_rate: {loguniform: [0.0001, 0.003]}}")
    if not isinstance(hp, list) or not all(isinstance(item, str) for item in hp):
        raise ConfigError(f"{path}: hp must be a list of KEY=VALUE strings, e.g. [n_envs=8], got {hp!r}")
    scheduler = data.get("scheduler")
    asha = (scheduler["asha"] or {}) if isinstance(scheduler, dict) and list(scheduler) == ["asha"] else None
    if scheduler is not None and not isinstance(asha, dict):
        raise ConfigError(f"{path}: scheduler must be {{asha: {{grace_period: 1, reduction_factor: 2}}}} (ASHA early "
                          f"stopping) or left out (no early stopping), got {scheduler!r}")
    for key in asha or {}:
        if key not in ASHA_KEYS:
            raise ConfigError(f"{path}: unknown asha setting {key!r}: {_hint(key, ASHA_KEYS)}valid ones are "
                              f"{', '.join(ASHA_KEYS)}")
        _int(asha or {}, key, f"{path}: scheduler.asha")
    where = str(path)
    sweep = Sweep(
        env_id=str(data["env"]), algo=data["algo"], policy=data.get("policy") or algorithm(data["algo"]).policies[0],
        timesteps=_int(data, "timesteps", where), eval_every=_int(data, "eval_every", where),
        search_space={str(key): _distribution(key, spec, where) for key, spec in space.items()},
        eval_episodes=_int(data, "eval_episodes", where, 20, most=len(TRAIN_SEEDS)), seeds=seeds,
        num_samples=_int(data, "num_samples", where, 1), search_seed=_int(data, "search_seed", where, 0, least=0),
        asha=asha, hp=hp, source=where,
        hyperparams_file=(path.parent / data["hyperparams"]) if data.get("hyperparams") else None)
    for number, draw in enumerate(sweep.draws()):
        try:
            sweep.run_config(draw, seeds[0])
        except ConfigError as err:
            raise ConfigError(f"{path}: search_space / hp, draw {number} {draw}: {err}") from None
    return sweep


def _train_trial(config: dict[str, Any], sweep: Sweep, draws: list[dict[str, Any]], trials_dir: str) -> None:
    """One Tune trial: train a run folder, reporting each evaluation's success rate to Tune."""
    from ray import tune

    from fusiongym.training.train import train

    def report(record: dict[str, Any], last: bool = False) -> None:
        # the last evaluation is reported once the run folder is whole: a stop there must not cut the agent's saving
        if last or record["num_timesteps"] < run_config.total_timesteps:
            tune.report({key: record[key] for key in ("success_rate", "mean_return", "num_timesteps")})

    run_config = sweep.run_config(draws[config["draw"]], config["seed"])
    run_dir = Path(trials_dir) / TRIAL_NAME.format(**config)
    train(run_config, run_dir, progress=False, threads=1, on_evaluation=report)
    report(json.loads((run_dir / "evaluations.jsonl").read_text().splitlines()[-1]), last=True)


def run_sweep(sweep: Sweep, out: Path, workers: int = 2, address: str | None = None) -> list[dict[str, Any]]:
    """Run every trial with Tune (``workers`` at a time, on a local Ray of ``workers`` CPUs, or the cluster at
    ``address``, or the Ray already initialised); write ``best.yml`` and ``trials.csv``; return the trials."""
    try:
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
    except ImportError:
        raise ConfigError('fusiongym sweep needs Ray Tune: pip install "fusiongym[ray]"') from None

    out = Path(out).resolve()
    if (out / "trials").exists():
        raise ConfigError(f"{out} already holds a sweep (trials/ is there): choose another --out")
    draws, scheduler = sweep.draws(), None
    if sweep.asha is not None:  # time is counted in evaluations; a trial is never stopped for reaching max_t
        settings = {"max_t": sweep.timesteps // sweep.eval_every + 1, **sweep.asha}
        scheduler = ASHAScheduler(time_attr="training_iteration", stop_last_trials=False, **settings)
    if started := not ray.is_initialized():
        if not address:  # a local Ray: no usage statistics sent unless the user's environment asks for them
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=address or "local", num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False)
    try:
        trainable = tune.with_resources(tune.with_parameters(_train_trial, sweep=sweep, draws=draws,
                                                             trials_dir=str(out / "trials")), {"cpu": 1})
        grid = tune.Tuner(
            trainable, param_space={"draw": tune.grid_search(list(range(len(draws)))),
                                    "seed": tune.grid_search(sweep.seeds)},
            tune_config=tune.TuneConfig(metric="success_rate", mode="max", scheduler=scheduler, num_samples=1,
                                        max_concurrent_trials=workers,
                                        trial_name_creator=lambda trial: TRIAL_NAME.format(**trial.config),
                                        trial_dirname_creator=lambda trial: TRIAL_NAME.format(**trial.config)),
            run_config=tune.RunConfig(name="sweep", storage_path=str(out / "tune"), verbose=1)).fit()
    finally:
        if started:
            ray.shutdown()
    trials = sorted((_trial_record(grid[i], draws, sweep.timesteps) for i in range(len(grid))),
                    key=lambda trial: (trial["draw"], trial["seed"]))
    with open(out / "trials.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(trials[0]))
        writer.writeheader()
        writer.writerows(trials)
    if all(t["error"] for t in trials):
        raise ConfigError(f"every trial failed ({trials[0]['error']}); see {out / 'trials.csv'} and the trials' "
                          f"error.txt under {out / 'tune'}")
    scores = [float(np.mean([t["last_success"] or 0.0 for t in trials if t["draw"] == d])) for d in range(len(draws))]
    best = int(np.argmax(scores))
    write_best(sweep, draws[best], scores[best], out / "best.yml")
    return trials


def _trial_record(result: Any, draws: list[dict[str, Any]], timesteps: int) -> dict[str, Any]:
    """A line of trials.csv: the trial, its draw, seed and hyperparameters, how far it got and how well it did."""
    metrics, error = result.metrics or {}, result.error
    steps = metrics.get("num_timesteps", 0)
    return {"trial": TRIAL_NAME.format(**result.config), **result.config, **draws[result.config["draw"]],
            "last_success": metrics.get("success_rate"), "evaluations": metrics.get("training_iteration", 0),
            "num_timesteps": steps, "stopped_early": not error and steps < timesteps,
            "error": f"{type(error).__name__}: {error}".splitlines()[0] if error else ""}


def write_best(sweep: Sweep, draw: dict[str, Any], score: float, path: Path) -> None:
    """``path``: a hyperparameter file holding the resolved hyperparameters of ``draw`` under the sweep's env id."""
    hyperparams, source = resolve_hyperparams(sweep.algo, sweep.policy, sweep.env_id, sweep.overrides(draw),
                                              sweep.hyperparams_file)
    header = (f"# Best draw of {sweep.source} (seeds {sweep.seeds}): {json.dumps(draw)}, mean success {score:.3f} on "
              f"the train split's evaluation seeds; on top of {source}.\n# Use: fusiongym train --env "
              f"{sweep.env_id} --algo {sweep.algo} --policy {sweep.policy} --hyperparams {path}\n")
    hyperparams["n_timesteps"] = sweep.timesteps
    path.write_text(header + yaml.safe_dump({sweep.env_id: hyperparams}, sort_keys=False))


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fusiongym sweep`` arguments: the sweep file, ``--out``, ``--workers`` and ``--address``."""
    parser.add_argument("config", type=Path, metavar="CONFIG.yml", help="the sweep file (see examples/sweep_goto.yml)")
    parser.add_argument("--out", type=Path, help="the sweep's folder (default: runs/sweep-<CONFIG name>)")
    parser.add_argument("--workers", type=int, default=2, help="trials at once, one CPU each (default 2)")
    parser.add_argument("--address", help="an existing Ray cluster (e.g. auto; default: a local Ray of --workers CPUs)")


def sweep_command(args: argparse.Namespace) -> int:
    """``fusiongym sweep``: validate the sweep file, run it, print the trials and where the best config went."""
    if args.workers < 1:
        raise ConfigError(f"--workers must be a positive int, got {args.workers}")
    sweep = load_sweep(args.config)
    out = Path(args.out) if args.out else Path("runs") / f"sweep-{Path(args.config).stem}"
    print(f"sweep: {sweep.num_samples} draws x {len(sweep.seeds)} seeds = {sweep.num_samples * len(sweep.seeds)} "
          f"trials -> {out}", flush=True)
    for trial in run_sweep(sweep, out, workers=args.workers, address=args.address):
        status = trial["error"] or ("stopped early" if trial["stopped_early"] else "finished")
        print(f"  {trial['trial']:14} success {trial['last_success']}, {trial['evaluations']} evaluations: {status}")
    print(f"best config: {out / 'best.yml'}; every trial: {out / 'trials.csv'}")
    return 0
