"""The evaluation protocol: fixed disjoint seeds, reproducible batched episodes, bootstrap intervals, IQM."""

from __future__ import annotations

import numpy as np
import pytest

from fusiongym.agents.policies import OraclePolicy, RandomPolicy
from fusiongym.envs import env_ids
from fusiongym.training.evaluation import (
    bootstrap_mean,
    evaluate,
    evaluation_seeds,
    iqm,
    iqm_across_levels,
)
from fusiongym.training.seeds import SEEDS


def test_seed_lists_are_fixed_disjoint_and_long_enough() -> None:
    assert set(SEEDS) == {"train", "test"}
    assert len(set(SEEDS["train"])) == len(SEEDS["train"]) >= 100
    assert not set(SEEDS["train"]) & set(SEEDS["test"])
    assert evaluation_seeds("test", 5) == list(SEEDS["test"][:5])
    with pytest.raises(ValueError, match="choose one of train, test"):
        evaluation_seeds("valid", 5)


@pytest.mark.parametrize("env_id", env_ids())
def test_oracle_solves_every_registered_level_on_the_test_seeds(env_id: str) -> None:
    result = evaluate(OraclePolicy(), env_id, split="test", episodes=8, progress=False)
    assert result.success_rate.value >= 0.875
    assert [r["seed"] for r in result.per_episode] == list(SEEDS["test"][:8])
    assert all(0 < r["length"] for r in result.per_episode)


def test_evaluation_is_reproducible_and_batch_size_does_not_change_it() -> None:
    one = evaluate(RandomPolicy(1), "fusiongym/GoTo-v0", episodes=12, batch_size=12, progress=False)
    two = evaluate(RandomPolicy(1), "fusiongym/GoTo-v0", episodes=12, batch_size=12, progress=False)
    assert one.per_episode == two.per_episode
    oracle_a = evaluate(OraclePolicy(), "fusiongym/Fetch-v0", episodes=12, batch_size=12, progress=False)
    oracle_b = evaluate(OraclePolicy(), "fusiongym/Fetch-v0", episodes=12, batch_size=5, progress=False)
    assert oracle_a.per_episode == oracle_b.per_episode  # episode k always starts from seed k


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_data() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.random(20) < 0.5, rng.random(2000) < 0.5
    a, b = bootstrap_mean(small), bootstrap_mean(large)
    assert a.low <= a.value <= a.high and b.low <= b.value <= b.high
    assert (b.high - b.low) < (a.high - a.low)
    constant = bootstrap_mean([1.0] * 10)
    assert (constant.value, constant.low, constant.high) == (1.0, 1.0, 1.0)


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert iqm([0.0, 0.2, 0.8, 1.0]) == pytest.approx(0.5)
    levels = [[0.0] * 10, [0.0, 1.0] * 5, [1.0] * 10, [1.0] * 9 + [0.0]]
    estimate = iqm_across_levels(levels)
    assert estimate.value == pytest.approx(iqm([0.0, 0.5, 1.0, 0.9]))
    assert estimate.low <= estimate.value <= estimate.high


class _FactsSeen(RandomPolicy):
    """A random policy that records whether any fact reached it."""

    def __init__(self) -> None:
        super().__init__(0)
        self.saw_facts = False

    def act(self, observations, vector_env, episode_start):  # type: ignore[no-untyped-def]
        self.saw_facts |= bool(observations["facts"].any())
        return super().act(observations, vector_env, episode_start)


def test_ablation_zeroes_only_the_named_keys_and_is_written_beside_the_plain_evaluation(tmp_path) -> None:
    from fusiongym.training.evaluation import write_eval

    plain, ablated = _FactsSeen(), _FactsSeen()
    evaluate(plain, "fusiongym/Fetch-v0", episodes=4, progress=False)
    result = evaluate(ablated, "fusiongym/Fetch-v0", episodes=4, progress=False, ablate=["facts"])
    assert plain.saw_facts and not ablated.saw_facts
    assert result.ablated == ["facts"]
    metrics, _ = write_eval(result, tmp_path)
    assert metrics.name == "eval-test-no-facts-4ep.json"  # 4 episodes: not the protocol's, so its own file
    with pytest.raises(ValueError, match="cannot ablate \\['knowledge'\\]: the observation's keys are"):
        evaluate(RandomPolicy(0), "fusiongym/Fetch-v0", episodes=2, progress=False, ablate=["knowledge"])


def test_an_evaluation_of_another_size_never_overwrites_the_protocol_one(tmp_path) -> None:
    from fusiongym.training.evaluation import DEFAULT_EPISODES, write_eval

    full = evaluate(RandomPolicy(0), "fusiongym/GoTo-v0", episodes=DEFAULT_EPISODES, progress=False)
    metrics, episodes = write_eval(full, tmp_path)
    assert (metrics.name, episodes.name) == ("eval-test.json", "episodes-test.jsonl")
    before = metrics.read_text(), episodes.read_text()
    quick = evaluate(RandomPolicy(0), "fusiongym/GoTo-v0", episodes=20, progress=False)
    metrics20, episodes20 = write_eval(quick, tmp_path)
    assert (metrics20.name, episodes20.name) == ("eval-test-20ep.json", "episodes-test-20ep.jsonl")
    assert (metrics.read_text(), episodes.read_text()) == before
    assert len(episodes20.read_text().splitlines()) == 20
