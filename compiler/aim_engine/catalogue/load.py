"""Read the catalogue from disk: YAML models and recipes, JSON hardware and engine data.

Each file is parsed, checked against its JSON Schema, and only then turned into the
dataclasses of `catalogue.py`. Files that fail are reported and left out, so later
checks never see half-formed data.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from aim_engine.catalogue.records import (
    ENTRY_KEY,
    ArchConfig,
    Attention,
    CheckpointSize,
    EngineData,
    EngineServing,
    Entry,
    FlagTable,
    Formats,
    Hardware,
    Indexer,
    LinearAttention,
    Model,
    Moe,
    Multimodal,
    Recipe,
    Serving,
    Variant,
    WeightFormat,
)
from aim_engine.errors import UsageError

DATA = resources.files("aim_engine.catalogue") / "data"
SCHEMAS = resources.files("aim_engine.catalogue") / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    spec = schema(name)
    cls = jsonschema.validators.validator_for(spec)
    cls.check_schema(spec)
    return cls(_inline_refs(spec, spec.get("$defs", {})))


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with its local `#/$defs/...` references replaced by their targets (the
    same validation; resolving a reference per value is most of jsonschema's time)."""
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _inline_refs(value, defs) for key, value in node.items() if key != "$defs"}
    ref = out.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs:
        return {**_inline_refs(defs[ref[8:]], defs), **out}
    if ref is not None:
        out["$ref"] = ref
    return out


def schema_errors(name: str, data: Any) -> list[tuple[tuple, str]]:
    """(path of the offending value or key, readable message) for each schema violation."""
    out = []
    for error in _validator(name).iter_errors(data):
        where = tuple(error.absolute_path)
        extra = _extra_keys(error)
        out.append((where + extra[:1], _describe(error, extra)))
    return sorted(out, key=lambda item: ([str(p) for p in item[0]], item[1]))


def _extra_keys(error: jsonschema.ValidationError) -> tuple[str, ...]:
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return ()
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = set(schema.get("properties", {}))
    patterns = schema.get("patternProperties", {})
    return tuple(
        sorted(str(k) for k in error.instance if k not in allowed and not any(re.search(p, str(k)) for p in patterns))
    )


