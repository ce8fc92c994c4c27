"""Multi-node plans as the user deploys them: a LeaderWorkerSet (checked against the CRD schema
vendored from kubernetes-sigs/lws v0.10.0, tests/publish/data/lws/), and a leader/worker pair of
`docker run` scripts (the address, and a worker's rank, as parameters)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aim_engine.publish import artifacts as render
from aim_pick import pick
from aim_pick.contract import deploy, listing

from . import k8s_check, readers

LLAMA_405B_MI210 = "llama-3.1-405b-instruct-mi210-bf16-vllm-4x8-generic"


def run_script(script: Path, cwd: Path, args: list[str]) -> list[str]:
    """A node script run with its parameters and a `docker` stub first on PATH: the argv it ran
    docker with (readers.run_script, with arguments)."""
    record = cwd / "docker-argv"
    record.unlink(missing_ok=True)
    path = f"{readers.docker_stub(cwd)}:{os.environ['PATH']}"
    env = {**readers.base_env(), "PATH": path, "AIM_DOCKER_ARGV": str(record)}
    done = subprocess.run(["sh", str(script), *args], capture_output=True, cwd=cwd, env=env)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode(errors="replace")
    words = record.read_bytes().split(b"\0")
    return ["docker", *(w.decode("utf-8") for w in words[:-1])]


def multi_node_plans(built: Path) -> list[dict]:
    found = [json.loads(p.read_text()) for p in sorted((built / "api" / "plans").glob("*.json"))]
    return [p for p in found if p["nodes"] > 1]


def plan_of(built: Path, plan_id: str) -> dict:
    return json.loads((built / "api" / "plans" / f"{plan_id}.json").read_text())


def manifests(built: Path, plan: dict) -> list[dict]:
    return list(yaml.load_all((built / plan["k8s"]).read_text("utf-8"), Loader=yaml.CSafeLoader))


def test_the_build_has_multi_node_plans_only_for_models_one_host_cannot_hold(built):
    plans = multi_node_plans(built)
    assert plans, "no multi-node plan in the build"
    ids = {p["plan_id"] for p in plans}
    assert LLAMA_405B_MI210 in ids  # 405B in bf16 does not fit 8 x MI210 (64 GB each)
    assert not any(p["model"] in ("Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B-Instruct") for p in plans)
    for plan in plans:
        assert plan["gpu_count"] == plan["nodes"] * plan["gpus_per_node"] == plan["nodes"] * 8
        assert plan["tensor_parallel_size"] == 8
        argv = plan["container_argv"]
        if plan["multi_node"]["layout"] == "pipeline":
            assert plan["pipeline_parallel_size"] == plan["nodes"]
        else:  # one data-parallel rank of TP 8 per host, the experts over every GPU
            assert plan["pipeline_parallel_size"] == 1 and "--enable-expert-parallel" in argv
            assert argv[argv.index("--data-parallel-size") + 1] == str(plan["nodes"])
            assert argv[argv.index("--data-parallel-size-local") + 1] == "1"
        assert plan["status"] == "generic" and plan["compose"] is None and plan["docker_argv"] is None
        assert any("multi-node plan" in w for w in plan["warnings"])


def test_moe_models_span_hosts_with_data_and_expert_parallel_on_vllm(built):
    """vLLM serves a mixture-of-experts model that one host cannot hold as one data-parallel rank
    per host with the experts spread over every GPU; dense models and SGLang keep a pipeline
    stage per host."""
    plans = multi_node_plans(built)
    layouts = {(p["backend"], p["model"], p["multi_node"]["layout"]) for p in plans}
    assert ("vllm", "Qwen/Qwen3-235B-A22B", "expert-data") in layouts
    assert ("vllm", "meta-llama/Llama-3.1-405B-Instruct", "pipeline") in layouts  # dense
    # the fallback: DeepSeek-R1 in FP8 on 2 x 8 MI300A fits only with half its layers per host
    assert plan_of(built, "deepseek-r1-mi300a-fp8-vllm-2x8-generic")["multi_node"]["layout"] == "pipeline"
    assert {layout for backend, _, layout in layouts if backend == "sglang"} == {"pipeline"}
    plan = next(p for p in plans if p["multi_node"]["layout"] == "expert-data")
    assert plan["plan_id"].endswith(f"-{plan['nodes']}x8-ep-generic")
    assert f"experts spread over all {plan['gpu_count']} GPUs" in " ".join(plan["warnings"])
    # aim-pick's listing reads the layout from the lookup's candidate table
    lookup = json.loads((built / "api" / "lookup" / plan["hardware"] / f"{plan['model_slug']}.json").read_text())
    cid, candidate = next((k, c) for k, c in lookup["candidates"].items() if c["plan"] == plan["plan_id"])
    assert candidate["layout"] == "expert-data"
    line = pick.listing_line(cid, candidate, "runnable", "runnable", candidate["message"])
    hosts = plan["nodes"]
    assert f"TP8 x DP{hosts}, EP{8 * hosts} ({hosts} hosts)" in listing.label(line, "m")


def test_every_lws_object_passes_the_vendored_crd_schema(built):
    for plan in multi_node_plans(built):
        docs = manifests(built, plan)
        assert [d["kind"] for d in docs] == [
            "LeaderWorkerSet",
            "Service",
            "PersistentVolumeClaim",
            "PodDisruptionBudget",
        ]
        for doc in docs:
            k8s_check.validate(doc)


def test_the_vendored_schema_catches_mistakes(built):
    lws = manifests(built, plan_of(built, LLAMA_405B_MI210))[0]
    for broken in (
        {**lws, "spec": {**lws["spec"], "leaderWorkerTemplat": {}}},
        {**lws, "spec": {**lws["spec"], "replicas": "one"}},
    ):
        with pytest.raises(k8s_check.Invalid):
            k8s_check.validate(broken)
    source = json.loads(k8s_check.LWS_SCHEMA.read_text())
    assert (source["version"], source["commit"]) == ("v0.10.0", "2161f38ff333f9e24d3c44adef7cd5d9787cac00")


def test_leader_and_workers_get_the_engines_multi_node_commands(built):
    plans = multi_node_plans(built)
    sglang = next(p["plan_id"] for p in plans if p["backend"] == "sglang")
    expert_data = next(p["plan_id"] for p in plans if p["multi_node"]["layout"] == "expert-data")
    for plan_id in (LLAMA_405B_MI210, sglang, expert_data):
        plan = plan_of(built, plan_id)
        lws, service, _, _ = manifests(built, plan)
        group = lws["spec"]["leaderWorkerTemplate"]
        assert group["size"] == plan["nodes"]
        multi = plan["multi_node"]
        address = "$(LWS_LEADER_ADDRESS)" + (f":{multi['address_port']}" if multi["address_port"] else "")
        for role, rank in (("leader", "0"), ("worker", "$(LWS_WORKER_INDEX)")):
            pod = group[f"{role}Template"]["spec"]
            container = pod["containers"][0]
            argv = container.get("args") or container["command"]
            head, tail = argv[: len(plan["container_argv"])], argv[len(plan["container_argv"]) :]
            assert head == plan["container_argv"], role
            count = [multi["nodes_flag"], str(plan["nodes"])] if multi["nodes_flag"] else []
            expected = [
                *count,
                multi["rank_flag"],
                rank,
                multi["address_flag"],
                address,
            ]
            assert tail == expected + ([] if role == "leader" else multi["worker_argv"]), role
            assert container["resources"]["limits"]["amd.com/gpu"] == 8
            assert ("startupProbe" in container) == (role == "leader")  # workers serve no HTTP
            assert pod["initContainers"][0]["command"][:3] == ["hf", "download", plan["checkpoint"]]
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == "leader"
        assert group["leaderTemplate"]["metadata"]["labels"]["app.kubernetes.io/component"] == "leader"
        if plan["backend"] == "vllm":
            assert multi["worker_argv"] == ["--headless"]
            argv = plan["container_argv"]
            if multi["layout"] == "pipeline":
                assert argv[argv.index("--distributed-executor-backend") + 1] == "mp"
            else:  # a host's first data-parallel rank is its index: one rank per host
                assert (multi["nodes_flag"], multi["rank_flag"]) == (None, "--data-parallel-start-rank")
                assert multi["address_flag"] == "--data-parallel-address" and "--data-parallel-rpc-port" in argv


def test_every_multi_node_flag_is_in_the_engines_flag_snapshot(catalogue):
    """The engine data's multi-node flags, against the snapshot tools/flagdump took of each
    pinned engine: each exists, takes a value or is a bare switch as written, and a value is
    one of the flag's choices."""
    layouts = 0
    for name, engine in catalogue.engines.items():
        options = engine.flags.options
        top = engine.generic["multi_node"]
        for multi in (top, top.get("expert_data_parallel")):
            if multi is None:
                continue
            layouts += 1
            for key, flag in multi["flags"].items():
                assert options[flag].kind == "value", (name, key, flag)
            for flag, value in {**multi["args"], **multi["worker_args"]}.items():
                assert options[flag].kind == ("flag" if value is None else "value"), (name, flag)
                if value is not None and options[flag].choices:
                    assert value in options[flag].choices, (name, flag, value)
    assert layouts == 3  # vLLM's two layouts, SGLang's one


