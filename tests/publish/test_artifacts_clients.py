"""Generated artifacts checked by the real client that will consume it: docker (commands),
docker-compose (compose files), kubernetes-validate (manifests) and shellcheck (run scripts), for
one plan of every artifact shape (readers.one_of_each_shape: each engine, option set, env set,
source, gated, replicas and hosts), which is every way the templates write a file.
scripts/install-test-tools.sh installs the tools."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from aim_pick.contract import deploy

from . import k8s_check, readers
from .fakedocker import FakeDocker, parsed_env

pytestmark = [pytest.mark.clients]

K8S_VERSION = k8s_check.K8S_VERSION
CONNECT_FAILURE = (
    "Cannot connect to the Docker daemon",
    "unknown server OS",
    "failed to connect",
    "dial unix",
    "connect: no such file",
)


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: run scripts/install-test-tools.sh (the README's test command does)"
    return path


def all_plans(built: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((built / "api" / "plans").glob("*.json"))]


def plans(built: Path) -> list[dict]:
    """One plan of every artifact shape."""
    return readers.one_of_each_shape(all_plans(built))


def one_host_plans(built: Path) -> list[dict]:
    """Plans with a docker command and compose file (multi-node plans have node scripts instead)."""
    return [p for p in plans(built) if p["nodes"] == 1]


def docker_parses(argv: list[str]) -> tuple[bool, str]:
    """Run the real docker client against a socket that does not exist: a flag or
    value error is reported before it tries to connect."""
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/aim-engine-test.sock"}
    done = subprocess.run([tool("docker"), *argv[1:]], capture_output=True, text=True, env=env, timeout=60)
    return any(marker in done.stderr for marker in CONNECT_FAILURE), done.stderr.strip()


def test_docker_client_rejects_a_broken_command():
    ok, _ = docker_parses(["docker", "run", "--rm", "--bogus-flag", "img"])
    assert not ok
    ok, _ = docker_parses(["docker", "run", "-p", "8000:notaport", "img"])
    assert not ok


def test_every_docker_command_parses(built):
    for plan in all_plans(built):
        if plan["nodes"] == 1:
            assert shlex.split(plan["docker_command"]) == plan["docker_argv"]
            assert plan["docker_argv"][:2] == ["docker", "run"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: (p["plan_id"], *docker_parses(p["docker_argv"])), one_host_plans(built)))
    failures = [(pid, err) for pid, ok, err in results if not ok]
    assert not failures, failures[:3]


def test_every_compose_file_validates(built):
    compose = tool("docker-compose")
    assert len(list((built / "compose").glob("*.yaml"))) == sum(p["nodes"] == 1 for p in all_plans(built))
    files = [built / p["compose"] for p in one_host_plans(built)]
    for start in range(0, len(files), 250):
        batch = files[start : start + 250]
        args = [compose, "--project-directory", str(built), *[a for f in batch for a in ("-f", str(f))], "config", "-q"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_TOKEN": "x"})
        assert done.returncode == 0, done.stderr[-2000:]


def test_compose_resolves_to_the_plan(built):
    """docker-compose's own view of a file equals the plan: command, image, env, ports."""
    plan = json.loads((built / "api" / "plans" / "llama-3.1-8b-instruct-mi300x-bf16-vllm-tp2.json").read_text())
    done = subprocess.run(
        [tool("docker-compose"), "-f", str(built / plan["compose"]), "config"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_TOKEN": "secret-from-shell"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    service = next(iter(yaml.safe_load(done.stdout)["services"].values()))
    assert service["command"] == plan["container_argv"]
    assert service["image"] == plan["image"]
    assert service["environment"]["HF_TOKEN"] == "secret-from-shell"  # passed by name, never written
    assert "secret" not in (built / plan["compose"]).read_text()
    assert service["environment"]["HIP_FORCE_DEV_KERNARG"] == "1"
    assert service["devices"] == ["/dev/kfd:/dev/kfd:rwm", "/dev/dri:/dev/dri:rwm"] or service["devices"] == [
        "/dev/kfd",
        "/dev/dri",
    ]
    assert service["ipc"] == "host"


def test_every_k8s_manifest_validates(built):
    assert len(list((built / "k8s").glob("*/manifests.yaml"))) == len(all_plans(built))
    for path in [built / p["k8s"] for p in plans(built)]:
        docs = list(yaml.safe_load_all(path.read_text()))
        kinds = [d["kind"] for d in docs]
        assert kinds in (
            ["Deployment", "Service", "PersistentVolumeClaim", "PodDisruptionBudget"],
            ["LeaderWorkerSet", "Service", "PersistentVolumeClaim", "PodDisruptionBudget"],
        ), path
        for doc in docs:
            k8s_check.validate(doc)


def test_k8s_validator_catches_mistakes(built):
    doc = next(yaml.safe_load_all(next((built / "k8s").glob("*/manifests.yaml")).read_text()))
    doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limitz"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    with pytest.raises(k8s_check.Invalid):
        k8s_check.validate(doc)


def test_k8s_manifest_content(built):
    plan = json.loads((built / "api" / "plans" / "deepseek-r1-mi300x-fp8-vllm-tp8.json").read_text())
    deployment, service, *_ = yaml.safe_load_all((built / plan["k8s"]).read_text())
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["amd.com/gpu"] == 8
    assert container["args"] == plan["container_argv"]  # vLLM image: entrypoint is `vllm serve`
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    budget = container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"]
    assert budget >= 1800  # ~630 GiB of weights take a while to load
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0] == {
        "key": "amd.com/gpu.device-id",
        "operator": "In",
        "values": ["74a1", "74a9", "74b5", "74bd"],
    }
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    gated = json.loads((built / "api" / "plans" / "llama-3.1-70b-instruct-mi300x-bf16-sglang-tp4.json").read_text())
    deployment, *_ = yaml.safe_load_all((built / gated["k8s"]).read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:3] == ["python3", "-m", "sglang.launch_server"]  # SGLang image starts bash
    token = [e for e in container["env"] if e["name"] == "HF_TOKEN"]
    assert token == [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}]


