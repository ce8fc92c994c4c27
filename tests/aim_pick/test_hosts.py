"""aim-pick on simulated hosts (sysfs fixtures: #sysfs-kfd-topology and #partition-modes of
docs/reference/hardware.md), run as a subprocess: detected GPU, counts per level, chosen plan, exit status.

The chosen plan is compared with the decision the build published for the same request
(aim-pick never plans), and with what the host allows (count, partition memory).
"""

from __future__ import annotations

import json

import pytest

from . import hosts
from .conftest import env_of

QWEN = "Qwen/Qwen3-32B"  # 32 B parameters: the size tier asks for 4 GPUs
LLAMA8 = "meta-llama/Llama-3.1-8B-Instruct"  # gated, 1 GPU
LLAMA405 = "meta-llama/Llama-3.1-405B-Instruct"  # 8 GPUs


def published(api_dir, gpu: str, model: str, key: str) -> str | None:
    lookup = json.loads((api_dir / "lookup" / gpu / f"{model.replace('/', '--')}.json").read_text())
    return lookup["decisions"][lookup["keys"][key]]["plan"]


def plan_file(api_dir, plan_id: str) -> dict:
    return json.loads((api_dir / "plans" / f"{plan_id}.json").read_text())


def levels(body: dict) -> tuple[int, int, int, int]:
    lv = body["detected"]["levels"]
    return lv["host"], lv["container"], lv["process"], lv["usable"]


def test_8x_mi300x_spx(host, api_dir):
    host.gpus([hosts.MI300X] * 8)
    result = host.pick(QWEN, "--format", "json")
    assert result.code == 0, result.err
    body = result.json()
    detected = body["detected"]
    assert (detected["gpu"], detected["count"], detected["partition"], detected["source"]) == (
        "MI300X",
        8,
        "SPX",
        "sysfs",
    )
    assert levels(body) == (8, 8, 8, 8)
    assert detected["memory_bytes_per_device"] == 206141652992
    assert body["request"]["key"] == "8/auto/auto/auto/latency"
    expected = published(api_dir, "MI300X", QWEN, "8/auto/auto/auto/latency")
    assert body["plan"]["plan_id"] == expected
    assert [c for c in body["candidates"] if c["verdict"] == "chosen"] == [
        next(c for c in body["candidates"] if c["plan"] == expected)
    ]
    # the default docker output is the same plan; a plan smaller than the host is pinned
    docker = host.pick(QWEN)
    assert docker.code == 0
    argv = docker.argv()
    assert argv[:3] == ["docker", "run", "--rm"] and plan_file(api_dir, expected)["image"] in argv
    count = body["plan"]["gpu_count"]
    pinned = env_of(argv).get("HIP_VISIBLE_DEVICES")
    assert pinned == (None if count == 8 else ",".join(str(i) for i in range(count)))
    assert "ROCR_VISIBLE_DEVICES" not in env_of(argv) and "CUDA_VISIBLE_DEVICES" not in env_of(argv)


def test_8x_mi300x_cpx_uses_partition_memory(host, api_dir):
    """#partition-modes: 64 logical devices, memory not multiplied; grouped by physical GPU; the plan
    must fit one partition (the published 8-GPU choice is re-checked)."""
    host.gpus([hosts.cpx(hosts.MI300X)] * 8)
    body = host.pick(QWEN, "--format", "json").json()
    detected = body["detected"]
    assert (detected["gpu"], detected["count"], detected["partition"]) == ("MI300X", 64, "CPX")
    assert levels(body) == (64, 64, 64, 64)
    partition = 206141652992 // 8
    assert detected["memory_bytes_per_device"] == partition
    assert {d["physical"] for d in detected["devices"][:8]} == {"0000:47:00"}  # one physical GPU
    assert len({d["physical"] for d in detected["devices"]}) == 8
    assert body["request"]["key"] == "8/auto/auto/auto/latency"
    assert any("64 GPUs usable" in w for w in body["warnings"])
    plan = body["plan"]
    memory = plan["memory"]
    utilization = memory["budget_bytes_per_gpu"] / 206141652992
    assert memory["total_bytes_per_gpu"] <= partition * utilization  # fits one partition
    spx_choice = published(api_dir, "MI300X", QWEN, "8/auto/auto/auto/latency")
    spx_memory = plan_file(api_dir, spx_choice)["memory"]["total_bytes_per_gpu"]
    if spx_memory > partition * utilization:  # the SPX choice does not fit a partition: refused with the reason
        refused = next(c for c in body["candidates"] if c["plan"] == spx_choice)
        assert refused["verdict"] == "rejected" and refused["reason"] == "partition-too-small"
        assert plan["plan_id"] != spx_choice
    # the command pins logical devices (host ordinals)
    pinned = env_of(host.pick(QWEN).argv())["HIP_VISIBLE_DEVICES"]
    assert pinned == ",".join(str(i) for i in range(plan["gpu_count"]))


