"""Fusion blocks: combine vision, language and knowledge outputs into one feature vector ``[B, features_dim]``.

* :class:`ConcatFusion` — concatenate the pooled vectors, then an MLP.
* :class:`FiLMFusion` — language + knowledge predict per-channel scale and shift of the vision feature maps
  (Perez et al. 2018, as in BabyAI), over a few residual conv layers.
* :class:`CrossAttentionFusion` — vision patch tokens attend to language and knowledge tokens.
* :class:`LLMPrefixFusion` — projected image patches and fact embeddings enter the language backbone as soft
  tokens in front of the instruction (``inputs_embeds``); the backbone is the policy network.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from fusiongym.fusion.knowledge import KnowledgeOutput
from fusiongym.fusion.language import LanguageBackbone, TextOutput
from fusiongym.fusion.vision import VisionOutput


def _pooled_or_none(part: TextOutput | KnowledgeOutput | None) -> list[torch.Tensor]:
    return [] if part is None else [part.pooled]


def spatial_readout(channels: int, grid: int, out_dim: int) -> nn.Sequential:
    """``[B, C, grid, grid]`` maps to ``[B, out_dim]`` through a linear layer over the flattened map, which keeps
    *where* things are in the view (an egocentric policy must know whether its goal is ahead or to the left;
    pooling over the grid would throw that away)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * grid * grid, out_dim), nn.LayerNorm(out_dim), nn.ReLU())


def bounded_output(in_dim: int, features_dim: int) -> list[nn.Module]:
    """The features SB3's heads read: Linear → LayerNorm → ReLU. The norm keeps them O(1): unbounded features
    (FiLM's multiplicative scales let them grow past 100) saturate the policy MLP's tanh units, and the policy
    collapses to one fixed action distribution whatever it sees."""
    return [nn.Linear(in_dim, features_dim), nn.LayerNorm(features_dim), nn.ReLU()]


def silence_inputs_after(linear: nn.Linear, start: int, scale: float = 0.01) -> nn.Linear:
    """Scale down (by ``scale``) the weights that read ``linear``'s inputs from column ``start`` on: the instruction
    and knowledge paths start almost silent and grow in as learning finds them useful (not quite zero, so that their
    encoders get a gradient from the first step). Left at a default init, those paths add a random projection of the
    instruction to every feature, noise the policy must first learn to ignore: on a level that needs no language the
    fusion policy then learned far slower than the vision-only one (docs/results.md)."""
    with torch.no_grad():
        linear.weight[:, start:] *= scale
    return linear


def _first_linear(layers: nn.Sequential) -> nn.Linear:
    """The first layer of ``layers``, which these blocks build as a Linear."""
    first = layers[0]
    assert isinstance(first, nn.Linear)
    return first


class ConcatFusion(nn.Module):
    """``MLP([readout(vision maps); language; knowledge])``, the readout keeping positions in the view."""

    def __init__(self, vision_dim: int, language_dim: int, knowledge_dim: int, hidden_dim: int,
                 features_dim: int, grid: int) -> None:
        super().__init__()
        self.readout = spatial_readout(vision_dim, grid, hidden_dim)
        self.net = nn.Sequential(nn.Linear(hidden_dim + language_dim + knowledge_dim, hidden_dim), nn.ReLU(),
                                 *bounded_output(hidden_dim, features_dim))
        self.vision_columns = hidden_dim
        self.restore_init()

    def restore_init(self) -> None:
        """The instruction and knowledge columns start almost silent (rerun after SB3's re-initialisation)."""
        silence_inputs_after(_first_linear(self.net), self.vision_columns)

    def forward(self, vision: VisionOutput, language: TextOutput | None,
                knowledge: KnowledgeOutput | None) -> torch.Tensor:
        parts = [self.readout(vision.maps), *_pooled_or_none(language), *_pooled_or_none(knowledge)]
        return self.net(torch.cat(parts, -1))


