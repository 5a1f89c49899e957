"""Write ``training/seeds.py``: the fixed evaluation seed lists per split (run once; the output is committed).

Seeds are drawn without replacement from one generator, so the train and test lists are disjoint, and sorted for
readability. Changing them changes every leaderboard number: bump ``SEEDS_VERSION`` if you ever must.

    python scripts/make_seeds.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PER_SPLIT = 1000
GENERATOR_SEED = 20260101


def main() -> None:
    """Draw the seeds of each split and write ``training/seeds.py``."""
    rng = np.random.default_rng(GENERATOR_SEED)
    drawn = rng.choice(2**31 - 1, size=2 * PER_SPLIT, replace=False)
    train, test = sorted(int(s) for s in drawn[:PER_SPLIT]), sorted(int(s) for s in drawn[PER_SPLIT:])
    out = Path(__file__).resolve().parent.parent / "training" / "seeds.py"
    lines = [
        '"""Fixed evaluation seeds per split, written by ``scripts/make_seeds.py`` (do not edit by hand).',
        "",
        "Episode ``k`` of an evaluation on a split starts from ``reset(seed=SEEDS[split][k])``. "
        "The lists are disjoint.",
        '"""',
        "",
        "SEEDS_VERSION = 1",
        "",
    ]
    for name, seeds in (("TRAIN_SEEDS", train), ("TEST_SEEDS", test)):
        lines.append(f"{name} = (")
        for i in range(0, len(seeds), 8):
            lines.append("    " + ", ".join(str(s) for s in seeds[i:i + 8]) + ",")
        lines.append(")")
        lines.append("")
    lines.append('SEEDS = {"train": TRAIN_SEEDS, "test": TEST_SEEDS}')
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}: {PER_SPLIT} seeds per split")


if __name__ == "__main__":
    main()
