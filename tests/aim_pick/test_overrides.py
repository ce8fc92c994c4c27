"""Overrides: AIM_GPU_MODEL / AIM_GPU_COUNT (simulate or force), --gpus N (exact, a
ceiling), AIM_PRECISION / --precision, AIM_BACKEND / --backend, AIM_PROFILE_ID / --profile,
and usage errors (exit 2)."""

from __future__ import annotations

import json

import pytest

from . import hosts
from .conftest import Host, env_of
from .test_hosts import published

QWEN = "Qwen/Qwen3-32B"
LLAMA70 = "meta-llama/Llama-3.1-70B-Instruct"  # the size tier asks for 8 GPUs


@pytest.fixture
def mi300x(host):
    return host.gpus([hosts.MI300X] * 8)


# --- AIM_GPU_MODEL / AIM_GPU_COUNT ---------------------------------------------------------------


def test_simulate_a_host_without_gpus(host, api_dir):
    """A simulated host is a host: its 8 GPUs at every level, and a plan smaller than it is
    pinned exactly as on a detected host (Qwen3-32B's size tier asks for 4 GPUs)."""
    env = {"AIM_GPU_MODEL": "mi300x", "AIM_GPU_COUNT": "8"}
    result = host.pick(QWEN, "--format", "json", env=env)
    assert result.code == 0, result.err
    body = result.json()
    detected = body["detected"]
    assert (detected["gpu"], detected["count"], detected["source"], detected["simulated"]) == (
        "MI300X",
        8,
        "simulated",
        True,
    )
    assert detected["levels"] == {"host": 8, "container": 8, "process": 8, "usable": 8}
    assert body["plan"]["plan_id"] == published(api_dir, "MI300X", QWEN, "8/auto/auto/auto/latency")
    assert not any("AIM_GPU_COUNT" in w for w in body["warnings"])
    count = body["plan"]["gpu_count"]
    assert count < 8  # the premise: the plan uses part of the simulated host
    docker = host.pick(QWEN, env=env)
    assert env_of(docker.argv())["HIP_VISIBLE_DEVICES"] == ",".join(str(i) for i in range(count))
    # the same pinning as a detected 8 x MI300X host
    real = Host(host.tmp / "real", api_dir).gpus([hosts.MI300X] * 8)
    assert env_of(real.pick(QWEN).argv())["HIP_VISIBLE_DEVICES"] == env_of(docker.argv())["HIP_VISIBLE_DEVICES"]
    explain = host.pick(QWEN, "--format", "explain", env=env)
    assert "simulated or forced" in explain.out
    assert "levels: host 8, container 8 (simulated by AIM_GPU_MODEL and AIM_GPU_COUNT), process 8 -> usable 8" in (
        explain.out
    )


def test_simulated_model_alone_means_one_gpu(host, api_dir):
    result = host.pick(QWEN, "--format", "json", env={"AIM_GPU_MODEL": "MI355X"})
    body = result.json()
    assert (body["detected"]["gpu"], body["detected"]["count"]) == ("MI355X", 1)
    assert body["detected"]["levels"] == {"host": 1, "container": 1, "process": 1, "usable": 1}
    assert body["plan"]["plan_id"] == published(api_dir, "MI355X", QWEN, "1/auto/auto/auto/latency")
    # it assumes one GPU, and says so: in --json warnings and on stderr
    [warning] = [w for w in body["warnings"] if "AIM_GPU_COUNT" in w]
    assert "assuming 1 GPU" in warning
    docker = host.pick(QWEN, env={"AIM_GPU_MODEL": "MI355X"})
    assert docker.code == 0 and "warning: AIM_GPU_MODEL=MI355X simulates a host but AIM_GPU_COUNT is not set" in (
        docker.err
    )


def test_count_alone_on_a_host_without_gpus_is_still_no_gpu(host):
    assert host.pick(QWEN, env={"AIM_GPU_COUNT": "8"}).code == 4


def test_force_the_model_on_a_real_host(mi300x, api_dir):
    body = mi300x.pick(QWEN, "--format", "json", env={"AIM_GPU_MODEL": "MI325X"}).json()
    assert (body["detected"]["gpu"], body["detected"]["count"], body["detected"]["source"]) == ("MI325X", 8, "sysfs")
    assert body["plan"]["hardware"] == "MI325X"
    assert body["plan"]["plan_id"] == published(api_dir, "MI325X", QWEN, "8/auto/auto/auto/latency")


def test_force_a_smaller_count(mi300x, api_dir):
    body = mi300x.pick(LLAMA70, "--format", "json", env={"AIM_GPU_COUNT": "2"}).json()
    assert body["detected"]["count"] == 2 and body["detected"]["levels"]["usable"] == 2
    assert body["plan"]["plan_id"] == published(api_dir, "MI300X", LLAMA70, "2/auto/auto/auto/latency")
    assert body["plan"]["gpu_count"] <= 2
    pinned = env_of(mi300x.pick(LLAMA70, env={"AIM_GPU_COUNT": "2"}).argv())["HIP_VISIBLE_DEVICES"]
    assert pinned == ",".join(str(i) for i in range(body["plan"]["gpu_count"]))


