"""Levels where knowledge is necessary: splits, the knowledge gap, knowledge controls, shuffled appearances."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import fusiongym  # noqa: F401
from fusiongym.envs import REGISTRATIONS
from fusiongym.envs.conformance import oracle_success_rate
from fusiongym.envs.language import INSTRUCTION_TYPES
from fusiongym.envs.levels.rules import held_out_rule
from fusiongym.envs.ontology import load_ontology
from fusiongym.envs.vocab import get_vocab

KNOWLEDGE_IDS = [r.id for r in REGISTRATIONS if gym.make(r.id).unwrapped.needs_knowledge]
RULES = {"Defeat": "weak_to", "Unlock": "opens", "Bring": "cures"}


def test_at_least_four_knowledge_levels_plus_fetch() -> None:
    families = {i.split("/")[1].split("-")[0] for i in KNOWLEDGE_IDS}
    assert {"Defeat", "Unlock", "Bring", "Avoid", "Fetch"} <= families


@pytest.mark.parametrize("env_id", KNOWLEDGE_IDS)
def test_knowledge_is_necessary_on_the_test_split(env_id: str) -> None:
    # 300 steps is ample for the oracle; a lost fact-blind guess otherwise idles to the full time limit
    make = lambda: gym.make(env_id, split="test", max_steps=300)  # noqa: E731
    reading = oracle_success_rate(make, episodes=100, seed=1000)
    blind = oracle_success_rate(make, episodes=100, seed=1000, use_facts=False)
    assert reading >= 0.99, f"the oracle reading the facts won {reading:.0%}"
    assert blind <= 0.5, f"the fact-blind oracle won {blind:.0%}: the facts are not necessary"


@pytest.mark.parametrize("family", sorted(RULES))
def test_rule_splits_are_disjoint(family: str) -> None:
    kinds = load_ontology().kind_by_name
    relation = RULES[family]
    seen = {"train": set(), "test": set()}
    for split in ("train", "test"):
        env = gym.make(f"fusiongym/{family}-v0", split=split)
        for seed in range(60):
            env.reset(seed=seed)
            episode = env.unwrapped.episode
            rules = [(f.subject, f.object) for f in episode.knowledge.facts if f.relation == relation]
            assert rules
            assert all(held_out_rule(s, o) == (split == "test") for s, o in rules), rules
            seen[split].update(rules)
            object_kinds = [o.kind for o in episode.layout.objects if o.kind]
            if split == "train":
                assert all(kinds[k].split == "train" for k in object_kinds)
            else:
                named = next(v for v in vars(episode.instruction).values() if isinstance(v, str) and v in kinds)
                assert kinds[named].split == "test"
            instr = type(episode.instruction)
            phrasings = instr.TEMPLATES if split == "train" else instr.HELD_OUT_TEMPLATES
            assert any(episode.mission.startswith(t.split("{")[0].strip()) or t.split("{")[0] == "" for t in phrasings)
    assert not seen["train"] & seen["test"]


def test_held_out_templates_never_used_in_training() -> None:
    for instr in INSTRUCTION_TYPES:
        assert set(instr.TEMPLATES).isdisjoint(instr.HELD_OUT_TEMPLATES)


@pytest.mark.parametrize("env_id", ["fusiongym/Defeat-v1", "fusiongym/Bring-v1", "fusiongym/Fetch-v0"])
def test_knowledge_controls_change_what_is_shown_not_the_dynamics(env_id: str) -> None:
    plain = gym.make(env_id)
    for control in ("drop_facts", "corrupt_facts", "contradict_facts"):
        env = gym.make(env_id, **{control: 2})
        for seed in range(10):
            plain.reset(seed=seed)
            env.reset(seed=seed)
            truth, shown = env.unwrapped.episode.knowledge, env.unwrapped.episode.shown
            assert truth.facts == plain.unwrapped.episode.knowledge.facts  # same world, same true facts
            np.testing.assert_array_equal(env.unwrapped.episode.layout.tables.use,
                                          plain.unwrapped.episode.layout.tables.use)
            true_set, shown_set = set(truth.facts), set(shown.facts)
            if control == "drop_facts":
                assert len(shown.facts) == len(truth.facts) - 2 and shown_set < true_set
            elif control == "corrupt_facts":
                assert len(shown_set - true_set) >= 1  # some shown facts are false
            else:
                assert len(shown.facts) == len(truth.facts) + 2 and true_set < shown_set
            assert env.unwrapped.facts == shown.sentences(get_vocab())


def test_knowledge_controls_mislead_the_reading_oracle() -> None:
    clean = oracle_success_rate(lambda: gym.make("fusiongym/Defeat-v1"), episodes=60)
    corrupt = oracle_success_rate(lambda: gym.make("fusiongym/Defeat-v1", corrupt_facts=4), episodes=60)
    contradicted = oracle_success_rate(lambda: gym.make("fusiongym/Defeat-v1", contradict_facts=4), episodes=60)
    assert clean >= 0.99 and corrupt < 0.9 and contradicted < 0.95


@pytest.mark.parametrize("env_id", ["fusiongym/Fetch-v0", "fusiongym/Defeat-v1"])
def test_shuffle_appearance_makes_looks_a_fact(env_id: str) -> None:
    kinds = load_ontology().kind_by_name
    env = gym.make(env_id, shuffle_appearance=True)
    moved = 0
    for seed in range(20):
        env.reset(seed=seed)
        episode = env.unwrapped.episode
        for obj in episode.layout.objects:
            if obj.kind:
                assert episode.knowledge.holds(obj.kind, "has_shape", obj.shape)
                assert episode.knowledge.holds(obj.kind, "has_colour", obj.colour)
                moved += (obj.shape, obj.colour) != (kinds[obj.kind].shape, kinds[obj.kind].colour)
    assert moved > 20
    # memorised looks are useless now: the fact-blind oracle falls to chance even on the training split
    blind = oracle_success_rate(lambda: gym.make("fusiongym/Fetch-v0", shuffle_appearance=True), episodes=80,
                                use_facts=False)
    reading = oracle_success_rate(lambda: gym.make("fusiongym/Fetch-v0", shuffle_appearance=True), episodes=80)
    assert blind <= 0.6 and reading >= 0.99


def test_shuffle_appearance_on_plain_shapes_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="shuffle_appearance.*Fetch, Defeat"):
        gym.make("fusiongym/GoTo-v0", shuffle_appearance=True)


def test_level_specific_kwargs_are_validated() -> None:
    with pytest.raises(ValueError, match="num_weapons"):
        gym.make("fusiongym/Defeat-v1", num_weapons=9)
    with pytest.raises(ValueError, match="num_doors"):
        gym.make("fusiongym/Unlock-v1", num_doors=5)
    with pytest.raises(ValueError, match="num_harmless"):
        gym.make("fusiongym/Avoid-v0", num_harmless=3)
    with pytest.raises(TypeError, match="num_weapons"):
        gym.make("fusiongym/Bring-v1", num_weapons=3)  # not a Bring kwarg: the error lists Bring's own


def test_goal_slots_name_what_wins_or_what_to_carry() -> None:
    categories = {kind.name: kind.category for kind in load_ontology().kinds}
    for env_id, check in [
        ("fusiongym/GoTo-v1", lambda goal, mission: goal.shape in mission and goal.colour in mission),
        ("fusiongym/Bring-v1", lambda goal, mission: categories[goal.kind] == "medicine"),
        ("fusiongym/Defeat-v1", lambda goal, mission: categories[goal.kind] == "weapon"),
    ]:
        env = gym.make(env_id, split="test")
        for seed in range(5):
            env.reset(seed=seed)
            episode = env.unwrapped.episode
            slots = episode.layout.tables.goal_slots()
            assert len(slots) >= 1, env_id
            assert all(check(episode.layout.objects[int(s)], episode.mission) for s in slots), (env_id, seed)
