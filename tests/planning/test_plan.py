"""Policy tests for the planner: the seed's rules, its fallbacks, and the reasons."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from aim_engine.catalogue.load import PRECISIONS
from aim_engine.errors import UsageError
from aim_engine.planning.planner import Planner, Reason, Source, Verdict, default_precision, target_count


@pytest.fixture(scope="module")
def planner(catalogue):
    return Planner(catalogue)


def edited(catalogue, keep=lambda recipe: True, extra=()):
    """A copy of the catalogue with only some recipes, plus extra ones."""
    cat = copy.copy(catalogue)
    cat.recipes = {rid: r for rid, r in catalogue.recipes.items() if keep(r)}
    for recipe in extra:
        cat.recipes[recipe.recipe_id] = recipe
    return cat


def test_size_tiers_and_precision_defaults(catalogue):
    m = catalogue.models
    assert target_count(m["Qwen/Qwen3-8B"], 8, "auto") == 1
    assert target_count(m["Qwen/Qwen3-14B"], 8, "auto") == 2
    assert target_count(m["Qwen/Qwen3-32B"], 8, "auto") == 4
    assert target_count(m["meta-llama/Llama-3.1-70B-Instruct"], 8, "auto") == 8
    assert target_count(m["meta-llama/Llama-3.1-70B-Instruct"], 4, "auto") == 4  # capped at n
    assert target_count(m["Qwen/Qwen3-8B"], 2, "exact") == 2
    assert default_precision(m["Qwen/Qwen3-8B"]) == "fp16"
    assert default_precision(m["Qwen/Qwen3-32B"]) == "bf16"
    assert default_precision(m["openai/gpt-oss-20b"]) == "mxfp4"  # natively quantized keeps its precision
    assert default_precision(m["deepseek-ai/DeepSeek-R1"]) == "fp8"


def test_8b_on_8_gpus_auto_uses_one(planner, catalogue):
    for model_id in ("Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B-Instruct"):
        d = planner.plan(catalogue.models[model_id], catalogue.hardware["MI300X"], 8)
        assert d.chosen.gpus == 1 and d.chosen.precision == "fp16"


def test_70b_on_4_gpus_auto_uses_four(planner, catalogue):
    d = planner.plan(catalogue.models["meta-llama/Llama-3.1-70B-Instruct"], catalogue.hardware["MI300X"], 4)
    assert d.chosen.gpus == 4 and d.chosen.precision == "bf16" and d.chosen.backend == "vllm"


def test_explicit_gpu_count_is_a_ceiling(planner, catalogue):
    for model in catalogue.models.values():
        for hw in ("MI300X", "MI325X", "MI355X"):
            for precision in ("auto", *PRECISIONS):
                d = planner.plan(model, catalogue.hardware[hw], 2, "exact", precision)
                assert d.chosen is None or d.chosen.gpus <= 2, (model.model_id, hw, precision)


def test_exact_count_prefers_the_requested_count(planner, catalogue):
    d = planner.plan(catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"], 4, "exact")
    assert d.chosen.gpus == 4


def test_fp8_only_model_through_precision_fallback_and_never_on_mi250x(catalogue):
    model = catalogue.models["Qwen/Qwen3-14B"]
    fp8 = catalogue.recipes["qwen3-14b-mi300x-fp8"]
    on_mi250x = replace(fp8, recipe_id="qwen3-14b-mi250x-fp8", hardware="MI250X")
    cat = edited(catalogue, keep=lambda r: r.model_id != model.model_id, extra=[fp8, on_mi250x])
    planner = Planner(cat)
    d = planner.plan(model, cat.hardware["MI300X"], 8)
    assert d.target_precision == "bf16"
    assert d.chosen.precision == "fp8"
    path = d.path
    first_fp8 = next(i for i, x in enumerate(path) if x.step[1] == "fp8")
    assert {x.reason for x in path[:first_fp8]} == {Reason.NO_RECIPE}  # bf16 and fp16 found nothing first
    # MI250X (gfx90a) has no fp8: the recipe is refused, and a generic bf16 plan serves instead
    d250 = planner.plan(model, cat.hardware["MI250X"], 8)
    recipes = [x for x in d250.considered if x.candidate is not None and x.candidate.source is Source.RECIPE]
    assert recipes and {x.reason for x in recipes} == {Reason.PRECISION_UNSUPPORTED}
    assert d250.chosen.source is Source.GENERIC and d250.chosen.precision == "bf16"


def test_requested_precision_is_binding(planner, catalogue):
    model = catalogue.models["openai/gpt-oss-120b"]
    d = planner.plan(model, catalogue.hardware["MI300X"], 8, precision="int4")  # no int4 checkpoint
    assert d.chosen is None
    assert all(x.reason in (Reason.NO_RECIPE, Reason.PRECISION_NOT_REQUESTED) for x in d.considered)
    assert planner.plan(model, catalogue.hardware["MI300X"], 8).chosen.precision == "mxfp4"


def test_405b_bf16_never_plans_on_fewer_gpus_than_it_fits_on(planner, catalogue):
    model = catalogue.models["meta-llama/Llama-3.1-405B-Instruct"]
    for hw in catalogue.hardware.values():
        for n in range(1, 9):
            for mode in ("auto", "exact"):
                d = planner.plan(model, hw, n, mode, "bf16")
                if d.chosen:
                    assert d.chosen.memory.fits
                    assert d.chosen.memory.weights_bytes_per_gpu < hw.memory_bytes
                    assert d.chosen.gpus >= 4, (hw.name, n, d.chosen.plan_id)
    assert planner.plan(model, catalogue.hardware["MI300X"], 4, precision="bf16").chosen is None
    assert planner.plan(model, catalogue.hardware["MI300X"], 8, precision="bf16").chosen.gpus == 8


def test_mi325x_plan_derived_from_mi300x_recipe(catalogue):
    model = catalogue.models["Qwen/Qwen3-32B"]
    cat = edited(catalogue, keep=lambda r: not (r.model_id == model.model_id and r.hardware == "MI325X"))
    d = Planner(cat).plan(model, cat.hardware["MI325X"], 4)
    assert d.chosen.derived and d.chosen.source_hardware == "MI300X"
    assert d.chosen.plan_id == "qwen3-32b-mi325x-bf16-vllm-tp4-from-mi300x"
    assert "derived from the MI300X recipe" in d.chosen.message
    # re-checked against the MI325X's own memory
    assert d.chosen.memory.budget_bytes_per_gpu == int(cat.hardware["MI325X"].memory_bytes * 0.9)
    # with its own recipe it is not derived
    assert not Planner(catalogue).plan(model, catalogue.hardware["MI325X"], 4).chosen.derived


def test_sources_come_in_order_on_every_latency_path(planner, catalogue):
    """The whole path over this GPU's recipes comes first, then sibling recipes, then generic."""
    rank = {Source.RECIPE: 0, Source.SIBLING: 1, Source.GENERIC: 2}
    seen = set()
    for model in catalogue.models.values():
        for hw in ("MI300X", "MI325X", "MI250X"):
            for n in (1, 4, 8):
                d = planner.plan(model, catalogue.hardware[hw], n)
                ranks = [rank[x.step.source] for x in d.path]
                assert ranks == sorted(ranks), (model.model_id, hw, n)
                seen.add(frozenset(ranks))
    assert frozenset({0, 1, 2}) in seen  # some path has all three


