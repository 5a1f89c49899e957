"""Draw the ontology: every category with its kinds, each kind's sprite and name; held-out kinds are marked.

    python docs/make_ontology_picture.py   # writes docs/images/ontology.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fusiongym.envs.ontology import load_ontology
from fusiongym.envs.rendering import TileAtlas
from fusiongym.envs.world import TileIndex

OUT = Path(__file__).parent / "images" / "ontology.png"
SPRITE, ROW, COLUMN, HEADER = 28, 34, 150, 52


def main() -> None:
    """Draw the ontology's kinds, by category, to ``docs/images/ontology.png``."""
    onto = load_ontology()
    tiles = TileIndex(len(onto.shapes), len(onto.colours))
    atlas = TileAtlas(tiles, onto.shapes, onto.colours, SPRITE)
    per_category = {c: onto.kinds_in(c) for c in onto.categories}
    rows = max(len(k) for k in per_category.values())
    width, height = COLUMN * len(onto.categories) + 20, HEADER + ROW * rows + 60
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    title = ImageFont.load_default(size=15)
    font = ImageFont.load_default(size=13)
    draw.text((10, 6), "fusiongym ontology: entity (rdfs:subClassOf) category > kind, drawn with its default look",
              fill=(20, 20, 20), font=title)
    for ci, category in enumerate(onto.categories):
        x0 = 10 + ci * COLUMN
        draw.text((x0, 30), category, fill=(20, 20, 120), font=title)
        for ki, kind in enumerate(per_category[category]):
            y0 = HEADER + ki * ROW
            sprite = atlas.pixels[tiles.object(onto.shapes.index(kind.shape), onto.colours.index(kind.colour))]
            image.paste(Image.fromarray(np.ascontiguousarray(sprite)), (x0, y0))
            label = kind.surface + (" *" if kind.split == "test" else "")
            colour = (150, 40, 40) if kind.split == "test" else (20, 20, 20)
            draw.text((x0 + SPRITE + 6, y0 + 7), label, fill=colour, font=font)
    draw.text((10, height - 40), "* held out of training (split=\"test\"): only the facts reveal its category and "
              "look. "
              "Properties (material, pickable, edible) and ailments are in envs/data/ontology.ttl.",
              fill=(90, 90, 90), font=font)
    OUT.parent.mkdir(exist_ok=True)
    image.save(OUT, optimize=True)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
