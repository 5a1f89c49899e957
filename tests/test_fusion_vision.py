"""Vision encoders: CNN and ViT shapes, a pretrained model from a local folder, image layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fusiongym.fusion.config import FusionConfig, FusionConfigError
from fusiongym.fusion.vision import CNNEncoder, HFVisionEncoder, TileCNNEncoder, build_vision_encoder, tile_outlines

torch.set_num_threads(1)


@pytest.mark.parametrize("size", [56, 64, 40, 7])
def test_cnn_gives_pooled_vector_and_grid_tokens_for_any_size(size: int) -> None:
    encoder = CNNEncoder(3, (8, 16, 16), grid=7)
    out = encoder(torch.rand(2, 3, size, size))
    assert out.pooled.shape == (2, 16)
    assert out.tokens.shape == (2, 49, 16)
    assert out.maps.shape == (2, 16, 7, 7)
    # tokens are the map, row-major; pooled is their mean
    assert torch.allclose(out.tokens[:, 8], out.maps[:, :, 1, 1])
    assert torch.allclose(out.pooled, out.tokens.mean(1), atol=1e-6)


def test_cnn_is_one_token_per_tile_for_a_56px_view() -> None:
    torch.manual_seed(0)
    encoder = CNNEncoder(3, (4, 4, 4), grid=7)
    image = torch.zeros(1, 3, 56, 56)
    base = encoder(image).maps
    image[..., 48:56, 0:8] = 1.0  # bottom-left tile only
    changed = (encoder(image).maps - base).abs().sum(1)[0]
    assert changed[6, 0] > 0
    assert changed[4:, :3].sum() > 0.9 * changed.sum()  # the change stays around that tile


def test_tile_cnn_embeds_each_tile_and_mixes_only_its_neighbours() -> None:
    torch.manual_seed(0)
    encoder = build_vision_encoder(FusionConfig(vision={"encoder": "tiles", "cnn_channels": (8, 8)}), image_size=56)
    assert isinstance(encoder, TileCNNEncoder) and encoder.dim == 8
    image = torch.zeros(1, 3, 56, 56)
    base = encoder(image)
    assert base.maps.shape == (1, 8, 7, 7) and base.tokens.shape == (1, 49, 8)
    image[..., 48:56, 0:8] = 1.0  # bottom-left tile only
    changed = (encoder(image).maps - base.maps).abs().sum(1)[0]
    assert changed[6, 0] > 0
    assert changed[:5].sum() == 0 and changed[:, 2:].sum() == 0  # one 3x3 conv: the 2x2 neighbourhood only


def test_tile_cnn_needs_the_grid_to_divide_the_view() -> None:
    with pytest.raises(FusionConfigError, match="set vision_grid to the view's side in tiles"):
        build_vision_encoder(FusionConfig(vision={"encoder": "tiles", "grid": 5}), image_size=56)


def test_vit_from_config_gives_patch_tokens() -> None:
    vit = dict(patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    config = FusionConfig(vision={"encoder": "vit", "vit_config": vit})
    encoder = build_vision_encoder(config, image_size=56)
    out = encoder(torch.rand(3, 3, 56, 56))
    assert out.tokens.shape == (3, 49, 32) and out.pooled.shape == (3, 32)


def test_vit_patch_size_must_divide_image() -> None:
    with pytest.raises(FusionConfigError, match="patch_size"):
        build_vision_encoder(FusionConfig(vision={"encoder": "vit", "vit_config": {"patch_size": 5}}), image_size=56)


def test_pretrained_vision_model_from_a_local_folder(tmp_path: Path) -> None:
    from transformers import ViTConfig, ViTModel

    saved = ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=16), add_pooling_layer=False)
    saved.save_pretrained(tmp_path / "vit")
    config = FusionConfig(vision={"encoder": "pretrained", "path": str(tmp_path / "vit"), "grid": 4})
    encoder = build_vision_encoder(config, image_size=56)
    assert isinstance(encoder, HFVisionEncoder)
    assert encoder.image_size == 32  # 56 px views are resized to the model's size
    for name, tensor in saved.state_dict().items():
        assert torch.equal(tensor, encoder.model.state_dict()[name]), name
    out = encoder(torch.rand(2, 3, 56, 56))
    assert out.tokens.shape == (2, 16, 16)
    assert not any(p.requires_grad for p in encoder.model.parameters())  # freeze_vision=True by default
    encoder.train()
    assert not encoder.model.training


def _object_tiles(shape: str) -> torch.Tensor:
    """``[6, 3, 8, 8]`` floats in [0, 1]: the suite's drawing of ``shape`` in each of its colours."""
    from fusiongym.envs.ontology import load_ontology
    from fusiongym.envs.rendering import TileAtlas
    from fusiongym.envs.world import TileIndex

    onto = load_ontology()
    index = TileIndex(len(onto.shapes), len(onto.colours))
    atlas = TileAtlas(index, onto.shapes, onto.colours, 8).pixels
    s = onto.shapes.index(shape)
    drawn = [atlas[index.object(s, c)] for c in range(len(onto.colours))]
    return torch.tensor(np.stack(drawn), dtype=torch.float32).permute(0, 3, 1, 2) / 255.0


def test_the_shape_channel_draws_a_shape_alike_in_every_colour() -> None:
    ring, ball = _object_tiles("ring"), _object_tiles("ball")
    assert (ring[0] - ring[2]).abs().max() > 0.5  # in RGB a red ring and a blue ring are far apart
    outlines = tile_outlines(ring, 8)[:, 0, 1:, 1:]  # row 0 and column 0 hold the floor's grid lines
    assert (outlines - outlines[0]).abs().max() < 0.02
    assert (tile_outlines(ball, 8)[:, 0, 1:, 1:] - outlines).abs().amax(dim=(1, 2)).min() > 0.5


def test_the_tile_encoder_takes_the_shape_channel_only_when_asked() -> None:
    torch.manual_seed(0)
    config = FusionConfig(vision={"shape_channel": True})
    encoder = build_vision_encoder(config, 56)
    assert encoder.stages[0].in_channels == 4
    assert encoder(torch.rand(2, 3, 56, 56)).maps.shape == (2, 64, 7, 7)
    assert build_vision_encoder(FusionConfig(), 56).stages[0].in_channels == 3
    with pytest.raises(FusionConfigError, match="vision.encoder='tiles'"):
        FusionConfig(vision={"encoder": "cnn", "shape_channel": True})
