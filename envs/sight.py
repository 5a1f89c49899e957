"""What an egocentric view sees: line-of-sight rays from the agent's eye, tested for a whole batch of views in a few
array operations (:class:`SightLines`), and the bit sets they work on."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


def pack_view_bits(cells: np.ndarray) -> np.ndarray:
    """(..., V*V) booleans → (...,) uint64 bit sets (bit c set when cell c is), V*V <= 64."""
    packed = np.packbits(cells, axis=-1, bitorder="little")  # byte c // 8, bit c % 8
    words = np.zeros(cells.shape[:-1] + (8,), np.uint8)
    words[..., : packed.shape[-1]] = packed
    return words.view(np.dtype("<u8"))[..., 0].astype(np.uint64, copy=False)


def distinct_values(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of 1-D ``keys`` (sorted) and, for each key, the position of its value among them:
    ``np.unique(keys, return_inverse=True)``, with a stable sort (several times faster on keys with many repeats)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.empty(len(keys), bool)  # where a new value starts in the sorted keys
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    which = np.empty(len(keys), np.intp)
    which[order] = np.cumsum(first) - 1
    return ordered[first], which


@functools.lru_cache(maxsize=8)
def sight_rays(view_size: int) -> np.ndarray:
    """Line-of-sight bit sets (K*V*V,): bit c of entry k*V*V+t is set when cell c lies on ray k towards cell t.

    A view cell is visible when at least one of its K rays — from the agent's eye (the centre of its cell) to
    the target cell's centre and to its four corners pulled slightly inwards — crosses no opaque cell
    (walls, closed and locked doors). The target cell itself may be opaque: walls are seen.
    """
    v = view_size
    eye = np.array([v - 1 + 0.5, v // 2 + 0.5])
    corner = 0.45
    aims = [(0.0, 0.0), (-corner, -corner), (-corner, corner), (corner, -corner), (corner, corner)]
    rays = np.zeros((v * v * len(aims), v * v), dtype=bool)
    samples = np.linspace(0.0, 1.0, 257)[1:-1, None]
    for ty in range(v):
        for tx in range(v):
            target = ty * v + tx
            for k, (ay, ax) in enumerate(aims):
                end = np.array([ty + 0.5 + ay, tx + 0.5 + ax])
                points = np.floor(eye + samples * (end - eye)).astype(int)
                for cy, cx in {(int(py), int(px)) for py, px in points}:
                    if (cy, cx) in ((ty, tx), (v - 1, v // 2)):
                        continue
                    rays[k * v * v + target, cy * v + cx] = True
    return pack_view_bits(rays)


@dataclass(frozen=True)
class SightLines:
    """The line-of-sight test of a view, arranged so that a batch of views is checked in a few array operations.

    A view cell is visible when at least one of its rays (see :func:`sight_rays`) crosses no opaque cell; a cell
    with a ray that crosses nothing is always visible. Cells are sorted by how many distinct rays they have, most
    first, so that round ``k`` tests the k-th ray of a leading run of cells only.
    """

    inverse: np.ndarray  # (V*V,) sorted position of each view cell
    always: np.ndarray  # (V*V, 1) bool, sorted: whether the cell is visible whatever is opaque
    rays: tuple[np.ndarray, ...]  # round k: (n_k, 1) uint64 bit sets, the k-th ray of the first n_k sorted cells

    def visible(self, opaque: np.ndarray) -> np.ndarray:
        """(B,) bit sets of opaque view cells → (B, V*V) whether each view cell is visible."""
        if len(opaque) < 32:  # too few views for finding the distinct patterns to pay
            return self._visible(opaque)
        patterns, which = distinct_values(opaque)  # views share their walls: each distinct pattern is tested once
        return self._visible(patterns)[which]

    def _visible(self, opaque: np.ndarray) -> np.ndarray:
        """``visible``, testing every bit set given (repeats included)."""
        seen = np.repeat(self.always, len(opaque), axis=1)  # (V*V, B): the batch is the contiguous axis
        for rays in self.rays:
            seen[: len(rays)] |= (rays & opaque) == 0
        return seen[self.inverse].T


@functools.lru_cache(maxsize=8)
def sight_lines(view_size: int) -> SightLines:
    """The :class:`SightLines` of a view size, from its rays."""
    cells = view_size * view_size
    rays = sight_rays(view_size).reshape(-1, cells)  # (K, V*V)
    distinct = []
    for target in range(cells):
        own = list(dict.fromkeys(int(r) for r in rays[:, target]))
        distinct.append([] if 0 in own else own)
    order = sorted(range(cells), key=lambda target: -len(distinct[target]))  # stable: ties keep cell order
    rounds = tuple(
        np.array([distinct[t][k] for t in order if len(distinct[t]) > k], np.uint64)[:, None]
        for k in range(max(len(d) for d in distinct))
    )
    always = np.array([not distinct[t] for t in order])[:, None]
    return SightLines(inverse=np.argsort(order), always=always, rays=rounds)
