"""The model cache: the seed's `AIMCacheManager`, built on a Hugging Face hub cache.

Models live in huggingface_hub's own layout under `<root>/hub`, so an engine container
started with `-v <root>:/workspace/model-cache -e HF_HOME=/workspace/model-cache` finds
them (and runs offline once they are complete). Beside it, `<root>/cache_index.json`
keeps what the hub layout cannot: when a model was cached, last used, pinned, and the
plan it was fetched for. The files are the truth; the index is a record, rebuilt from
a scan of the cache when it is missing or unreadable.

Downloads, scans, deletions and checksums go through huggingface_hub (imported lazily:
its settings are read from the environment at import time, and most commands never
need it). Several hosts and containers may share one root, so every index change is a
read-modify-write under an exclusive `flock`, written atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import fnmatch
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from aim_engine.errors import AimError
from aim_engine.publish.fsutil import write_atomic
from aim_pick.contract import cache_state
from aim_pick.contract.cache_state import HUB_DIR, INDEX_NAME, repo_folder, snapshot_state
from aim_pick.contract.deploy import CACHE_ROOT, DeployOptions, env_file, environment

ENV_ROOT = "AIM_CACHE_DIR"
LOCK_NAME = INDEX_NAME + ".lock"
CORRUPT_COPY = INDEX_NAME + ".corrupt"

# Weight formats the engines do not load when the repo has safetensors; skipping them
# avoids doubling a download (Llama's original/*.pth, Mistral's consolidated.safetensors).
OTHER_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.gguf", "*.onnx", "*.onnx_data")


class CacheError(AimError):
    """A cache or hub failure, as one sentence; `code` is the exit status (2 = bad input)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message, code)

    @property
    def code(self) -> int:
        return self.exit_code


def warn(message: str) -> None:
    print(f"aim-engine: warning: {message}", file=sys.stderr)


# --- names, sizes, times (pure) ------------------------------------------------------


def cache_root(option: str | None) -> Path:
    """--cache-dir, else $AIM_CACHE_DIR, else the seed's /workspace/model-cache."""
    text = option or os.environ.get(ENV_ROOT) or CACHE_ROOT
    if "\0" in text:
        raise CacheError("the cache root contains a NUL byte", 2)
    root = Path(os.path.abspath(os.path.expanduser(text)))
    if root.exists() and not root.is_dir():
        raise CacheError(f"cache root {root} exists and is not a folder", 2)
    return root


def model_id(text: str) -> str:
    """A validated HF id; the slug form `org--name` is accepted too."""
    text = text.strip()
    if "/" not in text and text.count("--") == 1:
        text = text.replace("--", "/")
    problem = cache_state.repo_id_problem(text)
    if problem:
        raise CacheError(problem, 2)
    return text


def revision_name(text: str | None) -> str | None:
    if text is None:
        return None
    problem = cache_state.revision_problem(text)
    if problem:
        raise CacheError(problem, 2)
    return text


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?)(i?)B?\s*$", re.IGNORECASE)
_AGE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_AGE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}


def parse_size(text: str) -> int:
    """'500G' / '500GB' (powers of 1000, as huggingface_hub prints), '1.5TiB' (of 1024), bytes."""
    match = _SIZE.match(text)
    if not match:
        raise CacheError(f"--max-size {text!r} is not a size (e.g. 500G, 1.5TiB, 20000000000)", 2)
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** " KMGTP".index(unit.upper() or " "))


def parse_age(text: str) -> float:
    """'30d', '12h', '2w', '90m', '45s'; a bare number is days. Returns seconds."""
    match = _AGE.match(text)
    if not match:
        raise CacheError(f"--older-than {text!r} is not an age (e.g. 30d, 12h, 2w)", 2)
    return float(match.group(1)) * _AGE_SECONDS[match.group(2).lower()]