def test_backend_fallback_only_when_auto(catalogue):
    model = catalogue.models["Qwen/Qwen3-32B"]
    no_vllm = [
        replace(r, entries=tuple(replace(e, enabled=False) if e.backend == "vllm" else e for e in r.entries))
        for r in catalogue.recipes_for(model.model_id)
    ]
    cat = edited(catalogue, keep=lambda r: r.model_id != model.model_id, extra=no_vllm)
    planner = Planner(cat)
    d = planner.plan(model, cat.hardware["MI300X"], 8)
    assert d.chosen.backend == "sglang"
    assert planner.plan(model, cat.hardware["MI300X"], 8, backend="vllm").chosen is None


def test_nothing_fits_gives_no_plan_and_every_reason(catalogue):
    model = catalogue.models["deepseek-ai/DeepSeek-R1"]
    d = Planner(catalogue).plan(model, catalogue.hardware["MI300X"], 2, "exact")
    assert d.chosen is None
    assert d.considered and all(x.message and x.reason is not Reason.CHOSEN for x in d.considered)
    entries = [x for x in d.considered if x.candidate is not None]
    assert len(entries) == sum(
        len(r.entries) for r in catalogue.recipes_for(model.model_id) if r.hardware in ("MI300X", "MI325X")
    )
    assert {Reason.TOO_MANY_GPUS} <= {x.reason for x in entries}


def test_low_memory_candidates_say_what_context_fits(catalogue):
    model = catalogue.models["meta-llama/Llama-3.1-70B-Instruct"]
    recipe = catalogue.recipes["llama-3.1-70b-instruct-mi300x-bf16"]
    long = replace(
        recipe,
        entries=tuple(
            replace(e, args={**e.args, "--max-model-len": 131072})
            for e in recipe.entries
            if e.backend == "vllm" and e.gpus == 1
        ),
    )
    cat = edited(catalogue, keep=lambda r: r.model_id != model.model_id, extra=[long])
    d = Planner(cat).plan(model, cat.hardware["MI300X"], 1)
    assert d.chosen is None or d.chosen.source is Source.GENERIC  # the recipe's entry is not runnable
    low = [x for x in d.considered if x.verdict is Verdict.LOW_MEMORY and x.step.source is Source.RECIPE]
    assert len(low) == 1 and "fits with --max-model-len 1" in low[0].message


