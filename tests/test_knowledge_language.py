"""The ontology, the vocabulary, episode facts and instructions — and that the dynamics read the facts."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import rdflib

import fusiongym  # noqa: F401
from fusiongym.envs.knowledge import EpisodeKnowledge, Fact, TooManyFactsError
from fusiongym.envs.language import INSTRUCTION_TYPES
from fusiongym.envs.levels import held_out_composition
from fusiongym.envs.ontology import load_ontology
from fusiongym.envs.vocab import get_vocab

#: Changing the vocabulary changes every observation: bump every env's version, then update this.
VOCAB_FINGERPRINT = "5c4cedb55adb394d"


def test_ontology_size() -> None:
    onto = load_ontology()
    assert len(onto.kinds) >= 40 and len(onto.categories) >= 8
    assert len(onto.shapes) >= 10 and len(onto.colours) >= 6
    looks = {(k.shape, k.colour) for k in onto.kinds}
    assert len(looks) == len(onto.kinds), "two kinds share an appearance"
    for category in onto.categories:
        assert onto.kinds_in(category, "train") and onto.kinds_in(category, "test")


def test_ontology_is_standard_rdf() -> None:
    from importlib import resources

    graph = rdflib.Graph()
    graph.parse(data=resources.files("fusiongym.envs").joinpath("data/ontology.ttl").read_text(), format="turtle")
    fg = rdflib.Namespace("https://fusiongym.org/ontology#")
    rows = list(graph.query("SELECT ?k WHERE { ?k rdfs:subClassOf fg:Fruit }", initNs={"fg": fg, "rdfs": rdflib.RDFS}))
    assert {str(r.k).split("#")[1] for r in rows} == {k.name for k in load_ontology().kinds_in("fruit")}


def test_vocabulary_is_pinned_and_bijective() -> None:
    vocab = get_vocab()
    assert vocab.token(0) == "<pad>" and vocab.surface(0) == ""
    assert len(set(vocab.tokens)) == vocab.size
    for i in range(vocab.size):
        assert vocab.id(vocab.token(i)) == i
    assert vocab.surface(vocab.id("is_a")) == "is a" and vocab.surface(vocab.id("bronze_key")) == "bronze key"
    assert vocab.encode("go to the Red ball") == [vocab.id(w) for w in "go to the red ball".split()]
    assert vocab.encode("flibbertigibbet") == [1]
    assert vocab.fingerprint() == VOCAB_FINGERPRINT, "vocabulary changed: bump every env's version, then re-pin"


def test_every_template_word_and_term_is_in_vocab() -> None:
    vocab = get_vocab()
    onto = load_ontology()
    for term in [*onto.categories, *onto.shapes, *onto.colours, *(k.name for k in onto.kinds)]:
        assert term in vocab


def test_templates_at_least_three_and_splits_disjoint() -> None:
    for instr in INSTRUCTION_TYPES:
        assert len(instr.TEMPLATES) >= 3, instr
        assert instr.HELD_OUT_TEMPLATES and not set(instr.TEMPLATES) & set(instr.HELD_OUT_TEMPLATES)
    with pytest.raises(ValueError, match="choose one of"):
        INSTRUCTION_TYPES[0].templates("dev")


def test_facts_as_ids_sentences_graph_and_turtle() -> None:
    vocab = get_vocab()
    knowledge = EpisodeKnowledge([Fact("apple", "is_a", "fruit"), Fact("goblin", "weak_to", "axe")])
    ids = knowledge.ids(vocab, 4)
    assert ids.shape == (4, 3) and not ids[2:].any()
    assert ids[0].tolist() == [vocab.id("apple"), vocab.id("is_a"), vocab.id("fruit")]
    assert knowledge.sentences(vocab) == ["apple is a fruit", "goblin is weak to axe"]
    graph = rdflib.Graph().parse(data=knowledge.to_turtle(), format="turtle")
    assert len(graph) == 2
    answer = graph.query(
        "SELECT ?w WHERE { fg:goblin fg:weak_to ?w }", initNs={"fg": rdflib.Namespace("https://fusiongym.org/ontology#")}
    )
    assert [str(r.w).split("#")[1] for r in answer] == ["axe"]
    with pytest.raises(TooManyFactsError, match="max_facts"):
        knowledge.ids(vocab, 1)


def test_facts_order_is_shuffled_per_episode() -> None:
    env = gym.make("fusiongym/Fetch-v0")
    first_rows = set()
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        first_rows.add(int(obs["facts"][0, 1]))  # relation of the first fact
    assert len(first_rows) > 1


def test_fetch_dynamics_read_the_same_facts() -> None:
    """Picking up object o wins exactly when the episode's facts say o's kind is of the asked category."""
    env = gym.make("fusiongym/Fetch-v0")
    for seed in range(30):
        env.reset(seed=seed)
        episode = env.unwrapped.episode
        category = episode.instruction.category
        for slot, obj in enumerate(episode.layout.objects):
            stated = f"{obj.kind.replace('_', ' ')} is a {category}" in env.unwrapped.facts
            assert (episode.layout.tables.pickup[slot] == 1) == stated


def test_goto_has_no_relevant_facts() -> None:
    obs, info = gym.make("fusiongym/GoTo-v0").reset(seed=0)
    assert not obs["facts"].any() and info["facts"] == []


@pytest.mark.parametrize("level", ["GoTo", "Fetch"])
def test_test_split_phrasings_never_in_training(level: str) -> None:
    train_env, test_env = gym.make(f"fusiongym/{level}-v0"), gym.make(f"fusiongym/{level}-v0", split="test")
    train = {train_env.reset(seed=s)[1]["mission"] for s in range(60)}
    test = {test_env.reset(seed=s)[1]["mission"] for s in range(60)}
    instr = INSTRUCTION_TYPES[0 if level == "GoTo" else 1]
    held_out_prefixes = {t.split("{")[0] for t in instr.HELD_OUT_TEMPLATES}
    assert all(any(m.startswith(p) for p in held_out_prefixes) for m in test)
    assert not any(any(m.startswith(p) for p in held_out_prefixes) for m in train)


def test_goto_splits_hold_out_compositions() -> None:
    onto = load_ontology()
    for split in ("train", "test"):
        env = gym.make("fusiongym/GoTo-v0", split=split)
        for seed in range(80):
            env.reset(seed=seed)
            episode = env.unwrapped.episode
            target = episode.instruction.target
            held = held_out_composition(onto.shapes.index(target.shape), onto.colours.index(target.colour))
            assert held == (split == "test")
            if split == "train":
                assert not any(
                    held_out_composition(onto.shapes.index(o.shape), onto.colours.index(o.colour))
                    for o in episode.layout.objects
                )


def test_fetch_splits_hold_out_kinds() -> None:
    by_name = load_ontology().kind_by_name
    for split in ("train", "test"):
        env = gym.make("fusiongym/Fetch-v0", split=split, distractor_facts=6)
        for seed in range(80):
            env.reset(seed=seed)
            episode = env.unwrapped.episode
            assert all(by_name[o.kind].split == split for o in episode.layout.objects)
            assert all(by_name[f.subject].split == split for f in episode.knowledge.facts)


def test_fetch_needs_knowledge_on_test_split() -> None:
    from fusiongym.envs.conformance import oracle_success_rate

    blind = oracle_success_rate(lambda: gym.make("fusiongym/Fetch-v0", split="test"), episodes=150, use_facts=False)
    reading = oracle_success_rate(lambda: gym.make("fusiongym/Fetch-v0", split="test"), episodes=150)
    assert reading >= 0.99 and blind <= 0.5, (reading, blind)
    # on the training split a fact-blind agent can recognise the kinds it has memorised
    train_blind = oracle_success_rate(lambda: gym.make("fusiongym/Fetch-v0"), episodes=60, use_facts=False)
    assert train_blind >= 0.95


def test_knowledge_graph_export_from_env() -> None:
    env = gym.make("fusiongym/Fetch-v0")
    env.reset(seed=4)
    graph = env.unwrapped.knowledge.to_graph()
    assert len(graph) == len(env.unwrapped.facts)
    assert "fg:" in env.unwrapped.knowledge.to_turtle()
    np.testing.assert_equal(len(env.unwrapped.facts) > 0, True)
