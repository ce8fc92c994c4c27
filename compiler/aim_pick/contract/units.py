"""Byte units, one definition for the compiler and the shim."""

from __future__ import annotations

GIB = 1024**3


def gib(value: float | None) -> str:
    """Bytes as GiB with one decimal ("12.3 GiB"); "-" when unknown."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value / GIB:.1f} GiB"