def human_size(size: int | float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def epoch(text: object) -> float | None:
    """Seconds since the epoch of an ISO time (naive times, as the seed wrote them, are UTC)."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def skip_patterns(names: list[str]) -> list[str]:
    """Patterns of files a download leaves out (only those that match something)."""
    if not any(name.endswith(".safetensors") for name in names):
        return []
    patterns = list(OTHER_WEIGHTS)
    if any(n.endswith(".safetensors") and not n.rsplit("/", 1)[-1].startswith("consolidated") for n in names):
        patterns.append("*consolidated*.safetensors")
    return [p for p in patterns if any(fnmatch.fnmatchcase(n, p) for n in names)]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def repo_dir(root: Path, repo_id: str) -> Path:
    return root / HUB_DIR / repo_folder(repo_id)


def offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode()


# --- the index ------------------------------------------------------------------------


@contextlib.contextmanager
def index_lock(root: Path) -> Iterator[None]:
    """Exclusive flock on a file beside the index (released when the descriptor closes)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o664)  # group-writable: shared caches
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_index(root: Path) -> tuple[dict, str]:
    """(entries, "ok" | "missing" | "corrupt"); entries with a bad id or shape are dropped."""
    path = root / INDEX_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, "missing"
    except OSError as exc:
        raise CacheError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError:
        return {}, "corrupt"
    if not isinstance(data, dict):
        return {}, "corrupt"
    return {k: v for k, v in data.items() if isinstance(v, dict) and cache_state.repo_id_problem(k) is None}, "ok"


def _write_index(root: Path, entries: dict) -> None:
    write_atomic(root / INDEX_NAME, (json.dumps(entries, indent=1, sort_keys=True) + "\n").encode())
    fd = os.open(root, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _recover(root: Path, status: str) -> dict:
    entries = rebuild_entries(root)
    if status == "corrupt":
        write_atomic(root / CORRUPT_COPY, (root / INDEX_NAME).read_bytes())
        warn(
            f"{root / INDEX_NAME} was unreadable; rebuilt it from the cache "
            f"(pins and plans are lost; the old file is kept as {CORRUPT_COPY})"
        )
    return entries  # a missing index is normal (new cache, or filled by other tools): no warning


def update_index(root: Path, change: Callable[[dict], object]) -> dict:
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


def load_index(root: Path) -> dict:
    """The entries for reading; rebuilt (and saved, when the root is writable) if needed."""
    entries, status = read_index(root)
    if status == "ok" or (status == "missing" and not (root / HUB_DIR).is_dir()):
        return entries
    try:
        return update_index(root, lambda _: None)
    except OSError as exc:  # e.g. a read-only mount: answer from the scan without saving
        warn(f"cannot rewrite {root / INDEX_NAME} ({exc.strerror}); using a scan of the cache")
        return rebuild_entries(root)


def scan(root: Path):
    """huggingface_hub's scan of `<root>/hub`, or None when there is no hub folder."""
    if not (root / HUB_DIR).is_dir():
        return None
    from huggingface_hub import scan_cache_dir

    return scan_cache_dir(root / HUB_DIR)


def _disk_ids(root: Path) -> dict[str, Path]:
    """Model repos present as folders (the scan skips corrupt ones; we must not)."""
    hub = root / HUB_DIR
    found = {}
    for child in sorted(hub.iterdir()) if hub.is_dir() else []:
        parts = child.name.split("--")
        if len(parts) == 3 and parts[0] == "models" and cache_state.repo_id_problem(f"{parts[1]}/{parts[2]}") is None:
            found[f"{parts[1]}/{parts[2]}"] = child
    return found


def _blob_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def base_entry(root: Path, repo_id: str, repo=None) -> dict:
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
        "size": repo.size_on_disk if repo else _blob_bytes(folder / "blobs"),
        "pinned": False,
        "source_plan": None,
    }


def rebuild_entries(root: Path) -> dict:
    info = scan(root)
    scanned = {r.repo_id: r for r in info.repos if r.repo_type == "model"} if info else {}
    return {rid: dict(base_entry(root, rid, scanned.get(rid)), rebuilt_from_scan=True) for rid in _disk_ids(root)}


