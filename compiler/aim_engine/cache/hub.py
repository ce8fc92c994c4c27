"""Talking to the hub: `cache download` (optionally of the checkpoint a plan serves) and
`cache verify`, and every huggingface_hub failure turned into one sentence saying what to do.

Downloads use `snapshot_download` into `<root>/hub` (huggingface_hub's per-blob locks make
two downloads of one model fetch each blob once); weight formats the engines do not load
are left out when a repo has safetensors. Verification hashes every file against the
hub's listing for the cached commit. Both record their result in the index.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from aim_engine.cache import CacheError
from aim_engine.cache.disk import blob_bytes
from aim_engine.cache.index import Entries, Entry, base_entry, load_index, update_index
from aim_engine.cache.inventory import partial_files, remove_orphans
from aim_engine.cache.names import now_iso, printable, repo_dir
from aim_engine.cache.removal import unsafe_links
from aim_pick.contract import cache_state, layout
from aim_pick.contract.cache_state import HUB_DIR, snapshot_state

# Weight formats the engines do not load when the repo has safetensors; skipping them
# avoids doubling a download (Llama's original/*.pth, Mistral's consolidated.safetensors).
OTHER_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.gguf", "*.onnx", "*.onnx_data")

State = dict[str, Any]


def skip_patterns(names: list[str]) -> list[str]:
    """Patterns of files a download leaves out (only those that match something)."""
    if not any(name.endswith(".safetensors") for name in names):
        return []
    patterns = list(OTHER_WEIGHTS)
    if any(n.endswith(".safetensors") and not n.rsplit("/", 1)[-1].startswith("consolidated") for n in names):
        patterns.append("*consolidated*.safetensors")
    return [p for p in patterns if any(fnmatch.fnmatchcase(n, p) for n in names)]


def offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return printable(text.splitlines()[0]) if text else type(exc).__name__


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
        return CacheError(f"the hub answered HTTP {status} for {repo_id}: {_first_line(exc)}")
    return CacheError(
        f"download of {repo_id} failed: {_first_line(exc)}; run the same command again to continue "
        "(finished files are kept)"
    )


def read_plan(api_dir: str | Path, plan_id: str) -> dict[str, Any]:
    """The published plan `plan_id` (its `checkpoint` is what to download), read by the
    shim's own API reader (`aim_pick.contract.reader`) from a folder or URL; `plan_id` is set."""
    from aim_pick.contract.reader import Api, ApiError

    if not layout.PLAN_ID.match(plan_id) or ".." in plan_id:
        raise CacheError(f"{printable(plan_id)!r} is not a plan id (e.g. qwen3-8b-mi300x-bf16-vllm-tp1)", 2)
    location = str(api_dir)
    api = Api(location)
    relative = layout.plan_path(plan_id)
    if not api.is_url and not (Path(location) / relative).is_file():
        plans = printable(str(Path(location) / Path(relative).parent))
        raise CacheError(f"no plan {plan_id} in {plans}; run `aim-engine build` or pass --api", 2)
    try:
        plan = api.read_plan(plan_id)
    except ApiError as exc:
        raise CacheError(f"cannot read plan {plan_id}: {printable(str(exc))}") from None
    except RecursionError:
        raise CacheError(f"cannot read plan {plan_id} from {printable(location)}: it nests too deeply") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("checkpoint"), str):
        raise CacheError(f"plan {plan_id} in {printable(location)} has no checkpoint field")
    return {**plan, "plan_id": plan_id}


def download(
    root: Path,
    repo_id: str,
    revision: str | None = None,
    plan: dict[str, Any] | None = None,
    all_files: bool = False,
) -> tuple[Entry, State]:
    """Fetch a checkpoint into the cache and record it; (index entry, snapshot state)."""
    wanted = revision or cache_state.DEFAULT_REVISION
    if offline():
        state = snapshot_state(str(root), repo_id, wanted)
        if not state["complete"]:
            raise CacheError(
                f"downloading {repo_id} needs the network, but HF_HUB_OFFLINE=1 is set "
                f"(cache: {printable(state['reason'])}); unset it, or download on a connected host into the same cache"
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

    def record(entries: Entries) -> None:
        old = entries.get(repo_id, {})
        entries[repo_id] = {
            **old,
            "cached": True,
            "cache_path": str(repo_dir(root, repo_id)),
            "commit_hash": commit,
            "revision": wanted,
            "cached_at": old.get("cached_at") if old.get("commit_hash") == commit else now,
            "last_used": now,
            "size": blob_bytes(repo_dir(root, repo_id) / "blobs"),
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
        raise CacheError(f"{repo_id} was downloaded but the snapshot is not complete: {printable(state['reason'])}")
    return entries[repo_id], state


def verify(root: Path, repo_id: str, revision: str | None = None) -> tuple[list[str], list[str], State]:
    """(problems, notes, state): the snapshot against the hub's checksums for its commit."""
    state = snapshot_state(str(root), repo_id, revision)
    if state["commit"] is None or state["path"] is None:
        raise CacheError(f"{repo_id} cannot be verified: {printable(state['reason'])}")
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
    recorded = entry.get("skipped")
    if (
        entry.get("commit_hash") == state["commit"]
        and isinstance(recorded, list)
        and all(isinstance(p, str) for p in recorded)
    ):
        patterns = recorded
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

    def record(entries: Entries) -> None:
        if entries.get(repo_id, {}).get("commit_hash") not in (None, state["commit"]):
            return  # the record is about another commit: leave it alone
        entry = entries.setdefault(repo_id, base_entry(root, repo_id))
        entry.update(verify="failed" if damaged else "ok", verified_at=now_iso(), commit_hash=state["commit"])

    update_index(root, record)
    return [printable(p) for p in problems], [printable(n) for n in notes], state
