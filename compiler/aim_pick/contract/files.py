"""Atomic file writes, standard library only (shared with the compiler's fsutil)."""

from __future__ import annotations

import os


def write_atomic(path: str | os.PathLike, data: bytes, parents: bool = False) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it: readers see the
    old file or the new one, never half of either. `parents`: create the folder first."""
    import tempfile  # only the writing paths need it; aim-pick's start-up does not

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if parents:
        os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
