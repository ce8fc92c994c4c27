"""Generic plans, headroom and the throughput objective (issue 12): policy tests on the
shipped catalogue and on small edits of it."""

from __future__ import annotations

import copy
import itertools
from dataclasses import replace

import pytest

from aim_engine.catalogue.load import PRECISIONS
from aim_engine.catalogue.records import EngineServing, Serving
from aim_engine.checks.diagnostics import Report
from aim_engine.checks.rules import Validator
from aim_engine.planning.generic import checkpoint_options, generic_args, multi_node_recipes
from aim_engine.planning.memory import weight_bytes_per_gpu
from aim_engine.planning.planner import OBJECTIVES, Planner, Reason, Source, Verdict
from aim_engine.planning.policy import CONTEXT_STEP, HEADROOM_REQUESTS, MIN_USEFUL_CONTEXT
from aim_engine.planning.precision import weight_format


@pytest.fixture(scope="module")
def planner(catalogue):
    return Planner(catalogue)


def requests():
    """Every request of the published grid: (n, count mode, precision, backend, objective)."""
    backends = ("auto", "sglang", "vllm")
    return itertools.product(range(1, 9), ("auto", "exact"), ("auto", *PRECISIONS), backends, OBJECTIVES)


def test_llama_8b_on_8_mi250x_gets_a_generic_plan_on_one_gpu(planner, catalogue):
    model = catalogue.models["meta-llama/Llama-3.1-8B-Instruct"]
    assert not [r for r in catalogue.recipes_for(model.model_id) if r.hardware == "MI250X"]  # no recipe
    d = planner.plan(model, catalogue.hardware["MI250X"], 8)
    c = d.chosen
    assert c.source is Source.GENERIC and c.gpus == 1 and c.precision == "bf16"
    assert c.plan_id == "llama-3.1-8b-instruct-mi250x-bf16-vllm-tp1-generic"
    assert c.entry.args["--model"] == model.model_id and "--tensor-parallel-size" not in c.entry.args
    assert "generic plan: no tuned recipe for MI250X yet" in d.warnings
    assert not c.measured


def test_a_tuned_one_gpu_recipe_is_kept_with_eight_gpus_available(planner, catalogue):
    model = catalogue.models["Qwen/Qwen3-8B"]
    tuned = [r for r in catalogue.recipes_for(model.model_id) if r.hardware == "MI300X"]
    assert any(e.gpus == 1 and e.enabled for r in tuned for e in r.entries)
    d = planner.plan(model, catalogue.hardware["MI300X"], 8)
    assert d.chosen.source is Source.RECIPE and d.chosen.gpus == 1
    assert d.chosen.recipe in tuned


def test_generic_candidates_come_after_the_whole_recipe_path(planner, catalogue):
    """Wherever a recipe or sibling candidate runs roomily on the path, no generic plan is chosen."""
    for model in catalogue.models.values():
        for hw in catalogue.hardware.values():
            d = planner.plan(model, hw, 8)
            tuned = [
                x.candidate
                for x in d.path
                if x.candidate is not None
                and x.candidate.source is not Source.GENERIC
                and x.candidate.verdict is Verdict.RUNNABLE
                and not x.candidate.tight
            ]
            if tuned:
                assert d.chosen.source is not Source.GENERIC, (model.model_id, hw.name)


@pytest.mark.parametrize("model_id", ["openai/gpt-oss-20b", "openai/gpt-oss-120b"])
@pytest.mark.parametrize("hw", ["MI300X", "MI325X"])
def test_gpt_oss_never_gets_an_sglang_mxfp4_plan_on_gfx942(planner, catalogue, model_id, hw):
    """SGLang 0.5.23 has no MXFP4 kernels for gfx942 (its quantization support, from the flag snapshot)."""
    model, hardware = catalogue.models[model_id], catalogue.hardware[hw]
    for n, mode, precision, backend, objective in requests():
        chosen = planner.plan(model, hardware, n, mode, precision, backend, objective).chosen
        assert chosen is None or (chosen.backend, chosen.precision) != ("sglang", "mxfp4")
    refused = [c for c in planner.candidates(model, hardware) if (c.backend, c.precision) == ("sglang", "mxfp4")]
    assert refused and {c.reason for c in refused} <= {Reason.PRECISION_UNSUPPORTED, Reason.DISABLED}
    vllm = planner.plan(model, hardware, 8, backend="vllm").chosen
    assert vllm is not None and vllm.precision == "mxfp4"
    # without the recipes (whose SGLang entries say so themselves), the generic candidates are
    # refused by the engine's own quantization support
    bare = Planner(replace(catalogue, recipes={k: r for k, r in catalogue.recipes.items() if r.model_id != model_id}))
    generic = [c for c in bare.candidates(model, hardware) if (c.backend, c.precision) == ("sglang", "mxfp4")]
    assert generic and all(c.source is Source.GENERIC for c in generic)
    assert {c.reason for c in generic} == {Reason.PRECISION_UNSUPPORTED}
    assert all("SGLang 0.5.23 has no" in c.message for c in generic)


