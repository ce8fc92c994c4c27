"""Cache-aware output: a checkpoint complete in the cache root (Hugging Face hub layout)
runs with HF_HUB_OFFLINE=1; otherwise the cache is mounted writable for the download."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from . import hosts
from .conftest import env_of, option

MODEL = "Qwen/Qwen3-32B"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(root, repo_id: str, *, files=("config.json", "model.safetensors"), broken=(), ref=True):
    """hub/models--org--name/{refs/main, snapshots/<commit>/<file> -> ../../blobs/<sha256>, blobs/<sha256>}."""
    repo = root / "hub" / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    if ref:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(COMMIT)
    for name in files:
        content = f"{repo_id} {name}\n".encode()
        digest = hashlib.sha256(content).hexdigest()
        if name not in broken:
            (repo / "blobs" / digest).write_bytes(content)
        os.symlink(f"../../blobs/{digest}", snapshot / name)
    return repo


@pytest.fixture
def mi300x(host):
    return host.gpus([hosts.MI300X] * 8)


def checkpoint(host) -> str:
    return host.pick(MODEL, "--format", "json").json()["plan"]["checkpoint"]


def test_complete_snapshot_runs_offline(mi300x):
    hub_cache(mi300x.cache, checkpoint(mi300x))
    argv = mi300x.pick(MODEL).argv()
    assert env_of(argv)["HF_HUB_OFFLINE"] == "1"
    assert option(argv, "-v") == [f"{mi300x.cache}:/workspace/model-cache"]
    body = mi300x.pick(MODEL, "--format", "json").json()
    assert body["cache"]["complete"] is True and body["cache"]["commit"] == COMMIT
    assert body["plan"]["docker_argv"] == argv
    explain = mi300x.pick(MODEL, "--format", "explain").out
    assert f"is complete in {mi300x.cache}" in explain and "HF_HUB_OFFLINE=1" in explain
    service = next(iter(json.loads(mi300x.pick(MODEL, "--format", "compose").out)["services"].values()))
    assert service["environment"]["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize("state", ["empty", "broken-link", "no-ref"])
def test_incomplete_snapshot_downloads_into_the_cache(mi300x, state):
    if state == "broken-link":
        hub_cache(mi300x.cache, checkpoint(mi300x), broken=("model.safetensors",))
    elif state == "no-ref":
        hub_cache(mi300x.cache, checkpoint(mi300x), ref=False)
    argv = mi300x.pick(MODEL).argv()
    assert "HF_HUB_OFFLINE" not in env_of(argv)
    mount = option(argv, "-v")
    assert mount == [f"{mi300x.cache}:/workspace/model-cache"] and not mount[0].endswith(":ro")  # writable
    body = mi300x.pick(MODEL, "--format", "json").json()
    assert body["cache"]["complete"] is False and body["cache"]["reason"]
    explain = mi300x.pick(MODEL, "--format", "explain").out
    assert "is not complete" in explain and "mounted writable" in explain


def test_another_models_snapshot_does_not_count(mi300x):
    hub_cache(mi300x.cache, "Qwen/Qwen3-8B")
    assert "HF_HUB_OFFLINE" not in env_of(mi300x.pick(MODEL).argv())
