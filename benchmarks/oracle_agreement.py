"""Where an imitation agent parts from the oracle: agreement per oracle action, and how its episodes end.

Plays ``--episodes`` episodes of one split from the protocol's seeds. At every step the agent's most likely action
(or, with ``--sample``, an action sampled from it as the evaluation protocol does) is compared with the level's
reading oracle's; the world then steps with the agent's action with probability ``--mix`` and with the oracle's
otherwise (``--mix 0``: the oracle leads, so the agent is judged on states the oracle visits; ``--mix 1``: the
agent acts alone). Prints one JSON line: agreement overall and per oracle action (with the number of such states),
agreement where what the oracle is after is in view and where it is not (``oracle_goal_cells``: a policy without
memory cannot know which way to turn towards what it has not seen), and the episode outcomes (won, lost by an
ending action, timed out), the lost ones by what the oracle was after at the end (``lost_while``: ``toggle`` on
Bring or Defeat means the right object was used on the wrong target; ``drop``, that the wrong one was carried) and
by what the last action met (``lost_facing``: on GoTo, the wrong object faced shares the target's colour, its shape,
or neither; ``done``; ``nothing`` ahead), and every episode's outcome by the look of its goal object (``by_goal_look``:
what wins when faced, touched or picked up, or on Defeat and Bring the object to carry; ``held-out`` marks a shape ×
colour the training split never draws). An imitation checkpoint trained with ``goal_loss`` also has its goal head
scored: how often it names a cell that holds the oracle's target (or "none in view" when none does), on these fresh
states.

    python benchmarks/oracle_agreement.py runs/leaderboard/Defeat-v0-dagger-fusion-s0/agent \
        --env fusiongym/Defeat-v0 --split train --episodes 30 --mix 0
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import fusiongym  # noqa: E402,F401
from fusiongym.agents.checkpoint import load_agent  # noqa: E402
from fusiongym.envs.world import ACTION_NAMES  # noqa: E402
from fusiongym.training.evaluation import evaluation_seeds  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Play the episodes; print the report as one JSON line and return it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("agent", help="an agent folder (a run's agent/ or an imitation checkpoint-<step>/)")
    parser.add_argument("--env", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--mix", type=float, default=0.0, help="probability that the agent's action is stepped")
    parser.add_argument("--seed", type=int, default=0, help="seeds the mixing draws")
    parser.add_argument("--sample", action="store_true", help="sample the agent's actions (torch seeded with --seed)")
    parser.add_argument("--env-kwargs", default="{}", help="level keyword arguments as JSON")
    args = parser.parse_args(argv)

    model = load_agent(args.agent, device="cpu")
    goal_head = _goal_head(args.agent)
    goal_hits: list[bool] = []
    env = gym.make(args.env, split=args.split, **json.loads(args.env_kwargs))
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    agree: dict[str, list[bool]] = {name: [] for name in ACTION_NAMES}
    by_view: dict[str, list[bool]] = {"goal in view": [], "goal out of view": []}
    outcomes: Counter[str] = Counter()
    lost_while: Counter[str] = Counter()
    lost_facing: Counter[str] = Counter()
    by_goal_look: dict[str, Counter[str]] = {}
    for seed in evaluation_seeds(args.split, args.episodes):
        observation, _ = env.reset(seed=int(seed))
        state, start = None, np.ones(1, dtype=bool)  # a recurrent agent's LSTM state
        look = _goal_look(env.unwrapped)
        while True:
            expert = env.unwrapped.oracle_action()
            subgoal = env.unwrapped.oracle_subgoal().action
            action, state = model.predict(observation, state=state, episode_start=start, deterministic=not args.sample)
            own, start = int(action), np.zeros(1, dtype=bool)
            agree[ACTION_NAMES[expert]].append(own == expert)
            cells = env.unwrapped.oracle_goal_cells()
            by_view["goal out of view" if cells[-1] else "goal in view"].append(own == expert)
            if goal_head is not None:
                with torch.no_grad():
                    tensors, _ = model.policy.obs_to_tensor(observation)
                    features = model.policy.extract_features(tensors, model.policy.pi_features_extractor)
                    goal_hits.append(bool(cells[int(goal_head(features).argmax())]))
            stepped = own if rng.random() < args.mix else expert
            observation, reward, terminated, truncated, info = env.step(stepped)
            if terminated or truncated:
                lost = terminated and not info.get("success")
                outcome = "won" if info.get("success") else "lost" if terminated else "timed out"
                outcomes[outcome] += 1
                by_goal_look.setdefault(look, Counter())[outcome] += 1
                lost_while[subgoal] += int(lost)
                if lost:
                    lost_facing[_facing(env.unwrapped, stepped)] += 1
                break
    every = [hit for hits in agree.values() for hit in hits]
    report = {
        "env": args.env, "split": args.split, "mix": args.mix, "sampled": args.sample, "episodes": args.episodes,
        "agreement": round(float(np.mean(every)), 3),
        "per_oracle_action": {name: [round(float(np.mean(h)), 2), len(h)] for name, h in agree.items() if h},
        "by_view": {name: [round(float(np.mean(h)), 2), len(h)] for name, h in by_view.items() if h},
        "outcomes": dict(outcomes),
        "lost_while": {name: count for name, count in lost_while.items() if count},
        "lost_facing": dict(lost_facing),
        "by_goal_look": {look: dict(counts) for look, counts in sorted(by_goal_look.items())},
        **({"goal_head_accuracy": round(float(np.mean(goal_hits)), 3)} if goal_hits else {}),
    }
    print(json.dumps(report))
    return report


def _goal_look(env: gym.Env) -> str:
    """``"<shape> <colour>"`` of the episode's (first) goal object, ``" (held-out)"`` added for a composition the
    training split never draws."""
    from fusiongym.envs.levels.base import held_out_composition
    from fusiongym.envs.ontology import load_ontology

    layout = env.unwrapped.episode.layout
    goal = layout.objects[int(layout.tables.goal_slots()[0])]
    ontology = load_ontology()
    held = held_out_composition(ontology.shapes.index(goal.shape), ontology.colours.index(goal.colour))
    return f"{goal.shape} {goal.colour}" + (" (held-out)" if held else "")


def _facing(env: gym.Env, action: int) -> str:
    """What a lost episode's last action met, beside the instruction's target: ``done``, ``nothing`` (no object
    ahead), or the object ahead as ``same colour`` / ``same shape`` / ``neither`` (GoTo-v1 ends on facing a wrong
    object) — ``other`` where the target is not a colour and a shape."""
    if ACTION_NAMES[action] == "done":
        return "done"
    faced = env.facing_object()
    if faced is None:
        return "nothing"
    target = getattr(env.episode.instruction, "target", None)
    if getattr(target, "colour", None) is None or getattr(target, "shape", None) is None:
        return "other"
    same = [name for name, match in (("colour", faced.colour == target.colour), ("shape", faced.shape == target.shape))
            if match]
    return "same " + " and ".join(same) if same else "neither"


def _goal_head(folder: str) -> torch.nn.Linear | None:
    """The auxiliary goal head of an imitation checkpoint (``goal_head.safetensors``), if it has one."""
    from pathlib import Path

    from safetensors.torch import load_file

    from fusiongym.agents.imitation import GOAL_HEAD_FILE

    path = Path(folder) / GOAL_HEAD_FILE
    if not path.is_file():
        return None
    weights = load_file(str(path))
    head = torch.nn.Linear(weights["weight"].shape[1], weights["weight"].shape[0])
    head.load_state_dict(weights)
    return head


if __name__ == "__main__":
    main()
