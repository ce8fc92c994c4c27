"""The memory model replayed against real engine start-up logs (tests/planning/startup_logs/).

The rule: a plan that says it fits must fit. Weights must come within 5 % of what the engine
loaded; the KV memory (and token count) within 15 %, and never more than 5 % above what the
engine got (docs/reference/memory.md#calibration-against-start-up-logs)."""

from __future__ import annotations

import pytest
import yaml

from tests.planning.startup_logs.replay import GENERATIONS, HERE, compare, fixtures, predicted

FIXTURES = fixtures()
WEIGHTS_TOLERANCE = 0.05
KV_LOW, KV_HIGH = -0.15, 0.05  # conservative by up to 15 %, optimistic by at most 5 %
KV_FIGURES = ("available_kv", "kv_tokens")
LOGGED = {"weights_gib": "weights", "available_kv_gib": "available_kv", "kv_tokens": "kv_tokens"}


@pytest.mark.parametrize("fx", FIXTURES, ids=[f.id for f in FIXTURES])
def test_replay_within_tolerance(fx):
    for c in compare(fx):
        if c.figure == "weights":
            assert abs(c.error) <= WEIGHTS_TOLERANCE, f"weights {c.predicted:.2f} GiB vs logged {c.logged:.2f}"
        elif c.figure in KV_FIGURES:
            assert KV_LOW <= c.error <= KV_HIGH, f"{c.figure} {c.predicted:,.2f} vs logged {c.logged:,.2f}"
        else:  # bytes per token are exact arithmetic
            assert c.predicted == pytest.approx(c.logged, rel=1e-3), c.figure


@pytest.mark.parametrize("fx", FIXTURES, ids=[f.id for f in FIXTURES])
def test_fixture_is_complete(fx):
    data = fx.data
    assert data["source"] and (data["source"].get("url") or data["source"].get("kind"))
    assert data.get("engine_version") or data.get("engine_build"), "the engine version (or build) is recorded"
    assert data["generation"] in GENERATIONS and data["platform"] in ("rocm", "cuda")
    assert data["verbatim"].strip(), "the log lines are kept verbatim"
    assert fx.model.checkpoint is None or fx.model.checkpoint.source
    for key, figure in LOGGED.items():
        if key in data["logged"] and figure not in fx.checks:
            assert figure in (data.get("excluded") or {}), f"{figure} is logged but neither checked nor excluded"
    for figure, why in (data.get("excluded") or {}).items():
        assert figure not in fx.checks and len(why) > 20


def test_enough_fixtures_cover_the_catalogue_shapes():
    replayed = [f for f in FIXTURES if any(c in f.checks for c in KV_FIGURES)]
    assert len(FIXTURES) >= 20 and len(replayed) >= 20
    models = [f.model for f in replayed]
    assert any(not m.moe and 6e9 < m.total_params < 80e9 for m in models)  # dense 7-70B
    assert any(m.moe for m in models)
    assert any(m.attention.kind == "mla" for m in models)
    assert any(m.attention.indexer for m in models)
    assert any(f.shape is not None and f.shape.weight_format.startswith("fp8") for f in replayed)
    assert any(f.shape is not None and f.shape.kv_bytes < 2 for f in replayed)  # fp8 KV cache
    assert {f.shape.tp for f in replayed if f.shape} >= {1, 2, 4, 8}
    assert {f.data["engine"] for f in replayed} == {"vllm", "sglang"}
    assert {f.data["platform"] for f in replayed} == {"rocm", "cuda"}


def test_weights_come_from_the_checkpoint_when_its_size_is_recorded():
    for fx in FIXTURES:
        est = predicted(fx)
        if est is None:
            continue
        online = fx.data["serving"].get("quantization")
        expected = "checkpoint" if fx.model.checkpoint is not None and not online else "parameters"
        assert est.weights_source == expected, fx.id


def test_fixture_files_are_the_ones_replayed():
    assert sorted(p.stem for p in HERE.glob("*.yaml")) == sorted(f.id for f in FIXTURES)


def test_the_calibration_table_lists_every_fixture():
    docs = (HERE.parents[2] / "docs" / "reference" / "memory.md").read_text("utf-8")
    table = docs[docs.index("## Calibration against start-up logs") :]
    for fx in FIXTURES:
        row = next((line for line in table.splitlines() if line.startswith(f"| `{fx.id}` |")), None)
        assert row is not None, f"{fx.id} is missing from docs/reference/memory.md#calibration-against-start-up-logs"
        cells = [c.strip() for c in row.strip("|").split("|")]
        for figure, cell in zip(("weights", "available_kv", "kv_tokens"), cells[4:7], strict=True):
            shown = {c.figure: f"{c.error * 100:+.1f} %" for c in compare(fx)}.get(figure, "–")
            assert cell.replace("−", "-") == shown, f"{fx.id} {figure}: the table says {cell}, the replay {shown}"


ARCHITECTURE = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
)


@pytest.mark.parametrize("fx", FIXTURES, ids=[f.id for f in FIXTURES])
def test_model_figures_agree_with_the_catalogue_record_they_cite(fx):
    """A fixture's model record cites public sources or the catalogue's model file (which cites
    its own); where it names a catalogue file, the architecture figures are the same."""
    text = (HERE / f"{fx.id}.yaml").read_text("utf-8")
    assert "research/" not in text and "/work/" not in text, "sources must be public or in this repository"
    cited = str(fx.data["model"].get("config_source") or "")
    if not cited.startswith("models/"):
        return
    catalogue = yaml.safe_load((HERE.parents[2] / cited.split()[0]).read_text("utf-8"))["architecture_config"]
    mine = fx.data["model"]["architecture_config"]
    for key in ARCHITECTURE:
        if key in mine and key in catalogue:
            assert mine[key] == catalogue[key], f"{key}: {mine[key]} here, {catalogue[key]} in {cited.split()[0]}"
