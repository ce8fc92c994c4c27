"""Every --format, and --port / --cache-dir / --name changing the artifact structurally."""

from __future__ import annotations

import json
import shlex

import pytest

from aim_pick.contract import deploy, listing

from . import hosts
from .conftest import env_of, option
from .test_hosts import plan_file, published

QWEN = "Qwen/Qwen3-32B"
LLAMA8 = "meta-llama/Llama-3.1-8B-Instruct"  # gated


@pytest.fixture
def mi300x(host):
    return host.gpus([hosts.MI300X] * 8)


def test_docker_is_the_default_and_one_shell_line(mi300x, api_dir):
    result = mi300x.pick(QWEN)
    assert result.code == 0 and result.err == ""
    assert result.out.count("\n") == 1
    argv = result.argv()
    plan = plan_file(api_dir, published(api_dir, "MI300X", QWEN, "8/auto/auto/auto/latency"))
    assert argv[:5] == ["docker", "run", "--rm", "--name", f"aim-{plan['plan_id']}"]
    for flag in ("--device=/dev/kfd", "--device=/dev/dri", "--ipc=host", "--cap-add=SYS_PTRACE"):
        assert flag in argv
    assert option(argv, "--group-add") == ["video"] and option(argv, "--security-opt") == ["seccomp=unconfined"]
    assert option(argv, "-p") == [f"8000:{plan['port']}"]
    assert option(argv, "-v") == [f"{mi300x.cache}:/workspace/model-cache"]
    env = env_of(argv)
    assert env["HF_HOME"] == "/workspace/model-cache" and "HF_HUB_OFFLINE" not in env
    for key, value in plan["env"].items():
        assert env[key] == value
    image = argv.index(plan["image"])
    assert argv[image + 1 :] == plan["container_argv"]
    assert mi300x.pick(QWEN, "--format", "docker").out == result.out


def test_default_cache_dir_is_the_seed_root(mi300x):
    argv = mi300x.pick(QWEN, env={"AIM_CACHE_DIR": None}).argv()
    assert option(argv, "-v") == ["/workspace/model-cache:/workspace/model-cache"]


def test_port_cache_dir_and_name_change_the_docker_argv(mi300x, api_dir):
    cache = "/data/hf cache/$HOME"  # a space and a '$': quoted, never expanded
    result = mi300x.pick(QWEN, "--port", "9000", "--cache-dir", cache, "--name", "my-llm")
    argv = result.argv()
    assert argv[argv.index("--name") + 1] == "my-llm"
    plan = plan_file(api_dir, published(api_dir, "MI300X", QWEN, "8/auto/auto/auto/latency"))
    assert option(argv, "-p") == [f"9000:{plan['port']}"]
    assert option(argv, "-v") == [f"{cache}:/workspace/model-cache"]
    assert argv[argv.index(plan["image"]) + 1 :] == plan["container_argv"]  # the engine still listens on its own port
    assert "'/data/hf cache/$HOME:/workspace/model-cache'" in result.out
    # AIM_CACHE_DIR is the environment spelling; the flag wins
    assert option(mi300x.pick(QWEN, env={"AIM_CACHE_DIR": "/srv/models"}).argv(), "-v") == [
        "/srv/models:/workspace/model-cache"
    ]
    assert option(mi300x.pick(QWEN, "--cache-dir", "/x", env={"AIM_CACHE_DIR": "/srv/models"}).argv(), "-v") == [
        "/x:/workspace/model-cache"
    ]


def test_compose(mi300x, api_dir, tmp_path):
    result = mi300x.pick(
        QWEN, "--format", "compose", "--port", "9000", "--cache-dir", "/data/$cache", "--name", "my-llm"
    )
    assert result.code == 0
    document = json.loads(result.out)  # JSON is YAML; compose reads it
    [(name, service)] = document["services"].items()
    plan = plan_file(api_dir, published(api_dir, "MI300X", QWEN, "8/auto/auto/auto/latency"))
    assert service["image"] == plan["image"] and service["container_name"] == "my-llm"
    assert service["ports"] == [f"9000:{plan['port']}"]
    assert service["volumes"] == ["/data/$$cache:/workspace/model-cache"]  # '$' escaped for compose
    assert service["devices"] == ["/dev/kfd", "/dev/dri"] and service["group_add"] == ["video"]
    assert service["environment"]["HF_HOME"] == "/workspace/model-cache"
    assert service["environment"]["HIP_VISIBLE_DEVICES"] == ",".join(str(i) for i in range(plan["gpu_count"]))
    assert "/health" in " ".join(service["healthcheck"]["test"])
    assert service["command"] == plan["container_argv"]
    # the defaults differ exactly where the options differ
    default = json.loads(mi300x.pick(QWEN, "--format", "compose").out)["services"][name]
    assert default["ports"] == [f"8000:{plan['port']}"] and default["container_name"] == f"aim-{plan['plan_id']}"