# --- what is cached ---------------------------------------------------------------------


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
    active, orphaned = [], []
    blobs = repo_dir(root, repo_id) / "blobs"
    if os.path.realpath(blobs) != os.path.join(os.path.realpath(root / HUB_DIR), repo_folder(repo_id), "blobs"):
        return active, orphaned  # a linked repo or blobs folder: its files are not ours to judge or delete
    locks = root / HUB_DIR / ".locks" / repo_folder(repo_id)
    for path in sorted(blobs.glob("*.incomplete")):
        etag = path.name.split(".", 1)[0]
        (active if _lock_held(locks / f"{etag}.lock") else orphaned).append(path)
    return active, orphaned


def remove_orphans(root: Path, repo_id: str) -> int:
    freed = 0
    for path in partial_files(root, repo_id)[1]:
        with contextlib.suppress(FileNotFoundError):
            freed += path.stat().st_size
            path.unlink()
    return freed


def list_models(root: Path) -> list[dict]:
    """One row per model on disk or in the index; "complete" is `snapshot_state`'s answer."""
    entries = load_index(root)
    info = scan(root)
    scanned = {r.repo_id: r for r in info.repos if r.repo_type == "model"} if info else {}
    on_disk = _disk_ids(root)
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
                "size": repo.size_on_disk if repo else (_blob_bytes(on_disk[rid] / "blobs") if rid in on_disk else 0),
                "last_used": iso(max(used)) if used else None,
                "cached_at": entry.get("cached_at"),
                "pinned": entry.get("pinned") is True,
                "source_plan": entry.get("source_plan"),
                "downloading": bool(partial_files(root, rid)[0]) if rid in on_disk else False,
                "revisions": revisions,
            }
        )
    return rows


def stats(root: Path) -> dict:
    """The seed's statistics, computed from huggingface_hub's scan of the cache."""
    info = scan(root)
    entries = load_index(root)
    repos = sorted((r for r in info.repos if r.repo_type == "model"), key=lambda r: r.repo_id) if info else []
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


# --- removal, confined to the root ------------------------------------------------------


def unsafe_links(root: Path, repo_id: str) -> list[str]:
    """Links in a repo folder that lead out of the cache root (deleting through them is refused)."""
    folder = repo_dir(root, repo_id)
    root_real = os.path.realpath(root)
    if folder.is_symlink():
        return [f"{folder} is itself a link (to {os.readlink(folder)})"]
    if os.path.realpath(folder.parent) != os.path.realpath(root / HUB_DIR) or not _inside(
        os.path.realpath(folder), root_real
    ):
        return [f"{folder} resolves outside the cache root"]
    problems = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not _inside(os.path.realpath(path), root_real):
                problems.append(f"{os.path.relpath(path, folder)} -> {os.readlink(path)} points outside the cache root")
    return problems


def _confined_rmtree(root: Path, folder: Path) -> None:
    """Remove one repo folder after re-checking, just before, that it is a real folder in the root."""
    hub_real = os.path.realpath(root / HUB_DIR)
    if folder.is_symlink() or os.path.realpath(folder.parent) != hub_real or not folder.name.startswith("models--"):
        raise CacheError(f"refusing to delete {folder}: not a model folder inside {root / HUB_DIR}")
    shutil.rmtree(folder)  # on Linux rmtree works through file descriptors and never follows links


