"""Vision encoders: RGB images (channel-first floats in [0, 1]) to a pooled vector and a grid of patch tokens."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from fusiongym.fusion.config import FusionConfig, FusionConfigError


@dataclass
class VisionOutput:
    """What every vision encoder returns.

    pooled: ``[B, dim]`` one vector per image.
    tokens: ``[B, grid*grid, dim]`` patch tokens, row-major over the grid.
    maps: ``[B, dim, grid, grid]`` the same tokens as a feature map (FiLM modulates these).
    """

    pooled: torch.Tensor
    tokens: torch.Tensor
    maps: torch.Tensor


def _maps_to_output(maps: torch.Tensor) -> VisionOutput:
    tokens = maps.flatten(2).transpose(1, 2)
    return VisionOutput(pooled=maps.mean(dim=(2, 3)), tokens=tokens, maps=maps)


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(F.relu(self.conv0(F.relu(x))))


class VisionEncoder(nn.Module):
    """What every vision encoder is: ``forward(images [B, C, H, W]) -> VisionOutput`` with ``dim`` channels."""

    dim: int


class CNNEncoder(VisionEncoder):
    """IMPALA-style CNN sized for small egocentric views (56×56 = 7×7 tiles of 8 px, and other sizes).

    Each stage is conv 3×3 → max-pool 3×3 stride 2 → one residual block, halving the resolution; the last map
    is average-pooled to ``grid × grid`` only when its size differs (a 56 px view with 3 stages gives 7×7,
    one token per tile).
    """

    def __init__(self, in_channels: int = 3, channels: tuple[int, ...] = (16, 32, 32), grid: int = 7) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(in_channels, out, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1),
                       _ResidualBlock(out)]
            in_channels = out
        layers.append(nn.ReLU())
        self.stages = nn.Sequential(*layers)
        self.grid = grid
        self.dim = channels[-1]

    def forward(self, images: torch.Tensor) -> VisionOutput:
        maps = self.stages(images)
        if maps.shape[-2:] != (self.grid, self.grid):
            maps = F.adaptive_avg_pool2d(maps, self.grid)
        return _maps_to_output(maps)


class TileCNNEncoder(VisionEncoder):
    """A CNN that works at tile resolution: a ``patch × patch`` convolution with stride ``patch`` turns each tile of
    the view into one vector (a 56 px view of 7×7 tiles of 8 px gives a 7×7 map), then 3×3 convolutions mix
    neighbouring tiles. Grid worlds draw one object per tile, so nothing is lost by not convolving inside tiles,
    and it costs a small fraction of :class:`CNNEncoder` (the fast default for CPU training).

    ``shape_channel`` adds an input channel: each pixel's brightness (its largest channel) over the brightest
    pixel's of its tile. An object drawn in any colour gives the same outline there, so the first layer can know a
    shape apart from its colour, where from RGB alone it learns each shape in the colours training showed it.
    """

    def __init__(self, in_channels: int = 3, channels: tuple[int, ...] = (32, 64, 64), grid: int = 7,
                 image_size: int = 56, shape_channel: bool = False) -> None:
        super().__init__()
        if image_size % grid:
            raise FusionConfigError(f"vision='tiles' needs vision_grid ({grid}) to divide the image size "
                                    f"({image_size}): set vision_grid to the view's side in tiles (7 for 56 px)")
        patch = image_size // grid
        self.patch = patch
        self.shape_channel = shape_channel
        layers: list[nn.Module] = [nn.Conv2d(in_channels + int(shape_channel), channels[0], patch, stride=patch),
                                   nn.ReLU()]
        for previous, out in pairwise(channels):
            layers += [nn.Conv2d(previous, out, 3, padding=1), nn.ReLU()]
        self.stages = nn.Sequential(*layers)
        self.grid = grid
        self.dim = channels[-1]

    def forward(self, images: torch.Tensor) -> VisionOutput:
        if self.shape_channel:
            images = torch.cat([images, tile_outlines(images, self.patch)], dim=1)
        return _maps_to_output(self.stages(images))


def tile_outlines(images: torch.Tensor, patch: int) -> torch.Tensor:
    """``[B, 1, H, W]``: each pixel's brightness (largest channel of ``[B, C, H, W]`` images) over the brightest
    pixel's of its ``patch × patch`` tile (0 in an all-black tile)."""
    brightness = images.amax(dim=1, keepdim=True)
    brightest = F.interpolate(F.max_pool2d(brightness, patch), scale_factor=patch, mode="nearest")
    return brightness / brightest.clamp_min(1e-3)