def test_the_node_scripts_take_the_address_and_rank_and_run_the_hosts_commands(built, tmp_path):
    plan = plan_of(built, LLAMA_405B_MI210)
    leader, worker = (built / plan["node_scripts"][role] for role in ("leader", "worker"))
    argv = run_script(leader, tmp_path, ["10.1.2.3"])
    assert argv[:2] == ["docker", "run"] and "--network=host" in argv
    assert argv[argv.index(plan["image"]) + 1 :] == [
        *plan["container_argv"],
        "--nnodes",
        "4",
        "--node-rank",
        "0",
        "--master-addr",
        "10.1.2.3",
    ]
    argv = run_script(worker, tmp_path, ["leader.example", "3"])
    assert argv[-5:] == ["--node-rank", "3", "--master-addr", "leader.example", "--headless"]
    for args in (["leader.example", "4"], ["leader.example", "0"], ["leader.example", "1;touch PWNED1"], []):
        env = {**readers.base_env(), "PATH": f"{readers.docker_stub(tmp_path)}:{os.environ['PATH']}"}
        done = subprocess.run(["sh", str(worker), *args], capture_output=True, cwd=tmp_path, env=env)
        assert done.returncode != 0 and done.stderr, args
    assert readers.ran_payloads(tmp_path) == []


