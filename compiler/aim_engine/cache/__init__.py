"""The model cache: the seed's `AIMCacheManager`, built on a Hugging Face hub cache.

Models live in huggingface_hub's own layout under `<root>/hub`, so an engine container
started with `-v <root>:/workspace/model-cache -e HF_HOME=/workspace/model-cache` finds
them (and runs offline once they are complete). Beside it, `<root>/cache_index.json`
keeps what the hub layout cannot: when a model was cached, last used, pinned, and the
plan it was fetched for. The files are the truth; the index is a record, rebuilt from
a scan of the cache when it is missing or unreadable. Whether a snapshot is complete is
`aim_pick.contract.cache_state`, the same function aim-pick asks on a GPU host.

One module per responsibility, each depending only on the ones above it:

    names        pure: the cache root, model ids, revisions, sizes, ages, times, human sizes
    disk         what is on disk: huggingface_hub's scan, model folders, bytes under a folder
    index        cache_index.json: the lock (holder recorded, bounded wait), the strict reader
                 (on the contract's), atomic writes, recovery from a scan, updates, pins
    inventory    list and stats, partial downloads (live or orphaned), removing orphans
    removal      deleting a model, confined to the root
    cleanup      the retention policy (a pure function over listed rows) and applying it
    hub          download, verify, the plan a download is for, hub errors as one sentence
    environment  the variables and volume an engine needs (aim_pick.contract.deploy), gating
                 from the index or the catalogue, shell-safe printing
    hub_import   `aim-engine models import`: a catalogue model file from a hub repo

huggingface_hub is imported lazily (its settings are read from the environment at import
time, and most commands never need it). Several hosts and containers may share one root,
so every index change is a read-modify-write under an exclusive `flock`, written atomically.
"""

from __future__ import annotations

from aim_engine.errors import AimError


class CacheError(AimError):
    """A cache or hub failure, as one sentence; `code` is the exit status (2 = bad input)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message, code)

    @property
    def code(self) -> int:
        return self.exit_code


__all__ = ["CacheError"]
