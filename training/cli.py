"""The ``fusiongym`` command: list envs, train, evaluate, record, the leaderboard, and the demo (the main job).

    fusiongym envs
    fusiongym train --env fusiongym/GoTo-v0 --algo ppo --policy fusion --timesteps 50000 --seed 0
    fusiongym train --resume runs/GoTo-v0-ppo-fusion-s0-20260101-120000
    fusiongym eval RUN --split test --episodes 100 [--json]
    fusiongym record RUN --episodes 3
    fusiongym leaderboard submit RUN | show | export --out leaderboard/
    fusiongym demo
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import gymnasium as gym

from fusiongym.agents.registry import ALGORITHMS, POLICIES, algorithm
from fusiongym.envs import REGISTRATIONS, env_ids
from fusiongym.training.config import BUILTIN_AGENTS

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


def _int_at_least(minimum: int):
    """An argparse type: an int >= ``minimum`` (0 threads, episodes or steps is an error that says so)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}" if minimum == 1 else
                                             f"must be {minimum} or more, got {value}")
        return value

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


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
    from fusiongym.training.leaderboard import default_db_path, recover

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


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (transformers' own included)")


def _add_device(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--device", default="cpu", metavar="DEVICE",
                        help=f"where {what}: cpu (the default), auto (a GPU when torch sees one), cuda or cuda:N; a "
                             "device this machine lacks is an error")


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None, help="leaderboard database (default: $FUSIONGYM_HOME/leaderboard.sqlite,"
                        " FUSIONGYM_HOME defaulting to ~/.fusiongym)")