class HFVisionEncoder(VisionEncoder):
    """A ``transformers`` vision model (ViT from a config, or any pretrained one) as a patch-token encoder.

    Images are resized to the model's ``image_size`` when it has one and normalised with ``mean``/``std``
    (0.5 by default, ViT's). Token outputs ``[B, 1 + N, D]`` (CLS first, when ``num_prefix_tokens`` says so) or
    feature maps ``[B, D, h, w]`` (convolutional models) become a ``grid × grid`` map.
    """

    mean: torch.Tensor  # buffers
    std: torch.Tensor

    def __init__(self, model: nn.Module, grid: int, image_size: int | None, num_prefix_tokens: int,
                 mean: float | list[float] = 0.5, std: float | list[float] = 0.5, frozen: bool = False) -> None:
        super().__init__()
        self.model = model
        self.grid = grid
        self.image_size = image_size
        self.num_prefix_tokens = num_prefix_tokens
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(-1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(-1, 1, 1), persistent=False)
        self.frozen = frozen
        if frozen:
            self.model.requires_grad_(False)
        config = getattr(model, "config", None)
        self.dim = int(getattr(config, "hidden_size", None) or getattr(config, "hidden_sizes", [0])[-1])

    def train(self, mode: bool = True) -> HFVisionEncoder:
        super().train(mode)
        if self.frozen:
            self.model.eval()  # frozen weights: no dropout / batch-norm updates either
        return self

    def forward(self, images: torch.Tensor) -> VisionOutput:
        if self.image_size is not None and images.shape[-2:] != (self.image_size, self.image_size):
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                   align_corners=False)
        pixels = (images - self.mean) / self.std
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            hidden = self.model(pixel_values=pixels).last_hidden_state
        if hidden.dim() == 4:  # convolutional backbone: [B, D, h, w]
            maps = hidden
        else:
            patches = hidden[:, self.num_prefix_tokens:]
            side = int(round(patches.shape[1] ** 0.5))
            if side * side != patches.shape[1]:
                raise ValueError(f"vision model returned {patches.shape[1]} patch tokens, not a square grid")
            maps = patches.transpose(1, 2).reshape(patches.shape[0], patches.shape[2], side, side)
        if maps.shape[-2:] != (self.grid, self.grid):
            maps = F.adaptive_avg_pool2d(maps, self.grid)
        return _maps_to_output(maps)


def _num_prefix_tokens(model: nn.Module) -> int:
    config = model.config
    if getattr(config, "model_type", "") in ("vit", "deit", "dinov2", "beit", "vit_mae", "vit_msn", "dino"):
        return 2 if getattr(config, "model_type", "") == "deit" else 1
    return int(getattr(config, "num_prefix_tokens", 0) or 0)


def build_vision_encoder(config: FusionConfig, image_size: int, in_channels: int = 3,
                         offline: bool = True) -> VisionEncoder:
    """The vision encoder ``config.vision.encoder`` names, for square images of side ``image_size``."""
    vision = config.vision
    if vision.encoder == "cnn":
        return CNNEncoder(in_channels, vision.cnn_channels, vision.grid)
    if vision.encoder == "tiles":
        return TileCNNEncoder(in_channels, vision.cnn_channels, vision.grid, image_size,
                              shape_channel=vision.shape_channel)
    if vision.encoder == "vit":
        from transformers import ViTConfig, ViTModel

        kwargs: dict[str, Any] = dict(image_size=image_size, patch_size=8, num_channels=in_channels,
                                      hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=128)
        kwargs.update(vision.vit_config)
        if kwargs["image_size"] % kwargs["patch_size"]:
            raise FusionConfigError(
                f"ViT patch_size {kwargs['patch_size']} does not divide image_size {kwargs['image_size']}: "
                "set vit_config['patch_size'] to a divisor")
        model = ViTModel(ViTConfig(**kwargs), add_pooling_layer=False)
        return HFVisionEncoder(model, vision.grid, None if kwargs["image_size"] == image_size
                               else kwargs["image_size"], num_prefix_tokens=1, frozen=False)
    from transformers import AutoConfig, AutoModel

    assert vision.path is not None
    hf_config = AutoConfig.from_pretrained(vision.path, local_files_only=offline)
    if getattr(hf_config, "num_channels", in_channels) != in_channels:
        raise FusionConfigError(f"pretrained vision model at {vision.path} expects "
                                f"{hf_config.num_channels} channels, the observation has {in_channels}")
    kwargs = {"add_pooling_layer": False} if hf_config.model_type == "vit" else {}
    model = AutoModel.from_pretrained(vision.path, local_files_only=offline, **kwargs)
    size = getattr(model.config, "image_size", None)
    size = size[0] if isinstance(size, (list, tuple)) else size
    return HFVisionEncoder(model, vision.grid, size, num_prefix_tokens=_num_prefix_tokens(model),
                           frozen=vision.freeze)
