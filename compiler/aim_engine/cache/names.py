"""Names, sizes and times of the cache (pure: nothing here touches the disk or the network).

The cache root (`--cache-dir`, else `$AIM_CACHE_DIR`, else the seed's /workspace/model-cache),
model ids and revisions (validated by `aim_pick.contract.cache_state` before any path is
built from them), the `--max-size` and `--older-than` syntaxes, sizes and times for people.
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from aim_engine.cache import CacheError
from aim_pick.contract import cache_state
from aim_pick.contract.cache_state import HUB_DIR, repo_folder
from aim_pick.contract.deploy import CACHE_ROOT
from aim_pick.contract.text import has_control, printable

__all__ = ["printable"]  # re-exported: the cache modules print data through it

ENV_ROOT = "AIM_CACHE_DIR"


def cache_root(option: str | None) -> Path:
    """--cache-dir, else $AIM_CACHE_DIR, else the seed's /workspace/model-cache."""
    text = option or os.environ.get(ENV_ROOT) or CACHE_ROOT
    if not text.isascii():
        try:
            text.encode("utf-8")  # a name with bytes that are not UTF-8 cannot be printed, or put in HF_HOME
        except UnicodeEncodeError:
            raise CacheError(
                f"the cache root {printable(text)} is not valid UTF-8; rename it or choose another", 2
            ) from None
    if has_control(text):  # it lands in HF_HOME, env files and mounts, which hold one line each
        raise CacheError(f"the cache root {printable(text)} contains a control character; choose another folder", 2)
    root = Path(os.path.abspath(os.path.expanduser(text)))
    if root.exists() and not root.is_dir():
        raise CacheError(f"cache root {printable(str(root))} exists and is not a folder", 2)
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


def repo_dir(root: Path, repo_id: str) -> Path:
    """`<root>/hub/models--org--name` (for an id already validated by `model_id`)."""
    return root / HUB_DIR / repo_folder(repo_id)


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?)(i?)B?\s*$", re.IGNORECASE)
_AGE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_AGE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}
_SIZE_EXAMPLE = "(e.g. 500G, 1.5TiB, 20000000000)"


def parse_size(text: str) -> int:
    """'500G' / '500GB' (powers of 1000, as huggingface_hub prints), '1.5TiB' (of 1024), bytes."""
    match = _SIZE.match(text)
    if not match:
        raise CacheError(f"--max-size {text!r} is not a size {_SIZE_EXAMPLE}", 2)
    number, unit, binary = match.groups()
    size = float(number) * (1024 if binary else 1000) ** " KMGTP".index(unit.upper() or " ")
    if not math.isfinite(size):
        raise CacheError(f"--max-size {text!r} is too large to be a size {_SIZE_EXAMPLE}", 2)
    return int(size)


def parse_age(text: str) -> float:
    """'30d', '12h', '2w', '90m', '45s'; a bare number is days. Returns seconds."""
    match = _AGE.match(text)
    seconds = float(match.group(1)) * _AGE_SECONDS[match.group(2).lower()] if match else math.nan
    if not math.isfinite(seconds):
        raise CacheError(f"--older-than {text!r} is not an age (e.g. 30d, 12h, 2w)", 2)
    return seconds


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
