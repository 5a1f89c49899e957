"""Reading probe: can a fusion policy's features say *where the instructed object is*, trained with labels?

PPO has to discover reading from reward alone; this probe asks the easier question first. It trains the
``FusionExtractor`` of ``--fusion`` (a FusionConfig as JSON) plus one linear layer, by supervised cross-entropy,
to name the cell of the egocentric view that holds the episode's goal object (the object whose ``face``, ``touch``
or ``pickup`` outcome is success), or "not in view". States are the training split's resets plus 0–3 random
moves; it reports accuracy on fresh test-split states (held-out compositions / kinds), overall and where the goal
is in view, and the same test accuracy with the instruction and facts zeroed: a probe that reads loses most of
its in-view accuracy when they are zeroed, one that guesses from the pixels does not.

    python benchmarks/reading_probe.py --env fusiongym/GoTo-v0
    python benchmarks/reading_probe.py --env fusiongym/Fetch-v0 --env-kwargs '{"shuffle_appearance": true}' \
        --fusion '{"fact_grouping": "entities", "goal_maps": 4}'
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import fusiongym  # noqa: E402,F401
from fusiongym.envs.world import SUCCESS  # noqa: E402
from fusiongym.fusion.config import FusionConfig  # noqa: E402
from fusiongym.fusion.extractor import FusionExtractor  # noqa: E402


def goal_cells(env_id: str, split: str, count: int, seed: int,
               env_kwargs: dict[str, Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor, gym.spaces.Dict]:
    """``count`` observations of ``split`` and, for each, the view cell (row-major) of its goal object, or V*V."""
    env = gym.make_vec(env_id, num_envs=count, vectorization_mode="vector_entry_point", split=split, **env_kwargs)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(int(rng.integers(0, 4))):  # a few random turns and steps: not every state is a fresh reset
        obs, *_ = env.step(rng.integers(0, 3, count))
    native = env.unwrapped
    slots = native.view_slots().reshape(count, -1)
    labels = np.full(count, slots.shape[1], np.int64)
    for b, episode in enumerate(native.episodes):
        tables = episode.layout.tables
        goals = np.flatnonzero((tables.face == SUCCESS) | (tables.touch == SUCCESS) | (tables.pickup == SUCCESS))
        cells = np.flatnonzero(np.isin(slots[b], goals))
        if len(cells):
            labels[b] = cells[0]
    tensors = {key: torch.as_tensor(value) for key, value in obs.items()}
    tensors["image"] = tensors["image"].float() / 255  # what SB3 hands the extractor
    return tensors, torch.as_tensor(labels), native.single_observation_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="fusiongym/GoTo-v0")
    parser.add_argument("--fusion", default="{}", help="FusionConfig fields as JSON (default: the default policy)")
    parser.add_argument("--env-kwargs", default="{}", help="level keyword arguments as JSON, both splits")
    parser.add_argument("--samples", type=int, default=8000, help="training-split states")
    parser.add_argument("--steps", type=int, default=1500, help="Adam steps (batch 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    env_kwargs = json.loads(args.env_kwargs)
    train, train_labels, space = goal_cells(args.env, "train", args.samples, args.seed, env_kwargs)
    test, test_labels, _ = goal_cells(args.env, "test", 2000, args.seed + 10**6, env_kwargs)
    config = FusionConfig.from_dict(json.loads(args.fusion))
    extractor = FusionExtractor(space, config)
    head = torch.nn.Linear(config.features_dim, int(train_labels.max()) + 1)
    trainable = [p for p in [*extractor.parameters(), *head.parameters()] if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=5e-4)
    in_view = test_labels < head.out_features - 1
    zeroed = {**test, "mission": torch.zeros_like(test["mission"]), "facts": torch.zeros_like(test["facts"])}

    def accuracy(obs: dict[str, torch.Tensor], labels: torch.Tensor, where: torch.Tensor) -> float:
        with torch.no_grad():
            hits = head(extractor(obs)).argmax(1) == labels
        return round(float(hits[where].float().mean()), 3)

    print(json.dumps({"env": args.env, "env_kwargs": env_kwargs, "fusion": config.to_dict(), "seed": args.seed,
                      "train_in_view": round(float((train_labels < head.out_features - 1).float().mean()), 3)}))
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        rows = torch.randint(0, len(train_labels), (256,))
        logits = head(extractor({key: value[rows] for key, value in train.items()}))
        loss = torch.nn.functional.cross_entropy(logits, train_labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % max(1, args.steps // 5) == 0 or step == args.steps:
            seen = torch.arange(min(2000, len(train_labels)))
            print(json.dumps({
                "step": step, "loss": round(loss.item(), 4), "seconds": round(time.perf_counter() - start),
                "train": accuracy({k: v[seen] for k, v in train.items()}, train_labels[seen],
                                  torch.ones(len(seen), dtype=torch.bool)),
                "test": accuracy(test, test_labels, torch.ones_like(in_view)),
                "test_in_view": accuracy(test, test_labels, in_view),
                "test_in_view_zeroed": accuracy(zeroed, test_labels, in_view)}), flush=True)


if __name__ == "__main__":
    main()
