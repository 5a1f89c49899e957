"""The shipped ontology (``data/ontology.ttl``), read with rdflib into plain Python tables.

The Turtle file is the one source of entity kinds, categories, appearances, properties and held-out kinds.
Everything else (the vocabulary, sprites, episode facts, the fact-blind oracle's priors) is derived from the
:class:`Ontology` this module builds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

ONTOLOGY_NAMESPACE = "https://fusiongym.org/ontology#"


@dataclass(frozen=True)
class EntityKind:
    """One kind of entity (``apple``, ``goblin``) as the ontology describes it."""

    name: str
    surface: str
    category: str
    shape: str
    colour: str
    material: str
    pickable: bool
    edible: bool
    split: str  # "train": may appear in both splits; "test": held out of training


@dataclass(frozen=True)
class Ontology:
    """Every term of the ontology, in file order (which fixes vocabulary ids)."""

    shapes: tuple[str, ...]
    colours: tuple[str, ...]
    materials: tuple[str, ...]
    ailments: tuple[str, ...]
    properties: tuple[str, ...]
    categories: tuple[str, ...]
    kinds: tuple[EntityKind, ...]
    relations: tuple[tuple[str, str], ...]  # (token, surface) of the relations stated in the file

    @functools.cached_property
    def kind_by_name(self) -> dict[str, EntityKind]:
        return {k.name: k for k in self.kinds}

    def kinds_in(self, category: str, split: str | None = None) -> list[EntityKind]:
        """Kinds of ``category``; with ``split="train"`` only those seen in training, ``"test"`` only held-out."""
        return [k for k in self.kinds if k.category == category and (split is None or k.split == split)]


def _local(term: object) -> str:
    text = str(term)
    return text[len(ONTOLOGY_NAMESPACE) :] if text.startswith(ONTOLOGY_NAMESPACE) else text


@functools.lru_cache(maxsize=1)
def load_ontology() -> Ontology:
    """Parse the shipped Turtle file (once per process)."""
    import rdflib
    from rdflib.namespace import RDF, RDFS

    fg = rdflib.Namespace(ONTOLOGY_NAMESPACE)
    graph = rdflib.Graph()
    graph.parse(data=resources.files("fusiongym.envs").joinpath("data/ontology.ttl").read_text(), format="turtle")

    def literal(subject: rdflib.term.Node, predicate: rdflib.URIRef) -> rdflib.Literal:
        """The literal the file states as ``subject``'s ``predicate`` (it states every one read here)."""
        value = graph.value(subject, predicate)
        if not isinstance(value, rdflib.Literal):
            raise ValueError(f"ontology.ttl states no literal {_local(predicate)} of {_local(subject)}")
        return value

    def ordered(cls: rdflib.URIRef) -> tuple[str, ...]:
        members = [(int(literal(s, fg.order)), _local(s)) for s in graph.subjects(RDF.type, cls)]
        return tuple(name for _, name in sorted(members))

    categories = [
        (int(literal(c, fg.order)), c) for c in graph.subjects(RDFS.subClassOf, fg.Entity)
    ]
    category_names = tuple(str(graph.value(c, RDFS.label)) for _, c in sorted(categories))
    kinds = []
    for _, cat_uri in sorted(categories):
        for kind_uri in graph.subjects(RDFS.subClassOf, cat_uri):
            kinds.append(
                (
                    int(literal(kind_uri, fg.order)),
                    EntityKind(
                        name=_local(kind_uri),
                        surface=str(graph.value(kind_uri, fg.surface)),
                        category=str(graph.value(cat_uri, RDFS.label)),
                        shape=_local(graph.value(kind_uri, fg.shape)),
                        colour=_local(graph.value(kind_uri, fg.colour)),
                        material=_local(graph.value(kind_uri, fg.material)),
                        pickable=bool(literal(kind_uri, fg.pickable).toPython()),
                        edible=bool(literal(kind_uri, fg.edible).toPython()),
                        split=str(graph.value(kind_uri, fg["split"])),  # fg.split would be str.split
                    ),
                )
            )
    relations = tuple(
        (str(graph.value(p, RDFS.label)), str(graph.value(p, fg.surface)))
        for p in (fg.shape, fg.colour, fg.material)
    )
    return Ontology(
        shapes=ordered(fg.Shape),
        colours=ordered(fg.Colour),
        materials=ordered(fg.Material),
        ailments=ordered(fg.Ailment),
        properties=ordered(fg.Property),
        categories=category_names,
        kinds=tuple(k for _, k in sorted(kinds, key=lambda item: item[0])),
        relations=relations,
    )