def test_cpx_refuses_a_model_no_partition_can_hold(host):
    host.gpus([hosts.cpx(hosts.MI300X)] * 8)
    result = host.pick(LLAMA405, "--format", "json")
    assert result.code == 3
    body = result.json()
    assert body["plan"] is None and body["detected"]["partition"] == "CPX"
    reasons = {c["reason"] for c in body["candidates"]}
    assert "partition-too-small" in reasons
    assert all(c["verdict"] == "rejected" for c in body["candidates"])
    # the docker format prints the reasons on stderr
    plain = host.pick(LLAMA405)
    assert plain.code == 3 and plain.out == "" and "partition-too-small" in plain.err and "No plan fits" in plain.err


def test_mi300x_vf(host, api_dir):
    host.gpus([hosts.MI300X_VF])
    body = host.pick(LLAMA8, "--format", "json").json()
    assert (body["detected"]["gpu"], body["detected"]["count"]) == ("MI300X", 1)
    assert body["detected"]["devices"][0]["device_id"] == "0x74b5"
    assert levels(body) == (1, 1, 1, 1)
    assert body["plan"]["plan_id"] == published(api_dir, "MI300X", LLAMA8, "1/auto/auto/auto/latency")
    argv = host.pick(LLAMA8).argv()
    assert "HIP_VISIBLE_DEVICES" not in env_of(argv)  # the plan uses the whole host
    assert "HF_TOKEN" in env_of(argv) and env_of(argv)["HF_TOKEN"] is None  # gated: passed by name only


def test_mi355x(host, api_dir):
    host.gpus([hosts.MI355X] * 8)
    body = host.pick(QWEN, "--format", "json").json()
    assert (body["detected"]["gpu"], body["detected"]["count"], body["detected"]["partition"]) == ("MI355X", 8, "SPX")
    assert body["detected"]["memory_bytes_per_device"] == 288 * hosts.GIB
    assert levels(body) == (8, 8, 8, 8)
    assert body["plan"]["plan_id"] == published(api_dir, "MI355X", QWEN, "8/auto/auto/auto/latency")
    assert body["plan"]["hardware"] == "MI355X" and body["plan"]["gfx_target"] == "gfx950"


def test_4x_mi250x_is_8_gcds_served_by_a_generic_plan(host, api_dir):
    """#gpu-table: each GCD is one device of 64 GiB. No recipe names MI250X (nor a sibling of
    it): the published generic plan serves, and aim-pick says it is generic."""
    host.gpus([hosts.MI250X_GCD] * 8)
    result = host.pick(QWEN, "--format", "json")
    assert result.code == 0, result.err
    body = result.json()
    detected = body["detected"]
    assert (detected["gpu"], detected["count"], detected["partition"]) == ("MI250X", 8, "SPX")
    assert detected["memory_bytes_per_device"] == 64 * hosts.GIB
    assert levels(body) == (8, 8, 8, 8)
    plan = body["plan"]
    assert plan["plan_id"] == published(api_dir, "MI250X", QWEN, "8/auto/auto/auto/latency")
    assert plan["source"] == "generic" and plan["precision"] == "bf16"  # gfx90a has no fp8
    # the listing says there was no recipe to take first
    assert any(c["reason"] == "no-recipe" for c in body["candidates"])
    assert any("generic plan: no tuned recipe for MI250X yet" in w for w in body["warnings"])
    explain = host.pick(QWEN, "--format", "explain")
    assert explain.code == 0 and "MI250X" in explain.out and "generic plan" in explain.out


def test_mi300a_says_apu(host):
    host.gpus([hosts.MI300A] * 4)
    result = host.pick("Qwen/Qwen3-8B", "--format", "json")
    assert result.code == 0, result.err  # no MI300A recipe: a generic plan
    body = result.json()
    assert (body["detected"]["gpu"], body["detected"]["count"], body["detected"]["apu"]) == ("MI300A", 4, True)
    assert levels(body) == (4, 4, 4, 4)
    assert body["plan"]["source"] == "generic"
    plain = host.pick("Qwen/Qwen3-8B")
    assert plain.code == 0 and "APU" in plain.err and "shared with the CPU" in plain.err
    assert "APU" in host.pick("Qwen/Qwen3-8B", "--format", "explain").out


def test_mixed_host_uses_the_largest_homogeneous_group_and_pins_it(host, api_dir):
    host.gpus([hosts.MI300X] * 2 + [hosts.MI355X] * 4)
    body = host.pick(QWEN, "--format", "json").json()
    detected = body["detected"]
    assert (detected["gpu"], detected["count"], detected["group"]) == ("MI355X", 4, [2, 3, 4, 5])
    assert levels(body) == (6, 6, 6, 4)
    assert body["plan"]["plan_id"] == published(api_dir, "MI355X", QWEN, "4/auto/auto/auto/latency")
    argv = host.pick(QWEN).argv()
    assert env_of(argv)["HIP_VISIBLE_DEVICES"] == ",".join(str(2 + i) for i in range(body["plan"]["gpu_count"]))
    assert "ROCR_VISIBLE_DEVICES" not in env_of(argv)