def test_a_tight_candidate_is_chosen_only_when_nothing_roomy_is_on_the_path(planner, catalogue):
    tight_chosen = 0
    for model in catalogue.models.values():
        for hw in catalogue.hardware.values():
            for n in range(1, 9):
                d = planner.plan(model, hw, n)
                runnable = [x.candidate for x in d.path if x.candidate is not None and x.verdict.value != "rejected"]
                runnable = [c for c in runnable if c.verdict is Verdict.RUNNABLE]
                if any(not c.tight for c in runnable):
                    assert not d.chosen.tight, (model.model_id, hw.name, n)
                elif d.chosen is not None:
                    tight_chosen += 1
                    assert d.chosen.tight and any(w.startswith("tight plan:") for w in d.warnings)
    assert tight_chosen  # the shipped catalogue has such a case (e.g. a large MoE on one GPU)


def test_qwen3_235b_fp8_on_one_mi325x_is_not_the_default_when_more_gpus_are_there(planner, catalogue):
    """The recipe's fp8 TP1 entry (229.9 of 230.4 GiB in the first round) is tight at best; with
    8 GPUs a roomy plan exists and is chosen for every objective."""
    model, hw = catalogue.models["Qwen/Qwen3-235B-A22B"], catalogue.hardware["MI325X"]
    one = next(
        c
        for c in planner.candidates(model, hw)
        if c.source is Source.RECIPE and c.precision == "fp8" and c.backend == "vllm" and c.gpus == 1
    )
    assert one.verdict is not Verdict.RUNNABLE or one.tight
    for objective in OBJECTIVES:
        d = planner.plan(model, hw, 8, objective=objective)
        assert d.chosen is not one and not d.chosen.tight
        assert d.chosen.memory.max_concurrency >= HEADROOM_REQUESTS


def test_throughput_fills_the_gpus_with_one_gpu_replicas(planner, catalogue):
    model, hw = catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"]
    latency = planner.plan(model, hw, 8)
    d = planner.plan(model, hw, 8, objective="throughput")
    c = d.chosen
    assert (c.replicas, c.gpus_per_replica, c.gpus) == (8, 1, 8)
    assert c.plan_id.endswith("-dp8") and c.entry.args["--data-parallel-size"] == 8
    assert c.memory.total_bytes_per_gpu == latency.chosen.memory.total_bytes_per_gpu  # each replica as the TP1 plan
    assert "8 replicas of 1 GPU(s)" in c.message
    sglang = planner.plan(model, hw, 8, backend="sglang", objective="throughput").chosen
    assert sglang.replicas == 8 and sglang.entry.args["--dp-size"] == 8


def test_throughput_on_five_gpus_uses_five_replicas_and_latency_keeps_the_tiers(planner, catalogue):
    model, hw = catalogue.models["meta-llama/Llama-3.1-70B-Instruct"], catalogue.hardware["MI300X"]
    assert planner.plan(model, hw, 8).chosen.gpus == 8  # the seed's tier for 70B
    d = planner.plan(model, hw, 5, objective="throughput")
    assert d.chosen.gpus_per_replica * d.chosen.replicas <= 5 and d.chosen.gpus_per_replica == 1
    assert d.chosen.replicas == 5 and not d.chosen.tight


def test_throughput_with_one_gpu_is_one_replica(planner, catalogue):
    model, hw = catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"]
    c = planner.plan(model, hw, 1, objective="throughput").chosen
    assert c.replicas == 1 and "--data-parallel-size" not in c.entry.args