def test_force_a_larger_count_never_pins_fewer_gpus_than_the_plan(host, api_dir):
    host.gpus([hosts.MI300X] * 4)
    body = host.pick(LLAMA70, "--format", "json", env={"AIM_GPU_COUNT": "8"}).json()
    assert (body["detected"]["count"], body["detected"]["simulated"]) == (8, True)
    assert body["plan"]["plan_id"] == published(api_dir, "MI300X", LLAMA70, "8/auto/auto/auto/latency")
    argv_env = env_of(host.pick(LLAMA70, env={"AIM_GPU_COUNT": "8"}).argv())
    if body["plan"]["gpu_count"] > 4:
        assert "HIP_VISIBLE_DEVICES" not in argv_env


@pytest.mark.parametrize(
    "env, message",
    [
        ({"AIM_GPU_MODEL": "MI999X"}, "is not a known GPU"),
        ({"AIM_GPU_COUNT": "eight"}, "is not a whole number of GPUs"),
        ({"AIM_GPU_COUNT": "-1"}, "is not a whole number of GPUs (1 or more)"),
        ({"AIM_GPU_COUNT": "0"}, "at least 1"),
        ({"AIM_OBJECTIVE": "cheapest"}, "is not one of latency, throughput"),
    ],
)
def test_bad_overrides_are_usage_errors(mi300x, env, message):
    result = mi300x.pick(QWEN, env=env)
    assert result.code == 2 and message in result.err


# --- --objective ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "env"])
def test_throughput_fills_the_host_with_replicas(mi300x, api_dir, how):
    """Qwen3-8B fits one MI300X with headroom: throughput on 8 GPUs is 8 replicas of it."""
    model = "Qwen/Qwen3-8B"
    args, env = (("--objective", "throughput"), {}) if how == "flag" else ((), {"AIM_OBJECTIVE": "throughput"})
    body = mi300x.pick(model, *args, "--format", "json", env=env).json()
    plan = body["plan"]
    assert body["request"]["key"] == "8/auto/auto/auto/throughput"
    assert plan["plan_id"] == published(api_dir, "MI300X", model, "8/auto/auto/auto/throughput")
    assert (plan["objective"], plan["replicas"], plan["gpus_per_replica"], plan["gpu_count"]) == ("throughput", 8, 1, 8)
    argv = mi300x.pick(model, *args, env=env).argv()
    assert argv[argv.index("--data-parallel-size") + 1] == "8"
    assert env_of(argv).get("HIP_VISIBLE_DEVICES") in (None, "0,1,2,3,4,5,6,7")
    # latency, the default, is one replica on the fewest GPUs
    latency = mi300x.pick(model, "--format", "json").json()["plan"]
    assert latency["replicas"] == 1 and latency["objective"] == "latency"


# --- --gpus N -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 8])
def test_gpus_is_exact_and_a_ceiling(mi300x, api_dir, n):
    body = mi300x.pick(LLAMA70, "--gpus", str(n), "--format", "json").json()
    assert body["request"]["key"] == f"{n}/exact/auto/auto/latency" and body["request"]["count_mode"] == "exact"
    expected = published(api_dir, "MI300X", LLAMA70, f"{n}/exact/auto/auto/latency")
    assert (body["plan"] or {}).get("plan_id") == expected
    if expected:
        assert body["plan"]["gpu_count"] <= n
    assert all(c["gpus"] <= n for c in body["candidates"] if c["verdict"] in ("chosen", "runnable"))


def test_gpus_above_what_is_usable(mi300x):
    result = mi300x.pick(QWEN, "--gpus", "16", "--format", "json")
    body = result.json()
    assert body["request"]["gpus"] == 8 and body["request"]["key"] == "8/exact/auto/auto/latency"
    assert any("--gpus 16" in w for w in body["warnings"])
    assert "--gpus 16 asked for more GPUs" in mi300x.pick(QWEN, "--gpus", "16").err


def test_gpus_zero_is_a_usage_error(mi300x):
    assert mi300x.pick(QWEN, "--gpus", "0").code == 2
    assert mi300x.pick(QWEN, "--gpus", "two").code == 2  # argparse


# --- precision and backend ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, env",
    [(("--precision", "fp8"), {}), ((), {"AIM_PRECISION": "fp8"}), (("--precision", "fp8"), {"AIM_PRECISION": "bf16"})],
    ids=["flag", "env", "flag-wins"],
)
def test_precision(mi300x, api_dir, args, env):
    body = mi300x.pick(QWEN, *args, "--format", "json", env=env).json()
    assert body["request"]["precision"] == "fp8"
    assert body["plan"]["precision"] == "fp8"
    assert body["plan"]["plan_id"] == published(api_dir, "MI300X", QWEN, "8/auto/fp8/auto/latency")


