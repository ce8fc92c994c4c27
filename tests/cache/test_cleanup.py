"""remove, cleanup, pin, env and volumes on hand-built caches; nothing outside the root is touched."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from aim_engine.cache import store as cache
from aim_engine.cli import main
from aim_pick.contract import deploy

from .conftest import build_repo, commit_of

DAY = 86400
C1 = commit_of("c1")


def files(size: int) -> dict[str, bytes]:
    return {"config.json": b'{"a": %d}' % size, "model.safetensors": os.urandom(size)}


def age(root: Path, repo_id: str, days: float, **entry) -> None:
    """Make a model look last used `days` ago (blob times and the index agree)."""
    then = time.time() - days * DAY
    blobs = root / "hub" / ("models--" + repo_id.replace("/", "--")) / "blobs"
    for blob in blobs.iterdir():
        if not blob.is_symlink():
            os.utime(blob, (then, then))
    stamp = cache.iso(then)
    cache.update_index(
        root, lambda e: e.update({repo_id: {**e.get(repo_id, {}), "cached_at": stamp, "last_used": stamp, **entry}})
    )


def tree(folder: Path) -> dict[str, tuple]:
    """Names, sizes and times (not contents: reading a blob counts as using the model)."""
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns, os.path.islink(p))
        for p in sorted(folder.rglob("*"))
    }


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def root(tmp_path):
    return tmp_path / "cache"


def test_plan_cleanup_by_age_then_lru():
    now = 1_000 * DAY
    rows = [
        {
            "model": m,
            "status": "complete",
            "size": size,
            "pinned": pinned,
            "downloading": busy,
            "last_used": cache.iso(now - days * DAY),
        }
        for m, size, days, pinned, busy in (
            ("o/old", 50, 40, False, False),
            ("o/pinned-old", 70, 90, True, False),
            ("o/mid", 30, 10, False, False),
            ("o/new", 20, 1, False, False),
            ("o/busy", 10, 100, False, True),
        )
    ]
    rows.append(
        {"model": "o/gone", "status": "missing", "size": 0, "pinned": False, "downloading": False, "last_used": None}
    )
    removals, notes, total = cache.plan_cleanup(rows, now, 30 * DAY, 105, keep_pinned=True)
    assert [r.model for r in removals] == ["o/old", "o/mid"]  # age first, then least recently used
    assert total == 100 and {"kept o/pinned-old: pinned", "kept o/busy: being downloaded"} == set(notes)
    removals, notes, total = cache.plan_cleanup(rows, now, 30 * DAY, 75, keep_pinned=True)
    assert [r.model for r in removals] == ["o/old", "o/mid", "o/new"]
    assert total == 80 and any("over the" in n for n in notes)  # pinned + busy keep it above the limit
    removals, _, total = cache.plan_cleanup(rows, now, None, 85, keep_pinned=False)
    assert [r.model for r in removals] == ["o/pinned-old", "o/old"] and total == 60
    assert cache.plan_cleanup(rows, now, None, None)[0] == []


def test_cleanup_dry_run_then_for_real(root, capsys):
    for model, size, days in (("org/old", 3000, 45), ("org/recent", 2000, 2), ("org/pinned", 4000, 60)):
        build_repo(root, model, files(size), C1)
        age(root, model, days, pinned=model == "org/pinned")
    before = tree(root / "hub")
    code, out, _ = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--older-than", "30d", "--dry-run")
    assert code == 0 and "would remove org/old" in out and "org/recent" not in out.replace("kept", "")
    assert "kept org/pinned: pinned" in out and tree(root / "hub") == before
    code, out, _ = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--older-than", "30d")
    assert code == 0 and "removed org/old" in out
    assert not (root / "hub" / "models--org--old").exists()
    assert set(cache.read_index(root)[0]) == {"org/recent", "org/pinned"}
    code, out, _ = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--max-size", "3000", "--no-keep-pinned")
    assert code == 0 and "removed org/pinned" in out and "least recently used" in out
    assert [r["model"] for r in cache.list_models(root)] == ["org/recent"]


def test_cleanup_never_follows_links_out_of_the_root(tmp_path, capsys):
    root, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.safetensors").write_bytes(b"precious" * 100)
    (outside / "dir").mkdir()
    (outside / "dir" / "file").write_text("keep me")
    (outside / "dir" / "blobs").mkdir()
    (outside / "dir" / "blobs" / f"{'d' * 64}.0000beef.incomplete").write_text("looks like a partial download")
    keep = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    # A snapshot entry that links to a file outside the root.
    repo = build_repo(root, "org/link-out", files(100), C1)
    link = repo / "snapshots" / C1 / "model.safetensors"
    link.unlink()
    link.symlink_to(outside / "victim.safetensors")
    # A repo folder that is itself a link to a folder outside, and a blobs folder that is one.
    (root / "hub" / "models--org--dir-out").symlink_to(outside / "dir")
    repo = build_repo(root, "org/blobs-out", files(100), C1)
    (repo / "blobs" / "extra").symlink_to(outside / "dir", target_is_directory=True)
    for model in ("org/link-out", "org/blobs-out"):
        age(root, model, 400)
    cache.update_index(root, lambda e: e.update({"org/dir-out": {"last_used": cache.iso(0)}}))

    code, out, err = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--older-than", "1d")
    assert code == 1 and "points outside the cache root" in err
    code, out, err = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--older-than", "99999d")
    assert code == 0 and "partial download" not in out  # the linked folder's "partial file" is not ours
    for model in ("org/link-out", "org/dir-out", "org/blobs-out"):
        code, _, err = run(capsys, "cache", "remove", model, "--cache-dir", str(root))
        assert code == 1 and "refusing to remove" in err and "Nothing was deleted" in err
    for bad in ("../outside", "org/..", str(outside), "org\\..\\..", "..--outside"):
        code, _, err = run(capsys, "cache", "remove", bad, "--cache-dir", str(root))
        assert code == 2 and "not a Hugging Face model id" in err
    assert {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} == keep
    assert (root / "hub" / "models--org--link-out" / "snapshots" / C1 / "config.json").exists()


def test_remove_complete_corrupt_and_absent_models(root, capsys):
    build_repo(root, "org/a", files(500), C1)
    shared = build_repo(root, "org/b", files(700), C1)  # same commit hash in two repos
    corrupt = build_repo(root, "org/corrupt", files(300), C1)
    (corrupt / "snapshots" / C1 / "config.json").resolve().unlink()
    cache.pin(root, "org/a", True)
    code, out, _ = run(capsys, "cache", "remove", "org/a", "--cache-dir", str(root))
    assert code == 0 and out.startswith("removed org/a (")
    assert not (root / "hub" / "models--org--a").exists() and "org/a" not in cache.read_index(root)[0]
    assert cache.snapshot_state(str(root), "org/b")["complete"] and tree(shared)  # untouched
    code, out, _ = run(capsys, "cache", "remove", "org--corrupt", "--cache-dir", str(root))
    assert code == 0 and not corrupt.exists()
    code, _, err = run(capsys, "cache", "remove", "org/a", "--cache-dir", str(root))
    assert code == 1 and "org/a is not in the cache" in err


def test_partial_files_of_killed_downloads_are_cleaned_but_live_ones_kept(root, capsys):
    repo = build_repo(root, "org/m", files(400), C1)
    (repo / "blobs" / f"{'a' * 64}.0badc0de.incomplete").write_bytes(b"dead" * 10)
    live = repo / "blobs" / f"{'b' * 64}.12345678.incomplete"
    live.write_bytes(b"live")
    lock = root / "hub" / ".locks" / "models--org--m" / f"{'b' * 64}.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as huggingface_hub holds it while downloading
        active, orphaned = cache.partial_files(root, "org/m")
        assert [p.name for p in active] == [live.name] and len(orphaned) == 1
        code, out, _ = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--older-than", "0d")
        assert (
            code == 0 and "removed 1 partial download file(s) of org/m" in out and "kept org/m: being downloaded" in out
        )
        assert live.exists() and not orphaned[0].exists()
        code, _, err = run(capsys, "cache", "remove", "org/m", "--cache-dir", str(root))
        assert code == 1 and "being downloaded" in err
    assert cache.partial_files(root, "org/m") == ([], [live])  # lock released: now an orphan


def test_pin_and_unpin(root, capsys):
    build_repo(root, "org/m", files(100), C1)
    assert run(capsys, "cache", "pin", "org/m", "--cache-dir", str(root))[0] == 0
    assert cache.read_index(root)[0]["org/m"]["pinned"] is True
    assert run(capsys, "cache", "unpin", "org/m", "--cache-dir", str(root))[0] == 0
    assert cache.read_index(root)[0]["org/m"]["pinned"] is False
    code, _, err = run(capsys, "cache", "pin", "org/absent", "--cache-dir", str(root))
    assert code == 1 and "not in the cache" in err


def test_env_and_volumes_match_the_generated_artifacts(root, capsys):
    build_repo(root, "org/done", files(100), C1)
    build_repo(root, "org/half", files(100), C1, ref=None)
    cache.update_index(root, lambda e: e.update({"org/done": {"commit_hash": C1, "gated": True}}))
    code, out, err = run(capsys, "cache", "env", "org/done", "--cache-dir", str(root))
    assert code == 0 and out.splitlines() == [
        "HF_HOME=/workspace/model-cache",
        "HF_HUB_OFFLINE=1",
        "# org/done is gated: also export HF_TOKEN (never stored here)",
    ]
    code, out, _ = run(capsys, "cache", "env", "org/half", "--cache-dir", str(root), "--json")
    data = json.loads(out)
    assert data["env"] == {"HF_HOME": deploy.CACHE_ROOT} and data["complete"] is False
    code, out, _ = run(capsys, "cache", "env", "org/done", "--cache-dir", str(root), "--host")
    assert f"HF_HOME={root}" in out.splitlines()
    assert not any(name in out for name in ("TRANSFORMERS_CACHE", "VLLM_CACHE_DIR", "MODEL_CACHE_PATH"))
    code, out, _ = run(capsys, "cache", "volumes", "org/done", "--cache-dir", str(root))
    assert out.splitlines() == [f"{root}:/workspace/model-cache"]
    # The docker command the build writes, for a host whose cache is this root.
    plan = {
        "plan_id": "p",
        "port": 8000,
        "env": {},
        "gated": True,
        "image": "img",
        "container_argv": [],
        "engine_argv": [],
    }
    argv = deploy.docker_argv(plan, deploy.DeployOptions(cache_dir=str(root), offline=True))
    assert argv[argv.index("-v") + 1] == out.strip()
    assert {f"{k}={v}" for k, v in cache.model_environment(root, "org/done")[0].items()} <= set(argv)


def test_list_and_stats_read_the_scan(root, capsys):
    build_repo(root, "org/a", files(1000), C1)
    build_repo(root, "org/b", files(2000), commit_of("b"))
    (root / "hub" / "models--org--b" / "blobs" / f"{'c' * 64}.77777777.incomplete").write_bytes(b"z" * 10)
    code, out, _ = run(capsys, "cache", "stats", "--cache-dir", str(root), "--json")
    stats = json.loads(out)
    sizes = {m["model"]: m["size"] for m in stats["models"]}
    assert stats["total_models"] == 2 and stats["total_size"] == sum(sizes.values()) == 3000 + len(
        b'{"a": 1000}'
    ) + len(b'{"a": 2000}')
    assert stats["incomplete_files"] == 1 and [m["complete"] for m in stats["models"]] == [True, False]
    code, out, _ = run(capsys, "cache", "list", "--cache-dir", str(root))
    assert code == 0 and "org/a" in out and "partial" in out and "partial file(s)" in out
    code, out, _ = run(capsys, "cache", "stats", "--cache-dir", str(root / "nowhere"))
    assert code == 0 and "0 model(s)" in out and not (root / "nowhere").exists()
