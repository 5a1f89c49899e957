"""The ``fusiongym`` command: list envs, train, evaluate, record, the leaderboard, and the demo (the main job).

    fusiongym envs
    fusiongym train --env fusiongym/GoTo-v0 --algo ppo --policy fusion --timesteps 50000 --seed 0
    fusiongym train --resume runs/GoTo-v0-ppo-fusion-s0-20260101-120000
    fusiongym eval RUN --split test --episodes 100 [--json]
    fusiongym record RUN --episodes 3
    fusiongym leaderboard submit RUN | show | export --out leaderboard/
    fusiongym leaderboard build --levels fusiongym/GoTo-v1 --seeds 0 1 [--ray [auto|HOST:PORT]]
    fusiongym sweep examples/sweep_goto.yml --out runs/sweep-goto
    fusiongym demo
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fusiongym.agents.registry import ALGORITHMS, POLICIES
from fusiongym.training.commands import (
    DEMO_ALGO,
    DEMO_ENV,
    DEMO_POLICY,
    DEMO_TIMESTEPS,
    CommandError,
    cmd_demo,
    cmd_envs,
    cmd_eval,
    cmd_leaderboard_export,
    cmd_leaderboard_recover,
    cmd_leaderboard_show,
    cmd_leaderboard_submit,
    cmd_record,
    cmd_train,
)
from fusiongym.training.config import BUILTIN_AGENTS
from fusiongym.training.matrix_command import GUIDE, add_build_arguments, build_command
from fusiongym.training.sweep import add_sweep_arguments, sweep_command


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
                       help="override hyperparameters, e.g. --hp learning_rate=3e-4 fusion.block.kind=concat (or one "
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

    board = commands.add_parser("leaderboard",
                                help="build, submit to, show, export or recover the leaderboard database",
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
    build = board_commands.add_parser(
        "build", help="train and evaluate the baseline matrix (levels x agents x seeds), in parts, optionally on Ray",
        description=GUIDE.split("\n\n")[0], epilog=GUIDE, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_build_arguments(build)
    build.set_defaults(handler=build_command)

    sweep = commands.add_parser(
        "sweep", help="hyperparameter search with Ray Tune: trials are run folders; writes best.yml",
        description="Search --hp keys with Ray Tune (ASHA early stopping, every draw on several seeds, selected "
                    "on the train split's evaluation seeds); each trial is a run folder, and the best draw is "
                    "written as a --hyperparams YAML. The sweep file's format: `python -c \"import "
                    "fusiongym.training.sweep as s; print(s.__doc__)\"`, an example in examples/sweep_goto.yml.")
    add_sweep_arguments(sweep)
    sweep.set_defaults(handler=sweep_command)

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
