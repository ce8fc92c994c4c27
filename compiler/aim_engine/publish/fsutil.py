"""Writing files so that readers never see half of them."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from aim_engine.errors import UsageError

BUILD_MARKER = ".aim-engine-build"


class OutputDirError(UsageError):
    """The output folder cannot be (re)placed; nothing was written."""


def replace_tree(out: Path, files: dict[str, bytes], populate: Callable[[Path], None] | None = None) -> None:
    """Make `out` contain exactly `files` (and whatever `populate(staging)` adds),
    switching over in one rename.

    The new tree is written next to `out` and swapped in; the old one is removed only
    afterwards, so an interrupted build leaves the previous output intact. A folder
    that was not made by a build (no marker file) is never replaced.
    """
    out = out.resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / BUILD_MARKER).exists())):
        raise OutputDirError(f"{out} exists and was not made by aim-engine build; choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        for relative, data in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if relative.endswith((".pyz", ".sh")):
                target.chmod(0o755)  # programs: runnable as ./build/aim-pick.pyz
        if populate is not None:
            populate(staging)
        (staging / BUILD_MARKER).write_text("made by aim-engine build; the whole folder is replaced on every build\n")
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "tree")
        os.replace(staging, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
