"""cache list and stats from the scan; partial downloads told apart as live or orphaned."""

from __future__ import annotations

import fcntl
import json

from aim_engine.cache.inventory import partial_files

from .conftest import build_repo, commit_of, files, run

C1 = commit_of("c1")


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


def test_partial_files_of_killed_downloads_are_cleaned_but_live_ones_kept(root, capsys):
    repo = build_repo(root, "org/m", files(400), C1)
    (repo / "blobs" / f"{'a' * 64}.0badc0de.incomplete").write_bytes(b"dead" * 10)
    live = repo / "blobs" / f"{'b' * 64}.12345678.incomplete"
    live.write_bytes(b"live")
    lock = root / "hub" / ".locks" / "models--org--m" / f"{'b' * 64}.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as huggingface_hub holds it while downloading
        active, orphaned = partial_files(root, "org/m")
        assert [p.name for p in active] == [live.name] and len(orphaned) == 1
        code, out, _ = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--older-than", "0d")
        assert (
            code == 0 and "removed 1 partial download file(s) of org/m" in out and "kept org/m: being downloaded" in out
        )
        assert live.exists() and not orphaned[0].exists()
        code, _, err = run(capsys, "cache", "remove", "org/m", "--cache-dir", str(root))
        assert code == 1 and "being downloaded" in err
    assert partial_files(root, "org/m") == ([], [live])  # lock released: now an orphan
