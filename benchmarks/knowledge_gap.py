"""The knowledge gap: how the oracle does with and without the episode's facts, per level, on the test split.

For every level that claims ``needs_knowledge``, the oracle bot plays ``--episodes`` episodes of the test split
twice: reading the facts it is shown, and without them (``use_facts=False``: it still recognises what training
could have taught it). A level's knowledge is necessary when the first is >= 99% and the second at most 50%.
A second table shows what each knowledge control does to the oracle that reads the facts (train split).

    python benchmarks/knowledge_gap.py [--episodes 200] [--seed 1000]
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

import gymnasium as gym

import fusiongym  # noqa: F401
from fusiongym.envs import env_ids
from fusiongym.envs.conformance import oracle_success_rate

CONTROLS = {
    "none": {},
    "distractor_facts=8": {"distractor_facts": 8},
    "drop_facts=1": {"drop_facts": 1},
    "corrupt_facts=1": {"corrupt_facts": 1},
    "contradict_facts=1": {"contradict_facts": 1},
    "shuffle_appearance": {"shuffle_appearance": True},
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Play the oracle with and without facts on every knowledge level and print the table; return its rows
    (``levels``: per id the oracle's success with and without facts, the gap, whether knowledge is necessary) and,
    with ``--controls``, the controls table (``controls``: per control, per level, the reading oracle's success)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1000, help="first episode seed; episode i uses seed + i")
    parser.add_argument("--controls", action="store_true", help="also print the knowledge-controls table")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"episodes": args.episodes, "seed": args.seed, "levels": {}}

    ids = [i for i in env_ids(include_deprecated=False) if gym.make(i).unwrapped.needs_knowledge]
    print(f"test split, {args.episodes} episodes per cell, seeds {args.seed}..{args.seed + args.episodes - 1}")
    print(f"{'level':28} {'oracle with facts':>18} {'oracle without':>15} {'gap':>6}  necessary")
    for env_id in ids:
        make = partial(gym.make, env_id, split="test")
        reading = oracle_success_rate(make, args.episodes, use_facts=True, seed=args.seed)
        blind = oracle_success_rate(make, args.episodes, use_facts=False, seed=args.seed)
        ok = "yes" if reading >= 0.99 and blind <= 0.5 else "NO"
        print(f"{env_id:28} {reading:18.1%} {blind:15.1%} {reading - blind:6.1%}  {ok}")
        report["levels"][env_id] = {"with_facts": reading, "without_facts": blind, "gap": reading - blind,
                                    "necessary": ok == "yes"}

    if args.controls:
        small = [i for i in ids if "Large" not in i]
        print(f"\nknowledge controls, train split, oracle reading the shown facts, {args.episodes} episodes per cell")
        print(f"{'control':22}" + "".join(f"{i.split('/')[1]:>12}" for i in small))
        for name, kwargs in CONTROLS.items():
            rates = [oracle_success_rate(partial(gym.make, i, **kwargs), args.episodes, seed=args.seed) for i in small]
            print(f"{name:22}" + "".join(f"{r:12.1%}" for r in rates))
            report.setdefault("controls", {})[name] = dict(zip(small, rates, strict=True))
    return report


if __name__ == "__main__":
    main()
