"""The API files inside build/aim-pick.pyz, kept where zipimport does not look.

zipimport reads an archive's whole directory at every start, entry by entry in Python, so the
thousands of API files are not zip members: they are one "pack" between the shebang line and
the zip archive (zip readers, zipimport included, skip data in front of an archive). A pack is

    MAGIC (8 bytes) | index length (8 bytes, big-endian) | index | members

with the index a compact JSON object {name: [offset, length, kind]}, offsets counted from the
end of the index. Kinds:
- "z": a file, zlib-compressed;
- "r": a file, stored as it is (inside a compressed nested pack);
- "p": a nested pack, zlib-compressed as a whole, its files stored as they are. The plans of
  one GPU type and model are one: they compress together as well as one file would, and
  reading one plan parses a small index, not every plan.

Written by the compiler (aim_engine/publish/pyz.py), read by aim-pick (reader.Api); standard
library only. The top pack is read through mmap, so a start reads only the pages it uses.
"""

from __future__ import annotations

import json
import mmap
import zlib

MAGIC = b"AIMPACK1"
_HEADER = len(MAGIC) + 8
COMPRESSED, RAW, NESTED = "z", "r", "p"


class PackError(Exception):
    """The pack is missing, truncated or not a pack."""


def write(members: dict, compress: bool = True) -> bytes:
    """A pack of `members`: name -> bytes (a file) or name -> dict (a nested pack, same form).
    Files are compressed one by one, except inside a nested pack (compressed as a whole). The
    same members give the same bytes (sorted names, fixed compression level)."""
    index: dict[str, list] = {}
    parts: list[bytes] = []
    offset = 0
    for name in sorted(members):
        value = members[name]
        if isinstance(value, dict):
            data, kind = zlib.compress(write(value, compress=False), 6), NESTED
        elif compress:
            data, kind = zlib.compress(value, 6), COMPRESSED
        else:
            data, kind = value, RAW
        index[name] = [offset, len(data), kind]
        parts.append(data)
        offset += len(data)
    table = json.dumps(index, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return MAGIC + len(table).to_bytes(8, "big") + table + b"".join(parts)


def in_zipapp(path: str) -> Pack:
    """The pack of the zipapp at `path`: its first MAGIC, right after the shebang line."""
    data: bytes | mmap.mmap
    try:
        with open(path, "rb") as handle:
            try:
                data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # a file system without mmap, or an empty file
                data = handle.read()
    except OSError as exc:
        raise PackError(f"cannot read {path}: {exc}") from None
    start = data.find(MAGIC, 0, 4096)
    if start < 0:
        raise PackError(f"{path} holds no AIM Engine data after its first line")
    return Pack(data, start, path)


def _is_entry(entry: object) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 3
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in entry[:2])
    )


class Pack:
    """The pack at byte `start` of `data` (bytes or an mmap); `where` names it in errors."""

    def __init__(self, data: bytes | mmap.mmap, start: int, where: str):
        self.data, self.where = data, where
        header = data[start : start + _HEADER]
        if len(header) != _HEADER or header[: len(MAGIC)] != MAGIC:
            raise PackError(f"no AIM Engine data at byte {start} of {where}")
        size = int.from_bytes(header[len(MAGIC) :], "big")
        self.members_start = start + _HEADER + size
        table = data[start + _HEADER : self.members_start]
        try:
            index = json.loads(table) if len(table) == size else None
        except (ValueError, RecursionError):  # RecursionError: nesting no index of ours has
            index = None
        if not isinstance(index, dict):
            raise PackError(f"the data index at byte {start} of {where} is truncated or corrupt")
        self.index: dict[str, list] = index

    def _member(self, name: str, kinds: tuple[str, ...]) -> tuple[bytes, str] | None:
        entry = self.index.get(name)
        if entry is None:
            return None
        if not _is_entry(entry) or entry[2] not in kinds:
            raise PackError(f"{name} in the data of {self.where} is not a {'pack' if NESTED in kinds else 'file'}")
        begin = self.members_start + entry[0]
        data = self.data[begin : begin + entry[1]]
        if len(data) != entry[1]:
            raise PackError(f"{name} in the data of {self.where} is truncated")
        return data, entry[2]

    def read(self, name: str) -> bytes | None:
        """The file `name`, or None when the pack has no such file."""
        found = self._member(name, (COMPRESSED, RAW))
        if found is None:
            return None
        data, kind = found
        return _inflate(data, name, self.where) if kind == COMPRESSED else data

    def pack(self, name: str) -> Pack | None:
        """The nested pack `name`, or None when there is none."""
        found = self._member(name, (NESTED,))
        return None if found is None else Pack(_inflate(found[0], name, self.where), 0, f"{self.where} ({name})")


def _inflate(data: bytes, name: str, where: str) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error:
        raise PackError(f"{name} in the data of {where} is corrupt") from None