def test_a_requested_precision_nothing_offers_is_no_plan(mi300x, api_dir):
    """Qwen3-32B has no MXFP4 checkpoint and no recipe at MXFP4: the lookup has no key for it."""
    lookup = json.loads((api_dir / "lookup" / "MI300X" / "Qwen--Qwen3-32B.json").read_text())
    assert "mxfp4" not in lookup["precisions"]
    result = mi300x.pick(QWEN, "--precision", "mxfp4", "--format", "json")
    assert result.code == 3 and result.json()["plan"] is None
    [line] = result.json()["candidates"]
    assert line["reason"] == "precision-not-offered" and line["verdict"] == "rejected"
    assert "bf16" in line["message"] and "fp8" in line["message"]  # what it does offer


@pytest.mark.parametrize(
    "args, env",
    [
        (("--backend", "sglang"), {}),
        ((), {"AIM_BACKEND": "SGLang"}),
        (("--backend", "sglang"), {"AIM_BACKEND": "vllm"}),
    ],
    ids=["flag", "env", "flag-wins"],
)
def test_backend(mi300x, api_dir, args, env):
    body = mi300x.pick(QWEN, *args, "--format", "json", env=env).json()
    assert body["request"]["backend"] == "sglang"
    assert body["plan"]["backend"] == "sglang"
    assert body["plan"]["plan_id"] == published(api_dir, "MI300X", QWEN, "8/auto/auto/sglang/latency")
    argv = mi300x.pick(QWEN, *args, env=env).argv()
    image = body["plan"]["image"]
    assert argv[argv.index(image) + 1 : argv.index(image) + 4] == ["python3", "-m", "sglang.launch_server"]
    assert f"8000:{body['plan']['port']}" in argv


@pytest.mark.parametrize(
    "args, message",
    [
        (("--precision", "fp4"), "precision 'fp4'"),
        (("--backend", "tgi"), "backend 'tgi'"),
        (("--format", "yaml"), "invalid choice"),
        ((), "unknown model"),
    ],
)
def test_usage_errors(mi300x, args, message):
    model = "no/such-model" if not args else QWEN
    result = mi300x.pick(model, *args)
    assert result.code == 2 and message in result.err


# --- --profile / AIM_PROFILE_ID -------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "env"])
def test_profile_runs_that_plan(mi300x, how):
    profile = "qwen3-32b-mi300x-fp8-sglang-tp2"
    args, env = (("--profile", profile), {}) if how == "flag" else ((), {"AIM_PROFILE_ID": profile})
    body = mi300x.pick(QWEN, *args, "--format", "json", env=env).json()
    assert body["plan"]["plan_id"] == profile
    assert body["candidates"] == [
        {"plan": profile, "verdict": "chosen", "reason": "profile", "message": body["candidates"][0]["message"]}
    ]
    assert env_of(mi300x.pick(QWEN, *args, env=env).argv())["HIP_VISIBLE_DEVICES"] == "0,1"


@pytest.mark.parametrize(
    "profile, args, env, reason",
    [
        ("qwen3-32b-mi325x-bf16-vllm-tp4", (), {}, "is for MI325X; this host has MI300X"),
        ("qwen3-32b-mi300x-bf16-vllm-tp8", (), {"HIP_VISIBLE_DEVICES": "0,1"}, "needs 8 GPUs; 2 usable here"),
        ("qwen3-32b-mi300x-bf16-vllm-tp4", ("--gpus", "2"), {}, "needs 4 GPUs; 2 usable here"),  # --gpus is a ceiling
        (
            "llama-3.1-70b-instruct-mi300x-bf16-vllm-tp8",
            (),
            {},
            "serves meta-llama/Llama-3.1-70B-Instruct, not Qwen/Qwen3-32B",
        ),
    ],
)
def test_profile_that_cannot_run_here_is_refused(mi300x, profile, args, env, reason):
    result = mi300x.pick(QWEN, "--profile", profile, *args, "--format", "json", env=env)
    assert result.code == 3
    body = result.json()
    assert body["plan"] is None
    [candidate] = body["candidates"]
    assert (candidate["plan"], candidate["verdict"], candidate["reason"]) == (profile, "rejected", "profile-refused")
    assert reason in candidate["message"]
    plain = mi300x.pick(QWEN, "--profile", profile, *args, env=env)
    assert plain.code == 3 and reason in plain.err


def test_profile_too_big_for_a_partition_is_refused(host):
    host.gpus([hosts.cpx(hosts.MI300X)] * 8)
    result = host.pick(QWEN, "--profile", "qwen3-32b-mi300x-bf16-vllm-tp1", "--format", "json")
    assert result.code == 3 and "CPX partition" in result.json()["candidates"][0]["message"]


@pytest.mark.parametrize("profile", ["no-such-plan", "../index", "../../../../etc/passwd", "/abs"])
def test_unknown_or_malformed_profile_is_a_usage_error(mi300x, profile):
    result = mi300x.pick(QWEN, "--profile", profile)
    assert result.code == 2 and "Traceback" not in result.err
