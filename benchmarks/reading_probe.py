"""Reading probe: can a fusion policy's features say *where the instructed object is*, trained with labels?

PPO has to discover reading from reward alone; this probe asks the easier question first. It trains the
``FusionExtractor`` of ``--fusion`` (a FusionConfig as JSON) plus one linear layer, by supervised cross-entropy, to
name the cell of the egocentric view that holds the episode's goal object (the object whose ``face``, ``touch`` or
``pickup`` outcome is success; on Defeat and Bring the object to carry, whose ``use`` wins), or "not in view".
Every step trains on 256 fresh states of the training split (``--batch``; resets plus 0–3 random moves), so nothing
can be memorised. It reports, where the goal is in view, accuracy on 2,000 (``--eval-states``) unseen states of the
training split (does it generalise at all?) and of the test split (held-out compositions / kinds), each also with
the instruction and facts zeroed: a probe that reads loses most of its accuracy when they are zeroed, one that
guesses from the pixels does not. ``--target look`` probes the knowledge path alone: instruction and facts (no
pixels) to the goal's shape and its colour (two heads, right when both are: the test split's held-out kinds can wear
a shape × colour no training goal wore, which one class per composition could never name), over all states.
``--target action`` trains the whole extractor to name the oracle's action: imitation from a stream where every
state is fresh, against which DAgger's reuse of a few recent episodes can be judged.

    python benchmarks/reading_probe.py --env fusiongym/GoTo-v0
    python benchmarks/reading_probe.py --env fusiongym/Fetch-v0 --env-kwargs '{"shuffle_appearance": true}' \
        --fusion '{"fact_grouping": "records", "entity_embeddings": "text", "text_retrieval": true}'
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import fusiongym  # noqa: E402,F401
from fusiongym.fusion.config import FusionConfig  # noqa: E402
from fusiongym.fusion.extractor import FusionExtractor  # noqa: E402


class GoalLabels:
    """States of one split of a level and, for each, where its goal object is (``target="cell"``: the view cell,
    row-major, or ``cells`` when it is not in view) or what it looks like (``"look"``: shape × colour index)."""

    def __init__(self, env_id: str, split: str, count: int, env_kwargs: dict[str, Any], target: str) -> None:
        from fusiongym.envs.ontology import load_ontology

        self.count, self.target = count, target
        self.env = gym.make_vec(env_id, num_envs=count, vectorization_mode="vector_entry_point", split=split,
                                **env_kwargs)
        self.space = self.env.unwrapped.single_observation_space
        self.env.reset(seed=0)
        self.cells = int(np.prod(self.env.unwrapped.view_slots().shape[1:]))  # label `cells`: not in view
        ontology = load_ontology()
        self.shapes, self.colours = list(ontology.shapes), list(ontology.colours)
        self.classes = {"cell": self.cells + 1, "action": 7}.get(target, len(self.shapes) + len(self.colours))

    def sample(self, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``count`` fresh states (resets from ``seed`` then 0–3 random moves) and their labels."""
        obs, _ = self.env.reset(seed=seed)  # world b gets seed + b
        rng = np.random.default_rng(seed)
        for _ in range(int(rng.integers(0, 4))):  # a few random turns and steps: not every state is a fresh reset
            obs, *_ = self.env.step(rng.integers(0, 3, self.count))
        native = self.env.unwrapped
        if self.target == "action":
            return self._tensors(obs), torch.as_tensor(native.oracle_actions(True))
        slots = native.view_slots().reshape(self.count, -1)
        labels = np.full(self.count, slots.shape[1], np.int64)
        for b, episode in enumerate(native.episodes):
            goals = episode.layout.tables.goal_slots()
            if self.target == "look":
                goal = episode.layout.objects[goals[0]]
                labels[b] = self.shapes.index(goal.shape) * len(self.colours) + self.colours.index(goal.colour)
                continue
            cells = np.flatnonzero(np.isin(slots[b], goals))
            if len(cells):
                labels[b] = cells[0]
        return self._tensors(obs), torch.as_tensor(labels)

    @staticmethod
    def _tensors(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        tensors = {key: torch.as_tensor(value) for key, value in obs.items()}
        tensors["image"] = tensors["image"].float() / 255  # what SB3 hands the extractor
        return tensors

    def counted(self, labels: torch.Tensor) -> torch.Tensor:
        """Which states count for accuracy: those with the goal in view (``cell``), or all (``look``)."""
        if self.target == "cell":
            return labels < self.cells
        return torch.ones_like(labels, dtype=torch.bool)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train the probe, printing accuracies as JSON lines; return them (``run``: the first line, ``evaluations``:
    the accuracy lines, ``saved``: where the extractor's weights went)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="fusiongym/GoTo-v0")
    parser.add_argument("--fusion", default="{}", help="FusionConfig fields as JSON (default: the default policy)")
    parser.add_argument("--env-kwargs", default="{}", help="level keyword arguments as JSON, both splits")
    parser.add_argument("--steps", type=int, default=1500, help="Adam steps, each on --batch fresh training states")
    parser.add_argument("--batch", type=int, default=256, help="fresh training states per step")
    parser.add_argument("--eval-states", type=int, default=2000, help="unseen states of each split for the accuracies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--target", default="cell", choices=["cell", "look", "action"],
                        help="cell: the whole extractor names the goal's view cell; look: the knowledge path alone "
                             "(instruction + facts, no pixels) names the goal's shape and colour; action: the whole "
                             "extractor names the oracle's action")
    parser.add_argument("--save-extractor", type=Path, default=None,
                        help="write the trained extractor's weights here (safetensors), e.g. for "
                             "learn_fusion.py --init-extractor")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    env_kwargs = json.loads(args.env_kwargs)
    batches = GoalLabels(args.env, "train", args.batch, env_kwargs, args.target)
    # evaluation states: unseen worlds of the training split (does it generalise at all?) and of the test split
    held_out = {split: GoalLabels(args.env, split, args.eval_states, env_kwargs, args.target).sample(10**9 + args.seed)
                for split in ("train", "test")}
    config = FusionConfig.from_dict(json.loads(args.fusion))
    extractor = FusionExtractor(batches.space, config)
    if args.target == "look" and extractor.knowledge is None:
        parser.error("--target look probes the knowledge encoder: set a knowledge.encoder other than 'none'")

    def features(obs: dict[str, torch.Tensor]) -> torch.Tensor:
        if args.target in ("cell", "action"):
            return extractor(obs)
        language = extractor.language.encode_missions(obs["mission"]) if extractor.language is not None else None
        return extractor.knowledge(obs["facts"], language.pooled if language is not None else None).pooled

    width = config.block.hidden_dim if args.target == "look" else config.block.features_dim
    head = torch.nn.Linear(width, batches.classes)
    trainable = [p for p in [*extractor.parameters(), *head.parameters()] if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=5e-4)

    colours = len(batches.colours)

    def objective(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if args.target != "look":
            return torch.nn.functional.cross_entropy(logits, labels)
        shapes = logits.shape[1] - colours  # look: a shape head and a colour head, labels shape × colours + colour
        return (torch.nn.functional.cross_entropy(logits[:, :shapes], labels // colours)
                + torch.nn.functional.cross_entropy(logits[:, shapes:], labels % colours))

    def predict(logits: torch.Tensor) -> torch.Tensor:
        if args.target != "look":
            return logits.argmax(1)
        shapes = logits.shape[1] - colours
        return logits[:, :shapes].argmax(1) * colours + logits[:, shapes:].argmax(1)

    def accuracy(split: str, zeroed: bool = False) -> float:
        obs, labels = held_out[split]
        if zeroed:
            obs = {**obs, "mission": torch.zeros_like(obs["mission"]), "facts": torch.zeros_like(obs["facts"])}
        with torch.no_grad():
            hits = predict(head(features(obs))) == labels
        return round(float(hits[batches.counted(labels)].float().mean()), 3)

    run = {"env": args.env, "env_kwargs": env_kwargs, "fusion": config.to_dict(), "seed": args.seed,
           "target": args.target, "counted": round(float(batches.counted(held_out["test"][1]).float().mean()), 3)}
    print(json.dumps(run))
    report: dict[str, Any] = {"run": run, "evaluations": [], "saved": None}
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        obs, labels = batches.sample(args.seed * 10**8 + step * batches.count)
        loss = objective(head(features(obs)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % max(1, args.steps // 5) == 0 or step == args.steps:
            evaluation = {
                "step": step, "loss": round(loss.item(), 4), "seconds": round(time.perf_counter() - start),
                "train": accuracy("train"), "train_zeroed": accuracy("train", True),
                "test": accuracy("test"), "test_zeroed": accuracy("test", True)}
            print(json.dumps(evaluation), flush=True)
            report["evaluations"].append(evaluation)
    if args.save_extractor is not None:
        from safetensors.torch import save_file

        args.save_extractor.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in extractor.state_dict().items()}, str(args.save_extractor))
        print(f"extractor saved to {args.save_extractor}")
        report["saved"] = str(args.save_extractor)
    return report


if __name__ == "__main__":
    main()
