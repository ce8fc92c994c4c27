"""Deleting a model, confined to the cache root.

A model whose folder, or any link in it, leads outside the root is refused before
anything is deleted. Deletion goes through huggingface_hub's delete strategy, restricted
to the one repo (it matches bare commit hashes, which two repos may share), each path
re-checked to resolve inside the root; corrupt repos the scan skips are removed by an
`rmtree` re-checked to be a real model folder in `<root>/hub`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from aim_engine.cache import CacheError
from aim_engine.cache.disk import blob_bytes, scan
from aim_engine.cache.index import read_index, update_index
from aim_engine.cache.inventory import partial_files
from aim_engine.cache.names import printable, repo_dir
from aim_pick.contract.cache_state import HUB_DIR, inside


def unsafe_links(root: Path, repo_id: str) -> list[str]:
    """Links in a repo folder that lead out of the cache root (deleting through them is refused)."""
    folder = repo_dir(root, repo_id)
    root_real = os.path.realpath(root)
    if folder.is_symlink():
        return [f"{folder} is itself a link (to {os.readlink(folder)})"]
    if os.path.realpath(folder.parent) != os.path.realpath(root / HUB_DIR) or not inside(
        os.path.realpath(folder), root_real
    ):
        return [f"{folder} resolves outside the cache root"]
    problems = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not inside(os.path.realpath(path), root_real):
                problems.append(f"{os.path.relpath(path, folder)} -> {os.readlink(path)} points outside the cache root")
    return problems


def _confined_rmtree(root: Path, folder: Path) -> None:
    """Remove one repo folder after re-checking, just before, that it is a real folder in the root."""
    hub_real = os.path.realpath(root / HUB_DIR)
    if folder.is_symlink() or os.path.realpath(folder.parent) != hub_real or not folder.name.startswith("models--"):
        raise CacheError(f"refusing to delete {folder}: not a model folder inside {root / HUB_DIR}")
    if not folder.is_dir():  # a stray file where a repo folder belongs
        folder.unlink()
        return
    shutil.rmtree(folder)  # on Linux rmtree works through file descriptors and never follows links


def remove_model(root: Path, repo_id: str) -> int:
    """Delete a model's folder through huggingface_hub's delete strategy; bytes freed."""
    folder = repo_dir(root, repo_id)
    if not os.path.lexists(folder):
        return 0
    problems = unsafe_links(root, repo_id)
    if problems:
        raise CacheError(
            printable(
                f"refusing to remove {repo_id}: {'; '.join(problems[:3])}. Nothing was deleted; "
                "check these links and remove them by hand"
            )
        )
    if partial_files(root, repo_id)[0]:
        raise CacheError(f"{repo_id} is being downloaded right now; try again when that download ends")
    freed = blob_bytes(folder / "blobs")
    info = scan(root)
    repo = (
        next((r for r in info.repos if r.repo_type == "model" and r.repo_path.name == folder.name), None)
        if info
        else None
    )
    if info is not None and repo is not None and repo.revisions:
        # A scan restricted to this one repo: delete_revisions matches bare commit hashes,
        # which could otherwise hit another repo that happens to share a hash.
        only = dataclasses.replace(info, repos=frozenset({repo}))
        strategy = only.delete_revisions(*(rev.commit_hash for rev in repo.revisions))
        root_real = os.path.realpath(root)
        for path in (*strategy.repos, *strategy.snapshots, *strategy.refs, *strategy.blobs, *strategy.files):
            if not inside(os.path.realpath(path), root_real) or (path in strategy.repos and path.is_symlink()):
                raise CacheError(printable(f"refusing to remove {repo_id}: {path} is outside the cache root"))
        strategy.execute()
    if os.path.lexists(folder):  # a corrupt repo the scan skipped, or leftovers beside the revisions
        _confined_rmtree(root, folder)
    return freed


def remove(root: Path, repo_id: str) -> tuple[int, bool]:
    """`cache remove`: the model's files and its index entry; (bytes freed, whether it had files)."""
    on_disk = os.path.lexists(repo_dir(root, repo_id))
    if not on_disk and repo_id not in read_index(root)[0]:
        raise CacheError(f"{repo_id} is not in the cache at {printable(str(root))}")
    freed = remove_model(root, repo_id)
    update_index(root, lambda entries: entries.pop(repo_id, None))
    return freed, on_disk
