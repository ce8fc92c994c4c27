"""The shipped catalogue's content: enough models, every figure traceable to a source a reader
can open, vendor recipes that say where they come from, and readiness levels that claim no more
than the recipes behind them."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest

from aim_engine.planning.planner import Planner
from tests import yamlio

REPO = Path(__file__).resolve().parents[2]
MODELS = sorted((REPO / "models").glob("*.yaml"))
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))

# A public source: a URL, or "owner/repo path @ commit" / "owner/repo path@commit" (7+ hex digits).
COMMIT = re.compile(r"[\w.-]+/[\w.-]+ \S+ ?@ ?[0-9a-f]{7,40}\b")
URL = re.compile(r"https?://\S+")
DERIVED = ("computed", "derived")


@functools.cache  # each file parsed once per run (the tests only read it)
def _yaml(path: Path) -> dict:
    return yamlio.safe_load(path.read_text(encoding="utf-8"))


def _public(source: str) -> bool:
    return bool(COMMIT.search(source) or URL.search(source))


def test_at_least_forty_models():
    ids = [_yaml(p)["model_id"] for p in MODELS]
    assert len(set(ids)) == len(ids) >= 40


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_every_figure_has_a_source(path):
    """Each figure of the file is named by a provenance entry (or listed as unverified), and
    each entry is a public source or says it is derived from the others."""
    doc = _yaml(path)
    named = set(doc.get("unverified") or [])
    for entry in doc["provenance"]:
        named |= set(entry.get("figures") or [])
        source = entry["source"]
        assert _public(source) or entry.get("kind") == "computed" or source.startswith(DERIVED), (
            f"{path.name}: provenance source names no repository@commit or URL: {source[:100]}"
        )
        assert not source.startswith("/"), f"{path.name}: a local path is no source a reader can open"
    figures = set(doc["architecture_config"]) | {"parameters.total", "license", "gated", "architecture"}
    figures |= {f"attention.{key}" for key in doc["attention"] if key != "kind"}
    figures |= {f"moe.{key}" for key in doc.get("moe") or {}}
    if doc["parameters"].get("active") is not None:
        figures.add("parameters.active")
    assert not figures - named, f"{path.name}: figures without a source: {sorted(figures - named)}"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_sizes_and_variants_have_sources(path):
    doc = _yaml(path)
    checkpoint = doc.get("checkpoint")
    if checkpoint:
        assert checkpoint["source"].strip(), f"{path.name}: checkpoint size without a source"
        assert checkpoint.get("computed") or _public(checkpoint["source"]), path.name
    for variant in doc.get("variants") or []:
        assert _public(variant["source"]), f"{path.name}: variant {variant['model_id']} has no public source"


def _recipes_by_model() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for path in RECIPES:
        doc = _yaml(path)
        out.setdefault(doc["model_id"], []).append(doc)
    return out


def test_readiness_claims_no_more_than_the_recipes():
    """production needs a measured (verified) recipe, preview a vendor-tuned (preview) one;
    everything else is experimental, whatever generic plans the planner can write for it."""
    recipes = _recipes_by_model()
    wrong = []
    for path in MODELS:
        doc = _yaml(path)
        statuses = {r.get("status", "untested") for r in recipes.get(doc["model_id"], [])}
        want = "production" if "verified" in statuses else "preview" if "preview" in statuses else "experimental"
        if doc["readiness_level"] != want:
            wrong.append(f"{path.name}: {doc['readiness_level']}, recipes say {want}")
    assert not wrong, wrong


@pytest.mark.parametrize(
    "path",
    [p for p in RECIPES if _yaml(p).get("status") in ("preview", "verified")],
    ids=lambda p: p.stem,
)
def test_tuned_recipes_name_their_source(path):
    """A vendor-tuned recipe says where its settings come from (repository + path + commit, or URL)."""
    notes = _yaml(path).get("notes") or ""
    assert _public(notes), f"{path.name}: status {_yaml(path)['status']} but its notes name no source"


def test_the_new_attention_kinds_are_in_the_catalogue():
    """MLA, DeepSeek's sparse-attention indexer, hybrid linear attention and sliding-window mixes
    each have at least one shipped model, so the memory model's handling of them is exercised."""
    kinds: set[str] = set()
    for path in MODELS:
        attention = _yaml(path)["attention"]
        kinds.add(attention["kind"])
        if attention.get("indexer"):
            kinds.add("indexer")
        if attention.get("sliding_window_layers"):
            kinds.add("sliding")
    assert {"gqa", "mla", "hybrid", "indexer", "sliding"} <= kinds, kinds


DATA = REPO / "compiler" / "aim_engine" / "catalogue" / "data"


def _snapshot(engine: str) -> dict:
    flags = json.loads((DATA / "engines" / f"{engine}.json").read_text(encoding="utf-8"))["flags"]
    return json.loads((DATA / "flags" / flags).read_text(encoding="utf-8"))


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_serving_facts_use_the_pinned_engines_names(engine):
    """Generic plans pass a model's parsers and serving flags to the engine as written: each parser
    must be one the pinned release registers and each flag one its parser knows, or the engine
    exits at start-up."""
    options = _snapshot(engine)["options"]
    wrong = []
    for path in MODELS:
        facts = (_yaml(path).get("serving") or {}).get(engine) or {}
        for key, flag in (("reasoning_parser", "--reasoning-parser"), ("tool_call_parser", "--tool-call-parser")):
            value = facts.get(key)
            if value is not None and value not in options[flag]["choices"]:
                wrong.append(f"{path.name}: {flag} {value}")
        for flag in {**(facts.get("args") or {}), **(facts.get("text_only_args") or {})}:
            if flag not in options:
                wrong.append(f"{path.name}: {flag} is not a {engine} option")
    assert not wrong, wrong


@pytest.mark.slow
@pytest.mark.parametrize("gpu", ["MI300X", "MI325X", "MI355X"])
def test_every_model_has_a_plan_on_one_node_of_current_gpus(catalogue, gpu):
    """Each model is in the catalogue because operators serve it on one 8-GPU node of AMD's current
    Instinct GPUs: the site must show a plan for it there (a tuned recipe or a generic plan)."""
    planner = Planner(catalogue)
    hardware = catalogue.hardware[gpu]
    without = [m.model_id for m in catalogue.models.values() if planner.plan(m, hardware, 8).chosen is None]
    assert not without, f"no plan on 8 x {gpu}: {without}"
