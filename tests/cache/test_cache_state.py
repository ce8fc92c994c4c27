"""aim_pick.contract.cache_state.snapshot_state, and its agreement with `aim-engine cache list`."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from aim_pick.contract import cache_state
from aim_pick.contract.cache_state import snapshot_state

from .conftest import build_repo, cli, commit_of, moe_shards

FILES = {
    "config.json": b'{"architectures": ["LlamaForCausalLM"]}',
    "model.safetensors": b"w" * 5000,
    "tokenizer.json": b"{}",
}
C1, C2 = commit_of("one"), commit_of("two")


def folder(root: Path, repo_id: str) -> Path:
    return root / "hub" / ("models--" + repo_id.replace("/", "--"))


def test_module_is_standard_library_only():
    """aim-pick imports it on hosts that have nothing but Python."""
    tree = ast.parse(Path(cache_state.__file__).read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert imported <= {"__future__", "json", "os", "re"}


def test_complete_snapshot(tmp_path):
    build_repo(tmp_path, "org/model", FILES, C1)
    state = snapshot_state(str(tmp_path), "org/model")
    assert state["complete"] and state["commit"] == C1 and state["files"] == 3
    assert state["path"] == str(folder(tmp_path, "org/model") / "snapshots" / C1)
    assert state["size"] == sum(len(d) for d in FILES.values())


@pytest.mark.parametrize(
    "bad", ["../etc", "/etc/passwd", "org/..", "org\\name", "org/na--me", "org/name/x", "", ".a/b"]
)
def test_path_tricks_are_refused(tmp_path, bad):
    state = snapshot_state(str(tmp_path), bad)
    assert not state["complete"] and state["commit"] is None and "not a Hugging Face model id" in state["reason"]


def test_bad_revision_names_are_refused(tmp_path):
    build_repo(tmp_path, "org/model", FILES, C1)
    for revision in ("../../etc/passwd", "/abs", "a//b"):
        assert "not a revision name" in snapshot_state(str(tmp_path), "org/model", revision)["reason"]


def test_missing_model_and_missing_ref(tmp_path):
    assert snapshot_state(str(tmp_path), "org/none")["reason"] == "not in the cache"
    build_repo(tmp_path, "org/model", FILES, C1, ref="v1")
    state = snapshot_state(str(tmp_path), "org/model")
    assert not state["complete"] and "no ref 'main'" in state["reason"] and C1[:12] in state["reason"]
    assert snapshot_state(str(tmp_path), "org/model", "v1")["complete"]
    assert snapshot_state(str(tmp_path), "org/model", C1)["complete"]


def test_ref_must_hold_a_commit(tmp_path):
    repo = build_repo(tmp_path, "org/model", FILES, C1)
    (repo / "refs" / "main").write_text("../../../../etc")
    assert "does not hold a commit hash" in snapshot_state(str(tmp_path), "org/model")["reason"]


def test_broken_link_leftover_and_link_outside(tmp_path):
    repo = build_repo(tmp_path, "org/model", FILES, C1)
    blob = (repo / "snapshots" / C1 / "tokenizer.json").resolve()
    blob.unlink()
    assert "tokenizer.json has no blob" in snapshot_state(str(tmp_path), "org/model")["reason"]

    repo = build_repo(tmp_path, "org/partial", FILES, C1)
    (repo / "blobs" / "abc.1234abcd.incomplete").write_bytes(b"half")
    assert "partial file(s)" in snapshot_state(str(tmp_path), "org/partial")["reason"]

    outside = tmp_path.parent / f"{tmp_path.name}-outside.json"
    outside.write_text("{}")
    repo = build_repo(tmp_path / "root", "org/escape", FILES, C1)
    link = repo / "snapshots" / C1 / "tokenizer.json"
    link.unlink()
    link.symlink_to(outside)
    assert "outside the cache root" in snapshot_state(str(tmp_path / "root"), "org/escape")["reason"]


def test_repo_folder_that_is_a_link_is_not_read(tmp_path):
    real = build_repo(tmp_path / "elsewhere", "org/model", FILES, C1)
    (tmp_path / "root" / "hub").mkdir(parents=True)
    folder(tmp_path / "root", "org/model").symlink_to(real)
    state = snapshot_state(str(tmp_path / "root"), "org/model")
    assert not state["complete"] and "is a link" in state["reason"]


def test_recorded_file_list_is_checked(tmp_path):
    build_repo(tmp_path, "org/model", FILES, C1)
    entry = {"commit_hash": C1, "files": {**{k: len(v) for k, v in FILES.items()}, "extra.json": 10}}
    (tmp_path / "cache_index.json").write_text(json.dumps({"org/model": entry}))
    assert "1 recorded file(s) missing: extra.json" in snapshot_state(str(tmp_path), "org/model")["reason"]
    entry["files"] = {"model.safetensors": 4999}
    (tmp_path / "cache_index.json").write_text(json.dumps({"org/model": entry}))
    assert "wrong size: model.safetensors" in snapshot_state(str(tmp_path), "org/model")["reason"]
    entry["commit_hash"] = C2  # a record of another commit says nothing about this one
    (tmp_path / "cache_index.json").write_text(json.dumps({"org/model": entry}))
    assert snapshot_state(str(tmp_path), "org/model")["complete"]
    (tmp_path / "cache_index.json").write_text("{not json")  # a corrupt index never breaks the answer
    assert snapshot_state(str(tmp_path), "org/model")["complete"]
    (tmp_path / "cache_index.json").write_text(json.dumps({"org/model": {"commit_hash": C1, "verify": "failed"}}))
    assert "cache verify` found corrupt files" in snapshot_state(str(tmp_path), "org/model")["reason"]


def test_missing_shard_named_by_the_weight_index(tmp_path):
    shards = moe_shards()
    del shards["model-00002-of-00002.safetensors"]
    build_repo(tmp_path, "org/moe", shards, C1)
    state = snapshot_state(str(tmp_path), "org/moe")
    assert not state["complete"] and "model-00002-of-00002.safetensors" in state["reason"]


@pytest.mark.slow
def test_cache_list_agrees_with_aim_pick(tmp_path):
    """One complete and several partial models: `cache list --json` and snapshot_state say the same."""
    root = tmp_path / "cache"
    build_repo(root, "org/complete", FILES, C1)
    build_repo(root, "org/complete-v1", FILES, C2, ref="v1")  # cached, but not at main
    leftover = build_repo(root, "org/partial", {k: v for k, v in FILES.items() if k != "model.safetensors"}, C1)
    (leftover / "blobs" / f"{'b' * 64}.5a5a5a5a.incomplete").write_bytes(b"x" * 100)
    broken = build_repo(root, "org/broken", FILES, C2)
    (broken / "snapshots" / C2 / "config.json").resolve().unlink()
    build_repo(root, "org/short", {k: v for k, v in FILES.items() if k != "tokenizer.json"}, C1)
    (root / "cache_index.json").write_text(
        json.dumps(
            {
                "org/short": {"commit_hash": C1, "files": {k: len(v) for k, v in FILES.items()}, "pinned": True},
                "org/gone": {"commit_hash": C1, "cached": True},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "AIM_"))}
    result = cli({**env, "AIM_CACHE_DIR": str(root), "HF_HUB_OFFLINE": "1"}, "cache", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["model"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"org/complete", "org/complete-v1", "org/partial", "org/broken", "org/short", "org/gone"}
    for model, row in rows.items():
        state = snapshot_state(str(root), model)
        assert (row["complete"], row["commit"], row["reason"]) == (state["complete"], state["commit"], state["reason"])
    assert [m for m, r in rows.items() if r["complete"]] == ["org/complete"]
    assert rows["org/broken"]["status"] == "corrupt" and rows["org/partial"]["status"] == "partial"
    assert rows["org/gone"]["status"] == "missing" and rows["org/short"]["pinned"]
    assert rows["org/complete-v1"]["revisions"] == [{"commit": C2, "complete": True, "refs": ["v1"]}]


def test_one_index_reader_for_aim_pick_and_the_cache(tmp_path):
    assert cache_state.read_index_file(str(tmp_path)) == ({}, "missing")
    index = tmp_path / "cache_index.json"
    index.write_text(json.dumps({"org/ok": {"pinned": True}, "../x": {}, "org/list": []}))
    assert cache_state.read_index_file(str(tmp_path)) == ({"org/ok": {"pinned": True}}, "ok")
    assert cache_state.read_index(str(tmp_path)) == {"org/ok": {"pinned": True}}
    for corrupt in (b"[" * 100_000, b"{not json", b"[1]", b"\xff", b'{"org/ok": ' + b"[" * 20 + b"]" * 20 + b"}"):
        index.write_bytes(corrupt)
        assert cache_state.read_index_file(str(tmp_path)) == ({}, "corrupt")
        assert cache_state.read_index(str(tmp_path)) == {}
    index.unlink()
    index.mkdir()  # unreadable: the strict reader says so, aim-pick's answers without it
    with pytest.raises(OSError):
        cache_state.read_index_file(str(tmp_path))
    assert cache_state.read_index(str(tmp_path)) == {}


def test_odd_refs_and_weight_indexes_are_reasons_not_crashes(tmp_path):
    repo = build_repo(tmp_path, "org/model", FILES, C1)
    (repo / "refs" / "main").write_bytes(b"\xff\xfe" + C1.encode())
    assert "does not hold a commit hash" in snapshot_state(str(tmp_path), "org/model")["reason"]
    states = []
    for n, weight_index in enumerate((b"[" * 100_000, b'{"weight_map": {"a": ["x"], "b": {}}}')):
        build_repo(tmp_path / f"w{n}", "org/moe", {**FILES, "model.safetensors.index.json": weight_index}, C1)
        states.append(snapshot_state(str(tmp_path / f"w{n}"), "org/moe"))
    assert "model.safetensors.index.json is not readable JSON" in states[0]["reason"]
    assert states[1]["complete"]  # names that are not file names are not shards
