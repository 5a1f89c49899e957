"""The ``fusiongym`` command."""

from __future__ import annotations

import argparse
import sys

import gymnasium as gym

from fusiongym.envs import REGISTRATIONS


def _cmd_envs(args: argparse.Namespace) -> int:
    width = max(len(r.id) for r in REGISTRATIONS)
    for reg in REGISTRATIONS:
        print(f"{reg.id:{width}}  {reg.description}")
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    from fusiongym.training.recording import blind_oracle_policy, oracle_policy, random_policy_factory, record_episodes

    if args.env not in gym.registry:
        known = ", ".join(r.id for r in REGISTRATIONS)
        print(f"error: unknown env id {args.env!r}; run `fusiongym envs` to list them ({known})", file=sys.stderr)
        return 2
    policy = {"oracle": oracle_policy, "blind-oracle": blind_oracle_policy}.get(args.agent) or random_policy_factory(
        args.seed
    )
    stats = record_episodes(args.env, policy, args.out, episodes=args.episodes, seed=args.seed, split=args.split)
    print(
        f"wrote {args.out}: {args.episodes} episodes of {args.agent} on {args.env} ({args.split} split), "
        f"success {stats['success_rate']:.0%}, mean length {stats['mean_length']:.1f} steps"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fusiongym",
        description="Environments where an agent fuses an instruction, RGB pixels and knowledge-graph facts.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    envs = commands.add_parser("envs", help="list every registered env id with a one-line description")
    envs.set_defaults(run=_cmd_envs)
    record = commands.add_parser("record", help="write a GIF of episodes, instruction and facts drawn beside the map")
    record.add_argument("--env", default="fusiongym/Fetch-v0", help="env id (see `fusiongym envs`)")
    record.add_argument("--agent", choices=["oracle", "blind-oracle", "random"], default="oracle",
                        help="who acts: the oracle reading the facts, the oracle without them, or random")
    record.add_argument("--episodes", type=int, default=3)
    record.add_argument("--split", choices=["train", "test"], default="train")
    record.add_argument("--seed", type=int, default=0)
    record.add_argument("--out", default="fusiongym_episodes.gif", help="where to write the GIF")
    record.set_defaults(run=_cmd_record)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
