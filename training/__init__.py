"""What a user runs: the ``fusiongym`` command (train, eval, record, leaderboard, demo), hyperparameter configs,
the training loop with resumable checkpoints, the evaluation protocol and the leaderboard database."""
