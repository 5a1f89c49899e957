"""Link-prediction pretraining of a triple encoder on the ontology, with filtered MRR / Hits@k before and after.

The triples are what the shipped ontology states about each kind of the train split (its category, shape, colour
and material: ``fusiongym.fusion.knowledge.ontology_triples("train")``); the held-out kinds of the test split are
left out, as training episodes leave them out. A fifth of the triples (``--held-out``) is held out, each only while
its head and tail still occur in training (``hold_out_triples``); the encoder's entity and relation embeddings are
trained on the rest (``pretrain_link_prediction``: 1-N cross-entropy over every candidate tail) and every triple's
tail is ranked among every entity of the graph, other true tails filtered out (``link_prediction_metrics``, the
protocol of Bordes et al., 2013). The held-out rows are the test: ranking a kind's unseen colour among the colours,
or its category among the categories, is what pretraining can teach; the training rows show the fit.

    python benchmarks/link_prediction.py [--operator transe|rotate] [--dim 32] [--epochs 100] [--lr 0.01]
                                         [--held-out 0.2] [--seed 0] [--threads 1]

To start a policy's knowledge encoder from these embeddings, pretrain its ``TripleEncoder`` the same way
(``policy.features_extractor.knowledge`` of a fusion policy with ``knowledge="transe"`` or ``"rotate"``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fusiongym.envs.vocab import get_vocab
from fusiongym.fusion.knowledge import (
    ONTOLOGY_RELATIONS,
    TripleEncoder,
    hold_out_triples,
    link_prediction_metrics,
    ontology_triples,
    pretrain_link_prediction,
)

KS = (1, 3, 10)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (``argv``: default ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operator", choices=("transe", "rotate"), default="transe", help="relation operator")
    parser.add_argument("--dim", type=int, default=32, help="embedding size (even for RotatE)")
    parser.add_argument("--epochs", type=int, default=100, help="passes over the training triples")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam step size")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--held-out", type=float, default=0.2, help="fraction of the triples held out for the test")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, the initial embeddings and the batches")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a model this small runs fastest on one)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Pretrain, print the table; return ``{"untrained" | "pretrained": {"train" | "held_out": metrics},
    "held_out_by_relation": {relation: metrics}, ...}``."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    vocab = get_vocab()
    triples = ontology_triples("train", vocab)
    train, held_out = hold_out_triples(triples, args.held_out, seed=args.seed)
    candidates = np.unique(triples[:, [0, 2]])  # every entity of the graph: kinds, categories, shapes, colours …
    torch.manual_seed(args.seed)
    encoder = TripleEncoder(vocab.size, args.dim, args.dim, args.operator)

    def measure() -> dict[str, dict[str, float]]:  # filtered by every true triple, held-out ones included
        return {name: link_prediction_metrics(encoder, rows, candidates, known=triples, ks=KS)
                for name, rows in (("train", train), ("held_out", held_out))}

    results: dict[str, Any] = {"untrained": measure()}
    start = time.perf_counter()
    pretrain_link_prediction(encoder, train, candidates, epochs=args.epochs, lr=args.lr,
                             batch_size=args.batch_size, seed=args.seed)
    results["seconds"] = time.perf_counter() - start
    results["pretrained"] = measure()
    by_relation = {}
    for relation in ONTOLOGY_RELATIONS:
        rows = held_out[held_out[:, 1] == vocab.id(relation)]
        if len(rows):
            by_relation[relation] = {"triples": len(rows),
                                     **link_prediction_metrics(encoder, rows, candidates, known=triples, ks=KS)}
    results["held_out_by_relation"] = by_relation
    results.update(triples=len(triples), train_triples=len(train), held_out_triples=len(held_out),
                   candidates=len(candidates))

    print(f"link prediction on the ontology's training kinds: {len(triples)} triples "
          f"({', '.join(ONTOLOGY_RELATIONS)}), {len(train)} to train on, {len(held_out)} held out, tails ranked "
          f"among {len(candidates)} entities, filtered")
    print(f"{args.operator}, dim {args.dim}, {args.epochs} epochs, lr {args.lr}, seed {args.seed}: "
          f"pretrained in {results['seconds']:.1f} s\n")
    print(f"{'triples':10} {'encoder':11} {'MRR':>6} " + " ".join(f"{f'Hits@{k}':>7}" for k in KS))
    for split in ("train", "held_out"):
        for encoder_state in ("untrained", "pretrained"):
            m = results[encoder_state][split]
            print(f"{split.replace('_', ' '):10} {encoder_state:11} {m['mrr']:6.3f} "
                  + " ".join(f"{m[f'hits@{k}']:7.3f}" for k in KS))
    print("\nheld out, pretrained, by relation:")
    for relation, m in by_relation.items():
        print(f"  {relation:11} {m['triples']:3d} triples  MRR {m['mrr']:.3f}  Hits@1 {m['hits@1']:.3f}")
    print(f"\n(python benchmarks/link_prediction.py --operator {args.operator} --dim {args.dim} --epochs {args.epochs}"
          f" --lr {args.lr} --held-out {args.held_out} --seed {args.seed})")
    return results


if __name__ == "__main__":
    main()