def test_bad_requests_raise(planner, catalogue):
    model, hw = catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"]
    for bad in (dict(n=0), dict(n=1, count_mode="sometimes"), dict(n=1, backend="trtllm")):
        with pytest.raises(UsageError):
            planner.plan(model, hw, **bad)


# --- multi-node plans --------------------------------------------------------------------------


def test_more_hosts_only_where_one_host_does_not_hold_the_model(planner, catalogue):
    model = catalogue.models["meta-llama/Llama-3.1-405B-Instruct"]
    mi210 = [c for c in planner.candidates(model, catalogue.hardware["MI210"]) if c.nodes > 1]
    # bf16 (810 GB) does not fit 8 x 64 GB, nor 2 such hosts: the fewest hosts that hold it are 4
    assert [(c.precision, c.nodes, c.entry.gpus) for c in mi210] == [("bf16", 4, 32)]
    (c,) = mi210
    assert c.source is Source.GENERIC and c.verdict is Verdict.RUNNABLE and c.memory.fits
    assert c.entry.args["--tensor-parallel-size"] == 8 and c.entry.args["--pipeline-parallel-size"] == 4
    assert c.plan_id.endswith("-4x8-generic")
    # one MI300X host holds it in bf16: no multi-node plan there
    assert not [c for c in planner.candidates(model, catalogue.hardware["MI300X"]) if c.nodes > 1]
    small = catalogue.models["Qwen/Qwen3-8B"]
    for hw in catalogue.hardware.values():
        assert not [c for c in planner.candidates(small, hw) if c.nodes > 1], hw.name


def test_pipeline_stages_share_the_weights(planner, catalogue):
    """The memory model takes PP: per GPU, a 4-stage plan holds about a quarter of the 8-GPU share."""
    model = catalogue.models["meta-llama/Llama-3.1-405B-Instruct"]
    four = planner.plan_nodes(model, catalogue.hardware["MI300X"], 4, precision="bf16").chosen
    two = planner.plan_nodes(model, catalogue.hardware["MI300X"], 2, precision="bf16").chosen
    assert four is not None and two is not None
    ratio = two.memory.weights_bytes_per_gpu / four.memory.weights_bytes_per_gpu
    assert 1.8 < ratio <= 2.05


def test_a_one_host_request_never_takes_a_multi_node_plan_but_says_which_would_serve(planner, catalogue):
    model, mi210 = catalogue.models["meta-llama/Llama-3.1-405B-Instruct"], catalogue.hardware["MI210"]
    d = planner.plan(model, mi210, 8, "exact", "bf16")
    assert d.chosen is None
    assert d.multi_node is not None and d.multi_node.nodes == 4 and d.multi_node.precision == "bf16"
    assert all(x.candidate is None or x.candidate.nodes == 1 for x in d.path)
    assert planner.plan(model, mi210, 8).chosen.nodes == 1  # auto: the MXFP4 variant on one host
    assert planner.plan(model, mi210, 8).multi_node is None


def test_a_request_for_hosts_plans_them_even_where_one_host_would_do(planner, catalogue):
    model, hw = catalogue.models["Qwen/Qwen3-32B"], catalogue.hardware["MI300X"]
    d = planner.plan_nodes(model, hw, 2)
    assert d.chosen is not None and d.chosen.nodes == 2 and d.chosen.gpus == 16
    assert d.chosen.backend == "vllm" and d.chosen.precision == "bf16"
    assert planner.plan_nodes(model, hw, 2, backend="sglang").chosen.backend == "sglang"
    # the build publishes no such plan (one host serves Qwen3-32B): the decision says so
    published = {c.plan_id for c in planner.candidates(model, hw)}
    assert d.chosen.plan_id not in published
    assert any("not in the published build" in w and d.chosen.plan_id in w for w in d.warnings)
    # where one host cannot serve, the plan asked for is the published one, without that note
    llama, mi210 = catalogue.models["meta-llama/Llama-3.1-405B-Instruct"], catalogue.hardware["MI210"]
    big = planner.plan_nodes(llama, mi210, 4, precision="bf16")
    assert big.chosen.plan_id in {c.plan_id for c in planner.candidates(llama, mi210)}
    assert not [w for w in big.warnings if "not in the published build" in w]
    for bad in (dict(nodes=3), dict(nodes=1), dict(nodes=2, backend="trtllm")):
        with pytest.raises(UsageError):
            planner.plan_nodes(model, hw, **bad)
