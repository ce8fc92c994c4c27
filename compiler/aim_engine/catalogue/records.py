"""The catalogue as plain data: models, recipes, hardware and engines.

Everything downstream (validation, planning, rendering) works on these frozen
dataclasses; reading files lives in `load.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aim_engine.errors import UsageError
from aim_pick.contract import layout

ENTRY_KEY = re.compile(r"([1-9][0-9]*)_gpu\Z")  # use with match(): \Z, not $ (which allows a final newline)


def normalise(spelling: str) -> str:
    """The engines accept `--max_model_len` for `--max-model-len`."""
    if spelling.startswith("--"):
        return "--" + spelling[2:].replace("_", "-")
    return spelling


@dataclass(frozen=True)
class WeightFormat:
    bytes_per_param: float
    precision: str


@dataclass(frozen=True)
class Formats:
    """Precisions, weight formats and dtype spellings (data/formats.json)."""

    precisions: tuple[str, ...]
    weight_formats: Mapping[str, WeightFormat]
    variant_quantizations: Mapping[str, str]  # variant `quantization` -> weight format
    dtypes: Mapping[str, str]  # --dtype spelling -> precision (fp32 included)
    online_quantization: Mapping[str, str]  # --quantization that quantizes 16-bit weights -> weight format
    kv_cache_dtypes: Mapping[str, float | None]  # --kv-cache-dtype -> bytes per element (None: activation dtype)


@dataclass(frozen=True)
class Hardware:
    name: str
    product: str
    architecture: str
    gfx_target: str
    gfx_target_version: int
    family: str
    device_ids: tuple[str, ...]
    device_id_names: Mapping[str, str]
    memory_bytes: int
    memory_source: str
    compute_units: int
    apu: bool
    devices_per_package: int
    compute_partitions: tuple[str, ...]
    xcc_per_device: int
    precisions: Mapping[str, str]
    fp8_format: str | None
    # Memory the engine's profile sees grow outside PyTorch on one GPU of this type at TP 1
    # (planning/memory.py Runtime; None: the ROCm platform figure).
    non_torch_bytes: int | None = None

    def precision_support(self, precision: str) -> str | None:
        """'native', 'emulated' or None (cannot run it)."""
        return self.precisions.get(precision)


@dataclass(frozen=True)
class FlagSpec:
    """One option of an engine's real argument parser (from the flag snapshot)."""

    name: str
    aliases: tuple[str, ...]
    negation: str | None
    negations: tuple[str, ...]  # every "off" spelling (--no-x, and vLLM's --disable-x for --enable-x)
    kind: str  # value | flag | bool | count | help
    type: str  # int | float | str | json | human_int | bool | path
    choices: tuple[str, ...] | None
    nargs: str | None
    default: Any
    deprecated: bool
    deprecation: str | None
    help: str
    type_name: str | None = None  # the parser's type function (human_readable_int_or_auto, loads, ...)
    # Human-readable integers: suffix -> multiplier, and the suffixes that take a decimal number.
    suffixes: Mapping[str, int] | None = None
    decimal_suffixes: tuple[str, ...] = ()
    # Spellings the option's type reads specially: "auto" -> -1, "None" -> null (not set), ...
    special: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FlagTable:
    engine: str
    version: str
    allow_abbrev: bool
    options: Mapping[str, FlagSpec]
    # every accepted spelling -> (spec, negated?)
    spellings: Mapping[str, tuple[FlagSpec, bool]]

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> FlagTable:
        options: dict[str, FlagSpec] = {}
        spellings: dict[str, tuple[FlagSpec, bool]] = {}
        suffixes = data.get("number_suffixes") or {}
        special = data.get("special_values") or {}
        for name, raw in sorted(data["options"].items()):
            spec = FlagSpec(
                name=name,
                aliases=tuple(raw.get("aliases") or ()),
                negation=raw.get("negation"),
                negations=tuple(raw.get("negations") or ([raw["negation"]] if raw.get("negation") else [])),
                kind=raw.get("kind", "value"),
                type=raw.get("type") or "str",
                choices=tuple(raw["choices"]) if raw.get("choices") is not None else None,
                nargs=raw.get("nargs"),
                default=raw.get("default"),
                deprecated=bool(raw.get("deprecated")),
                deprecation=raw.get("deprecation"),
                help=raw.get("help") or "",
                type_name=raw.get("type_name"),
                suffixes=dict(suffixes[name]["multipliers"]) if name in suffixes else None,
                decimal_suffixes=tuple(suffixes[name].get("decimal_suffixes") or ()) if name in suffixes else (),
                special=dict(special[name]) if name in special else None,
            )
            options[name] = spec
            for spelling in (name, *spec.aliases):
                spellings.setdefault(spelling, (spec, False))
            for negated in spec.negations:
                spellings.setdefault(negated, (spec, True))
        return cls(data["engine"], data["version"], bool(data.get("allow_abbrev")), options, spellings)

    def lookup(self, spelling: str) -> tuple[FlagSpec, bool] | None:
        return self.spellings.get(spelling)

    def resolve(self, spelling: str) -> tuple[FlagSpec, bool] | None:
        """What the engine's parser makes of `spelling`: `_` read as `-`, and (where the
        parser allows abbreviations) a unique prefix read as the full option."""
        name = normalise(spelling)
        found = self.lookup(name)
        if found is None and self.allow_abbrev:
            matches = self.prefix_matches(name)
            if len(matches) == 1:
                found = (matches[0], False)
        return found

    def prefix_matches(self, spelling: str) -> list[FlagSpec]:
        """Options argparse would pick for an abbreviated long flag (allow_abbrev)."""
        if not spelling.startswith("--"):
            return []
        found = {spec.name: spec for s, (spec, _) in self.spellings.items() if s.startswith(spelling)}
        return [found[k] for k in sorted(found)]