def remove_model(root: Path, repo_id: str) -> int:
    """Delete a model's folder through huggingface_hub's delete strategy; bytes freed."""
    folder = repo_dir(root, repo_id)
    if not os.path.lexists(folder):
        return 0
    problems = unsafe_links(root, repo_id)
    if problems:
        raise CacheError(
            f"refusing to remove {repo_id}: {'; '.join(problems[:3])}. Nothing was deleted; "
            "check these links and remove them by hand"
        )
    if partial_files(root, repo_id)[0]:
        raise CacheError(f"{repo_id} is being downloaded right now; try again when that download ends")
    freed = _blob_bytes(folder / "blobs")
    info = scan(root)
    repo = next((r for r in info.repos if r.repo_type == "model" and r.repo_path.name == folder.name), None)
    if repo is not None and repo.revisions:
        # A scan restricted to this one repo: delete_revisions matches bare commit hashes,
        # which could otherwise hit another repo that happens to share a hash.
        only = dataclasses.replace(info, repos=frozenset({repo}))
        strategy = only.delete_revisions(*(rev.commit_hash for rev in repo.revisions))
        root_real = os.path.realpath(root)
        for path in (*strategy.repos, *strategy.snapshots, *strategy.refs, *strategy.blobs, *strategy.files):
            if not _inside(os.path.realpath(path), root_real) or (path in strategy.repos and path.is_symlink()):
                raise CacheError(f"refusing to remove {repo_id}: {path} is outside the cache root")
        strategy.execute()
    if os.path.lexists(folder):  # a corrupt repo the scan skipped, or leftovers beside the revisions
        _confined_rmtree(root, folder)
    return freed


@dataclasses.dataclass(frozen=True)
class Removal:
    model: str
    reason: str
    size: int


def plan_cleanup(
    rows: list[dict], now: float, older_than: float | None, max_size: int | None, keep_pinned: bool = True
) -> tuple[list[Removal], list[str], int]:
    """The seed's retention policy: by age, then least recently used down to a size limit.

    Age is time since last use (a model fetched long ago but served daily is not old).
    Returns (removals in order, notes, size left afterwards).
    """
    present = [r for r in rows if r["status"] != "missing"]
    notes, removals = [], []
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


# --- environment and volumes, as the generated artifacts use them ----------------------


