"""Is a checkpoint fully present in a shared model cache?

Standard library only: `aim-pick` asks this on a GPU host before deciding whether the
container may run with `HF_HUB_OFFLINE=1`, and `aim-engine cache list` reports the same
answer from the same function, so the two never disagree.

The cache is a Hugging Face hub cache under `<root>/hub` (`HF_HOME=<root>`):

    <root>/hub/models--org--name/refs/<revision>          commit hash
    <root>/hub/models--org--name/snapshots/<commit>/...   links to ../../blobs/<hash>
    <root>/hub/models--org--name/blobs/<hash>[.<id>.incomplete]
    <root>/cache_index.json                               what `aim-engine cache` recorded

Only names, links and sizes are looked at (no hashing), so the answer is fast; content
checks are `aim-engine cache verify`.
"""

from __future__ import annotations

import json
import os
import re

HUB_DIR = "hub"
INDEX_NAME = "cache_index.json"
DEFAULT_REVISION = "main"  # what an engine loads when no --revision is given

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_SHARD_INDEX = "model.safetensors.index.json"


def repo_id_problem(repo_id: str) -> str | None:
    """Why `repo_id` is not a usable Hugging Face model id (None when it is).

    The cache folder name is built from the id, so anything that could walk out of
    the cache (`..`, absolute paths, backslashes) must be refused before any path is made.
    """
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id):
        return f"{repo_id!r} is not a Hugging Face model id (expected ORG/NAME with letters, digits, '.', '_' or '-')"
    if ".." in repo_id or "--" in repo_id or len(repo_id) > 96:
        return f"{repo_id!r} is not a Hugging Face model id ('..' and '--' are not allowed, at most 96 characters)"
    return None


def revision_problem(revision: str) -> str | None:
    """Why `revision` cannot be a branch, tag or commit name (None when it can)."""
    if not isinstance(revision, str) or not _REVISION.match(revision) or ".." in revision or "//" in revision:
        return f"{revision!r} is not a revision name (a branch, tag or 40-character commit hash)"
    return None


def repo_folder(repo_id: str) -> str:
    """huggingface_hub's folder name for a model repo."""
    return "models--" + repo_id.replace("/", "--")


MAX_INDEX_DEPTH = 16  # entry -> files -> name: 3 levels are used; deeper is not an index


def _nests_deeper_than(value: object, limit: int) -> bool:
    """Whether lists/objects in `value` nest more than `limit` levels (iterative: any depth is safe)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        if children and depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_index(raw: bytes) -> dict | None:
    """The entries of an index file's bytes, or None when they are not an index (corrupt).

    Not JSON, not an object, or nested absurdly deep (which the JSON parser answers with
    a RecursionError) is corrupt; entries with a bad model id or that are not objects are
    dropped, so no caller ever builds a path from them.
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or _nests_deeper_than(data, MAX_INDEX_DEPTH):
        return None
    return {k: v for k, v in data.items() if isinstance(v, dict) and repo_id_problem(k) is None}


def read_index_file(cache_root: str) -> tuple[dict, str]:
    """(entries, "ok" | "missing" | "corrupt") of `<cache_root>/cache_index.json`.

    The one reader of the index: `aim-engine cache` builds its locking, rebuilding reader
    on it. Raises OSError when the file exists but cannot be read.
    """
    try:
        with open(os.path.join(cache_root, INDEX_NAME), "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return {}, "missing"
    entries = parse_index(raw)
    return ({}, "corrupt") if entries is None else (entries, "ok")


def read_index(cache_root: str) -> dict:
    """The recorded entries, or {} when the index is missing or unreadable (never raises)."""
    try:
        return read_index_file(cache_root)[0]
    except OSError:
        return {}


def inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it (both already resolved with realpath)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _result(repo_id, revision, complete, reason, commit=None, path=None, files=0, size=0) -> dict:
    return {
        "repo_id": repo_id,
        "revision": revision,
        "complete": complete,
        "commit": commit,
        "path": path,
        "reason": reason,
        "files": files,
        "size": size,
    }


def _snapshot_files(snapshot: str, root_real: str) -> tuple[dict[str, int], list[str]]:
    """Relative name -> size of every file in a snapshot, and what is wrong with it."""
    files: dict[str, int] = {}
    problems: list[str] = []
    for folder, dirnames, filenames in os.walk(snapshot):  # does not descend into linked folders
        for name in sorted(dirnames):
            if os.path.islink(os.path.join(folder, name)):
                problems.append(f"{os.path.relpath(os.path.join(folder, name), snapshot)} is a link to a folder")
        for name in sorted(filenames):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, snapshot).replace(os.sep, "/")
            target = os.path.realpath(path)
            if not inside(target, root_real):
                problems.append(f"{relative} points outside the cache root")
            elif not os.path.isfile(target):
                problems.append(f"{relative} has no blob (broken link)")
            else:
                files[relative] = os.path.getsize(target)
    return files, problems


