"""Kubernetes resources checked as the API server would: built-in kinds against
kubernetes-validate's strict schemas (the same files `kubernetes_validate.validate(..., strict=True)`
reads, with each kind's validator built once: the suite checks tens of thousands of objects),
LeaderWorkerSet against the CRD schema vendored from its release (tests/publish/data/lws/),
made strict the same way (no field a schema does not name)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils
from referencing import Registry, Resource

K8S_VERSION = "1.32.0"
LWS_SCHEMA = Path(__file__).parent / "data" / "lws" / "leaderworkerset-v1-schema.json"
Invalid = jsonschema.ValidationError  # kubernetes_validate.ValidationError is one too


def _strict(node: Any) -> Any:
    """A CRD's structural schema made strict: objects with properties allow no other field
    (what kubernetes-validate's -strict schemas do for built-in kinds)."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            if not out.get("x-kubernetes-preserve-unknown-fields"):
                out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    if kind == "LeaderWorkerSet":
        schema = _strict(json.loads(LWS_SCHEMA.read_text("utf-8"))["schema"])
        return jsonschema.validators.Draft202012Validator(schema)
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group}.json", K8S_VERSION)
    definitions = utils.schema_contents(f"{folder}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate(doc: dict) -> None:
    """Raise `Invalid` naming the first problem of `doc`."""
    _validator(doc["kind"], doc["apiVersion"]).validate(doc)


def same_as_kubernetes_validate(doc: dict) -> bool:
    """Whether kubernetes-validate itself agrees (for a sample: it reloads its schemas per call)."""
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError:
        return False
    return True


# --- kustomize -------------------------------------------------------------------------------------


def kubectl() -> str:
    path = shutil.which("kubectl")
    assert path, "kubectl is missing: run scripts/install-test-tools.sh (the README's test command does)"
    return path


def kustomize(folder: Path) -> list[dict]:
    """`kubectl kustomize folder`: the resources it renders."""
    done = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return [d for d in yaml.load_all(done.stdout, Loader=yaml.CSafeLoader) if d]


def kustomize_overridden(bundle: Path, work: Path, change: Callable[[dict], None]) -> list[dict]:
    """A copy of the bundle folder with its kustomization.yaml edited by `change` (as a user
    would make their overrides), rendered by kustomize."""
    folder = work / "bundle"
    shutil.copytree(bundle, folder)
    path = folder / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    change(kustomization)
    path.write_text(yaml.safe_dump(kustomization))
    return kustomize(folder)