def test_generic_context_follows_the_headroom_rule(planner, catalogue):
    seen = 0
    for model in catalogue.models.values():
        for hw in catalogue.hardware.values():
            for c in planner.candidates(model, hw):
                if c.source is not Source.GENERIC or c.verdict is not Verdict.RUNNABLE:
                    continue
                seen += 1
                longest = model.config.max_position_embeddings
                context = c.memory.max_model_len
                if context == longest:
                    assert c.memory.max_concurrency >= HEADROOM_REQUESTS
                else:
                    assert context % CONTEXT_STEP == 0 and context >= MIN_USEFUL_CONTEXT, c.candidate_id
                    assert c.memory.max_concurrency >= HEADROOM_REQUESTS or context == MIN_USEFUL_CONTEXT
    assert seen > 100


def test_every_generic_entry_passes_the_validator_where_the_planner_runs_it(loaded, planner, catalogue):
    """The validator's entry checks (flags, values, TP, fit) agree with the planner's verdict on
    every synthesized entry: runnable ones have no error, does-not-fit ones are errors there too."""
    validator = Validator(loaded, Report())
    checked = 0
    for model in catalogue.models.values():
        for hw in catalogue.hardware.values():
            for c in planner.candidates(model, hw):
                if c.source is not Source.GENERIC:
                    continue
                report = Report()
                validator.report = report
                validator.check_entry(c.recipe, c.entry, model, hw)
                codes = {d.check.slug for d in report.errors}
                if c.verdict is Verdict.RUNNABLE:
                    assert not codes, (c.candidate_id, [d.message for d in report.errors])
                elif c.reason is Reason.DOES_NOT_FIT:
                    assert "does-not-fit" in codes, c.candidate_id
                checked += 1
    assert checked > 500


def test_every_model_has_a_plan_on_every_gpu_it_fits_on_in_eight(planner, catalogue):
    """Where the checkpoint's weights take at most 60 % of a GPU at the largest legal TP up to 8,
    some GPU count gives a plan (the matrix asks for exactly n). 60 %: ROCm's TP-8 runtime and
    activations take ~9 GiB, which on a 64 GiB GPU leaves a 70 % checkpoint no KV room
    (docs/reference/memory.md)."""
    for model in catalogue.models.values():
        for hw in catalogue.hardware.values():
            options = [o for o in checkpoint_options(model) if hw.precision_support(o.precision)]
            fits = False
            candidates = planner.candidates(model, hw)
            for option in options:
                # the largest TP the planner synthesized for it (TP 8 can be illegal: heads, FP8 blocks)
                # one host: multi-node plans are where one host does not hold it
                tps = [
                    c.gpus
                    for c in candidates
                    if c.source is Source.GENERIC and c.precision == option.precision and c.nodes == 1
                ]
                if not tps:
                    continue
                fmt = weight_format(model, option.checkpoint, None, option.precision)
                weights, _ = weight_bytes_per_gpu(model, fmt, max(tps), checkpoint=option.checkpoint)
                fits = fits or weights < hw.memory_bytes * 0.6
            plans = [planner.plan(model, hw, n, "exact").chosen for n in range(1, 9)]
            if fits:
                assert any(plans), (model.model_id, hw.name)


def test_generic_arguments_carry_the_models_serving_facts(catalogue):
    from aim_engine.engines import backends_for

    backends = backends_for(catalogue.engines)
    model = (
        catalogue.models["Qwen/Qwen3-30B-A3B"]
        if "Qwen/Qwen3-30B-A3B" in catalogue.models
        else next(m for m in catalogue.models.values() if m.moe)
    )
    facts = Serving(
        trust_remote_code=True,
        engines={
            "vllm": EngineServing(reasoning_parser="qwen3", tool_call_parser="hermes", args={"--seed": 7}),
            "sglang": EngineServing(reasoning_parser="qwen3", tool_call_parser="qwen25"),
        },
    )
    model = replace(model, serving=facts)
    option = checkpoint_options(model)[0]
    vllm = generic_args(backends["vllm"], model, option, 4, 32768)
    assert vllm["--tensor-parallel-size"] == 4 and vllm["--max-model-len"] == 32768
    assert vllm["--reasoning-parser"] == "qwen3" and vllm["--tool-call-parser"] == "hermes"
    assert "--enable-auto-tool-choice" in vllm and vllm["--enable-auto-tool-choice"] is None
    assert "--trust-remote-code" in vllm and vllm["--seed"] == 7
    assert "--enable-expert-parallel" in vllm  # MoE on more than one GPU
    assert "--enable-expert-parallel" not in generic_args(backends["vllm"], model, option, 1, 32768)
    sglang = generic_args(backends["sglang"], model, option, 4, 32768)
    assert sglang["--tp-size"] == 4 and sglang["--ep-size"] == 4 and sglang["--context-length"] == 32768
    assert sglang["--reasoning-parser"] == "qwen3" and sglang["--tool-call-parser"] == "qwen25"


