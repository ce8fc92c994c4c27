"""Replacing a build output folder so that readers never see half of it, and so that a
build can never delete what it did not write.

A build is written into a staging folder beside the output and swapped in with one
rename. The output is recognised as an earlier build by its marker file, which records
the folder's own identity (device and inode: a rename keeps them, a copy does not), so a
copied marker does not make a folder of user files replaceable. Staging and old folders
left by killed builds are removed by the next build once their owner process is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from aim_engine.errors import UsageError

BUILD_MARKER = ".aim-engine-build"
OWNER_FILE = ".aim-engine-owner"  # in staging and old folders: the pid of the build using them


class OutputDirError(UsageError):
    """The output folder cannot be (re)placed; nothing was written."""


def check_output(out: Path, protected: list[Path]) -> Path:
    """`out` resolved, or OutputDirError when writing it would touch `protected` folders
    (the catalogue root, models/, recipes/) or what was not made by a build."""
    try:
        out = out.resolve()
    except (OSError, RuntimeError) as exc:
        raise OutputDirError(f"--out {out}: {exc}") from None
    for folder in protected:
        folder = folder.resolve()
        if out == folder or folder.is_relative_to(out):
            raise OutputDirError(f"--out {out} contains {folder}; a build replaces its output folder as a whole")
        if out.is_relative_to(folder) and folder.name in ("models", "recipes"):
            raise OutputDirError(f"--out {out} is inside {folder}; build output there would be read as catalogue files")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputDirError(f"--out {out}: {parent} is a file, not a folder")
    if out.exists():
        if not out.is_dir():
            raise OutputDirError(f"--out {out} is a file, not a folder")
        if any(out.iterdir()) and not is_build_output(out):
            raise OutputDirError(f"{out} exists and was not made by aim-engine build; choose an empty or new folder")
    _check_writable(out)
    return out


def _check_writable(out: Path) -> None:
    """The staging folder goes beside `out`: try making one in its nearest existing parent now,
    so an unwritable --out (a read-only mount, /proc) fails before the build plans anything."""
    parent = next(p for p in out.parents if p.exists())
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".aim-engine-probe-", dir=parent))
    except OSError as exc:
        raise OutputDirError(f"--out {out}: cannot write in {parent}: {exc.strerror or exc}") from None


def _identity(folder: Path) -> dict[str, int]:
    info = folder.stat()
    return {"device": info.st_dev, "inode": info.st_ino}


def is_build_output(folder: Path) -> bool:
    """Whether `folder` is the very folder a build wrote (not a copy holding its marker)."""
    try:
        recorded = json.loads((folder / BUILD_MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and recorded.get("folder") == _identity(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_leftovers(out: Path) -> None:
    """Staging and old folders of earlier builds of `out` whose build process is gone."""
    for prefix in (f".{out.name}.new-", f".{out.name}.old-"):
        for folder in out.parent.glob(prefix + "*"):
            try:
                owner = int((folder / OWNER_FILE).read_text().strip())
            except (OSError, ValueError):
                owner = 0  # written before the owner file: a build interrupted at its very start
            if folder.is_dir() and not folder.is_symlink() and not (owner and _alive(owner)):
                shutil.rmtree(folder, ignore_errors=True)


def _temporary_folder(out: Path, kind: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.{kind}-", dir=out.parent))
    # mkdtemp makes 0700; a build is read by web servers and other users, so apply the umask
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    (folder / OWNER_FILE).write_text(f"{os.getpid()}\n")
    return folder


def replace_tree(
    out: Path,
    files: dict[str, bytes],
    populate: Callable[[Path], None] | None = None,
    protected: list[Path] | None = None,
) -> None:
    """Make `out` contain exactly `files` (and whatever `populate(staging)` adds),
    switching over in one rename.

    The new tree is written next to `out` and swapped in; the old one is removed only
    afterwards, so an interrupted build leaves the previous output intact. A folder that
    was not made by a build is never replaced, nor one holding a `protected` folder.
    """
    out = check_output(out, protected or [])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"cannot create {out.parent}: {exc.strerror or exc}") from None
    remove_leftovers(out)
    staging = _temporary_folder(out, "new")
    try:
        made: set[str] = set()  # folders already made: a build writes tens of thousands of files
        for relative, data in files.items():
            folder, _, _ = relative.rpartition("/")
            if folder not in made:
                (staging / folder).mkdir(parents=True, exist_ok=True)
                made.add(folder)
            fd = os.open(staging / relative, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if relative.endswith((".pyz", ".sh")):
                    os.fchmod(fd, 0o755)  # programs: runnable as ./build/aim-pick.pyz
        if populate is not None:
            populate(staging)
        (staging / OWNER_FILE).unlink()
        marker = {
            "made_by": "aim-engine build; the whole folder is replaced on every build",
            "folder": _identity(staging),
        }
        (staging / BUILD_MARKER).write_text(json.dumps(marker, sort_keys=True) + "\n")
        old = None
        if out.exists():
            old = _temporary_folder(out, "old")
            os.replace(out, old / "tree")
        os.replace(staging, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