def build_parser() -> argparse.ArgumentParser:
    """The ``fusiongym`` command's parser: one subcommand per ``cmd_*`` handler."""
    parser = argparse.ArgumentParser(
        prog="fusiongym",
        description="Environments where an agent fuses an instruction, RGB pixels and knowledge-graph facts; "
                    "train, evaluate, record and compare agents on them.",
        epilog="Run `fusiongym COMMAND --help` for a command's options. Start with `fusiongym demo`.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    envs = commands.add_parser("envs", help="list every registered env id with a one-line description",
                               description="List every registered env id with a one-line description.")
    envs.set_defaults(handler=cmd_envs)

    train = commands.add_parser(
        "train", help="train an agent into a run folder (checkpoints, logs, learning curve)",
        description="Train an agent into a run folder. Hyperparameters come from training/configs/<algo>.yml (the "
                    "'default' entry, then the env's entry), then --hp overrides; the resolved config is saved as "
                    "config.yaml in the run folder.")
    train.add_argument("--env", help="env id (see `fusiongym envs`)")
    train.add_argument("--algo", choices=list(ALGORITHMS), help="learning algorithm: " + "; ".join(
        f"{name} ({spec.summary})" for name, spec in ALGORITHMS.items()))
    train.add_argument("--policy", choices=list(POLICIES), help="the policy (default: the algorithm's first): "
                       + "; ".join(f"{name} ({summary})" for name, summary in POLICIES.items()))
    train.add_argument("--timesteps", type=_positive_int, help="total environment steps (default: n_timesteps of the "
                       "config); with --resume, a larger budget for the run (a finished run goes on)")
    train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train.add_argument("--hp", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                       help="override hyperparameters, e.g. --hp learning_rate=3e-4 fusion.fusion=concat (or one "
                       "--hp per override)")
    train.add_argument("--hyperparams", type=Path, help="hyperparameter YAML (default: training/configs/<algo>.yml)")
    train.add_argument("--runs-dir", default="runs", help="where new run folders go (default: runs/)")
    train.add_argument("--run-dir", help="exact run folder (default: runs/<env>-<algo>-<policy>-s<seed>-<time>)")
    train.add_argument("--checkpoint-every", type=_positive_int, help="steps between checkpoints (default: a tenth "
                       "of the budget); a killed run loses at most this many steps")
    train.add_argument("--eval-every", type=_non_negative_int, help="steps between test-split evaluations during "
                       "training (the protocol's fixed seeds; logged as eval/success_rate, best agent kept in "
                       "best_agent/; default: eval_every of the config, 0 = none)")
    train.add_argument("--init-from", metavar="RUN", help="start from RUN's trained weights (e.g. PPO fine-tuning "
                       "of a bc / dagger run); same --policy and fusion settings as RUN")
    train.add_argument("--resume", metavar="RUN", help="continue RUN to its total budget from its last checkpoint")
    train.add_argument("--wandb", action="store_true", help="log to Weights & Biases (offline unless WANDB_MODE says "
                       "otherwise)")
    train.add_argument("--threads", type=_positive_int, default=1, help="torch CPU threads (default 1)")
    train.add_argument("--trust-pickle", action="store_true", help="open a checkpoint.zip this run did not write")
    _add_device(train, "the policy trains (not part of the run: a resumed run takes the one given now)")
    _add_progress(train)
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser(
        "eval", help="evaluate a run (or a built-in agent) on fixed seeds, with 95%% bootstrap intervals",
        description=f"Evaluate a trained run (or --agent {'|'.join(BUILTIN_AGENTS)} on --env) on the split's fixed "
                    "seeds. Writes eval-<split>.json and episodes-<split>.jsonl into the run folder.")
    evaluate.add_argument("run", nargs="?", help="a run folder made by `fusiongym train`")
    evaluate.add_argument("--agent", choices=BUILTIN_AGENTS, help="a built-in agent instead")
    evaluate.add_argument("--env", help="env id for --agent: a fusiongym id, or with --agent random a MiniGrid / "
                          "BabyAI id (e.g. BabyAI-GoToLocal-v0, seen through MiniGridFusionWrapper)")
    evaluate.add_argument("--split", choices=["train", "test"], default="test", help="which split's worlds and "
                          "fixed seeds (default test, the leaderboard's)")
    evaluate.add_argument("--episodes", type=_positive_int, default=100, help="episodes (default 100, the "
                          "protocol's)")
    evaluate.add_argument("--seed", type=int, default=0, help="the random agent's seed")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate.add_argument("--out", help="with --agent: folder for eval-<split>.json and episodes-<split>.jsonl")
    evaluate.add_argument("--deterministic", action="store_true", help="take the policy's most likely action "
                          "(default: sample from it, seeded, as RL Zoo does for grid worlds); written to "
                          "eval-<split>-greedy.json, beside the protocol's")
    evaluate.add_argument("--ablate", nargs="+", default=[], choices=["facts", "mission", "image"],
                          help="zero these observation keys before the agent sees them (e.g. --ablate facts: what "
                               "reading the facts is worth); written to eval-<split>-no-<key>.json")
    evaluate.add_argument("--trust-pickle", action="store_true", help="open a checkpoint.zip the run did not write")
    _add_device(evaluate, "a run's agent runs (built-in agents need none)")
    _add_progress(evaluate)
    evaluate.set_defaults(handler=cmd_eval)

    record = commands.add_parser(
        "record", help="write a GIF of episodes, instruction and facts drawn beside the map",
        description="Write a GIF of a run's agent (or a built-in agent) playing episodes, with the instruction "
                    "and the facts drawn beside the map.")
    record.add_argument("run", nargs="?", help="a run folder (default: a built-in --agent)")
    record.add_argument("--env", help="env id for --agent (default fusiongym/Fetch-v0); with --agent random also a "
                        "MiniGrid / BabyAI id (seen through MiniGridFusionWrapper)")
    record.add_argument("--agent", choices=BUILTIN_AGENTS,
                        help="who acts: the oracle reading the facts, the oracle without them, or random")
    record.add_argument("--episodes", type=_positive_int, default=3, help="episodes to record (default 3)")
    record.add_argument("--split", choices=["train", "test"], default="train", help="split (default train)")
    record.add_argument("--seed", type=int, default=0, help="first episode seed")
    record.add_argument("--out", help="GIF path (default: RUN/episodes-<split>.gif or fusiongym_episodes.gif)")
    record.add_argument("--trust-pickle", action="store_true", help="open a checkpoint.zip the run did not write")
    _add_device(record, "a run's agent runs (built-in agents need none)")
    _add_progress(record)
    record.set_defaults(handler=cmd_record)

    board = commands.add_parser("leaderboard", help="submit to, show, export or recover the leaderboard database",
                                description="The leaderboard: an SQLite database of evaluated agents.")
    board_commands = board.add_subparsers(dest="leaderboard_command", required=True, metavar="ACTION")
    submit = board_commands.add_parser("submit", help="submit an evaluated run (or a JSON submission)",
                                       description="Submit a run's eval-<split>.json (run `fusiongym eval RUN` "
                                                   "first) or a JSON submission file.")
    submit.add_argument("run", nargs="?", help="an evaluated run folder")
    submit.add_argument("--json", dest="json_file", help="a JSON submission file instead of a run")
    submit.add_argument("--split", choices=["train", "test"], default="test", help="which evaluation of the run "
                        "to submit (default test)")
    submit.add_argument("--name", help="agent name (default: the run folder's name)")
    submit.add_argument("--ablate", nargs="+", default=[], choices=["facts", "mission", "image"],
                        help="submit the run's evaluation with these keys zeroed (eval-<split>-no-<key>.json, from "
                             "`fusiongym eval RUN --ablate KEY`): a separate, unranked row, e.g. 'RUN (no facts)'")
    submit.add_argument("--episodes", type=int, help="submit the run's evaluation of this many episodes (default: "
                        "the protocol's 100, or the run's only evaluation); others are shown but not ranked")
    _add_db(submit)
    submit.set_defaults(handler=cmd_leaderboard_submit)
    show = board_commands.add_parser("show", help="print the leaderboard", description="Print the leaderboard.")
    show.add_argument("--env", help="only this env id")
    show.add_argument("--split", choices=["train", "test"], help="only this split")
    _add_db(show)
    show.set_defaults(handler=cmd_leaderboard_show)
    export = board_commands.add_parser("export", help="write leaderboard.md, .csv and .html",
                                       description="Write leaderboard.md, leaderboard.csv and leaderboard.html "
                                                   "(sortable table and bar chart).")
    export.add_argument("--out", default=None, help="output folder (default: $FUSIONGYM_HOME/export, "
                        "FUSIONGYM_HOME defaulting to ~/.fusiongym)")
    export.add_argument("--split", choices=["train", "test"], help="only this split")
    _add_db(export)
    export.set_defaults(handler=cmd_leaderboard_export)
    recover = board_commands.add_parser(
        "recover", help="copy what a damaged database still holds into a new one",
        description="Copy every submission that can still be read from a damaged leaderboard database (--db) into "
                    "a new database (--out), and report how many rows were saved and lost. The damaged file is "
                    "never modified.")
    recover.add_argument("--out", required=True, help="the new database to write (must not exist)")
    _add_db(recover)
    recover.set_defaults(handler=cmd_leaderboard_recover)

    demo = commands.add_parser(
        "demo", help="the main job: train, evaluate, record, submit and show the leaderboard (minutes on 2 cores)",
        description=f"Train {DEMO_ALGO} with the {DEMO_POLICY} policy on {DEMO_ENV} (train split, "
                    f"{DEMO_TIMESTEPS:,} steps), evaluate it on the test split's fixed seeds, and again with its "
                    "instruction zeroed, record a GIF, submit both to the local leaderboard (with random and oracle "
                    "references) and print the leaderboard.")
    demo.add_argument("--env", default=DEMO_ENV, help=f"env id (default {DEMO_ENV})")
    demo.add_argument("--algo", choices=["ppo", "dagger", "bc"], default=DEMO_ALGO,
                      help=f"the algorithm (default {DEMO_ALGO})")
    demo.add_argument("--policy", choices=["sb3_default", "fusion", "cnn"], default=DEMO_POLICY,
                      help=f"the policy (default {DEMO_POLICY})")
    demo.add_argument("--timesteps", type=_positive_int, default=DEMO_TIMESTEPS,
                      help=f"budget (default {DEMO_TIMESTEPS})")
    demo.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    demo.add_argument("--episodes", type=_positive_int, default=100, help="test episodes (default 100)")
    demo.add_argument("--hp", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                      help="hyperparameter overrides, as train's")
    demo.add_argument("--runs-dir", default="runs", help="where the run folder goes (default: runs/)")
    demo.add_argument("--threads", type=_positive_int, default=min(2, os.cpu_count() or 1),
                      help="torch CPU threads (default: 2, or 1 on a one-core machine)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_db(demo)
    demo.set_defaults(handler=cmd_demo)
    return parser


def silence_progress_bars() -> None:
    """``--no-progress``: no bars from transformers and huggingface_hub either (transformers draws "Loading weights"
    while it reads a backbone). Set before they are imported, and on them if they already are."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    """The ``fusiongym`` command; returns its exit status (2 on a user error, which it prints)."""
    from fusiongym.training.config import ConfigError
    from fusiongym.training.evaluation import DiskFullError
    from fusiongym.training.leaderboard import SubmissionError
    from fusiongym.training.run_folder import RunFolderError

    args = build_parser().parse_args(argv)
    if getattr(args, "no_progress", False):
        silence_progress_bars()
    try:
        return args.handler(args)
    except (CommandError, ConfigError, RunFolderError, SubmissionError, DiskFullError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (a run resumes from its last checkpoint with `fusiongym train --resume RUN`)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
