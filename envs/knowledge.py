"""Episode knowledge: the facts an episode samples, shown to the agent and read by the dynamics.

One :class:`EpisodeKnowledge` per episode is the source of truth: a level compiles its rule tables
(which object is a fruit, which weapon defeats which monster …) from :meth:`EpisodeKnowledge.holds`, and the
agent is shown the same facts as id triples (``obs["facts"]``) and as sentences (``info["facts"]``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fusiongym.envs.ontology import ONTOLOGY_NAMESPACE
from fusiongym.envs.vocab import Vocabulary

#: Every relation a fact can state, as (vocabulary token, surface text). Order fixes vocabulary ids.
RELATIONS: tuple[tuple[str, str], ...] = (
    ("is_a", "is a"),
    ("has_shape", "has shape"),
    ("has_colour", "has colour"),
    ("made_of", "is made of"),
    ("weak_to", "is weak to"),
    ("opens", "opens"),
    ("cures", "cures"),
    ("is_in", "is in"),
    ("lies_behind", "lies behind"),
    ("is", "is"),
)


@dataclass(frozen=True)
class Fact:
    """A (subject, relation, object) triple of vocabulary tokens; ``relevant`` marks facts the task needs."""

    subject: str
    relation: str
    object: str
    relevant: bool = field(default=False, compare=False)

    def sentence(self, vocab: Vocabulary) -> str:
        return _sentence(vocab, self.subject, self.relation, self.object)

    def ids(self, vocab: Vocabulary) -> tuple[int, int, int]:
        return _ids(vocab, self.subject, self.relation, self.object)


@functools.lru_cache(maxsize=8192)
def _sentence(vocab: Vocabulary, *tokens: str) -> str:
    return " ".join(vocab.surface(vocab.id(t)) for t in tokens)


@functools.lru_cache(maxsize=8192)
def _ids(vocab: Vocabulary, *tokens: str) -> tuple[int, int, int]:
    return tuple(vocab.id(t) for t in tokens)  # type: ignore[return-value]


class TooManyFactsError(ValueError):
    """An episode sampled more facts than the observation has rows for."""


@dataclass
class EpisodeKnowledge:
    """The facts of one episode, in the (shuffled) order the agent is shown them."""

    facts: list[Fact]

    def holds(self, subject: str, relation: str, obj: str) -> bool:
        return any(f.subject == subject and f.relation == relation and f.object == obj for f in self.facts)

    def objects(self, subject: str, relation: str) -> list[str]:
        return [f.object for f in self.facts if f.subject == subject and f.relation == relation]

    def subjects(self, relation: str, obj: str) -> list[str]:
        return [f.subject for f in self.facts if f.relation == relation and f.object == obj]

    def ids(self, vocab: Vocabulary, max_facts: int) -> np.ndarray:
        """The facts as an ``(max_facts, 3)`` int64 array of vocabulary ids; all-zero rows pad."""
        if len(self.facts) > max_facts:
            raise TooManyFactsError(
                f"this episode has {len(self.facts)} facts but the observation holds max_facts={max_facts}; "
                f"pass a larger max_facts (or fewer distractor_facts) to gym.make"
            )
        out = np.zeros(max_facts * 3, dtype=np.int64)
        out[: 3 * len(self.facts)] = [i for f in self.facts for i in f.ids(vocab)]
        return out.reshape(max_facts, 3)

    def sentences(self, vocab: Vocabulary) -> list[str]:
        """The facts as English sentences (``"apple is a fruit"``), in the order shown."""
        return [f.sentence(vocab) for f in self.facts]

    def to_graph(self):  # -> rdflib.Graph (imported lazily: rdflib is only needed here and in the ontology)
        """The facts as an rdflib Graph in the ontology's namespace (``fg:apple fg:is_a fg:fruit``)."""
        import rdflib

        fg = rdflib.Namespace(ONTOLOGY_NAMESPACE)
        graph = rdflib.Graph()
        graph.bind("fg", fg)
        for f in self.facts:
            graph.add((fg[f.subject], fg[f.relation], fg[f.object]))
        return graph

    def to_turtle(self) -> str:
        """The facts serialised as Turtle."""
        return self.to_graph().serialize(format="turtle")


def shuffled_facts(facts: Iterable[Fact], rng: np.random.Generator) -> list[Fact]:
    """Facts in a random order (the order carries no information), duplicates removed."""
    unique: list[Fact] = list(dict.fromkeys(facts))
    return [unique[i] for i in rng.permutation(len(unique)).tolist()]


def appearance_facts(kind: str, shape: str, colour: str, relevant: bool) -> list[Fact]:
    """What a kind looks like, as two facts."""
    return [Fact(kind, "has_shape", shape, relevant), Fact(kind, "has_colour", colour, relevant)]


def sample_distractors(candidates: Sequence[Fact], count: int, rng: np.random.Generator) -> list[Fact]:
    """``count`` facts drawn without replacement from ``candidates`` (true facts the task does not need)."""
    if count <= 0 or not candidates:
        return []
    picks = rng.choice(len(candidates), size=min(count, len(candidates)), replace=False)
    return [candidates[int(i)] for i in picks]


def apply_knowledge_controls(
    knowledge: EpisodeKnowledge, rng: np.random.Generator, drop: int = 0, corrupt: int = 0, contradict: int = 0
) -> EpisodeKnowledge:
    """What the agent is shown when knowledge controls are on; the true ``knowledge`` is left unchanged.

    ``drop``: that many relevant facts are removed. ``corrupt``: that many relevant facts swap their object with
    another fact of the same relation (both become false). ``contradict``: for that many relevant facts a fact
    with the same subject and relation but another object is added. Without controls the same object is returned.
    """
    if not (drop or corrupt or contradict):
        return knowledge
    facts = list(knowledge.facts)

    def relevant_rows() -> list[int]:
        return [i for i, f in enumerate(facts) if f.relevant]

    for i in sorted(_pick(relevant_rows(), drop, rng), reverse=True):
        del facts[i]
    touched: set[int] = set()  # a fact swapped once is not swapped again (a second swap could undo the first)
    for i in _pick(relevant_rows(), corrupt, rng):
        if i in touched:
            continue
        partners = [
            j
            for j, f in enumerate(facts)
            if j not in touched and f.relation == facts[i].relation and f.object != facts[i].object
        ]
        if partners:
            j = partners[int(rng.integers(len(partners)))]
            a, b = facts[i], facts[j]
            facts[i] = Fact(a.subject, a.relation, b.object, a.relevant)
            facts[j] = Fact(b.subject, b.relation, a.object, b.relevant)
            touched.update((i, j))
    for i in _pick(relevant_rows(), contradict, rng):
        fact = facts[i]
        others = sorted({f.object for f in facts if f.relation == fact.relation and f.object != fact.object})
        if others:
            false = Fact(fact.subject, fact.relation, others[int(rng.integers(len(others)))], True)
            facts.insert(int(rng.integers(len(facts) + 1)), false)
    return EpisodeKnowledge(facts)


def _pick(rows: list[int], count: int, rng: np.random.Generator) -> list[int]:
    if count <= 0 or not rows:
        return []
    return [rows[int(i)] for i in rng.choice(len(rows), size=min(count, len(rows)), replace=False)]
