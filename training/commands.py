"""What each ``fusiongym`` subcommand does (``cmd_<name>``, handed the parsed arguments by
:func:`fusiongym.training.cli.main`): list envs, train, evaluate, record, the leaderboard, the demo."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import gymnasium as gym

from fusiongym.agents.registry import algorithm
from fusiongym.envs import REGISTRATIONS, env_ids

#: The demo: the level, the agent and the budget (sized for a 2-core laptop; see README and docs/results.md). The
#: agent is the fusion policy (tile CNN + frozen packaged MiniLM with its cache + the reading knowledge encoder +
#: FiLM) taught by DAgger.
DEMO_ENV = "fusiongym/GoTo-v1"  # the level where only reading the instruction wins (GoTo-v0 was won by search)
DEMO_ALGO = "dagger"  # imitation of the oracle reading the instruction (BabyAI's baseline)
DEMO_POLICY = "fusion"
DEMO_TIMESTEPS = 256_000  # 5 min 48 s in all on 2 cores: test 0.89 [0.82, 0.95], instruction zeroed 0.02


class CommandError(Exception):
    """A user error: printed as ``error: ...`` with exit status 2."""


def _check_env_id(env_id: str) -> None:
    if env_id not in gym.registry or not env_id.startswith("fusiongym/"):
        raise CommandError(f"unknown env id {env_id!r}; run `fusiongym envs` to list them ({', '.join(env_ids())})")


def _builtin_env_id(env_id: str, agent: str) -> str:
    """The id a built-in agent plays: a fusiongym id, or a MiniGrid / BabyAI id seen through
    ``MiniGridFusionWrapper`` (``fusiongym-wrapped/<id>``; the random agent only: the oracles read fusiongym
    worlds)."""
    if env_id.startswith("fusiongym/"):
        _check_env_id(env_id)
        return env_id
    from fusiongym.agents.minigrid import wrapped_env_id

    try:
        wrapped = wrapped_env_id(env_id)
    except ValueError as err:
        raise CommandError(f"unknown env id {env_id!r}: {err}; run `fusiongym envs` to list fusiongym's ids") from None
    if agent != "random":
        raise CommandError(f"--agent {agent} plays fusiongym levels only (it reads their worlds): on {env_id} use "
                           "--agent random, or choose a fusiongym id (`fusiongym envs`)")
    return wrapped


def _note_wrapped(env_id: str, missions: list[str]) -> None:
    """On stderr: what a MiniGrid / BabyAI id seen through the wrapper lacks (a split; words of the vocabulary)."""
    from fusiongym.agents.minigrid import WRAPPED_NAMESPACE, lost_words

    if not env_id.startswith(WRAPPED_NAMESPACE + "/"):
        return
    lost = lost_words(missions)
    words = (f"mission words the suite vocabulary lacks reached the agent as <unk>: {', '.join(lost)}" if lost
             else "every mission word is in the suite vocabulary")
    print(f"note: {env_id} is a third-party env through MiniGridFusionWrapper: no held-out split (--split picks "
          f"only the seed list); {words}", file=sys.stderr)




def _leaderboard(args: argparse.Namespace):
    from fusiongym.training.leaderboard import Leaderboard

    return Leaderboard(args.db)


# ----------------------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------------------


def cmd_envs(args: argparse.Namespace) -> int:
    """``fusiongym envs``: every registered id with its description (the PettingZoo ones where installed)."""
    try:  # the PettingZoo ids, registered by `import fusiongym` where PettingZoo is installed
        from fusiongym.envs.multiagent_registration import MULTIAGENT_REGISTRATIONS
    except ImportError:
        MULTIAGENT_REGISTRATIONS = ()
    width = max(len(reg_id) for reg_id in [*(r.id for r in REGISTRATIONS), *(r.id for r in MULTIAGENT_REGISTRATIONS)])
    for reg in REGISTRATIONS:
        print(f"{reg.id:{width}}  {reg.description}")
    if MULTIAGENT_REGISTRATIONS:
        print('\nmulti-agent (PettingZoo: pettingzoo.make("parallel" | "aec", id) after `import fusiongym`):')
        for multi in MULTIAGENT_REGISTRATIONS:
            print(f"{multi.id:{width}}  multi-agent: {multi.description}")
    else:
        print('\nmulti-agent ids (GuideFollower, KnowledgeSplit) need PettingZoo: pip install "fusiongym[multiagent]"')
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``fusiongym train``: a new run from ``--env`` and ``--algo``, or ``--resume RUN`` to its (raised) budget."""
    from fusiongym.training.config import build_run_config
    from fusiongym.training.run_folder import default_run_name
    from fusiongym.training.train import train

    if args.resume:
        finished = _finished(Path(args.resume)) and args.timesteps is None
        result = train(None, Path(args.resume), resume=True, progress=not args.no_progress, threads=args.threads,
                       trust_pickle=args.trust_pickle, device=args.device, extend_to=args.timesteps)
        if finished:
            return 0  # train() said that the run had already finished its budget: nothing was trained
    else:
        if not args.env or not args.algo:
            raise CommandError("train needs --env and --algo (or --resume RUN); see `fusiongym train --help`")
        _check_env_id(args.env)
        policy = args.policy or algorithm(args.algo).policies[0]
        config = build_run_config(args.env, args.algo, policy, seed=args.seed, timesteps=args.timesteps,
                                  overrides=args.hp, hyperparams_file=args.hyperparams,
                                  checkpoint_every=args.checkpoint_every, wandb=args.wandb,
                                  eval_every=args.eval_every, init_from=args.init_from)
        run_dir = Path(args.run_dir) if args.run_dir else Path(args.runs_dir) / default_run_name(config)
        print(f"run folder: {run_dir}", flush=True)
        result = train(config, run_dir, progress=not args.no_progress, threads=args.threads, device=args.device)
    print(f"trained {result.num_timesteps} steps in {result.wall_time_s:.0f} s -> {result.run_dir}", flush=True)
    return 0