def catalogue_gated(repo_id: str, api_dir: Path = Path("build") / "api") -> bool | None:
    """Whether the catalogue says `repo_id` is gated (None: not in the published API).
    Needed before the first download, when the cache index cannot know yet."""
    try:
        index = json.loads((api_dir / "index.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    for model in index.get("models", []) if isinstance(index, dict) else []:
        if isinstance(model, dict) and model.get("model_id") == repo_id:
            return bool(model.get("gated"))
    return None


def model_environment(
    root: Path, repo_id: str, host: bool = False, api_dir: Path = Path("build") / "api"
) -> tuple[dict[str, str], list[str], dict]:
    """(values, variables passed by name, snapshot state) for running an engine on this model.

    Built by `aim_pick.contract.deploy`, the code that writes the artifacts, so they cannot drift:
    HF_HOME is the mounted cache, HF_HUB_OFFLINE=1 only once the checkpoint is complete.
    """
    state = snapshot_state(str(root), repo_id)
    options = DeployOptions(cache_dir=str(root), offline=state["complete"])
    gated = load_index(root).get(repo_id, {}).get("gated") is True or catalogue_gated(repo_id, api_dir) is True
    plan = {"env": {}, "gated": gated}
    values = dict(env_file(plan, options)) if host else environment(plan, options)
    return values, (["HF_TOKEN"] if plan["gated"] else []), state


def model_volumes(root: Path) -> list[str]:
    return [f"{root}:{CACHE_ROOT}"]


def pin(root: Path, repo_id: str, pinned: bool) -> None:
    def change(entries: dict) -> None:
        if repo_id not in entries:
            if not os.path.lexists(repo_dir(root, repo_id)):
                raise CacheError(f"{repo_id} is not in the cache at {root}; download it first")
            entries[repo_id] = base_entry(root, repo_id)
        entries[repo_id]["pinned"] = pinned

    update_index(root, change)


# --- talking to the hub -------------------------------------------------------------------


def hub_error(exc: BaseException, repo_id: str, revision: str | None = None) -> CacheError:
    """One clear sentence for what huggingface_hub raised."""
    from huggingface_hub import constants, errors
    from huggingface_hub.utils import httpx

    where = constants.ENDPOINT
    if isinstance(exc, errors.GatedRepoError):
        sent = (
            "the token sent has no access yet"
            if exc.response is not None and exc.response.status_code == 403
            else "no token was sent"
        )
        return CacheError(
            f"{repo_id} is a gated model ({sent}): accept its license at {where}/{repo_id} while logged "
            "in, then set HF_TOKEN to a token of that account (or run `hf auth login`)"
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return CacheError(f"{repo_id} has no revision {revision or 'main'!r} on the hub ({where})")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return CacheError(
            f"no such model repo on the hub: {repo_id} ({where}); check the id, or set HF_TOKEN if it is private"
        )
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return CacheError(f"this needs the network to reach the hub for {repo_id}, but HF_HUB_OFFLINE=1 is set")
    if isinstance(exc, (httpx.ConnectError, httpx.TimeoutException)):
        return CacheError(f"cannot reach the hub at {where} ({type(exc).__name__}); check the network or HF_ENDPOINT")
    if isinstance(exc, errors.HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            return CacheError(
                f"the hub refused access to {repo_id} (HTTP {status}): set HF_TOKEN to a token with read access"
            )
        return CacheError(f"the hub answered HTTP {status} for {repo_id}: {str(exc).strip().splitlines()[0]}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CacheError(
        f"download of {repo_id} failed: {first}; run the same command again to continue (finished files are kept)"
    )


def read_plan(api_dir: Path, plan_id: str) -> dict:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", plan_id) or ".." in plan_id:
        raise CacheError(f"{plan_id!r} is not a plan id (e.g. qwen3-8b-mi300x-bf16-vllm-tp1)", 2)
    path = api_dir / "plans" / f"{plan_id}.json"
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheError(f"no plan {plan_id} in {api_dir / 'plans'}; run `aim-engine build` or pass --api", 2) from None
    except (OSError, ValueError) as exc:
        raise CacheError(f"cannot read plan {path}: {exc}") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("checkpoint"), str):
        raise CacheError(f"plan {path} has no checkpoint field")
    return {**plan, "plan_id": plan_id}


def download(
    root: Path, repo_id: str, revision: str | None = None, plan: dict | None = None, all_files: bool = False
) -> tuple[dict, dict]:
    """Fetch a checkpoint into the cache and record it; (index entry, snapshot state)."""
    wanted = revision or cache_state.DEFAULT_REVISION
    if offline():
        state = snapshot_state(str(root), repo_id, wanted)
        if not state["complete"]:
            raise CacheError(
                f"downloading {repo_id} needs the network, but HF_HUB_OFFLINE=1 is set "
                f"(cache: {state['reason']}); unset it, or download on a connected host into the same cache"
            )
        entry = update_index(
            root, lambda e: e.setdefault(repo_id, base_entry(root, repo_id)).update(last_used=now_iso())
        )[repo_id]
        return entry, state

    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.utils import filter_repo_objects

    api = HfApi()
    (root / HUB_DIR).mkdir(parents=True, exist_ok=True)  # an unwritable root fails here, named
    remove_orphans(root, repo_id)
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
        names = [s.rfilename for s in info.siblings or []]
        skipped = [] if all_files else skip_patterns(names)
        path = snapshot_download(repo_id, revision=revision, cache_dir=root / HUB_DIR, ignore_patterns=skipped or None)
        commit = Path(path).name
        if commit != info.sha:  # the branch moved between the two calls: describe what was fetched
            info = api.model_info(repo_id, revision=commit, files_metadata=True)
    except KeyboardInterrupt:
        raise CacheError(
            f"download of {repo_id} interrupted; run the same command again to continue (finished files are kept)", 130
        ) from None
    except CacheError:
        raise
    except Exception as exc:
        raise hub_error(exc, repo_id, revision) from None
    remove_orphans(root, repo_id)  # left by earlier killed runs; this run's are gone
    kept = set(filter_repo_objects([s.rfilename for s in info.siblings or []], ignore_patterns=skipped or None))
    files = {s.rfilename: (s.lfs.size if s.lfs else s.size) for s in info.siblings or [] if s.rfilename in kept}
    now = now_iso()

    def record(entries: dict) -> None:
        old = entries.get(repo_id, {})
        entries[repo_id] = {
            **old,
            "cached": True,
            "cache_path": str(repo_dir(root, repo_id)),
            "commit_hash": commit,
            "revision": wanted,
            "cached_at": old.get("cached_at") if old.get("commit_hash") == commit else now,
            "last_used": now,
            "size": _blob_bytes(repo_dir(root, repo_id) / "blobs"),
            "pinned": old.get("pinned") is True,
            "source_plan": plan["plan_id"] if plan else old.get("source_plan"),
            "files": {k: v for k, v in files.items() if isinstance(v, int)},
            "skipped": skipped,
            "gated": bool(info.gated),
            "verify": None if old.get("commit_hash") != commit else old.get("verify"),
        }

    entries = update_index(root, record)
    state = snapshot_state(str(root), repo_id, wanted)
    if not state["complete"]:
        update_index(root, lambda e: e[repo_id].update(cached=False))
        raise CacheError(f"{repo_id} was downloaded but the snapshot is not complete: {state['reason']}")
    return entries[repo_id], state


def verify(root: Path, repo_id: str, revision: str | None = None) -> tuple[list[str], list[str], dict]:
    """(problems, notes, state): the snapshot against the hub's checksums for its commit."""
    state = snapshot_state(str(root), repo_id, revision)
    if state["commit"] is None or state["path"] is None:
        raise CacheError(f"{repo_id} cannot be verified: {state['reason']}")
    if offline():
        raise CacheError(
            f"verify compares {repo_id} with the hub's checksums for commit {state['commit'][:12]} and "
            "needs the network, but HF_HUB_OFFLINE=1 is set; `aim-engine cache list` checks "
            "completeness offline"
        )
    from huggingface_hub import HfApi

    try:
        result = HfApi().verify_repo_checksums(repo_id, revision=state["commit"], cache_dir=root / HUB_DIR)
    except Exception as exc:
        raise hub_error(exc, repo_id, state["commit"]) from None
    snapshot = Path(state["path"])
    local = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()}
    entry = load_index(root).get(repo_id, {})
    if entry.get("commit_hash") == state["commit"] and isinstance(entry.get("skipped"), list):
        patterns = entry["skipped"]
    else:
        patterns = skip_patterns(sorted(set(result.missing_paths) | local))
    skipped = [m for m in result.missing_paths if any(fnmatch.fnmatchcase(m, p) for p in patterns)]
    problems = [
        f"corrupt: {m['path']} ({m['algorithm']} is {m['actual'][:12]}…, the hub has {m['expected'][:12]}…)"
        for m in result.mismatches
    ]
    problems += [f"missing: {m}" for m in result.missing_paths if m not in skipped]
    damaged = bool(problems)  # content problems: recorded, so `cache list` and aim-pick see them too
    problems += [f"not in the repo at this commit: {m}" for m in result.extra_paths]
    problems += unsafe_links(root, repo_id)
    active, orphaned = partial_files(root, repo_id)
    if active or orphaned:
        problems.append(
            f"partial download file(s) in blobs/: {len(active)} in progress, {len(orphaned)} left by "
            "an interrupted download (`aim-engine cache cleanup` removes those)"
        )
    notes = [f"checked {result.checked_count} file(s) at commit {state['commit']}"]
    if skipped:
        notes.append(f"not downloaded by choice ({', '.join(patterns)}): {len(skipped)} file(s)")

    def record(entries: dict) -> None:
        if entries.get(repo_id, {}).get("commit_hash") not in (None, state["commit"]):
            return  # the record is about another commit: leave it alone
        entry = entries.setdefault(repo_id, base_entry(root, repo_id))
        entry.update(verify="failed" if damaged else "ok", verified_at=now_iso(), commit_hash=state["commit"])

    update_index(root, record)
    return problems, notes, state