def test_compose_gated_model_takes_the_token_from_the_shell(host):
    host.gpus([hosts.MI300X])
    service = next(iter(json.loads(host.pick(LLAMA8, "--format", "compose").out)["services"].values()))
    assert "HF_TOKEN" in service["environment"] and service["environment"]["HF_TOKEN"] is None


def test_compose_output_file(mi300x, tmp_path):
    target = tmp_path / "compose.yaml"
    result = mi300x.pick(QWEN, "--format", "compose", "--output", str(target))
    assert result.code == 0 and result.out == "" and "wrote" in result.err
    assert "services" in json.loads(target.read_text())


@pytest.mark.parametrize("fmt", ["docker", "json", "explain", "env"])
def test_every_format_goes_to_the_output_file(mi300x, tmp_path, fmt):
    printed = mi300x.pick(QWEN, "--format", fmt)
    target = tmp_path / f"out.{fmt}"
    written = mi300x.pick(QWEN, "--format", fmt, "--output", str(target))
    assert written.code == 0 and written.out == "" and f"wrote {target}" in written.err
    assert target.read_text() == printed.out


def test_a_relative_cache_dir_is_a_folder_not_a_volume_name(mi300x):
    # docker takes a -v source without a leading / as a named volume: the folder is made absolute
    # against the folder aim-pick runs in (the host's tmp folder here)
    for value in ("models", "rel/dir"):
        argv = mi300x.pick(QWEN, "--cache-dir", value).argv()
        assert option(argv, "-v") == [f"{mi300x.tmp / value}:/workspace/model-cache"]
    compose = json.loads(mi300x.pick(QWEN, "--format", "compose", "--cache-dir", "models").out)
    (service,) = compose["services"].values()
    assert service["volumes"] == [f"{mi300x.tmp / 'models'}:/workspace/model-cache"]


