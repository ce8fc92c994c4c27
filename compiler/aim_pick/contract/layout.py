"""The published API's file layout and names, shared by the compiler (which writes it)
and aim-pick (which reads it). One definition of each path, key and name rule.

    index.json                  models, hardware, engines, counts, catalogue digest
    models/<slug>.json          one model: metadata + support matrix
    plans/<plan-id>.json        one resolved plan
    lookup/<hw>/<slug>.json     request key -> decision
"""

from __future__ import annotations

import json
import re

INDEX = "index.json"
PLAN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a file name under plans/, never a path


def slug(model_id: str) -> str:
    """Hugging Face id -> file-safe slug (seed convention: '/' becomes '--')."""
    return model_id.replace("/", "--")


def model_path(model_slug: str) -> str:
    return f"models/{model_slug}.json"


def plan_path(plan_id: str) -> str:
    return f"plans/{plan_id}.json"


def lookup_path(hardware: str, model_slug: str) -> str:
    return f"lookup/{hardware}/{model_slug}.json"


OBJECTIVES = ("latency", "throughput")
KEY_FORMAT = "<n>/<count mode: auto|exact>/<precision: {precisions}>/<backend: {backends}>/<objective: {objectives}>"


def lookup_key(n: int, count_mode: str, precision: str, backend: str, objective: str = "latency") -> str:
    """The request key of a lookup file, e.g. "8/auto/auto/auto/latency" (KEY_FORMAT)."""
    return f"{n}/{count_mode}/{precision}/{backend}/{objective}"


def key_format(precisions: list[str] | tuple[str, ...], backends: list[str] | tuple[str, ...]) -> str:
    return KEY_FORMAT.format(
        precisions="|".join(("auto", *precisions)),  # "auto" alone when the lookup offers none
        backends="|".join(("auto", *backends)),
        objectives="|".join(OBJECTIVES),
    )


def matches(text: str, *names: str) -> bool:
    """Whether a user's `text` names a thing known by `names` (ids, slugs, names; any case)."""
    wanted = text.strip().lower()
    return bool(wanted) and wanted in {n.lower() for n in names if n}


def compact_json(data: object) -> bytes:
    """Stable, compact JSON (sorted keys, UTF-8, newline): lookup files and bundles."""
    return (json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def pretty_json(data: object) -> bytes:
    """Stable, indented JSON (sorted keys, UTF-8, newline): files people read."""
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
