"""The suite vocabulary: one id for every word, entity, relation and attribute.

Mission ids, fact ids, the language-model tokenizer bridge and the rendering tables are all derived from
:func:`get_vocab`. The token list is built deterministically, in a fixed order, from the ontology, the
relations of :mod:`fusiongym.envs.knowledge` and the instruction templates of
:mod:`fusiongym.envs.language`; ``tests/test_vocab.py`` pins its fingerprint, so a change to it (which changes
every observation) cannot pass unnoticed: bump the env versions when you change it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence

PAD, UNK = "<pad>", "<unk>"


class Vocabulary:
    """A bijection between tokens and ids; id 0 is padding, id 1 the unknown word."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self._tokens: list[str] = []
        self._surfaces: list[str] = []
        self._ids: dict[str, int] = {}
        for token, surface in [(PAD, ""), (UNK, UNK), *entries]:
            if token in self._ids:
                if self._surfaces[self._ids[token]] != surface:
                    raise ValueError(f"vocabulary token {token!r} has two surface forms")
                continue
            self._ids[token] = len(self._tokens)
            self._tokens.append(token)
            self._surfaces.append(surface)

    @property
    def size(self) -> int:
        return len(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(self._tokens)

    def token(self, i: int) -> str:
        return self._tokens[i]

    def surface(self, i: int) -> str:
        """The natural text of id ``i`` (``"is a"`` for ``is_a``); empty for padding."""
        return self._surfaces[i]

    def id(self, token: str) -> int:
        try:
            return self._ids[token]
        except KeyError:
            raise KeyError(f"{token!r} is not in the fusiongym vocabulary ({self.size} tokens)") from None

    def encode(self, text: str) -> list[int]:
        """Whitespace-split, lower-cased words to ids (unknown words become ``<unk>``)."""
        return [self._ids.get(word, 1) for word in text.lower().split()]

    def decode(self, ids: Sequence[int]) -> str:
        """The surface text of the non-padding ids, joined by spaces."""
        return " ".join(self._surfaces[int(i)] for i in ids if int(i) != 0)

    def fingerprint(self) -> str:
        """A short hash of the token list; it changes whenever any id changes."""
        return hashlib.sha256("\n".join(self._tokens).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def get_vocab() -> Vocabulary:
    """The suite vocabulary (built once per process)."""
    from fusiongym.envs.knowledge import RELATIONS
    from fusiongym.envs.language import template_words
    from fusiongym.envs.ontology import load_ontology

    onto = load_ontology()
    entries: list[tuple[str, str]] = list(RELATIONS)
    entries += [(c, c) for c in onto.categories]
    entries += [(k.name, k.surface) for k in onto.kinds]
    for terms in (onto.shapes, onto.colours, onto.materials, onto.ailments, onto.properties):
        entries += [(t, t) for t in terms]
    entries += [(door_token(c), f"{c} door") for c in onto.colours]
    entries += [(w, w) for w in template_words()]
    return Vocabulary(entries)


def door_token(colour: str) -> str:
    """The vocabulary token naming the door of a colour (``red_door``)."""
    return f"{colour}_door"
