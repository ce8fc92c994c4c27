"""What the cache holds: `cache list` rows, `cache stats`, partial downloads and orphans.

"complete" is always `aim_pick.contract.cache_state.snapshot_state`'s answer, the one
aim-pick gives on a GPU host; sizes and access times come from huggingface_hub's scan.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

from aim_engine.cache.disk import blob_bytes, model_folders, scan, scanned_models
from aim_engine.cache.index import load_index
from aim_engine.cache.names import epoch, iso, repo_dir
from aim_pick.contract.cache_state import HUB_DIR, repo_folder, snapshot_state

Row = dict[str, Any]


def _lock_held(lock: Path) -> bool:
    """Is huggingface_hub downloading this blob now? (it holds a flock on the lock file)"""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: assume busy, which only ever keeps files
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def partial_files(root: Path, repo_id: str) -> tuple[list[Path], list[Path]]:
    """(being downloaded now, left behind by a killed download) `*.incomplete` blobs.

    huggingface_hub 2.x writes each transfer to a process-unique `<etag>.<id>.incomplete`
    under the blob's lock and deletes it on failure, so one still there while its lock
    is free was orphaned by a killed process and can never be resumed.
    """
    active: list[Path] = []
    orphaned: list[Path] = []
    blobs = repo_dir(root, repo_id) / "blobs"
    if os.path.realpath(blobs) != os.path.join(os.path.realpath(root / HUB_DIR), repo_folder(repo_id), "blobs"):
        return active, orphaned  # a linked repo or blobs folder: its files are not ours to judge or delete
    locks = root / HUB_DIR / ".locks" / repo_folder(repo_id)
    for path in sorted(blobs.glob("*.incomplete")):
        etag = path.name.split(".", 1)[0]
        (active if _lock_held(locks / f"{etag}.lock") else orphaned).append(path)
    return active, orphaned


def remove_orphans(root: Path, repo_id: str) -> int:
    """Delete the partial files killed downloads left; bytes freed."""
    freed = 0
    for path in partial_files(root, repo_id)[1]:
        with contextlib.suppress(FileNotFoundError):
            freed += path.stat().st_size
            path.unlink()
    return freed


def list_models(root: Path) -> list[Row]:
    """One row per model on disk or in the index; "complete" is `snapshot_state`'s answer."""
    entries = load_index(root)
    scanned = scanned_models(scan(root))
    on_disk = model_folders(root)
    rows = []
    for rid in sorted(set(on_disk) | set(entries)):
        state = snapshot_state(str(root), rid)
        entry, repo = entries.get(rid, {}), scanned.get(rid)
        used = [
            t
            for t in (
                epoch(entry.get("last_used")),
                epoch(entry.get("cached_at")),
                repo.last_accessed if repo else None,
            )
            if t is not None
        ]
        if state["complete"]:
            status = "complete"
        elif rid not in on_disk:
            status = "missing"
        else:
            status = "partial" if repo is not None else "corrupt"
        revisions = (
            [
                {
                    "commit": rev.commit_hash,
                    "refs": sorted(rev.refs),
                    "complete": snapshot_state(str(root), rid, rev.commit_hash)["complete"],
                }
                for rev in sorted(repo.revisions, key=lambda r: r.commit_hash)
            ]
            if repo
            else []
        )
        rows.append(
            {
                "model": rid,
                "status": status,
                "complete": state["complete"],
                "commit": state["commit"],
                "revision": state["revision"],
                "reason": state["reason"],
                "path": state["path"],
                "files": state["files"],
                "size": repo.size_on_disk if repo else (blob_bytes(on_disk[rid] / "blobs") if rid in on_disk else 0),
                "last_used": iso(max(used)) if used else None,
                "cached_at": entry.get("cached_at"),
                "pinned": entry.get("pinned") is True,
                "source_plan": entry.get("source_plan"),
                "downloading": bool(partial_files(root, rid)[0]) if rid in on_disk else False,
                "revisions": revisions,
            }
        )
    return rows


def stats(root: Path) -> dict[str, Any]:
    """The seed's statistics, computed from huggingface_hub's scan of the cache."""
    info = scan(root)
    entries = load_index(root)
    repos = sorted(scanned_models(info).values(), key=lambda r: r.repo_id)
    models = [
        {
            "model": r.repo_id,
            "size": r.size_on_disk,
            "files": r.nb_files,
            "revisions": len(r.revisions),
            "last_accessed": iso(r.last_accessed),
            "last_modified": iso(r.last_modified),
            "complete": snapshot_state(str(root), r.repo_id)["complete"],
            "pinned": entries.get(r.repo_id, {}).get("pinned") is True,
        }
        for r in repos
    ]
    total = sum(m["size"] for m in models)
    return {
        "cache_dir": str(root),
        "hub_dir": str(root / HUB_DIR),
        "total_models": len(models),
        "total_size": total,
        "total_size_gb": total / 1024**3,  # the seed's GiB figure
        "size_on_disk": info.size_on_disk if info else 0,
        "incomplete_files": len(info.incomplete_files) if info else 0,
        "incomplete_size": info.incomplete_size_on_disk if info else 0,
        "warnings": [str(w) for w in info.warnings] if info else [],
        "models": models,
    }
