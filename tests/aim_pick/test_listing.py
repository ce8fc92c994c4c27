"""The listing `aim-engine plan` and `aim-pick --format explain` print (aim_pick.contract.listing):
grouped, short by default, every candidate with --all, labels that say what a candidate is."""

from __future__ import annotations

import pytest

from aim_engine.planning import explain
from aim_engine.planning.planner import Planner
from aim_pick.contract import listing

QWEN = "Qwen/Qwen3-32B"


@pytest.fixture(scope="module")
def planner(catalogue):
    return Planner(catalogue)


def decision_lines(planner, catalogue, n, everything=False, model=QWEN, hw="MI300X", **request):
    d = planner.plan(catalogue.models[model], catalogue.hardware[hw], n, **request)
    candidates = [explain.considered_dict(x) for x in d.considered]
    return d, candidates, listing.lines(candidates, listing.model_name(model), everything)


def test_labels_say_what_a_candidate_is():
    tuned = {"candidate": "r/vllm/4_gpu", "recipe": "r", "plan": "p", "gpus": 4, "precision": "bf16"}
    assert listing.label({**tuned, "backend": "vllm", "source": "recipe"}, "Qwen3-32B") == (
        "Qwen3-32B vllm bf16 TP4 (tuned)"
    )
    sibling = {**tuned, "backend": "sglang", "source": "sibling", "source_hardware": "MI325X", "tight": True}
    assert listing.label(sibling, "Qwen3-32B") == "Qwen3-32B sglang bf16 TP4 (derived from MI325X, tight)"
    replicated = {**tuned, "candidate": "r/vllm/1_gpu/dp8", "gpus": 1, "backend": "vllm", "source": "generic"}
    assert listing.label(replicated, "Qwen3-8B") == "Qwen3-8B vllm bf16 TP1 x8 replicas (generic)"
    hosts = {**tuned, "candidate": "g/vllm/32_gpu", "gpus": 32, "backend": "vllm", "source": "generic"}
    assert listing.label(hosts, "Llama-3.1-405B-Instruct") == (
        "Llama-3.1-405B-Instruct vllm bf16 TP8 x PP4 (4 hosts) (generic)"
    )
    spread = {**hosts, "gpus": 16, "layout": "expert-data"}
    assert listing.label(spread, "Qwen3-235B-A22B") == "Qwen3-235B-A22B vllm bf16 TP8 x DP2, EP16 (2 hosts) (generic)"
    nothing = {"candidate": "none/vllm/fp16", "recipe": None, "plan": None, "backend": "vllm", "precision": "fp16"}
    assert listing.label(nothing, "Qwen3-32B") == "Qwen3-32B vllm fp16 (no recipe)"


def test_a_one_gpu_request_summarises_what_needs_more_gpus(planner, catalogue):
    _, candidates, lines = decision_lines(planner, catalogue, 1)
    too_many = [c for c in candidates if c["reason"] == "too-many-gpus"]
    assert len(too_many) > 5
    [summary] = [line for line in lines if "[too-many-gpus]" in line]
    assert summary.startswith(f"  {len(too_many)} candidates [too-many-gpus], e.g. Qwen3-32B ")
    assert "  (--all lists every candidate)" in lines
    # --all: one line per candidate, each labelled, none by its id
    everything = listing.lines(candidates, "Qwen3-32B", everything=True)
    assert sum("[too-many-gpus]" in line for line in everything) == len(too_many)
    assert not any(line.lstrip().startswith("none/") for line in everything)


def test_sibling_copies_of_own_recipes_are_not_listed_by_default(planner, catalogue):
    _, candidates, lines = decision_lines(planner, catalogue, 8)
    own = {(c["gpus"], c["precision"], c["backend"]) for c in candidates if c["source"] == "recipe"}
    copies = [
        c
        for c in candidates
        if c["verdict"] == "runnable" and c["source"] == "sibling" and (c["gpus"], c["precision"], c["backend"]) in own
    ]
    assert copies  # the MI325X recipes, re-checked on MI300X
    assert not any("(derived from" in line for line in lines)
    note = f"  ({len(copies)} copies of this GPU's own recipes from a sibling GPU not listed; --all lists them)"
    assert note in lines
    runnable_title = next(line for line in lines if line.startswith("RUNNABLE ALTERNATIVES"))
    assert runnable_title == f"RUNNABLE ALTERNATIVES ({sum(c['verdict'] == 'runnable' for c in candidates)})"
    everything = listing.lines(candidates, "Qwen3-32B", everything=True)
    assert sum("(derived from MI325X" in line for line in everything) >= len(copies)


def test_sections_come_in_order_and_the_chosen_line_names_its_plan(planner, catalogue):
    d, _, lines = decision_lines(planner, catalogue, 4)
    titles = [line for line in lines if line and not line.startswith(" ")]
    assert [t.split(" (")[0] for t in titles] == ["CHOSEN", "RUNNABLE ALTERNATIVES", "INCOMPATIBLE"]
    chosen = lines[lines.index("CHOSEN") + 1]
    assert chosen.startswith("  Qwen3-32B vllm bf16 TP4 (tuned)") and f"  {d.chosen.plan_id}  [chosen]" in chosen


def test_a_throughput_plan_is_listed_as_its_replicas(planner, catalogue):
    d = planner.plan(catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"], 8, objective="throughput")
    text = explain.render_text(d, catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"])
    chosen = text.split("CHOSEN\n")[1].splitlines()[0]
    assert "TP1 x8 replicas" in chosen and d.chosen.plan_id in chosen and d.chosen.plan_id.endswith("-dp8")