@dataclass(frozen=True)
class EngineData:
    name: str
    title: str
    version: str
    recipe_key: str
    default_port: int
    images: Mapping[str, str]
    image_entrypoint: str | None
    launch: tuple[str, ...]
    image_source: str
    removed_flags: Mapping[str, Mapping[str, str | None]]
    removed_env: Mapping[str, str]
    family_env: Mapping[str, Mapping[str, str]]
    foreign_spellings: Mapping[str, str]  # other engines' flags -> this engine's spelling
    defaults: Mapping[str, Any]  # what the engine fills in when a recipe leaves a setting out
    generic: Mapping[str, Any]  # how a generic plan is written (flags per setting, env per gfx target)
    flags: FlagTable

    def image_for(self, hardware: Hardware) -> str | None:
        return self.images.get(hardware.gfx_target)

    def env_for(self, hardware: Hardware) -> dict[str, str]:
        return dict(self.family_env.get(hardware.gfx_target, {}))


@dataclass(frozen=True)
class ArchConfig:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    max_position_embeddings: int
    vocab_size: int
    tie_word_embeddings: bool


@dataclass(frozen=True)
class LinearAttention:
    """Linear-attention layers (e.g. Gated DeltaNet): a fixed state per request, no KV per token."""

    layers: int
    num_key_heads: int
    num_value_heads: int
    key_head_dim: int
    value_head_dim: int
    conv_kernel: int


@dataclass(frozen=True)
class Indexer:
    """DeepSeek sparse attention's indexer: an extra key cache per token."""

    n_heads: int
    head_dim: int
    topk: int


@dataclass(frozen=True)
class Attention:
    kind: str  # gqa | mla | hybrid
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    sliding_window: int = 0
    sliding_window_layers: int = 0
    linear: LinearAttention | None = None  # hybrid models
    indexer: Indexer | None = None  # MLA with sparse attention


@dataclass(frozen=True)
class Moe:
    num_experts: int
    experts_per_token: int
    moe_intermediate_size: int
    shared_experts: int = 0
    dense_layers: int = 0

    @property
    def shared_width(self) -> int:
        """The shared experts' MLP width: as one MLP of shared_experts x the expert width (the
        DeepSeek and GLM configs' n_shared_experts; Qwen3-Next's shared_expert_intermediate_size
        equals it for every catalogue model, and Llama 4's shared expert is one expert wide)."""
        return self.shared_experts * self.moe_intermediate_size


