"""Warnings where they matter, on stderr and in `--json` `warnings`: gated models, the plan's
own warnings (tight, derived, generic), a simulated host without AIM_GPU_COUNT (in test_overrides.py), and
the catalogue not found next to the tool."""

from __future__ import annotations

import json

import pytest

from aim_pick import pick

from . import hosts
from .test_api import partial_api
from .test_hosts import plan_file, published

QWEN = "Qwen/Qwen3-32B"
LLAMA8 = "meta-llama/Llama-3.1-8B-Instruct"  # gated


@pytest.fixture
def mi300x(host):
    return host.gpus([hosts.MI300X] * 8)


def warnings_of(result) -> list[str]:
    return result.json()["warnings"]


# --- gated models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["docker", "compose", "k8s", "env", "json"])
def test_a_gated_model_asks_for_hf_token(mi300x, api_dir, fmt):
    plan = plan_file(api_dir, published(api_dir, "MI300X", LLAMA8, "8/auto/auto/auto/latency"))
    assert plan["gated"]
    result = mi300x.pick(LLAMA8, "--format", fmt, env={"HF_TOKEN": None})
    assert result.code == 0, result.err
    assert f"aim-pick: warning: {LLAMA8} is gated on Hugging Face: export HF_TOKEN" in result.err
    if fmt == "json":
        assert any("export HF_TOKEN" in w for w in warnings_of(result))
    # with the token in the environment there is nothing to say
    quiet = mi300x.pick(LLAMA8, "--format", fmt, env={"HF_TOKEN": "hf_example"})
    assert "gated" not in quiet.err
    assert "hf_example" not in quiet.out + quiet.err  # passed by name, never by value


def test_an_open_model_is_not_gated(mi300x):
    result = mi300x.pick(QWEN, env={"HF_TOKEN": None})
    assert result.code == 0 and result.err == ""


def test_explain_shows_the_gated_warning(mi300x):
    result = mi300x.pick(LLAMA8, "--format", "explain", env={"HF_TOKEN": None})
    assert "  warning: meta-llama/Llama-3.1-8B-Instruct is gated" in result.out


def test_no_token_warning_once_the_checkpoint_is_cached():
    plan = {"plan_id": "p", "model": LLAMA8, "gated": True, "status": "tuned", "warnings": []}
    assert pick.plan_warnings(plan, {}, {"complete": True}) == []
    assert len(pick.plan_warnings(plan, {}, {"complete": False})) == 1
    assert pick.plan_warnings(plan, {"HF_TOKEN": "x"}, None) == []


# --- derived, generic and tight plans: the compiler's own warnings, passed on ----------------------


def test_a_derived_plan_says_it_is_not_measured(host, api_dir):
    """MI308X has no recipes of its own: its plans are MI300X recipes re-checked against it."""
    env = {"AIM_GPU_MODEL": "MI308X", "AIM_GPU_COUNT": "8"}
    result = host.pick(QWEN, "--format", "json", env=env)
    assert result.code == 0, result.err
    plan = result.json()["plan"]
    assert plan["status"] == "derived" and plan["hardware"] == "MI308X"
    assert plan_file(api_dir, plan["plan_id"])["warnings"] == plan["warnings"] != []
    [warning] = [w for w in warnings_of(result) if "derived" in w]
    assert warning == (
        f"plan {plan['plan_id']}: derived plan: the recipe was written for {plan['derived_from']}, "
        "not measured on MI308X"
    )
    docker = host.pick(QWEN, env=env)
    assert docker.code == 0 and f"aim-pick: warning: {warning}" in docker.err
    assert f"  warning: {warning}" in host.pick(QWEN, "--format", "explain", env=env).out


def test_a_generic_plan_says_no_recipe_is_tuned_for_the_gpu(host):
    env = {"AIM_GPU_MODEL": "MI210", "AIM_GPU_COUNT": "8"}
    result = host.pick(QWEN, "--format", "json", env=env)
    assert result.code == 0, result.err
    plan = result.json()["plan"]
    assert plan["source"] == plan["status"] == "generic" and not plan["measured"]
    assert f"plan {plan['plan_id']}: generic plan: no tuned recipe for MI210 yet" in warnings_of(result)


def test_a_tuned_plan_is_quiet(mi300x):
    result = mi300x.pick(QWEN, "--format", "json")
    assert result.json()["plan"]["status"] == "tuned"
    assert warnings_of(result) == [] and result.err == ""


TIGHT = "tight plan: only 1 request(s) of 32768 tokens fit at once (fewer than 4)"


@pytest.mark.parametrize(
    "published, expected",
    [
        ([], []),
        ([TIGHT], [f"p: {TIGHT}"]),
        (["a", "b"], ["p: a", "p: b"]),
        ([7, None, "c"], ["p: c"]),  # what is not a sentence is not printed
    ],
)
def test_plan_warnings_pass_on_what_the_plan_says(published, expected):
    plan = {"plan_id": "p", "model": QWEN, "hardware": "MI300X", "gated": False, "warnings": published}
    assert pick.plan_warnings(plan, {}, None) == [f"plan {w}" for w in expected]


# --- the catalogue not found next to the tool ------------------------------------------------------


def test_falling_back_to_build_api_is_a_warning(mi300x, api_dir):
    partial_api(api_dir, mi300x.tmp / "build" / "api")
    result = mi300x.pick(QWEN, api=False, env={"AIM_API": None})
    assert result.code == 0 and result.out == mi300x.pick(QWEN).out
    where = str(mi300x.tmp / "build" / "api")
    assert f"warning: aim-pick has no catalogue embedded and neither --api nor AIM_API is set: using {where}" in (
        result.err
    )
    assert "--api" in result.err
    body = mi300x.pick(QWEN, "--format", "json", api=False, env={"AIM_API": None})
    assert any(where in w and "--api" in w for w in warnings_of(body))
    # --api or AIM_API: no fallback, nothing to say
    assert mi300x.pick(QWEN).err == ""
    assert mi300x.pick(QWEN, api=False, env={"AIM_API": str(api_dir)}).err == ""


def test_no_catalogue_anywhere_says_where_it_looked(mi300x):
    result = mi300x.pick(QWEN, api=False, env={"AIM_API": None})
    assert result.code == 5 and result.out == ""
    assert str(mi300x.tmp / "build" / "api") in result.err and "--api" in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


def test_no_supported_gpu_still_prints_the_warnings(host, api_dir):
    """Warnings come before the no-GPU line (here the catalogue fallback on a host whose only GPU
    is not in the catalogue)."""
    mi100 = {"card0": {"Card series": "Arcturus GL-XL [AMD Instinct MI100]", "Card model": "0x0c34"}}
    hosts.dev_tree(host.dev, [128])
    hosts.fake_tool(host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, json.dumps(mi100))  # #rocm-smi-cli MI100 capture
    partial_api(api_dir, host.tmp / "build" / "api")
    result = host.pick(QWEN, api=False, env={"AIM_API": None})
    assert result.code == 4
    lines = result.err.splitlines()
    assert lines[0].startswith("aim-pick: warning: aim-pick has no catalogue embedded")
    assert lines[-1].startswith("aim-pick: no supported GPU among")