def test_expert_data_scripts_give_a_worker_its_first_data_parallel_rank(built, tmp_path):
    plan = next(p for p in multi_node_plans(built) if p["multi_node"]["layout"] == "expert-data")
    argv = run_script(built / plan["node_scripts"]["worker"], tmp_path, ["10.0.0.7", "1"])
    assert argv[argv.index(plan["image"]) + 1 :] == [
        *plan["container_argv"],
        "--data-parallel-start-rank",
        "1",
        "--data-parallel-address",
        "10.0.0.7",
        "--headless",
    ]
    leader = run_script(built / plan["node_scripts"]["leader"], tmp_path, ["10.0.0.7"])
    assert leader[-4:] == ["--data-parallel-start-rank", "0", "--data-parallel-address", "10.0.0.7"]


def test_sglang_scripts_write_the_address_with_its_port(built, tmp_path):
    plan = next(p for p in multi_node_plans(built) if p["backend"] == "sglang")
    argv = run_script(built / plan["node_scripts"]["worker"], tmp_path, ["10.0.0.1", "1"])
    assert argv[-2:] == ["--dist-init-addr", f"10.0.0.1:{plan['multi_node']['address_port']}"]


@pytest.mark.clients
def test_the_node_scripts_pass_shellcheck(built):
    scripts = [built / p["node_scripts"][r] for p in multi_node_plans(built) for r in ("leader", "worker")]
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: run scripts/install-test-tools.sh"
    done = subprocess.run(
        [shellcheck, "--shell=sh", "--severity=style", *map(str, scripts)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_node_scripts_quote_every_word_of_the_plan(built, tmp_path):
    plan = plan_of(built, LLAMA_405B_MI210)
    hostile = {**plan, "container_argv": [*plan["container_argv"], "--served-model-name", "$(touch PWNED2) 'x\""]}
    script = tmp_path / "leader.sh"
    script.write_text(render.node_script_text(hostile, "leader"), "utf-8")
    argv = run_script(script, tmp_path, ["h"])
    assert "$(touch PWNED2) 'x\"" in argv
    assert readers.ran_payloads(tmp_path) == []


def test_the_lookup_says_which_multi_node_plan_serves_what_one_host_cannot(built):
    lookup = json.loads((built / "api" / "lookup" / "MI210" / "meta-llama--Llama-3.1-405B-Instruct.json").read_text())
    key = "8/exact/bf16/vllm/latency"
    decision = lookup["decisions"][lookup["keys"][key]]
    assert decision["plan"] is None and decision["multi_node"] == LLAMA_405B_MI210
    message = pick.more_hosts(lookup, key)
    assert message is not None
    assert "4 hosts x 8 MI210" in message and f"kubectl apply -k k8s/{LLAMA_405B_MI210}/" in message
    served = lookup["decisions"][lookup["keys"]["8/auto/auto/auto/latency"]]
    assert served["plan"] is not None and served["multi_node"] is None  # the MXFP4 variant fits one host
    assert pick.more_hosts(lookup, "8/auto/auto/auto/latency") is None


def test_the_model_lists_its_multi_node_plans_per_gpu(built):
    model = json.loads((built / "api" / "models" / "meta-llama--Llama-3.1-405B-Instruct.json").read_text())
    cells = model["multi_node"]["MI210"]
    assert cells["4"]["plan"] == LLAMA_405B_MI210 and cells["4"]["gpu_count"] == 32
    assert "2" not in cells  # two hosts do not hold it in bf16
    summaries = {p["plan_id"]: p for p in model["plans"]}
    assert summaries[LLAMA_405B_MI210]["nodes"] == 4
    assert "MI300X" not in model["multi_node"]  # one MI300X host holds it


def test_deploy_refuses_nothing_the_lws_template_needs(built):
    plan = plan_of(built, LLAMA_405B_MI210)
    assert list(yaml.safe_load_all(render.k8s_text(plan))) == deploy.k8s_objects(plan)


@pytest.mark.clients
def test_a_registry_mirror_reaches_every_pod_of_the_group_through_kustomize(built, tmp_path):
    plan = plan_of(built, LLAMA_405B_MI210)

    def overrides(kustomization: dict) -> None:
        kustomization["images"][0]["newName"] = "mirror.example/vllm"
        kustomization["namespace"] = "serving"

    docs = {d["kind"]: d for d in k8s_check.kustomize_overridden(built / plan["k8s_bundle"], tmp_path, overrides)}
    group = docs["LeaderWorkerSet"]["spec"]["leaderWorkerTemplate"]
    images = {
        c["image"]
        for role in ("leaderTemplate", "workerTemplate")
        for c in (*group[role]["spec"]["initContainers"], *group[role]["spec"]["containers"])
    }
    assert images == {"mirror.example/vllm:" + plan["image"].rpartition(":")[2]}
    for doc in docs.values():
        assert doc["metadata"]["namespace"] == "serving"
        k8s_check.validate(doc)