def test_every_run_script_passes_shellcheck(built):
    every = all_plans(built)
    # a run script per one-host plan, a leader and a worker script per multi-node plan
    assert len(list((built / "docker").glob("*.sh"))) == len(every) + sum(p["nodes"] > 1 for p in every)
    shown = {p["plan_id"] for p in plans(built)}
    scripts = sorted(
        s for s in (built / "docker").glob("*.sh") if s.stem.removesuffix("-leader").removesuffix("-worker") in shown
    )
    for start in range(0, len(scripts), 400):
        done = subprocess.run(
            [tool("shellcheck"), "--shell=sh", "--severity=style", *map(str, scripts[start : start + 400])],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:]


def test_every_env_file_reads_the_same_in_sh_and_docker(built, tmp_path):
    """The env file format (deploy.env_value): sh (`set -a; . file`) and the docker CLI
    (`--env-file`, sent to a fake daemon) read every published env file as the plan's values."""
    every = all_plans(built)
    for plan in plans(built):
        loaded = readers.new_vars(readers.source_env_file(built / plan["env_file"], tmp_path))
        assert loaded == dict(deploy.env_file(plan)), plan["plan_id"]
    # docker: whole files for one plan per GPU and backend, and every distinct set of lines
    sample = {(p["hardware"], p["backend"]): p for p in every}.values()
    distinct = {tuple(deploy.env_file(p)) for p in every}
    with FakeDocker(tmp_path) as daemon:
        for plan in sample:
            parsed = parsed_env(tool("docker"), daemon, built / plan["env_file"], readers.base_env())
            assert parsed == [f"{k}={v}" for k, v in deploy.env_file(plan)], plan["plan_id"]
        for i, pairs in enumerate(sorted(distinct)):
            path = tmp_path / f"distinct-{i}.env"
            path.write_text("".join(f"{k}={v}\n" for k, v in pairs), "utf-8")
            assert parsed_env(tool("docker"), daemon, path, readers.base_env()) == [f"{k}={v}" for k, v in pairs]
    assert readers.ran_payloads(tmp_path) == []


def test_env_files_load_in_a_shell(built):
    plan = json.loads((built / "api" / "plans" / "qwen3-8b-mi300x-fp16-vllm-tp1.json").read_text())
    script = f'set -a; . "{built / plan["env_file"]}"; set +a; env'
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    for key, value in plan["env"].items():
        assert env[key] == value
    assert env["HF_HOME"] == "/workspace/model-cache"