def _finished(run_dir: Path) -> bool:
    """Whether a run folder's state says it finished its budget (False when it cannot be read: train says why)."""
    from fusiongym.training.run_folder import RunFolderError, read_state

    try:
        return read_state(run_dir).get("status") == "finished"
    except RunFolderError:
        return False


def _print_eval(result, label: str) -> None:
    mode = f", {result.actions} actions" if result.actions in ("sampled", "greedy") else ""
    mode += "".join(f", {key} zeroed" for key in result.ablated)
    print(f"{label} on {result.env_id} ({result.split} split, {result.episodes} episodes, fixed seeds{mode}):")
    print(f"  success rate  {result.success_rate}")
    print(f"  mean return   {result.mean_return}")
    print(f"  mean length   {result.mean_length}")
    print("  (value [95% bootstrap interval])")


def cmd_eval(args: argparse.Namespace) -> int:
    """``fusiongym eval``: a run's agent or a built-in one, by the evaluation protocol."""
    from fusiongym.training.evaluation import evaluate, write_eval
    from fusiongym.training.runs import builtin_policy, evaluate_run

    if args.run:
        result = evaluate_run(Path(args.run), split=args.split, episodes=args.episodes,
                              trust_pickle=args.trust_pickle, progress=not (args.json or args.no_progress),
                              deterministic=args.deterministic, ablate=args.ablate, device=args.device)
        label = Path(args.run).name
    else:
        if not args.agent or not args.env:
            raise CommandError("eval needs a RUN folder, or --agent and --env; see `fusiongym eval --help`")
        env_id = _builtin_env_id(args.env, args.agent)
        with contextlib.redirect_stdout(sys.stderr):  # BabyAI's level generator prints to stdout; keep it for results
            result = evaluate(builtin_policy(args.agent, args.seed), env_id, split=args.split,
                              episodes=args.episodes, progress=not (args.json or args.no_progress), ablate=args.ablate)
        _note_wrapped(env_id, [r["mission"] for r in result.per_episode])
        label = args.agent
        if args.out:
            write_eval(result, Path(args.out))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_eval(result, label)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """``fusiongym record``: a GIF of a run's agent or a built-in one playing."""
    from fusiongym.training.recording import record_episodes
    from fusiongym.training.runs import builtin_policy, load_run_policy

    if args.run:
        policy, config = load_run_policy(Path(args.run), trust_pickle=args.trust_pickle, device=args.device)
        env_id, who, env_kwargs = config.env_id, Path(args.run).name, config.env_kwargs
        out = Path(args.out) if args.out else Path(args.run) / f"episodes-{args.split}.gif"
    else:
        env_id = _builtin_env_id(args.env or "fusiongym/Fetch-v0", args.agent or "oracle")
        policy, who, env_kwargs = builtin_policy(args.agent or "oracle", args.seed), args.agent or "oracle", {}
        out = Path(args.out or "fusiongym_episodes.gif")
    stats = record_episodes(env_id, policy, out, episodes=args.episodes, seed=args.seed, split=args.split,
                            progress=not args.no_progress, **env_kwargs)
    print(f"wrote {out}: {args.episodes} episodes of {who} on {env_id} ({args.split} split), "
          f"success {stats['success_rate']:.0%}, mean length {stats['mean_length']:.1f} steps")
    return 0