def _shard_problems(snapshot: str, files: dict[str, int]) -> list[str]:
    """Shards the weight index names but the snapshot lacks (a cheap, format-level check)."""
    if _SHARD_INDEX not in files:
        return []
    try:
        with open(os.path.join(snapshot, _SHARD_INDEX), encoding="utf-8") as handle:
            weight_map = json.load(handle).get("weight_map", {})
        shards = {s for s in weight_map.values() if isinstance(s, str)} if isinstance(weight_map, dict) else set()
    except (OSError, ValueError, AttributeError, RecursionError):
        return [f"{_SHARD_INDEX} is not readable JSON"]
    missing = sorted(s for s in shards if s not in files)
    return [f"{len(missing)} shard(s) named in {_SHARD_INDEX} missing: {', '.join(missing[:3])}"] if missing else []


def _index_problems(entry: object, commit: str, files: dict[str, int]) -> list[str]:
    """Compare with the file list `aim-engine cache download` recorded for this commit."""
    if not isinstance(entry, dict) or entry.get("commit_hash") != commit:
        return []
    problems = []
    if entry.get("verify") == "failed":
        problems.append(
            "the last `aim-engine cache verify` found corrupt files at this commit "
            "(remove the model and download it again)"
        )
    recorded = entry.get("files")
    if isinstance(recorded, dict):
        missing = sorted(name for name in recorded if name not in files)
        wrong = sorted(
            name for name, size in recorded.items() if name in files and isinstance(size, int) and files[name] != size
        )
        if missing:
            problems.append(f"{len(missing)} recorded file(s) missing: {', '.join(missing[:3])}")
        if wrong:
            problems.append(f"{len(wrong)} file(s) of the wrong size: {', '.join(wrong[:3])}")
    return problems


def snapshot_state(cache_root: str, repo_id: str, revision: str | None = None) -> dict:
    """Whether `repo_id` at `revision` (default: main) is complete under `<cache_root>/hub`.

    Returns {"complete", "commit", "path", "reason", "repo_id", "revision", "files", "size"}:
    `commit` once the revision resolves, `path` once the snapshot folder exists (even when
    incomplete), `files`/`size` of what the snapshot holds, `reason` a sentence either way.
    """
    revision = revision or DEFAULT_REVISION
    problem = repo_id_problem(repo_id) or revision_problem(revision)
    if problem:
        return _result(repo_id, revision, False, problem)
    root_real = os.path.realpath(cache_root)
    repo_dir = os.path.join(cache_root, HUB_DIR, repo_folder(repo_id))
    if os.path.islink(repo_dir) or not inside(os.path.realpath(repo_dir), root_real):
        return _result(repo_id, revision, False, f"{repo_dir} is a link; refusing to read outside the cache root")
    if not os.path.isdir(repo_dir):
        return _result(repo_id, revision, False, "not in the cache")

    if _COMMIT.match(revision):
        commit = revision
    else:
        try:
            with open(os.path.join(repo_dir, "refs", revision), "rb") as handle:
                commit = handle.read().decode("ascii", "replace").strip()
        except OSError:
            try:
                known = sorted(os.listdir(os.path.join(repo_dir, "snapshots")))
            except OSError:
                known = []
            hint = f" (cached commits: {', '.join(c[:12] for c in known)})" if known else ""
            return _result(repo_id, revision, False, f"no ref {revision!r} in the cache{hint}")
        if not _COMMIT.match(commit):
            return _result(repo_id, revision, False, f"ref {revision!r} does not hold a commit hash")

    snapshot = os.path.join(repo_dir, "snapshots", commit)
    if not os.path.isdir(snapshot) or os.path.islink(snapshot):
        return _result(repo_id, revision, False, f"snapshot {commit[:12]} is missing", commit)
    files, problems = _snapshot_files(snapshot, root_real)
    try:
        partial = [n for n in os.listdir(os.path.join(repo_dir, "blobs")) if n.endswith(".incomplete")]
    except OSError:
        partial = []
    if partial:
        problems.insert(0, f"download in progress or interrupted ({len(partial)} partial file(s) in blobs/)")
    if not files and not problems:
        problems.append("the snapshot is empty")
    problems += _shard_problems(snapshot, files)
    problems += _index_problems(read_index(cache_root).get(repo_id), commit, files)
    size = sum(files.values())
    if problems:
        return _result(repo_id, revision, False, "; ".join(problems), commit, snapshot, len(files), size)
    return _result(
        repo_id, revision, True, f"complete: {len(files)} file(s), {size} bytes", commit, snapshot, len(files), size
    )
