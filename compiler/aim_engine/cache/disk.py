"""What is on disk under `<root>/hub`, read without the index.

huggingface_hub's `scan_cache_dir` (sizes, revisions, access times; it skips repos it
finds corrupt), the model folders themselves (which we must not skip), and the bytes
under a folder. The index is rebuilt from these; listing and removal read them too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from aim_pick.contract import cache_state
from aim_pick.contract.cache_state import HUB_DIR

if TYPE_CHECKING:
    from huggingface_hub import CachedRepoInfo, HFCacheInfo


def scan(root: Path) -> HFCacheInfo | None:
    """huggingface_hub's scan of `<root>/hub`, or None when there is no hub folder."""
    if not (root / HUB_DIR).is_dir():
        return None
    from huggingface_hub import scan_cache_dir

    return scan_cache_dir(root / HUB_DIR)


def scanned_models(info: HFCacheInfo | None) -> dict[str, CachedRepoInfo]:
    """The model repos of a scan, by id."""
    return {r.repo_id: r for r in info.repos if r.repo_type == "model"} if info else {}


def model_folders(root: Path) -> dict[str, Path]:
    """Model repos present as folders, by id (the scan skips corrupt ones; we must not)."""
    hub = root / HUB_DIR
    found = {}
    for child in sorted(hub.iterdir()) if hub.is_dir() else []:
        parts = child.name.split("--")
        if len(parts) == 3 and parts[0] == "models" and cache_state.repo_id_problem(f"{parts[1]}/{parts[2]}") is None:
            found[f"{parts[1]}/{parts[2]}"] = child
    return found


def blob_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (links count as themselves, never their targets)."""
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