class _FiLMLayer(nn.Module):
    """``maps + relu(mix(maps) · (1 + scale) + shift)``; ``mix`` is a 3×3 conv (``kernel=3``), a linear map over
    the channels of each tile (``kernel=1``: a 1×1 conv at about half its CPU cost) or nothing (``kernel=0``: the
    vision encoder's own maps are modulated)."""

    def __init__(self, channels: int, cond_dim: int, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.mix: nn.Module
        if kernel == 0:
            self.mix = nn.Identity()
        elif kernel == 1:
            self.mix = nn.Linear(channels, channels)
        else:
            self.mix = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        self.film = nn.Linear(cond_dim, 2 * channels)
        self.restore_init()

    def restore_init(self) -> None:
        """Start as the identity modulation (scale 1, shift 0); rerun after SB3's orthogonal re-initialisation."""
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        for name in ("weight", "bias"):  # agents saved before ``mix`` was named ``conv``
            if prefix + "conv." + name in state_dict:
                state_dict[prefix + "mix." + name] = state_dict.pop(prefix + "conv." + name)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, maps: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond).chunk(2, dim=-1)
        if self.kernel == 1:  # the linear map acts on each tile's vector: channels last, then back
            mixed = self.mix(maps.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        else:
            mixed = self.mix(maps)
        return maps + F.relu(torch.addcmul(shift[..., None, None], mixed, 1 + scale[..., None, None]))


class FiLMFusion(nn.Module):
    """FiLM: the condition ``[language; knowledge]`` scales and shifts the vision maps over ``layers`` residual
    layers (``kernel`` 0: the encoder's maps themselves; 1: a per-tile linear map; 3: BabyAI's 3×3 convs); the
    maps are read out position by position (:func:`spatial_readout`) and joined with the condition.

    ``goal_maps`` > 0 adds that many match channels before the readout: the condition predicts a target vector
    per channel and each tile's value is its dot product with the tile's vector — "where the instructed thing
    is" as one channel, which per-channel FiLM scales can express only spread over every channel."""

    def __init__(self, vision_dim: int, cond_dim: int, hidden_dim: int, features_dim: int, grid: int, *,
                 layers: int, kernel: int, goal_maps: int = 0) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        # LayerNorm first: a frozen backbone's embeddings share a large common offset (MiniLM's mean-pooled
        # instructions have norm ~6.5), which would otherwise swamp what tells two instructions apart
        self.cond = nn.Sequential(nn.LayerNorm(max(cond_dim, 1)), nn.Linear(max(cond_dim, 1), hidden_dim), nn.ReLU())
        self.layers = nn.ModuleList(_FiLMLayer(vision_dim, hidden_dim, kernel) for _ in range(layers))
        self.goal = nn.Linear(hidden_dim, goal_maps * vision_dim) if goal_maps else None
        self.readout = spatial_readout(vision_dim + goal_maps, grid, hidden_dim)
        self.out = nn.Sequential(*bounded_output(2 * hidden_dim, features_dim))
        self.vision_columns = hidden_dim
        self.restore_init()

    def restore_init(self) -> None:
        """The condition's own copy into the features starts almost silent (its FiLM layers restore themselves)."""
        silence_inputs_after(_first_linear(self.out), self.vision_columns)

    def forward(self, vision: VisionOutput, language: TextOutput | None,
                knowledge: KnowledgeOutput | None) -> torch.Tensor:
        parts = _pooled_or_none(language) + _pooled_or_none(knowledge)
        raw = torch.cat(parts, -1) if parts else vision.maps.new_zeros(vision.maps.shape[0], 1)
        cond = self.cond(raw)
        maps = vision.maps
        for layer in self.layers:
            maps = layer(maps, cond)
        if self.goal is not None:
            targets = self.goal(cond).view(cond.shape[0], -1, maps.shape[1])  # [B, goal_maps, channels]
            match = torch.einsum("bkc,bchw->bkhw", targets, maps) / maps.shape[1] ** 0.5
            maps = torch.cat([maps, match], 1)
        return self.out(torch.cat([self.readout(maps), cond], -1))


class CrossAttentionFusion(nn.Module):
    """Vision patch tokens (queries, with learned grid positions) attend to language and knowledge tokens.

    A learned "null" context token is always present, so a step with no instruction and no facts still has
    something to attend to. One transformer-style block (attention + feed-forward, pre-norm residuals), then the
    updated patch tokens are read out position by position (:func:`spatial_readout`) and joined with the pooled
    language / knowledge vectors.
    """

    def __init__(self, vision_dim: int, num_patches: int, language_dim: int, knowledge_dim: int, hidden_dim: int,
                 num_heads: int, features_dim: int) -> None:
        super().__init__()
        self.vision_proj = nn.Linear(vision_dim, hidden_dim)
        self.position = nn.Parameter(torch.randn(1, num_patches, hidden_dim) * 0.02)
        self.language_proj = nn.Linear(language_dim, hidden_dim) if language_dim else None
        self.knowledge_proj = nn.Linear(knowledge_dim, hidden_dim) if knowledge_dim else None
        self.null = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.norm_q = nn.LayerNorm(hidden_dim)
        self.norm_kv = nn.LayerNorm(hidden_dim)
        self.attention = nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(hidden_dim)
        self.ff = nn.Sequential(nn.Linear(hidden_dim, 2 * hidden_dim), nn.ReLU(), nn.Linear(2 * hidden_dim, hidden_dim))
        self.readout = spatial_readout(hidden_dim * num_patches, 1, hidden_dim)  # over the flattened patch tokens
        self.out = nn.Sequential(*bounded_output(hidden_dim + language_dim + knowledge_dim, features_dim))
        self.vision_columns = hidden_dim
        self.restore_init()
        self.last_attention: torch.Tensor | None = None  # [B, patches, context] weights of the last call

    def restore_init(self) -> None:
        """The pooled instruction and knowledge columns start almost silent (rerun after SB3's re-initialisation)."""
        silence_inputs_after(_first_linear(self.out), self.vision_columns)

    def forward(self, vision: VisionOutput, language: TextOutput | None,
                knowledge: KnowledgeOutput | None) -> torch.Tensor:
        batch = vision.tokens.shape[0]
        queries = self.vision_proj(vision.tokens) + self.position
        context = [self.null.expand(batch, -1, -1)]
        valid = [torch.ones(batch, 1, dtype=torch.bool, device=queries.device)]
        if language is not None and self.language_proj is not None:
            context.append(self.language_proj(language.tokens))
            valid.append(language.mask)
        if knowledge is not None and self.knowledge_proj is not None:
            context.append(self.knowledge_proj(knowledge.tokens))
            valid.append(knowledge.mask)
        keys = self.norm_kv(torch.cat(context, 1))
        attended, weights = self.attention(self.norm_q(queries), keys, keys,
                                           key_padding_mask=~torch.cat(valid, 1), need_weights=True)
        self.last_attention = weights.detach()
        tokens = queries + attended
        tokens = tokens + self.ff(self.norm_ff(tokens))
        return self.out(torch.cat([self.readout(tokens), *_pooled_or_none(language), *_pooled_or_none(knowledge)],
                                  -1))


class LLMPrefixFusion(nn.Module):
    """The language backbone as the policy network, fed ``[specials][image patches][facts][instruction]``.

    Image patch tokens (pooled to ``prefix_grid × prefix_grid``) and per-fact embeddings (triple-encoder
    tokens, or the verbalised facts' own token embeddings) are projected to the backbone's width and placed in
    front of the instruction's token embeddings through ``inputs_embeds``; the backbone's output is pooled (mean
    over valid positions, or the last valid one for decoders) into the features.
    """

    def __init__(self, backbone: LanguageBackbone, vision_dim: int, knowledge_dim: int, prefix_grid: int,
                 features_dim: int, pooling: str = "auto", verbalised_facts: bool = False) -> None:
        super().__init__()
        self.backbone = [backbone]  # registered by the extractor; kept out of this module's children
        width = backbone.hidden_size
        self.prefix_grid = prefix_grid
        self.vision_proj = nn.Sequential(nn.Linear(vision_dim, width), nn.GELU(), nn.Linear(width, width))
        self.knowledge_proj = nn.Linear(knowledge_dim, width) if knowledge_dim and not verbalised_facts else None
        self.verbalised_facts = verbalised_facts
        self.pooling = ("last" if backbone.kind == "decoder" else "mean") if pooling == "auto" else pooling
        self.out = nn.Sequential(nn.Linear(width, features_dim), nn.ReLU())

    def _token_embeddings(self, sequences: list[list[int]], device: torch.device) -> tuple[torch.Tensor, ...]:
        backbone = self.backbone[0]
        ids, mask = backbone._pad(sequences, device)
        return backbone.input_embeddings()(ids), mask.bool()

    def forward(self, vision: VisionOutput, missions: torch.Tensor, knowledge: KnowledgeOutput | None,
                facts: torch.Tensor | None = None) -> torch.Tensor:
        backbone = self.backbone[0]
        bridge = backbone.bridge
        device = vision.maps.device
        batch = vision.maps.shape[0]
        maps = F.adaptive_avg_pool2d(vision.maps, self.prefix_grid)
        parts: list[torch.Tensor] = []
        masks: list[torch.Tensor] = []
        embed = backbone.input_embeddings()
        if bridge.prefix:
            prefix = torch.tensor(bridge.prefix, device=device)
            parts.append(embed(prefix).unsqueeze(0).expand(batch, -1, -1))
            masks.append(torch.ones(batch, len(bridge.prefix), dtype=torch.bool, device=device))
        visual = self.vision_proj(maps.flatten(2).transpose(1, 2))
        parts.append(visual)
        masks.append(torch.ones(visual.shape[:2], dtype=torch.bool, device=device))
        if self.verbalised_facts and facts is not None:
            room = backbone.max_tokens // 2
            seqs = [bridge.facts_body(r)[:room] for r in facts.to(torch.long).cpu().numpy()]
            fact_embeds, fact_mask = self._token_embeddings(seqs, device)
            parts.append(fact_embeds)
            masks.append(fact_mask)
        elif knowledge is not None and self.knowledge_proj is not None:
            parts.append(self.knowledge_proj(knowledge.tokens))
            masks.append(knowledge.mask)
        rows = missions.to(torch.long).cpu().numpy()
        instructions = [bridge.mission_body(r) + list(bridge.suffix) for r in rows]
        text, text_mask = self._token_embeddings(instructions, device)
        parts.append(text)
        masks.append(text_mask)
        inputs = torch.cat(parts, 1)
        mask = torch.cat(masks, 1)
        limit = backbone.max_tokens
        inputs, mask = inputs[:, :limit], mask[:, :limit]
        hidden = backbone.run(None, mask.long(), inputs_embeds=inputs)
        if self.pooling == "last":
            last = mask.long().cumsum(1).argmax(1)  # index of the last valid position
            pooled = hidden[torch.arange(batch, device=device), last]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.out(pooled)

