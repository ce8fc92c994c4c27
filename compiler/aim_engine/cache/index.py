"""`<root>/cache_index.json`: locked, atomic, rebuilt from the files when unreadable.

Reading is `aim_pick.contract.cache_state.read_index_file`, the one parser aim-pick uses
too (entries with bad ids dropped; invalid JSON, a non-object or absurd nesting count as
corrupt). On top of it: every change is a read-modify-write under an exclusive `flock` on
`cache_index.json.lock`, written atomically (temp file, fsync, rename, fsync of the
folder), and a missing or corrupt index is rebuilt from a scan of the cache (a corrupt
one is kept as `cache_index.json.corrupt`).

The lock records its holder (pid, host, command, time) in the lock file while it is
held. A process that cannot get it waits at most `$AIM_CACHE_LOCK_TIMEOUT` seconds
(default 60), says after a second whom it waits for, and then fails naming the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aim_engine.cache import CacheError
from aim_engine.cache.disk import blob_bytes, model_folders, scan, scanned_models
from aim_engine.cache.names import iso, now_iso, printable, repo_dir
from aim_pick.contract import cache_state
from aim_pick.contract.cache_state import HUB_DIR, INDEX_NAME, snapshot_state
from aim_pick.contract.files import write_atomic

if TYPE_CHECKING:
    from huggingface_hub import CachedRepoInfo

Entry = dict[str, Any]
Entries = dict[str, Entry]

LOCK_NAME = INDEX_NAME + ".lock"
CORRUPT_COPY = INDEX_NAME + ".corrupt"
LOCK_TIMEOUT_ENV = "AIM_CACHE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0  # seconds; index changes take milliseconds, a rebuild a scan of the cache
WAIT_NOTICE_AFTER = 1.0  # seconds of waiting before saying whom we wait for


def warn(message: str) -> None:
    print(f"aim-engine: warning: {message}", file=sys.stderr)


# --- the lock ---------------------------------------------------------------------------


def lock_timeout() -> float:
    """Seconds to wait for the index lock: $AIM_CACHE_LOCK_TIMEOUT, else 60 (0: do not wait)."""
    text = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise CacheError(f"{LOCK_TIMEOUT_ENV}={printable(text)!r} is not a number of seconds (e.g. 60, or 0)", 2)
    return value


def _this_host() -> str:
    return os.uname().nodename


def _command() -> str:
    argv = list(getattr(sys, "argv", None) or ["python"])
    program = os.path.basename(argv[0]) or "python"
    if program == "__main__.py":  # python -m aim_engine
        program = os.path.basename(os.path.dirname(argv[0])) or program
    return " ".join([program, *argv[1:4]])[:200]


def _record_holder(fd: int) -> None:
    """Write who holds the lock into the lock file (best effort: the lock is what counts)."""
    record = {"pid": os.getpid(), "host": _this_host(), "command": _command(), "since": now_iso()}
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


def lock_holder(path: Path) -> str:
    """Who holds the lock, as recorded in the lock file, in words."""
    try:
        raw = path.read_bytes()[:4096]
        record = json.loads(raw) if raw.strip() else None
    except (OSError, ValueError, RecursionError):
        record = None
    pid = record.get("pid") if isinstance(record, dict) else None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return "another process (it did not record who)"
    assert isinstance(record, dict)
    host = record.get("host") if isinstance(record.get("host"), str) else "an unknown host"
    if host == _this_host() and not _alive(pid):
        return f"another process (the last recorded holder, pid {pid}, has exited)"
    text = f"pid {pid} on {host}"
    if isinstance(record.get("command"), str) and record["command"]:
        text += f" (`{record['command']}`)"
    if isinstance(record.get("since"), str):
        text += f", since {record['since']}"
    return printable(text)


def _acquire(fd: int, path: Path, timeout: float) -> None:
    start = time.monotonic()
    delay, told = 0.002, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as exc:  # e.g. ENOLCK: an NFS mount without lock support
            raise CacheError(f"cannot lock {printable(str(path))}: {exc.strerror or exc}") from None
        waited = time.monotonic() - start
        if waited >= timeout:
            raise CacheError(
                f"the cache index {printable(str(path.parent / INDEX_NAME))} is locked by {lock_holder(path)}; "
                f"gave up after {timeout:g} s. If that process is stuck, stop it; to wait longer, set "
                f"{LOCK_TIMEOUT_ENV} (seconds)"
            )
        if not told and waited >= WAIT_NOTICE_AFTER:
            print(
                f"aim-engine: waiting for the cache index lock {printable(str(path))}, held by {lock_holder(path)} "
                f"(giving up after {timeout:g} s; {LOCK_TIMEOUT_ENV} changes that)",
                file=sys.stderr,
            )
            told = True
        time.sleep(min(delay, max(timeout - waited, 0.0)))
        delay = min(delay * 2, 0.1)


@contextlib.contextmanager
def index_lock(root: Path, timeout: float | None = None) -> Iterator[None]:
    """Exclusive flock on a file beside the index (released when the descriptor closes).

    Waits at most `timeout` seconds (default: `lock_timeout()`), then raises a CacheError
    naming the holder. An unwritable root raises the OSError of creating the lock file.
    """
    wait = lock_timeout() if timeout is None else timeout
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)  # group-writable: shared caches
    try:
        _acquire(fd, path, wait)
        _record_holder(fd)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # no stale record once released
    finally:
        os.close(fd)


# --- reading and writing ------------------------------------------------------------------


def read_index(root: Path) -> tuple[Entries, str]:
    """(entries, "ok" | "missing" | "corrupt"); entries with a bad id or shape are dropped."""
    try:
        return cache_state.read_index_file(str(root))
    except OSError as exc:
        raise CacheError(f"cannot read {printable(str(root / INDEX_NAME))}: {exc.strerror or exc}") from None


def _write_index(root: Path, entries: Entries) -> None:
    # ASCII JSON: any string an index held (even a lone surrogate from an escape) can be written back.
    write_atomic(root / INDEX_NAME, (json.dumps(entries, indent=1, sort_keys=True) + "\n").encode())
    fd = os.open(root, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def base_entry(root: Path, repo_id: str, repo: CachedRepoInfo | None = None) -> Entry:
    """An entry describing what is on disk now (used for rebuilds and first records)."""
    state = snapshot_state(str(root), repo_id)
    folder = repo_dir(root, repo_id)
    commit = state["commit"]
    if commit is None and repo is not None and len(repo.revisions) == 1:
        commit = next(iter(repo.revisions)).commit_hash
    return {
        "cached": state["complete"],
        "cache_path": str(folder),
        "commit_hash": commit,
        "revision": cache_state.DEFAULT_REVISION if state["commit"] else commit,
        "cached_at": iso(repo.last_modified if repo else None),
        "last_used": iso(repo.last_accessed if repo else None),
        "size": repo.size_on_disk if repo else blob_bytes(folder / "blobs"),
        "pinned": False,
        "source_plan": None,
    }


def rebuild_entries(root: Path) -> Entries:
    """Entries for every model folder, from the files alone (pins and plans cannot be known)."""
    scanned = scanned_models(scan(root))
    return {rid: dict(base_entry(root, rid, scanned.get(rid)), rebuilt_from_scan=True) for rid in model_folders(root)}


def _recover(root: Path, status: str) -> Entries:
    entries = rebuild_entries(root)
    if status == "corrupt":
        write_atomic(root / CORRUPT_COPY, (root / INDEX_NAME).read_bytes())
        warn(
            f"{printable(str(root / INDEX_NAME))} was unreadable; rebuilt it from the cache "
            f"(pins and plans are lost; the old file is kept as {CORRUPT_COPY})"
        )
    return entries  # a missing index is normal (new cache, or filled by other tools): no warning


def update_index(root: Path, change: Callable[[Entries], object]) -> Entries:
    """Apply `change` to the entries and save them, all under the lock."""
    with index_lock(root):
        # Every writer holds the lock, so temp files seen now belong to killed writers.
        for leftover in root.glob(f".{INDEX_NAME}.*.tmp"):
            leftover.unlink(missing_ok=True)
        entries, status = read_index(root)
        if status != "ok":
            entries = _recover(root, status)
        change(entries)
        _write_index(root, entries)
        return entries


def load_index(root: Path) -> Entries:
    """The entries for reading; rebuilt (and saved, when the root is writable) if needed."""
    entries, status = read_index(root)
    if status == "ok" or (status == "missing" and not (root / HUB_DIR).is_dir()):
        return entries
    try:
        return update_index(root, lambda _: None)
    except OSError as exc:  # e.g. a read-only mount: answer from the scan without saving
        warn(f"cannot rewrite {printable(str(root / INDEX_NAME))} ({exc.strerror}); using a scan of the cache")
        return rebuild_entries(root)


def pin(root: Path, repo_id: str, pinned: bool) -> None:
    """Record whether cleanup must keep `repo_id` (which must be in the cache)."""

    def change(entries: Entries) -> None:
        if repo_id not in entries:
            if not os.path.lexists(repo_dir(root, repo_id)):
                raise CacheError(f"{repo_id} is not in the cache at {printable(str(root))}; download it first")
            entries[repo_id] = base_entry(root, repo_id)
        entries[repo_id]["pinned"] = pinned

    update_index(root, change)