def _short(value: Any, limit: int = 60) -> str:
    """A value for a message: never a non-finite number, never hundreds of digits."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"a {len(str(abs(value))) if abs(value) < 10**4000 else 'many'}-digit number"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
        except ValueError:  # NaN or infinity inside, or an integer too long to write
            return "a value holding a non-finite or oversized number"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(error: jsonschema.ValidationError, extra: tuple[str, ...]) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    v = error.validator
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}) if isinstance(error.schema, dict) else {})
        known = f" (allowed: {', '.join(allowed)})" if allowed and len(allowed) <= 25 else ""
        return f"{where}: unknown key {', '.join(repr(k) for k in extra)}{known}"
    if v == "required":
        return f"{where}: {error.message}"
    if v == "type":
        return f"{where}: expected {error.validator_value}, got {_short(error.instance)}"
    if v == "enum":
        values = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{where}: {_short(error.instance)} is not one of {', '.join(map(str, values))}"
    if v == "pattern":
        rule = error.schema.get("x-rule") if isinstance(error.schema, dict) else None
        return (
            f"{where}: {_short(error.instance)} is not {rule}"
            if rule
            else (f"{where}: {_short(error.instance)} does not match the pattern {error.validator_value}")
        )
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{where}: {_short(error.instance)} is out of range ({v} {error.validator_value})"
    return f"{where}: {error.message if len(error.message) < 200 else error.message[:197] + '...'}"


# --- hardware, engines and formats (package data) -----------------------------------------


@cache
def load_formats() -> Formats:
    data = json.loads((DATA / "formats.json").read_text("utf-8"))
    return Formats(
        precisions=tuple(data["precisions"]),
        weight_formats={
            k: WeightFormat(v["bytes_per_param"], v["precision"]) for k, v in data["weight_formats"].items()
        },
        variant_quantizations=dict(data["variant_quantizations"]),
        dtypes=dict(data["dtypes"]),
        online_quantization=dict(data["online_quantization"]),
        kv_cache_dtypes=dict(data["kv_cache_dtypes"]),
    )


# The precision names, in the catalogue's order (data/formats.json).
PRECISIONS: tuple[str, ...] = load_formats().precisions


@lru_cache(maxsize=1)
def load_hardware() -> dict[str, Hardware]:
    data = json.loads((DATA / "hardware.json").read_text("utf-8"))
    problems = schema_errors("hardware", data)
    if problems:
        raise ValueError(f"built-in hardware data is invalid: {problems[0][1]}")
    return {
        name: Hardware(
            name=name,
            product=g["product"],
            architecture=g["architecture"],
            gfx_target=g["gfx_target"],
            gfx_target_version=g["gfx_target_version"],
            family=g["family"],
            device_ids=tuple(g["device_ids"]),
            device_id_names=dict(g["device_id_names"]),
            memory_bytes=g["memory_bytes"],
            memory_source=g["memory_source"],
            compute_units=g["compute_units"],
            apu=g["apu"],
            devices_per_package=g["devices_per_package"],
            compute_partitions=tuple(g["compute_partitions"]),
            xcc_per_device=g["xcc_per_device"],
            precisions=dict(g["precisions"]),
            fp8_format=g["fp8_format"],
            non_torch_bytes=g.get("non_torch_memory", {}).get("bytes"),
        )
        for name, g in sorted(data["gpus"].items())
    }


@lru_cache(maxsize=1)
def load_engines() -> dict[str, EngineData]:
    engines = {}
    for path in sorted((DATA / "engines").iterdir(), key=lambda p: p.name):
        if not path.name.endswith(".json"):
            continue
        data = json.loads(path.read_text("utf-8"))
        problems = schema_errors("engine", data)
        if problems:
            raise ValueError(f"built-in engine data {path.name} is invalid: {problems[0][1]}")
        snapshot = json.loads((DATA / "flags" / data["flags"]).read_text("utf-8"))
        engines[data["name"]] = EngineData(
            name=data["name"],
            title=data["title"],
            version=data["version"],
            recipe_key=data["recipe_key"],
            default_port=data["default_port"],
            images=dict(data["images"]),
            image_entrypoint=data["image_entrypoint"],
            launch=tuple(data["launch"]),
            image_source=data["image_source"],
            removed_flags=data["removed_flags"],
            removed_env=data["removed_env"],
            family_env=data["family_env"],
            foreign_spellings=dict(data["foreign_spellings"]),
            generic=dict(data["generic"]),
            defaults=dict(data["defaults"]),
            flags=FlagTable.from_snapshot(snapshot),
        )
    return engines


# --- models and recipes (YAML) -------------------------------------------------------------


def model_from(data: dict[str, Any], path: Path) -> Model:
    cfg = data["architecture_config"]
    att = data["attention"]
    moe = data.get("moe")
    return Model(
        model_id=data["model_id"],
        name=data["name"],
        family=data["family"],
        size=data["size"],
        readiness_level=data["readiness_level"],
        description=data["description"],
        license=data["license"],
        gated=data["gated"],
        architecture=data["architecture"],
        native_precision=data["native_precision"],
        total_params=data["parameters"]["total"],
        active_params=data["parameters"].get("active"),
        config=ArchConfig(**cfg),
        attention=Attention(
            kind=att["kind"],
            kv_lora_rank=att.get("kv_lora_rank", 0),
            q_lora_rank=att.get("q_lora_rank", 0),
            qk_rope_head_dim=att.get("qk_rope_head_dim", 0),
            sliding_window=att.get("sliding_window", 0),
            sliding_window_layers=att.get("sliding_window_layers", 0),
            linear=LinearAttention(**att["linear"]) if att.get("linear") else None,
            indexer=Indexer(**att["indexer"]) if att.get("indexer") else None,
        ),
        moe=Moe(**moe) if moe else None,
        rope_scaling=data.get("rope_scaling"),
        aim_recipes=tuple(data["aim_recipes"]),
        variants=tuple(
            Variant(
                model_id=v["model_id"],
                precision=v["precision"],
                quantization=v["quantization"],
                kv_cache_fp8_scales=v.get("kv_cache_fp8_scales", False),
                source=v["source"],
                verified=v["verified"],
                checkpoint=checkpoint_size(v.get("checkpoint")),
                alias_of=v.get("alias_of", False),
            )
            for v in data.get("variants", [])
        ),
        provenance=tuple(data["provenance"]),
        unverified=tuple(data.get("unverified", [])),
        path=path,
        serving=serving_from(data.get("serving") or {}),
        model_type=data.get("model_type"),
        checkpoint=checkpoint_size(data.get("checkpoint")),
        multimodal=Multimodal(data["multimodal"]["encoder_params"], tuple(data["multimodal"].get("modalities", ())))
        if data.get("multimodal")
        else None,
    )


def checkpoint_size(raw: dict[str, Any] | None) -> CheckpointSize | None:
    if not raw:
        return None
    return CheckpointSize(
        raw["total_bytes"], dict(raw.get("bytes_by_dtype") or {}), raw["source"], raw.get("computed", False)
    )


def serving_from(raw: dict[str, Any]) -> Serving:
    engines = {
        name: EngineServing(
            reasoning_parser=facts.get("reasoning_parser"),
            tool_call_parser=facts.get("tool_call_parser"),
            args=dict(facts.get("args") or {}),
            text_only_args=dict(facts.get("text_only_args") or {}),
            env=dict(facts.get("env") or {}),
            source=facts.get("source"),
        )
        for name, facts in raw.items()
        if name in ("vllm", "sglang") and isinstance(facts, dict)
    }
    return Serving(trust_remote_code=raw.get("trust_remote_code", False), engines=engines, notes=raw.get("notes"))


def _env(mapping: dict[str, Any] | None) -> dict[str, str]:
    out = {}
    for key, value in (mapping or {}).items():
        out[str(key)] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return out


def recipe_from(data: dict[str, Any], path: Path, backends: dict[str, str]) -> Recipe:
    """`backends` maps recipe keys (vllm_serve) to engine names (vllm); others are skipped."""
    recipe_env = _env(data.get("env"))
    entries = []
    for key, engine in sorted(backends.items()):
        for entry_key, raw in sorted((data.get(key) or {}).items(), key=lambda kv: _entry_order(kv[0])):
            match = ENTRY_KEY.match(entry_key)
            if not match:
                continue
            entries.append(
                Entry(
                    backend=engine,
                    key=entry_key,
                    gpus=int(match.group(1)),
                    enabled=raw["enabled"],
                    args=dict(raw.get("args") or {}),
                    env={**recipe_env, **_env(raw.get("env"))},
                    notes=raw.get("notes"),
                )
            )
    return Recipe(
        recipe_id=data["recipe_id"],
        model_id=data["model_id"],
        hardware=data["hardware"],
        precision=data["precision"],
        status=data.get("status", "untested"),
        metric=data.get("metric"),
        notes=data.get("notes"),
        env=recipe_env,
        entries=tuple(entries),
        path=path,
    )


def _entry_order(key: str) -> tuple[int, str]:
    match = ENTRY_KEY.match(key)
    return (int(match.group(1)) if match else 0, key)


def yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def catalogue_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(model files, recipe files) of the catalogue rooted at `root`."""
    return yaml_files(root / "models"), yaml_files(root / "recipes")