@dataclass(frozen=True)
class CheckpointSize:
    """A checkpoint's real stored size: its weight files' bytes, per safetensors dtype when known."""

    total_bytes: int
    bytes_by_dtype: Mapping[str, int]
    source: str
    computed: bool = False


@dataclass(frozen=True)
class Variant:
    model_id: str
    precision: str
    quantization: str  # none | fp8 | fp8_block | mxfp4 | int8 | int4_awq | int4_gptq | w4a16
    kv_cache_fp8_scales: bool
    source: str
    verified: bool
    checkpoint: CheckpointSize | None = None
    alias_of: bool = False  # the same weights under another repo name


@dataclass(frozen=True)
class EngineServing:
    """How one engine serves a model when no recipe says otherwise (generic plans)."""

    reasoning_parser: str | None = None
    tool_call_parser: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    text_only_args: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None


@dataclass(frozen=True)
class Serving:
    trust_remote_code: bool = False
    engines: Mapping[str, EngineServing] = field(default_factory=dict)  # engine name -> facts
    notes: str | None = None

    def for_engine(self, engine: str) -> EngineServing:
        return self.engines.get(engine) or EngineServing()


@dataclass(frozen=True)
class Multimodal:
    encoder_params: int
    modalities: tuple[str, ...] = ()


@dataclass(frozen=True)
class Model:
    model_id: str
    name: str
    family: str
    size: str
    readiness_level: str
    description: str
    license: str
    gated: bool
    architecture: str
    native_precision: str
    total_params: int
    active_params: int | None
    config: ArchConfig
    attention: Attention
    moe: Moe | None
    rope_scaling: Mapping[str, Any] | None
    aim_recipes: tuple[str, ...]
    variants: tuple[Variant, ...]
    provenance: tuple[Mapping[str, Any], ...]
    unverified: tuple[str, ...]
    path: Path
    serving: Serving = field(default_factory=Serving)
    checkpoint: CheckpointSize | None = None  # the main checkpoint's stored size
    multimodal: Multimodal | None = None
    model_type: str | None = None  # config.json model_type

    @property
    def slug(self) -> str:
        return layout.slug(self.model_id)

    def variant(self, checkpoint: str) -> Variant | None:
        for variant in self.variants:
            if variant.model_id == checkpoint:
                return variant
        return None


@dataclass(frozen=True)
class Entry:
    """One `N_gpu` entry of one backend block of a recipe."""

    backend: str
    key: str
    gpus: int
    enabled: bool
    args: Mapping[str, Any]
    env: Mapping[str, str]  # recipe env overlaid with the entry's env
    notes: str | None


@dataclass(frozen=True)
class Recipe:
    recipe_id: str
    model_id: str
    hardware: str
    precision: str
    status: str
    metric: str | None
    notes: str | None
    env: Mapping[str, str]
    entries: tuple[Entry, ...]
    path: Path

    def entries_for(self, backend: str) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.backend == backend)


@dataclass
class Catalogue:
    models: dict[str, Model] = field(default_factory=dict)
    recipes: dict[str, Recipe] = field(default_factory=dict)
    hardware: dict[str, Hardware] = field(default_factory=dict)
    engines: dict[str, EngineData] = field(default_factory=dict)

    def find_model(self, text: str) -> Model:
        """The model named by its HF id, slug, name or file name; UsageError if none."""
        for model in self.models.values():
            if layout.matches(text, model.model_id, model.slug, model.name, model.path.stem):
                return model
        raise UsageError(f"unknown model {text!r}; known: {', '.join(sorted(self.models))}")

    def find_hardware(self, text: str) -> Hardware:
        for name, hardware in self.hardware.items():
            if layout.matches(text, name):
                return hardware
        raise UsageError(f"unknown GPU {text!r}; known: {', '.join(self.hardware)}")

    def recipes_for(self, model_id: str) -> list[Recipe]:
        return sorted((r for r in self.recipes.values() if r.model_id == model_id), key=lambda r: r.recipe_id)