def test_k8s(mi300x, api_dir):
    plan = plan_file(api_dir, published(api_dir, "MI300X", QWEN, "8/auto/auto/auto/latency"))
    document = json.loads(mi300x.pick(QWEN, "--format", "k8s", "--port", "9000").out)
    assert document["kind"] == "List"
    deployment, service, claim, budget = document["items"]  # the build's manifests.yaml, as a List
    assert [o["kind"] for o in document["items"]] == [
        "Deployment",
        "Service",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
    ]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["resources"]["limits"]["amd.com/gpu"] == plan["gpu_count"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert "74a1" in terms[0]["matchExpressions"][0]["values"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory"}
    assert volumes["model-cache"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["name"] == deploy.cache_claim(plan, deploy.DEFAULT_OPTIONS)  # one claim per checkpoint
    assert service["spec"]["ports"][0]["port"] == 9000
    # the cache as a hostPath at --cache-dir
    pod = json.loads(mi300x.pick(QWEN, "--format", "k8s", "--k8s-cache", "hostpath", "--cache-dir", "/data/hf").out)[
        "items"
    ][0]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["model-cache"]["hostPath"]["path"] == "/data/hf"


def test_name_names_the_kubernetes_objects(mi300x):
    # --name is the container name in docker and compose, and the workload's name in Kubernetes,
    # so two deployments of one plan can live side by side
    items = json.loads(mi300x.pick(QWEN, "--format", "k8s", "--name", "my-llm").out)["items"]
    workload, service = items[0], items[1]
    assert workload["metadata"]["name"] == service["metadata"]["name"] == "my-llm"
    assert service["spec"]["selector"] == workload["spec"]["selector"]["matchLabels"]
    assert workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "my-llm"


def test_env_format(mi300x):
    text = mi300x.pick(QWEN, "--format", "env", "--cache-dir", "/data/hf cache").out
    pairs = dict(shlex.split(line)[0].split("=", 1) for line in text.splitlines())
    assert pairs["HF_HOME"] == "/data/hf cache"  # outside a container the host folder is the cache
    assert "HIP_VISIBLE_DEVICES" in pairs
    gated = mi300x.pick(LLAMA8, "--format", "env").out
    assert "# meta-llama/Llama-3.1-8B-Instruct is gated: also export HF_TOKEN" in gated
    assert "HF_TOKEN=" not in gated


def test_port_and_name_are_checked(mi300x):
    for bad in (["--port", "0"], ["--port", "99999"], ["--name", "bad/name"], ["--name", "-x"]):
        assert mi300x.pick(QWEN, *bad).code == 2, bad


def test_json_format_has_the_documented_keys(mi300x):
    body = mi300x.pick(QWEN, "--format", "json").json()
    assert {"detected", "request", "plan", "candidates"} <= set(body)
    assert {"gpu", "count", "partition", "source", "levels"} <= set(body["detected"])
    assert set(body["detected"]["levels"]) == {"host", "container", "process", "usable"}
    assert isinstance(body["detected"]["gpu"], str) and isinstance(body["detected"]["count"], int)
    assert {"model", "gpus", "count_mode", "precision", "backend", "profile", "key"} <= set(body["request"])
    assert body["plan"]["docker_argv"][:2] == ["docker", "run"] and body["plan"]["docker_command"].startswith(
        "docker run "
    )
    for candidate in body["candidates"]:
        assert {"plan", "verdict", "reason"} <= set(candidate)
        assert candidate["verdict"] in ("chosen", "runnable", "rejected")
    assert [c["verdict"] for c in body["candidates"]].count("chosen") == 1


def test_explain_lists_levels_and_groups_the_candidates(mi300x):
    text = mi300x.pick(QWEN, "--format", "explain").out
    assert text.startswith("Detected: 8 x MI300X")
    assert "levels: host 8, container 8 (8 of 8 render nodes present), process 8 -> usable 8" in text
    body = mi300x.pick(QWEN, "--format", "json").json()
    chosen = next(c for c in body["candidates"] if c["verdict"] == "chosen")
    assert f"CHOSEN\n  {listing.label(chosen, 'Qwen3-32B')}  {chosen['plan']}  [chosen]" in text
    for candidate in body["candidates"]:  # every reason is named, incompatible ones summarised
        assert f"[{candidate['reason']}]" in text
    assert f"Plan: {body['plan']['plan_id']}" in text and "docker run " in text
    # --all: a line per candidate, labelled by what it is
    everything = mi300x.pick(QWEN, "--format", "explain", "--all").out
    for candidate in body["candidates"]:
        assert f"  {listing.label(candidate, 'Qwen3-32B')}" in everything
    assert len(everything.splitlines()) > len(text.splitlines())


def test_explain_labels_each_candidate_as_the_plan_command_does(mi300x):
    # a disabled entry of a recipe is that recipe's TP (not "no recipe"), and a throughput plan off
    # a latency request's path says so (not "not the requested precision")
    body = mi300x.pick("deepseek-ai/DeepSeek-R1", "--format", "json").json()
    text = mi300x.pick("deepseek-ai/DeepSeek-R1", "--format", "explain", "--all").out
    disabled = [c for c in body["candidates"] if c["reason"] == "disabled"]
    assert disabled and all(c["recipe"] for c in disabled)
    for c in disabled:
        assert f"DeepSeek-R1 {c['backend']} {c['precision']} TP{c['gpus']} (tuned)" in text
    candidates = mi300x.pick(QWEN, "--format", "json").json()["candidates"]
    replicated = [c for c in candidates if listing.replicas(c["candidate"]) > 1]
    assert replicated and {c["reason"] for c in replicated} <= {"objective-not-requested", "too-many-gpus"}
    assert "objective-not-requested" in {c["reason"] for c in replicated}


def test_output_to_an_unwritable_place_is_a_usage_error(mi300x, tmp_path):
    result = mi300x.pick(QWEN, "--format", "compose", "--output", str(tmp_path / "no" / "such" / "dir" / "c.yaml"))
    assert result.code == 2 and "cannot write" in result.err and "Traceback" not in result.err
