"""The Kubernetes bundle of every plan (build/k8s/<plan-id>/): what `kubectl apply -k` gets.

Checked through real consumers: `kubectl kustomize` renders every bundle (kubectl's built-in
kustomize; scripts/install-test-tools.sh installs kubectl), and every resource, the optional
HorizontalPodAutoscaler and Secret template included, passes kubernetes-validate's strict
schemas (LeaderWorkerSet: the CRD schema vendored from its release)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aim_engine.publish import artifacts as render
from aim_pick.contract import deploy

from . import k8s_check, readers

TOKEN = re.compile(r"hf_[A-Za-z0-9]{20,}")  # the form of a Hugging Face access token
TOKEN_VALUE = re.compile(r'name: "HF_TOKEN"\n *value:')
GATED = "llama-3.1-70b-instruct-mi300x-bf16-sglang-tp4"
VLLM = "deepseek-r1-mi300x-fp8-vllm-tp8"


def plans(built: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((built / "api" / "plans").glob("*.json"))]


def plan_of(built: Path, plan_id: str) -> dict:
    return json.loads((built / "api" / "plans" / f"{plan_id}.json").read_text())


def bundle(built: Path, plan: dict) -> dict[str, list[dict]]:
    folder = built / plan["k8s_bundle"]
    return {p.name: load_all(p.read_text("utf-8")) for p in sorted(folder.iterdir())}


def load_all(text: str) -> list[dict]:
    return [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d]


def key(doc: dict) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


# --- the bundle's shape, from the data ----------------------------------------------------------


def test_every_plan_has_a_bundle_with_its_files(built):
    for plan in plans(built):
        files = {p.name for p in (built / plan["k8s_bundle"]).iterdir()}
        expected = {deploy.K8S_MANIFESTS, deploy.K8S_KUSTOMIZATION, deploy.K8S_HPA}
        assert files == expected | ({deploy.K8S_SECRET} if plan["gated"] else set()), plan["plan_id"]
        assert plan["k8s"] == f"{plan['k8s_bundle']}/{deploy.K8S_MANIFESTS}"


def test_the_init_container_downloads_the_plans_checkpoint_into_the_cache_the_engine_reads(built):
    for plan_id in (GATED, VLLM):
        plan = plan_of(built, plan_id)
        manifests = bundle(built, plan)[deploy.K8S_MANIFESTS]
        workload, _, claim, _ = manifests
        pod = workload["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["command"][:3] == ["hf", "download", plan["checkpoint"]]
        assert init["image"] == plan["image"]  # huggingface_hub ships in both engine images
        for container in (init, pod["containers"][0]):
            hf_home = next(e["value"] for e in container["env"] if e["name"] == "HF_HOME")
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts[hf_home] == "model-cache", container["name"]
        volume = next(v for v in pod["volumes"] if v["name"] == "model-cache")
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        size = int(claim["spec"]["resources"]["requests"]["storage"].removesuffix("Gi"))
        assert plan["checkpoint_bytes"] < size * 1024**3 < 2 * plan["checkpoint_bytes"] + 10 * 1024**3


def test_the_download_command_is_a_snapshot_download_for_the_real_hf_cli(built, tmp_path):
    """The init container's words through huggingface_hub's own `hf` (the project's dependency,
    offline, --dry-run): a whole-repo download with exclusions, not a list of files to fetch."""
    hf = Path(sys.executable).with_name("hf")
    plan = plan_of(built, VLLM)
    init = bundle(built, plan)[deploy.K8S_MANIFESTS][0]["spec"]["template"]["spec"]["initContainers"][0]
    env = {"PATH": os.environ["PATH"], "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "NO_COLOR": "1"}

    def run(argv: list[str]) -> str:
        done = subprocess.run([str(hf), *argv[1:], "--dry-run"], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode != 0  # offline: it cannot list the repo
        return done.stderr

    out = run(init["command"])
    assert "Ignoring" not in out and "DryRunError" in out, out[-600:]  # snapshot_download's refusal
    flat = ["hf", "download", plan["checkpoint"], "--exclude", *deploy.OTHER_WEIGHTS]
    assert "Ignoring `--exclude`" in run(flat)  # the mistake this guards against


def test_the_startup_probe_covers_loading_and_grows_with_the_checkpoint(built):
    small = bundle(built, plan_of(built, "qwen3-8b-mi300x-fp16-vllm-tp1"))[deploy.K8S_MANIFESTS][0]
    large = bundle(built, plan_of(built, VLLM))[deploy.K8S_MANIFESTS][0]

    def budget(workload: dict) -> int:
        probe = workload["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        return probe["periodSeconds"] * probe["failureThreshold"]

    assert 600 <= budget(small) < budget(large)


def test_gated_bundles_read_the_token_from_the_secret_and_never_hold_one(built):
    plan = plan_of(built, GATED)
    files = bundle(built, plan)
    pod = files[deploy.K8S_MANIFESTS][0]["spec"]["template"]["spec"]
    ref = {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    for container in (*pod["initContainers"], *pod["containers"]):
        assert {"name": "HF_TOKEN", "valueFrom": ref} in container["env"], container["name"]
    (secret,) = files[deploy.K8S_SECRET]
    assert secret["stringData"] == {"token": deploy.SECRET_PLACEHOLDER}
    kustomization = files[deploy.K8S_KUSTOMIZATION][0]
    assert kustomization["resources"] == [deploy.K8S_MANIFESTS]  # templates and the HPA are opt-in


def test_no_bundle_holds_a_secret_value(built):
    """No token anywhere; HF_TOKEN only ever from the Secret; Secrets only as the template."""
    gated = plan_of(built, GATED)
    for doc in bundle(built, gated)[deploy.K8S_MANIFESTS]:
        names = [e["name"] for env in env_lists(doc) for e in env if "valueFrom" in e]
        assert names.count("HF_TOKEN") == (2 if doc["kind"] == "Deployment" else 0)
    for path in (built / "k8s").rglob("*.yaml"):
        text = path.read_text("utf-8")
        assert not TOKEN.search(text), path
        assert not TOKEN_VALUE.search(text), path  # HF_TOKEN set by value (the writer's layout)
        if path.name == deploy.K8S_SECRET:
            (secret,) = load_all(text)
            assert secret["stringData"] == {"token": deploy.SECRET_PLACEHOLDER} and "data" not in secret
        else:
            assert 'kind: "Secret"' not in text, path


def env_lists(node):
    """Every container `env` list in a resource, wherever its pod templates are."""
    if isinstance(node, dict):
        if isinstance(node.get("env"), list) and "image" in node:
            yield node["env"]
        for value in node.values():
            yield from env_lists(value)
    elif isinstance(node, list):
        for value in node:
            yield from env_lists(value)


def test_the_hpa_scales_the_workload_on_the_engines_queue(built):
    for plan_id, metric in ((VLLM, "vllm:num_requests_waiting"), (GATED, "sglang:num_queue_reqs")):
        plan = plan_of(built, plan_id)
        files = bundle(built, plan)
        (hpa,) = files[deploy.K8S_HPA]
        workload = files[deploy.K8S_MANIFESTS][0]
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": workload["apiVersion"],
            "kind": workload["kind"],
            "name": workload["metadata"]["name"],
        }
        assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == metric


def test_a_throughput_plan_is_one_pod_with_the_engines_data_parallelism(built):
    plan = next(p for p in plans(built) if p["replicas"] > 1 and p["nodes"] == 1)
    workload = bundle(built, plan)[deploy.K8S_MANIFESTS][0]
    assert workload["spec"]["replicas"] == 1
    container = workload["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["amd.com/gpu"] == plan["gpu_count"]
    dp = {"vllm": "--data-parallel-size", "sglang": "--dp-size"}[plan["backend"]]
    argv = container.get("args") or container["command"]
    assert argv[argv.index(dp) + 1] == str(plan["replicas"])


def test_plans_of_one_checkpoint_share_one_cache_claim(built):
    claims = defaultdict(set)
    for plan in plans(built):
        claims[plan["checkpoint"]].add(deploy.cache_claim(plan, deploy.DEFAULT_OPTIONS))
    assert all(len(names) == 1 for names in claims.values())
    assert len({n for names in claims.values() for n in names}) == len(claims)


# --- the writer: any data round-trips ------------------------------------------------------------

KEYS = st.sampled_from(["a", "amd.com/gpu", "yes", "no", "null", "on", "x: y", "- z", "#c", "1", "", "é", "k\nv"])
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["", "- a", "{}", "[]"])
TREES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner.filter(lambda v: not isinstance(v, list) or not v), max_size=3)
        | st.dictionaries(KEYS, inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(doc=st.dictionaries(KEYS, TREES, min_size=1, max_size=4))
def test_the_yaml_writer_gives_back_any_document(doc):
    assert yaml.safe_load(render.yaml_documents([doc])) == doc
    assert list(yaml.safe_load_all(render.yaml_documents([doc, doc]))) == [doc, doc]


# --- real consumers ------------------------------------------------------------------------------


@pytest.mark.clients
def test_kustomize_renders_the_bundles_to_their_manifests(built, tmp_path):
    """The bundle of one plan of every artifact shape (readers.one_of_each_shape) through `kubectl
    kustomize`, many per run: a parent kustomization lists one bundle per cache claim (bundles of one
    checkpoint share their claim, which one build holds once)."""
    by_claim: dict[str, list[dict]] = defaultdict(list)
    for plan in readers.one_of_each_shape(plans(built)):
        by_claim[deploy.cache_claim(plan, deploy.DEFAULT_OPTIONS)].append(plan)
    rounds = max(len(group) for group in by_claim.values())

    def check(i: int) -> list[str]:
        batch = [group[i] for group in by_claim.values() if i < len(group)]
        folder = tmp_path / f"round-{i}"
        folder.mkdir()
        listed = [os.path.relpath(built / p["k8s_bundle"], folder) for p in batch]
        (folder / "kustomization.yaml").write_text(yaml.safe_dump({"resources": listed}), "utf-8")
        rendered = {key(d): d for d in k8s_check.kustomize(folder)}
        wrong = []
        for plan in batch:
            docs = load_all((built / plan["k8s"]).read_text("utf-8"))
            if any(rendered.pop(key(d), None) != d for d in docs):
                wrong.append(plan["plan_id"])
        return wrong + [f"{kind} {name} (not in any bundle)" for kind, name in rendered]

    with ThreadPoolExecutor(max_workers=2) as pool:
        wrong = [plan_id for found in pool.map(check, range(rounds)) for plan_id in found]
    assert not wrong, f"kustomize output differs from the manifests in a round with {wrong[:3]}"


@pytest.mark.clients
def test_the_optional_files_and_the_overrides_render_through_kustomize(built, tmp_path):
    plan = plan_of(built, GATED)

    def overrides(kustomization: dict) -> None:
        kustomization["resources"] += [deploy.K8S_HPA, deploy.K8S_SECRET]
        kustomization["namespace"] = "serving"
        kustomization["images"][0]["newName"] = "mirror.example/rocm/sgl-dev"
        kustomization["replicas"] = [{"name": deploy.k8s_name(plan), "count": 3}]
        kustomization["patches"] = [
            {
                "target": {"kind": "PersistentVolumeClaim"},
                "patch": json.dumps([{"op": "add", "path": "/spec/storageClassName", "value": "cephfs"}]),
            }
        ]

    docs = {d["kind"]: d for d in k8s_check.kustomize_overridden(built / plan["k8s_bundle"], tmp_path, overrides)}
    assert set(docs) == {
        "Deployment",
        "Service",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Secret",
    }
    assert all(d["metadata"]["namespace"] == "serving" for d in docs.values())
    assert docs["Deployment"]["spec"]["replicas"] == 3
    assert docs["PersistentVolumeClaim"]["spec"]["storageClassName"] == "cephfs"
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    tag = plan["image"].rpartition(":")[2]
    assert {c["image"] for c in (*pod["initContainers"], *pod["containers"])} == {f"mirror.example/rocm/sgl-dev:{tag}"}
    for doc in docs.values():
        k8s_check.validate(doc)


@pytest.mark.clients
def test_every_bundle_file_passes_the_strict_schemas(built):
    """Every file of the bundle of one plan of every artifact shape (readers.one_of_each_shape)."""
    seen = set()
    for plan in readers.one_of_each_shape(plans(built)):
        for name, docs in bundle(built, plan).items():
            if name == deploy.K8S_KUSTOMIZATION:
                continue
            for doc in docs:
                k8s_check.validate(doc)
                seen.add(doc["kind"])
    assert {"Deployment", "Service", "PersistentVolumeClaim", "PodDisruptionBudget"} <= seen
    assert {"HorizontalPodAutoscaler", "Secret"} <= seen
    # the cached validators are kubernetes-validate's own: a sample agrees with it
    sample = bundle(built, plan_of(built, GATED))
    del sample[deploy.K8S_KUSTOMIZATION]
    assert all(k8s_check.same_as_kubernetes_validate(d) for docs in sample.values() for d in docs)


def test_the_cached_validator_catches_what_kubernetes_validate_catches(built):
    docs = bundle(built, plan_of(built, VLLM))[deploy.K8S_MANIFESTS]
    claim = docs[2]
    broken = {**claim, "spec": {**claim["spec"], "accessMode": ["ReadWriteMany"]}}
    assert not k8s_check.same_as_kubernetes_validate(broken)
    with pytest.raises(k8s_check.Invalid):
        k8s_check.validate(broken)