@dataclass(frozen=True)
class Selection:
    """Which files to load and which of them a caller asked about.

    `models`/`recipes`: every file to load (the whole catalogue, plus files named on
    the command line that live elsewhere); `shown`: the files whose findings matter;
    `unlisted_ok`: named recipes that need not be in their model's aim_recipes yet.
    """

    models: tuple[Path, ...]
    recipes: tuple[Path, ...]
    shown: frozenset[Path]
    unlisted_ok: frozenset[Path]


def _display(path: Path) -> Path:
    """Paths as the user would type them: relative to the current folder when possible."""
    try:
        return Path(os.path.relpath(path))
    except ValueError:
        return path


def select(root: Path, paths: Sequence[Path] = ()) -> Selection:
    """The catalogue at `root`, or only `paths` (files or folders) checked against it."""
    if not (root / "models").is_dir():
        raise UsageError(
            f"{root.resolve()} has no models/ folder; run from the catalogue root (the folder holding models/) "
            "or pass --root"
        )
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    models, recipes = catalogue_files(root)
    shown: set[Path] = set()
    unlisted_ok: set[Path] = set()
    in_catalogue = {p.resolve() for p in models + recipes}
    for path in paths:
        for file in yaml_files(path) if path.is_dir() else [path]:
            file = _display(file.resolve())
            shown.add(file)
            if file.resolve() in in_catalogue:
                continue
            (models if classify(file) == "model" else recipes).append(file)
            unlisted_ok.add(file)
    if paths and not shown:
        raise UsageError(f"no .yaml or .yml files in {', '.join(map(str, paths))}")
    models = [_display(p) for p in models]
    recipes = [_display(p) for p in recipes]
    return Selection(
        tuple(models), tuple(recipes), frozenset(shown if paths else models + recipes), frozenset(unlisted_ok)
    )


def classify(path: Path) -> str:
    """'model' or 'recipe' for a file named on the command line.

    The folder decides when it is models/ or recipes/; otherwise the content does
    (a recipe has recipe_id). Unreadable files count as recipes so their error shows.
    """
    parts = {p.lower() for p in path.parts[:-1]}
    if "models" in parts and "recipes" not in parts:
        return "model"
    if "recipes" in parts:
        return "recipe"
    try:
        head = path.read_text("utf-8", errors="replace")
    except OSError:
        return "recipe"
    if re.search(r"^recipe_id\s*:", head, re.M):
        return "recipe"
    if re.search(r"^(aim_recipes|architecture_config)\s*:", head, re.M):
        return "model"
    return "recipe"