def test_mixed_host_with_unsupported_gpus(host):
    """A kind the catalogue does not know (MI100, #gpu-table: 0x738c, gfx908) never wins by number:
    the largest group of *supported* GPUs is used."""
    unknown = hosts.Gpu(0x738C, 90008, 120, 32 * hosts.GIB, "AMD Instinct MI100", "gfx908", num_xcc=1)
    host.gpus([unknown] * 5 + [hosts.MI300X] * 2)
    body = host.pick(LLAMA8, "--format", "json").json()
    assert (body["detected"]["gpu"], body["detected"]["group"]) == ("MI300X", [5, 6])
    assert levels(body) == (7, 7, 7, 2)
    assert env_of(host.pick(LLAMA8).argv())["HIP_VISIBLE_DEVICES"] == "5"


def test_no_gpu(host):
    result = host.pick(QWEN)
    assert result.code == 4 and result.out == ""
    assert "no AMD GPU found" in result.err and "sysfs, amd-smi, rocm-smi, amdsmi, torch" in result.err
    only_cpu = host.gpus([])  # KFD with CPU nodes only
    assert only_cpu.pick(QWEN, "--format", "json").code == 4


def test_only_unsupported_gpus(host):
    unknown = hosts.Gpu(0x738C, 90008, 120, 32 * hosts.GIB, "AMD Instinct MI100", "gfx908", num_xcc=1)
    host.gpus([unknown] * 2)
    result = host.pick(QWEN, "--format", "json")
    assert result.code == 4 and "no supported GPU among 0x738c (gfx908)" in result.err
    body = result.json()
    assert body["detected"]["gpu"] is None and levels(body) == (2, 2, 2, 0)


def test_container_sees_only_some_render_nodes(host, api_dir):
    host.gpus([hosts.MI300X] * 8, render_minors=[132, 133, 134, 135])
    body = host.pick(QWEN, "--format", "json").json()
    assert (body["detected"]["gpu"], body["detected"]["count"]) == ("MI300X", 4)
    assert levels(body) == (8, 4, 4, 4)
    assert body["detected"]["container_note"] == "4 of 8 render nodes present"
    assert body["plan"]["plan_id"] == published(api_dir, "MI300X", QWEN, "4/auto/auto/auto/latency")
    # the command runs on the host, where the engine would see all 8: pin the ones seen here
    argv = host.pick(QWEN).argv()
    assert env_of(argv)["HIP_VISIBLE_DEVICES"] == ",".join(str(4 + i) for i in range(body["plan"]["gpu_count"]))


def test_container_without_kfd(host):
    host.gpus([hosts.MI300X] * 8, kfd=False)
    result = host.pick(QWEN, "--format", "json")
    assert result.code == 4 and "kfd is missing" in result.err
    assert levels(result.json()) == (8, 0, 0, 0)


@pytest.mark.parametrize("model", [QWEN, LLAMA8, LLAMA405, "openai/gpt-oss-120b", "deepseek-ai/DeepSeek-R1"])
def test_any_model_on_8x_mi300x_matches_the_published_decision(host, api_dir, model):
    host.gpus([hosts.MI300X] * 8)
    result = host.pick(model, "--format", "json")
    expected = published(api_dir, "MI300X", model, "8/auto/auto/auto/latency")
    assert result.code == (0 if expected else 3)
    assert (result.json()["plan"] or {}).get("plan_id") == expected


def test_partition_modes_differ_between_gpus(host, api_dir):
    """Modes are per GPU (#partition-modes): GPU 0 in SPX, GPU 1 in CPX. A plan spanning both must fit
    the smaller devices, the CPX partitions, even though device 0 is a whole GPU."""
    host.gpus([hosts.MI300X, hosts.cpx(hosts.MI300X)])
    body = host.pick(QWEN, "--format", "json").json()
    detected = body["detected"]
    assert (detected["gpu"], detected["count"], detected["partition"]) == ("MI300X", 9, "CPX")
    assert detected["memory_bytes_per_device"] == 206141652992 // 8
    memory = body["plan"]["memory"]
    assert memory["total_bytes_per_gpu"] <= 206141652992 // 8 * memory["budget_bytes_per_gpu"] / 206141652992


def test_radeon_workstation(host):
    """Two Radeon PRO W7900 (#gpu-table: 0x7448, gfx1100): known to the catalogue, no recipe: generic."""
    host.gpus([hosts.W7900] * 2)
    result = host.pick(LLAMA8, "--format", "json")
    assert result.code == 0, result.err
    body = result.json()
    assert (body["detected"]["gpu"], body["detected"]["count"]) == ("W7900", 2) and levels(body) == (2, 2, 2, 2)
    assert body["plan"]["source"] == "generic" and body["plan"]["hardware"] == "W7900"
    assert body["detected"]["devices"][0]["gfx"] == "gfx1100"