def test_a_variant_with_kv_scales_gets_an_fp8_kv_cache(catalogue):
    from aim_engine.engines import backends_for

    backends = backends_for(catalogue.engines)
    model = catalogue.models["meta-llama/Llama-3.1-70B-Instruct"]
    kv = [o for o in checkpoint_options(model) if o.kv_fp8]
    assert kv, "the shipped Llama 3.1 70B lists amd/Llama-3.1-70B-Instruct-FP8-KV"
    assert generic_args(backends["vllm"], model, kv[0], 8, 8192)["--kv-cache-dtype"] == "fp8"
    assert generic_args(backends["sglang"], model, kv[0], 8, 8192)["--kv-cache-dtype"] == "fp8_e4m3"


def test_generic_plans_exist_only_where_no_recipe_of_the_gpu_covers_the_step(planner, catalogue):
    for model in catalogue.models.values():
        for hw in catalogue.hardware.values():
            mine = [r for r in catalogue.recipes_for(model.model_id) if r.hardware == hw.name]
            covered = {(e.gpus, r.precision, e.backend) for r in mine for e in r.entries}
            for c in planner.candidates(model, hw):
                if c.source is Source.GENERIC:
                    assert (c.gpus, c.precision, c.backend) not in covered, c.candidate_id


def test_a_catalogue_without_recipes_still_plans_every_model(catalogue):
    bare = copy.copy(catalogue)
    bare.recipes = {}
    planner = Planner(bare)
    for model in catalogue.models.values():
        d = planner.plan(model, catalogue.hardware["MI300X"], 8)
        assert d.chosen is not None and d.chosen.source is Source.GENERIC, model.model_id


def test_the_expert_data_layout_needs_an_expert_for_every_gpu(planner, catalogue):
    """Spread over 2 hosts, vLLM's expert-parallel group is 16 GPUs: a model with 8 experts cannot
    fill it and gets only the pipeline layout; one with 128 gets the expert-data layout first."""
    mi210 = catalogue.hardware["MI210"]

    def suffixes(model_id: str) -> list[str]:
        found = multi_node_recipes(catalogue.models[model_id], mi210, planner.backends, set(), 2)
        return [r.recipe_id.rsplit("-2x8", 1)[1] for r in found if "vllm" in {e.backend for e in r.entries}]

    assert catalogue.models["mistralai/Mixtral-8x7B-Instruct-v0.1"].moe.num_experts == 8
    assert "-ep" not in suffixes("mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert "" in suffixes("mistralai/Mixtral-8x7B-Instruct-v0.1")  # the pipeline layout
    assert suffixes("Qwen/Qwen3-235B-A22B")[0] == "-ep"


def test_generic_plans_of_one_shape_are_told_apart_by_their_checkpoint(planner, catalogue):
    # DeepSeek-R1-0528 has three AMD MXFP4 exports: one generic plan per shape and checkpoint,
    # the first with the plain id, the others ending in the checkpoint (never "generic-generic")
    model = catalogue.models["deepseek-ai/DeepSeek-R1-0528"]
    mxfp4 = {v.model_id for v in model.variants if v.precision == "mxfp4"}
    assert len(mxfp4) == 3
    ids = [c.plan_id for c in planner.candidates(model, catalogue.hardware["MI355X"]) if c.plan_id]
    shape = "deepseek-r1-0528-mi355x-mxfp4-vllm-tp8-generic"
    same = sorted(i for i in ids if i.startswith(shape))
    assert len(same) == 3 and shape in same
    slugs = {i.removeprefix(f"{shape}-") for i in same if i != shape}
    assert slugs <= {m.lower().replace("/", "-") for m in mxfp4} and len(slugs) == 2
    assert not [i for i in ids if "generic-generic" in i]
