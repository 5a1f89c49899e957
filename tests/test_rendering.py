"""The tile gathers of the renderer draw exactly what a per-tile copy from the atlas draws, on every path."""

from __future__ import annotations

import numpy as np
import pytest

from fusiongym.envs.rendering import TileAtlas
from fusiongym.envs.sight import distinct_values
from fusiongym.envs.simulation import tile_atlas


def drawn_tile_by_tile(pixels: np.ndarray, tile_ids: np.ndarray) -> np.ndarray:
    """(B, R, C) tile ids → (B, R*ts, C*ts, 3), copying each tile's pixels into place one by one."""
    b, rows, cols = tile_ids.shape
    ts = pixels.shape[1]
    image = np.zeros((b, rows * ts, cols * ts, 3), np.uint8)
    for i in range(b):
        for r in range(rows):
            for c in range(cols):
                image[i, r * ts : (r + 1) * ts, c * ts : (c + 1) * ts] = pixels[tile_ids[i, r, c]]
    return image


TILE_SIZES = [3, 8, 16]
SHAPES = [(1, 7, 7), (40, 7, 7), (64, 5, 5), (1, 22, 22), (30, 9, 9)]


def _tile_ids(atlas: TileAtlas, shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Few distinct tiles, as in real views (many repeated rows), plus some rows of any tile."""
    rng = np.random.default_rng(seed)
    tile_ids = rng.choice([0, 1, 2, 5], size=shape).astype(np.int16)
    tile_ids[:, ::3] = rng.integers(0, len(atlas.pixels), size=tile_ids[:, ::3].shape)
    return tile_ids


@pytest.mark.parametrize("tile_size", TILE_SIZES)
@pytest.mark.parametrize("shape", SHAPES)
def test_ego_image_matches_a_tile_by_tile_copy(tile_size: int, shape: tuple[int, int, int]) -> None:
    atlas = tile_atlas(tile_size)
    tile_ids = _tile_ids(atlas, shape, seed=tile_size)
    image = atlas.ego_image(tile_ids)
    assert image.dtype == np.uint8 and image.flags.c_contiguous
    np.testing.assert_array_equal(image, drawn_tile_by_tile(atlas.pixels, tile_ids))


def test_both_gather_paths_are_exercised(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cases above draw through each of ego_image's two paths: whole distinct rows, and the direct gather."""
    taken: dict[tuple[int, int, int], list[str]] = {}
    for name in ("_image_from_distinct_rows", "_gather"):
        path = getattr(TileAtlas, name)

        def spy(self: TileAtlas, tile_ids: np.ndarray, path=path, name=name) -> np.ndarray:
            taken.setdefault(tile_ids.shape, []).append(name)
            return path(self, tile_ids)

        monkeypatch.setattr(TileAtlas, name, spy)
    for shape in SHAPES:
        tile_atlas(8).ego_image(_tile_ids(tile_atlas(8), shape, seed=8))
    assert taken[(40, 7, 7)] == ["_image_from_distinct_rows"]  # a batch of views: distinct rows drawn once
    assert taken[(1, 7, 7)] == ["_gather"]  # a single view: the direct gather
    assert {path for paths in taken.values() for path in paths} == {"_image_from_distinct_rows", "_gather"}
    assert sorted(taken) == sorted(SHAPES)  # every case drew through exactly one of them
    assert all(len(paths) == 1 for paths in taken.values())


def test_distinct_is_numpys_unique_with_inverse() -> None:
    keys = np.random.default_rng(0).integers(0, 50, 1000).astype(np.uint64)
    values, which = distinct_values(keys)
    expected_values, expected_which = np.unique(keys, return_inverse=True)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(which, expected_which.reshape(-1))