def cmd_leaderboard_submit(args: argparse.Namespace) -> int:
    """``fusiongym leaderboard submit``: a run's evaluation into the leaderboard database."""
    from dataclasses import asdict

    from fusiongym.training.evaluation import DEFAULT_EPISODES
    from fusiongym.training.leaderboard import Submission, SubmissionError, is_ranked
    from fusiongym.training.runs import submission_from_run

    if args.json_file:
        try:
            data = json.loads(Path(args.json_file).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise SubmissionError(f"{args.json_file} is not a readable JSON submission ({err})") from None
        submission = Submission.from_dict(data, where=args.json_file)
    elif args.run:
        submission = submission_from_run(Path(args.run), split=args.split, name=args.name, ablate=args.ablate,
                                         episodes=args.episodes)
    else:
        raise CommandError("leaderboard submit needs a RUN folder or --json FILE")
    board = _leaderboard(args)
    number = board.submit(submission)
    zeroed = f", {submission.ablated} zeroed" if submission.ablated else ""
    print(f"submitted {submission.agent!r} on {submission.env_id} ({submission.split} split{zeroed}) as #{number} to "
          f"{board.path}")
    if not is_ranked(asdict(submission)):
        print(f"note: shown but not ranked (nor in the IQM): only evaluations of the protocol's {DEFAULT_EPISODES} "
              f"episodes with nothing zeroed are; this one has {submission.episodes} episodes{zeroed}")
    return 0


def cmd_leaderboard_show(args: argparse.Namespace) -> int:
    """``fusiongym leaderboard show``: the leaderboard's tables as text."""
    from fusiongym.training.leaderboard_render import render_text

    board = _leaderboard(args)
    rows = board.submissions(env_id=args.env, split=args.split)
    print(f"leaderboard {board.path}")
    print(render_text(rows, highlight=getattr(args, "highlight", None)))
    return 0


def cmd_leaderboard_export(args: argparse.Namespace) -> int:
    """``fusiongym leaderboard export``: the leaderboard as Markdown, CSV and HTML files."""
    from fusiongym.training.leaderboard import default_export_dir
    from fusiongym.training.leaderboard_render import export

    board = _leaderboard(args)
    for path in export(board.submissions(split=args.split), Path(args.out) if args.out else default_export_dir()):
        print(f"wrote {path}")
    return 0


def cmd_leaderboard_recover(args: argparse.Namespace) -> int:
    """``fusiongym leaderboard recover``: the readable rows of a damaged database, into a new one."""
    from fusiongym.training.leaderboard import default_db_path
    from fusiongym.training.leaderboard_recovery import recover

    report = recover(Path(args.db) if args.db else default_db_path(), Path(args.out))
    print(f"recovered {report.source} into {report.out}: saved {report.saved} rows, lost {report.lost} rows "
          f"({report.source} was left as it was)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Train the demo agent, evaluate it on the test split, record a GIF, submit it and print the leaderboard."""
    from fusiongym.training.config import build_run_config
    from fusiongym.training.evaluation import evaluate
    from fusiongym.training.leaderboard import DuplicateSubmissionError
    from fusiongym.training.leaderboard_render import render_text
    from fusiongym.training.recording import record_episodes
    from fusiongym.training.run_folder import default_run_name
    from fusiongym.training.runs import (
        builtin_policy,
        evaluate_run,
        load_run_policy,
        submission_from_eval,
        submission_from_run,
    )
    from fusiongym.training.train import train

    started = time.time()
    config = build_run_config(args.env, args.algo, args.policy, seed=args.seed, timesteps=args.timesteps,
                              overrides=args.hp, checkpoint_every=max(args.timesteps // 5, 1))
    run_dir = Path(args.runs_dir) / ("demo-" + default_run_name(config))
    print(f"[1/6] training {args.algo}-{args.policy} on {config.env_id} for {config.total_timesteps} steps "
          f"-> {run_dir}", flush=True)
    train(config, run_dir, progress=not args.no_progress, threads=args.threads)
    print(f"[2/6] evaluating on the test split ({args.episodes} episodes, fixed seeds)", flush=True)
    result = evaluate_run(run_dir, split="test", episodes=args.episodes, progress=not args.no_progress)
    _print_eval(result, run_dir.name)
    print("[3/6] the same with its instruction zeroed: what reading the instruction is worth", flush=True)
    blind = evaluate_run(run_dir, split="test", episodes=args.episodes, progress=not args.no_progress,
                         ablate=["mission"])
    _print_eval(blind, run_dir.name)
    print("[4/6] recording 3 test episodes", flush=True)
    policy, _ = load_run_policy(run_dir)
    gif = run_dir / "episodes-test.gif"
    record_episodes(config.env_id, policy, gif, episodes=3, seed=0, split="test", progress=not args.no_progress)
    print(f"  wrote {gif}")
    print("[5/6] submitting to the leaderboard, with the random and oracle references", flush=True)
    board = _leaderboard(args)
    board.submit(submission_from_run(run_dir, split="test", episodes=args.episodes))
    board.submit(submission_from_run(run_dir, split="test", episodes=args.episodes, ablate=["mission"]))
    for name in ("random", "oracle"):  # the references the new entry is read against, once per database
        reference = evaluate(builtin_policy(name), config.env_id, split="test", episodes=args.episodes,
                             progress=False)
        try:
            board.submit(submission_from_eval(reference.to_dict(with_episodes=True), agent=name, algo=name,
                                              policy=name))
        except DuplicateSubmissionError:
            pass
    print(f"[6/6] the leaderboard ({board.path})", flush=True)
    print(render_text(board.submissions(env_id=config.env_id, split="test"), highlight=run_dir.name))
    print(f"\ndemo finished in {time.time() - started:.0f} s; run folder {run_dir} (learning_curve.png, "
          f"episodes-test.gif, eval-test*.json)")
    return 0


# ----------------------------------------------------------------------------------------------------------------
# The parser
# ----------------------------------------------------------------------------------------------------------------
