"""Where a trained agent's knowledge reads land: on the records the level's rule says to read, or elsewhere.

A fusion policy with the reading preset reads the facts by attention (``TripleEncoder``): the first read (text
retrieval: the record whose attributes the instruction names), the named read (the record of the thing the
instruction names) and the follow read (the record that one points to). This script plays nothing: for the first
state of ``--episodes`` episodes of a split (the protocol's seeds) it runs the agent's knowledge encoder and reports,
for each read the level's rule defines a target for, the mean attention weight on that target's record and the
share of episodes where the target's record holds most of the weight (> 0.5):

- Bring: first → the medicine that cures the instructed ailment; named → the instructed container.
- Defeat: named → the instructed monster; follow → the weapon it is ``weak_to``.
- Unlock: named → the instructed treasure; follow → the key that ``opens`` the door it ``lies_behind``.
- Avoid: first → the harmless creatures (the gaps to cross), against the dangerous ones: ``first (dangerous)``.

    python benchmarks/where_reads_land.py runs/leaderboard/Unlock-v1-dagger-fusion-s0/agent --env fusiongym/Unlock-v1

Prints one JSON line; ``main(argv)`` returns it as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def read_targets(episode: Any) -> dict[str, str | set[str]]:
    """The record (subject token, or a set of them) each read should attend to in an episode, by read name (a name
    with a note in brackets: another set of records to report the read's weight on); empty if the level's rule
    names none."""
    from fusiongym.envs.language import AvoidInstr, BringInstr, DefeatInstr, UnlockInstr

    shown, instruction = episode.shown, episode.instruction
    if isinstance(instruction, BringInstr):
        cures = shown.subjects("cures", instruction.ailment)
        return {"named": instruction.container, **({"first": cures[0]} if cures else {})}
    if isinstance(instruction, DefeatInstr):
        weapons = shown.objects(instruction.monster, "weak_to")
        return {"named": instruction.monster, **({"follow": weapons[0]} if weapons else {})}
    if isinstance(instruction, UnlockInstr):
        doors = shown.objects(instruction.target, "lies_behind")
        keys = shown.subjects("opens", doors[0]) if doors else []
        return {"named": instruction.target, **({"follow": keys[0]} if keys else {})}
    if isinstance(instruction, AvoidInstr):
        return {"first": set(shown.subjects("is", "harmless")),
                "first (dangerous)": set(shown.subjects("is", "dangerous"))}
    return {}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Locate the reads over the episodes; print the report as one JSON line and return it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("agent",
                        help="an agent folder (a run's agent/, best_agent/ or an imitation checkpoint-<step>/)")
    parser.add_argument("--env", required=True)
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args(argv)

    import gymnasium as gym
    import torch

    import fusiongym  # noqa: F401  (registers the envs)
    from fusiongym.agents import load_agent
    from fusiongym.envs.vocab import get_vocab
    from fusiongym.training.seeds import SEEDS

    torch.set_num_threads(1)
    extractor = load_agent(args.agent, device="cpu").policy.features_extractor
    knowledge, language = getattr(extractor, "knowledge", None), getattr(extractor, "language", None)
    if knowledge is None or language is None or not hasattr(knowledge, "named_query"):
        raise SystemExit(f"{args.agent}: not a fusion policy with a triple encoder and an instruction: no reads to "
                         "locate")
    vocab = get_vocab()
    env = gym.make(args.env, split=args.split)
    mass: dict[str, list[float]] = {}
    for seed in SEEDS[args.split][: args.episodes]:
        obs, _ = env.reset(seed=int(seed))
        targets = read_targets(env.unwrapped.episode)
        facts = torch.as_tensor(obs["facts"])[None]
        with torch.no_grad():
            out = knowledge(facts, language.encode_missions(torch.as_tensor(obs["mission"])[None]).pooled)
        subjects = [vocab.token(int(i)) for i in obs["facts"][:, 0]]
        for name, target in targets.items():
            read = name.split(" (")[0]
            if out.read_weights is None or read not in out.read_weights:
                continue
            records = {target} if isinstance(target, str) else target
            weights = out.read_weights[read][0].numpy()
            on_target = sum(w for w, s in zip(weights, subjects, strict=True) if s in records)
            mass.setdefault(name, []).append(float(on_target))
    env.close()
    report = {"agent": args.agent, "env": args.env, "split": args.split, "episodes": args.episodes,
              "reads": {read: {"mass_on_target": round(float(np.mean(m)), 3),
                               "target_holds_most": round(float(np.mean(np.array(m) > 0.5)), 3)}
                        for read, m in mass.items()}}
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
