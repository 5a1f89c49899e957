"""Learning curves from the SB3 logger's CSV files (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import csv
from pathlib import Path

#: (axis label, [(logged key, legend)]): success on the training worlds and, with eval_every, on the evaluation split
#: (the run's eval_split: the test split unless a sweep set train)
EVALUATION = "evaluation, {split} split"
CURVES = (("success rate", [("rollout/success_rate", "training worlds"), ("eval/success_rate", EVALUATION)]),
          ("mean episode return", [("rollout/ep_rew_mean", "training worlds"), ("eval/mean_return", EVALUATION)]))


def read_progress(run_dir: Path) -> list[dict[str, float]]:
    """Rows of every ``logs/segment-*/progress.csv`` of a run, in step order (resumed segments included)."""
    rows: list[dict[str, float]] = []
    for path in sorted(Path(run_dir).glob("logs/segment-*/progress.csv"), key=lambda p: int(p.parent.name[8:])):
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                parsed = {k: float(v) for k, v in row.items() if k and v not in ("", None)}
                if "time/total_timesteps" in parsed or "rollout/success_rate" in parsed:
                    rows.append(parsed)
    return sorted(rows, key=lambda r: r.get("time/total_timesteps", 0.0))


def plot_learning_curve(run_dir: Path, out: Path | None = None) -> Path | None:
    """Write ``learning_curve.png`` (success rate and return against steps); ``None`` when nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_progress(run_dir) if "time/total_timesteps" in r]
    if not rows:
        return None
    out = out or Path(run_dir) / "learning_curve.png"
    try:
        from fusiongym.training.run_folder import read_run_config

        split = read_run_config(Path(run_dir)).eval_split
    except (OSError, ValueError):  # a folder without a readable config.yaml: the protocol's split
        split = "test"
    figure, axes = plt.subplots(1, len(CURVES), figsize=(10, 3.5))
    for axis, (label, series) in zip(axes, CURVES, strict=True):
        for key, legend in series:
            points = [(r["time/total_timesteps"], r[key]) for r in rows if key in r]
            if points:
                axis.plot(*zip(*points, strict=True), marker="o" if key.startswith("eval/") else ".",
                          label=legend.format(split=split))
        axis.set_xlabel("environment steps")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    axes[0].set_ylim(-0.02, 1.02)
    figure.suptitle(Path(run_dir).name, fontsize=9)
    figure.tight_layout()
    tmp = out.with_name(out.stem + ".tmp.png")
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    tmp.replace(out)
    return out
