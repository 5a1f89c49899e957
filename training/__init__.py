"""What a user runs: the ``fusiongym`` command, recording and (later) training, evaluation and the leaderboard."""
