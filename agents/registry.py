"""The algorithms, policies and built-in agents of fusiongym, listed once.

``fusiongym train``'s choices and help, the run config's validation, the agent factory and the evaluation protocol
(greedy or sampled actions) all read them from here, so a new algorithm or policy is one entry. Importing this
module imports neither torch nor SB3.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Network policies: ``fusion`` (a FusionExtractor from the given / default FusionConfig), ``cnn`` (vision only: the
#: FusionExtractor's CNN on the image, instruction and facts ignored — the language-blind baseline) and
#: ``sb3_default`` (SB3's own CombinedExtractor: NatureCNN on the image, raw ids flattened).
POLICIES: dict[str, str] = {
    "fusion": "language + knowledge + vision, the default for network algorithms",
    "cnn": "vision only",
    "sb3_default": "SB3's CombinedExtractor",
    "tabular": "Q-learning's table",
}
NETWORK_POLICIES = ("fusion", "cnn", "sb3_default")


@dataclass(frozen=True)
class Algorithm:
    """One algorithm ``fusiongym train`` runs.

    Attributes:
        name: its ``--algo`` name.
        family: ``"sb3"`` (an SB3 / sb3-contrib class), ``"imitation"`` (the level's oracle imitated into an SB3
            policy, :mod:`fusiongym.agents.imitation`) or ``"tabular"`` (:class:`~fusiongym.agents.QLearningAgent`).
        summary: a line for ``--help``.
        policies: the policies it trains; the first is the default.
        greedy: the evaluation protocol takes its most likely action (a value-based agent) rather than sampling.
        init_from: it can start from another run's weights (``--init-from``).
        default_n_envs: worlds in the training batch when the config does not say.
    """

    name: str
    family: str
    summary: str
    policies: tuple[str, ...] = NETWORK_POLICIES
    greedy: bool = False
    init_from: bool = False
    default_n_envs: int = 16


ALGORITHMS: dict[str, Algorithm] = {algorithm.name: algorithm for algorithm in (
    Algorithm("ppo", "sb3", "PPO (SB3)", init_from=True),
    Algorithm("dqn", "sb3", "DQN (SB3)", greedy=True),
    Algorithm("recurrent_ppo", "sb3", "PPO with an LSTM (sb3-contrib)", init_from=True),
    Algorithm("qlearning", "tabular", "tabular Q-learning over a digest of the observation", policies=("tabular",),
              greedy=True, default_n_envs=1),
    Algorithm("bc", "imitation", "behaviour cloning of the level's oracle reading the facts", init_from=True),
    Algorithm("dagger", "imitation", "DAgger: imitation of the oracle that mixes in the learner's own actions",
              init_from=True),
)}

#: Agents that need no run folder (``fusiongym eval --agent``, ``record --agent``, the leaderboard's references).
BUILTIN_AGENTS: dict[str, str] = {
    "oracle": "the level's planner reading the facts",
    "blind-oracle": "the same planner without the facts",
    "explorer": "the oracle knowing only what its agent has seen this episode",
    "random": "uniform random actions",
}


def algorithm(name: str) -> Algorithm:
    """The registered algorithm called ``name``; an unknown one is a ``ValueError`` that lists the choices."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algo {name!r}: choose one of {', '.join(ALGORITHMS)}") from None


def algorithms_of(family: str) -> tuple[str, ...]:
    """The names of the registered algorithms of one family (``"sb3"``, ``"imitation"``, ``"tabular"``)."""
    return tuple(name for name, spec in ALGORITHMS.items() if spec.family == family)
