"""Wall time of one baseline matrix built on a local Ray with 1 worker and with N, in the same run.

Each build starts from empty folders, so both do the same jobs: ``--levels`` x ``--agents`` x ``--seeds`` learned
runs at the ``--timesteps`` budgets, then each level's ablation rows. Printed: each build's wall time, its rows,
and the speed-up (ideal: N; less where the jobs are uneven or the machine has other work).

    python benchmarks/matrix_scaling.py [--workers 2] [--episodes 20]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from fusiongym.training.cli import main as fusiongym
from fusiongym.training.leaderboard import Leaderboard

LEVELS = ["fusiongym/GoTo-v1", "fusiongym/Fetch-v0"]
AGENTS = ["qlearning", "ppo-cnn", "dagger-fusion"]
BUDGETS = ["qlearning=5000", "ppo-cnn=4096", "dagger-fusion=2048"]


def build(folder: Path, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """Build the matrix into ``folder`` on a local Ray of ``workers`` CPUs; its wall time and rows."""
    started = time.perf_counter()
    status = fusiongym(["leaderboard", "build", "--ray", "local", "--workers", str(workers), "--out",
                        str(folder / "lb"), "--runs", str(folder / "runs"), "--levels", *args.levels, "--agents",
                        *args.agents, "--seeds", *map(str, args.seeds), "--episodes", str(args.episodes),
                        "--timesteps", *args.timesteps])
    seconds = time.perf_counter() - started
    rows = Leaderboard(folder / "lb" / "leaderboard.sqlite").submissions()
    return {"workers": workers, "seconds": round(seconds, 1), "rows": len(rows), "status": status}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build the matrix with 1 worker, then with ``--workers``; print and return both and the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--levels", nargs="+", default=LEVELS)
    parser.add_argument("--agents", nargs="+", default=AGENTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--timesteps", nargs="+", default=BUDGETS, metavar="AGENT=N")
    parser.add_argument("--episodes", type=int, default=20, help="test episodes per row (default 20)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        one = build(Path(tmp) / "one", 1, args)
        many = build(Path(tmp) / "many", args.workers, args)
    report = {"one": one, "many": many, "speedup": round(one["seconds"] / many["seconds"], 2)}
    print(json.dumps(report))
    print(f"{one['rows']} rows: {one['seconds']:.0f} s with 1 worker, {many['seconds']:.0f} s with {args.workers} "
          f"({report['speedup']:.2f}x)")
    return report


if __name__ == "__main__":
    main()
