"""The model page's memory picture: one stacked bar per plan (weights, runtime and activations,
KV of one request, KV for more requests) against the per-GPU budget, as inline SVG."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from aim_engine.build import build
from aim_engine.publish.site import ApiView, model_page
from aim_engine.publish.svg import COLOURS, WIDTH, memory_bar, segments
from aim_pick.contract.units import GIB
from tests.conftest import REPO

SVG = "{http://www.w3.org/2000/svg}"


def record(**changes):
    base = {
        "budget_bytes_per_gpu": 100 * GIB,
        "weights_bytes_per_gpu": 40 * GIB,
        "kv_budget_bytes_per_gpu": 50 * GIB,
        "kv_bytes_per_request": 10 * GIB,
        "fits": True,
    }
    base.update(changes)
    return base


def bars(svg: str) -> list[tuple[str, float, float]]:
    """(colour, x, width) of the bar's rectangles (the legend's swatches are 10 wide at the bottom)."""
    root = ET.fromstring(svg)
    out = []
    for rect in root.iter(f"{SVG}rect"):
        if rect.get("height") == "10":
            continue
        out.append((rect.get("fill"), float(rect.get("x")), float(rect.get("width"))))
    return out


def test_segments_add_up_to_the_budget_when_it_fits():
    parts = dict(segments(record()))
    assert parts == {"weights": 40 * GIB, "runtime": 10 * GIB, "kv": 10 * GIB, "free": 40 * GIB}
    svg = str(memory_bar(record(), "plan-1"))
    drawn = bars(svg)
    assert [c for c, _, _ in drawn] == [COLOURS[k] for k in ("weights", "runtime", "kv", "free")]
    # Widths are proportional to the bytes and the bar ends at the budget line.
    assert [round(w, 1) for _, _, w in drawn] == [WIDTH * 0.4, WIDTH * 0.1, WIDTH * 0.1, WIDTH * 0.4]
    line = ET.fromstring(svg).find(f"{SVG}line")
    assert float(line.get("x1")) == WIDTH
    assert "plan-1: 60.0 GiB of a 100.0 GiB budget per GPU, fits" in svg


def test_a_plan_that_does_not_fit_shows_the_overflow_past_the_budget():
    rec = record(kv_budget_bytes_per_gpu=4 * GIB, kv_bytes_per_request=10 * GIB, fits=False)
    parts = dict(segments(rec))
    assert parts["kv"] == 4 * GIB and parts["over"] == 6 * GIB and "free" not in parts
    svg = str(memory_bar(rec))
    drawn = bars(svg)
    assert drawn[-1][0] == COLOURS["over"]
    line_x = float(ET.fromstring(svg).find(f"{SVG}line").get("x1"))
    assert drawn[-1][1] == round(line_x, 2)  # the overflow starts at the budget line
    assert "does not fit" in svg


def test_text_is_escaped():
    svg = str(memory_bar(record(), '<script>alert("x")</script>&'))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)  # still well-formed XML


@pytest.fixture(scope="module")
def small_api(tmp_path_factory):
    """The published API of a two-model copy of the catalogue (quick to build)."""
    root = tmp_path_factory.mktemp("cat")
    (root / "models").mkdir()
    (root / "recipes").mkdir()
    for stem in ("llama-3.1-8b-instruct", "qwen3-32b"):
        shutil.copy(REPO / "models" / f"{stem}.yaml", root / "models")
        for recipe in (REPO / "recipes").glob(f"{stem}-*.yaml"):
            shutil.copy(recipe, root / "recipes")
    out = root / "build"
    build(root, out, site=False)
    return ApiView({str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()})


@pytest.mark.slow
def test_every_model_page_plan_has_its_bar(small_api):
    api = small_api
    pages = 0
    for summary in api.index["models"]:
        text = model_page(api, summary).markdown
        svgs = re.findall(r'<svg [^>]*class="memory-bar".*?</svg>', text)
        assert len(svgs) == text.count("| Memory per GPU |"), summary["slug"]
        for svg in svgs:
            root = ET.fromstring(svg)
            label = root.get("aria-label")
            plan = api.plan(label.split(":")[0])
            total = sum(w for _, _, w in bars(svg))
            assert total >= WIDTH - 0.5  # weights + runtime + KV reach at least the budget line
            assert ("does not fit" in label) == (not plan["memory"]["fits"])
            weights = next(w for c, _, w in bars(svg) if c == COLOURS["weights"])
            budget = plan["memory"]["budget_bytes_per_gpu"]
            assert weights == pytest.approx(WIDTH * plan["memory"]["weights_bytes_per_gpu"] / budget, abs=0.01)
        pages += bool(svgs)
    assert pages == 2
