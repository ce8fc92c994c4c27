"""cache remove (and cleanup's removals): deletion confined to the root, nothing outside it touched."""

from __future__ import annotations

from aim_engine.cache.index import pin, read_index, update_index
from aim_engine.cache.names import iso
from aim_pick.contract.cache_state import snapshot_state

from .conftest import age, build_repo, commit_of, files, run, tree

C1 = commit_of("c1")


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
    update_index(root, lambda e: e.update({"org/dir-out": {"last_used": iso(0)}}))

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
    pin(root, "org/a", True)
    code, out, _ = run(capsys, "cache", "remove", "org/a", "--cache-dir", str(root))
    assert code == 0 and out.startswith("removed org/a (")
    assert not (root / "hub" / "models--org--a").exists() and "org/a" not in read_index(root)[0]
    assert snapshot_state(str(root), "org/b")["complete"] and tree(shared)  # untouched
    code, out, _ = run(capsys, "cache", "remove", "org--corrupt", "--cache-dir", str(root))
    assert code == 0 and not corrupt.exists()
    code, _, err = run(capsys, "cache", "remove", "org/a", "--cache-dir", str(root))
    assert code == 1 and "org/a is not in the cache" in err
