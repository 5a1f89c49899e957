"""Build ``leaderboard/`` (this repository's): ``fusiongym leaderboard build`` with the repository's folders as the
defaults. ``python scripts/make_leaderboard.py --help`` (or ``fusiongym leaderboard build --help``) is the guide."""

from __future__ import annotations

import argparse
from pathlib import Path

from fusiongym.training.matrix import LEARNED  # noqa: F401  (the learned agents, for callers of this script)
from fusiongym.training.matrix_command import GUIDE, add_build_arguments, build_command

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    """Parse the build's options (output in ``leaderboard/``, runs in ``runs/leaderboard/``) and run it."""
    parser = argparse.ArgumentParser(description=GUIDE.split("\n\n")[0], epilog=GUIDE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_build_arguments(parser, out=REPO / "leaderboard", runs=REPO / "runs" / "leaderboard")
    return build_command(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
