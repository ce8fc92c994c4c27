"""`cache cleanup`: the seed's retention policy, as a pure function over listed rows, and applying it.

First models not used for `--older-than` (default 30 days when no `--max-size` is given),
then the least recently used until the cache fits `--max-size`. "Used" is the latest of
the index's `last_used` and the blobs' access time, so a model served daily is never old.
Pinned models are kept unless asked otherwise; models being downloaded are always kept.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from aim_engine.cache import CacheError
from aim_engine.cache.index import update_index
from aim_engine.cache.inventory import Row, list_models, partial_files, remove_orphans
from aim_engine.cache.names import epoch, human_size, parse_age
from aim_engine.cache.removal import remove_model

DEFAULT_AGE = "30d"  # the seed's cleanup_old_models(days_old=30)


@dataclasses.dataclass(frozen=True)
class Removal:
    model: str
    reason: str
    size: int


def plan_cleanup(
    rows: list[Row], now: float, older_than: float | None, max_size: int | None, keep_pinned: bool = True
) -> tuple[list[Removal], list[str], int]:
    """The seed's retention policy: by age, then least recently used down to a size limit.

    Age is time since last use (a model fetched long ago but served daily is not old).
    Returns (removals in order, notes, size left afterwards).
    """
    present = [r for r in rows if r["status"] != "missing"]
    notes: list[str] = []
    removals: list[Removal] = []
    candidates = []
    for row in present:
        if row["pinned"] and keep_pinned:
            notes.append(f"kept {row['model']}: pinned")
        elif row["downloading"]:
            notes.append(f"kept {row['model']}: being downloaded")
        else:
            candidates.append(row)
    last = {r["model"]: epoch(r["last_used"]) or 0.0 for r in present}
    if older_than is not None:
        for row in candidates:
            idle = now - last[row["model"]]
            if idle > older_than:
                removals.append(Removal(row["model"], f"not used for {idle / 86400:.1f} days", row["size"]))
    total = sum(r["size"] for r in present) - sum(r.size for r in removals)
    if max_size is not None:
        gone = {r.model for r in removals}
        for row in sorted(
            (r for r in candidates if r["model"] not in gone), key=lambda r: (last[r["model"]], r["model"])
        ):
            if total <= max_size:
                break
            removals.append(
                Removal(
                    row["model"],
                    f"least recently used; cache {human_size(total)} is over the {human_size(max_size)} limit",
                    row["size"],
                )
            )
            total -= row["size"]
        if total > max_size:
            notes.append(
                f"still {human_size(total)} after cleanup, over the {human_size(max_size)} limit "
                "(only pinned or busy models are left)"
            )
    return removals, notes, total


@dataclasses.dataclass(frozen=True)
class Orphans:
    model: str
    count: int
    size: int


@dataclasses.dataclass(frozen=True)
class CleanupResult:
    removals: list[Removal]  # in order; those in `failed` were not removed
    failed: dict[str, str]  # model -> why it could not be removed
    dropped: list[str]  # index entries of models no longer on disk
    orphans: list[Orphans]  # partial files of killed downloads, per model
    notes: list[str]
    total: int  # the cache size afterwards
    dry_run: bool


def _forget(root: Path, repo_id: str) -> None:
    update_index(root, lambda entries: entries.pop(repo_id, None))


def cleanup(
    root: Path,
    older_than: float | None,
    max_size: int | None,
    keep_pinned: bool = True,
    dry_run: bool = False,
    now: float | None = None,
) -> CleanupResult:
    """Plan the cleanup of `root` and, unless `dry_run`, apply it. A model that cannot be
    removed (e.g. a link out of the root) is reported in `failed`; the others still are."""
    if older_than is None and max_size is None:
        older_than = parse_age(DEFAULT_AGE)
    rows = list_models(root)
    removals, notes, total = plan_cleanup(rows, time.time() if now is None else now, older_than, max_size, keep_pinned)
    failed: dict[str, str] = {}
    for removal in removals:
        if not dry_run:
            try:
                remove_model(root, removal.model)
                _forget(root, removal.model)
            except CacheError as exc:
                failed[removal.model] = str(exc)
    gone = {r.model for r in removals}
    dropped, orphans = [], []
    for row in rows:
        if row["status"] == "missing":
            if not dry_run:
                _forget(root, row["model"])
            dropped.append(row["model"])
        elif row["model"] not in gone:
            found = partial_files(root, row["model"])[1]
            if found:
                size = (
                    sum(p.stat().st_size for p in found if p.exists())
                    if dry_run
                    else remove_orphans(root, row["model"])
                )
                orphans.append(Orphans(row["model"], len(found), size))
    return CleanupResult(removals, failed, dropped, orphans, notes, total, dry_run)
