"""cache_index.json: atomic, locked, rebuilt from the cache when missing or corrupt."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from aim_engine.cache import store as cache
from aim_engine.cache.store import CacheError

from .conftest import build_repo, commit_of

FILES = {"config.json": b"{}", "model.safetensors": b"w" * 3000}

# A writer that rewrites a large index as fast as it can until it is killed.
HAMMER = """
import sys
from pathlib import Path
from aim_engine.cache import store as cache
root = Path(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    i += 1
    cache.update_index(root, lambda e: e.update({f"org/hammer{i % 50}": {"n": i, "pad": "x" * 2000}}))
"""

# A writer adding its own entries, one locked read-modify-write each.
WRITER = """
import sys
from pathlib import Path
from aim_engine.cache import store as cache
root, me, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(count):
    cache.update_index(root, lambda e: e.update({f"org/w{me}-{i}": {"writer": me, "i": i}}))
"""


def python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, **kwargs)


def test_kill_9_during_writes_never_leaves_an_unreadable_index(tmp_path):
    cache.update_index(tmp_path, lambda e: e.update({f"org/base{i}": {"pad": "y" * 400} for i in range(2000)}))
    rng = random.Random(9)
    for _ in range(20):
        proc = python(HAMMER, str(tmp_path))
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.005, 0.08))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        entries = json.loads((tmp_path / "cache_index.json").read_text())  # always whole JSON
        assert sum(k.startswith("org/base") for k in entries) == 2000
    assert any(k.startswith("org/hammer") for k in entries)  # the killed writers did write in between
    # Temp files of killed writers are swept by the next writer (which holds the lock).
    cache.update_index(tmp_path, lambda e: None)
    assert not list(tmp_path.glob(".cache_index.json.*.tmp"))
    assert cache.read_index(tmp_path)[1] == "ok"


def test_eight_concurrent_writers_lose_no_entries(tmp_path):
    procs = [python(WRITER, str(tmp_path), str(n), "25") for n in range(8)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    entries, status = cache.read_index(tmp_path)
    assert status == "ok"
    assert {f"org/w{n}-{i}" for n in range(8) for i in range(25)} == set(entries)


def test_missing_index_is_rebuilt_from_the_scan(tmp_path):
    build_repo(tmp_path, "org/model", FILES, commit_of("c"))
    entries = cache.load_index(tmp_path)
    assert entries["org/model"]["commit_hash"] == commit_of("c") and entries["org/model"]["cached"] is True
    assert entries["org/model"]["size"] == sum(len(d) for d in FILES.values())
    assert json.loads((tmp_path / "cache_index.json").read_text()) == entries  # saved


def test_corrupt_index_is_rebuilt_and_kept_aside(tmp_path, capsys):
    build_repo(tmp_path, "org/model", FILES, commit_of("c"))
    (tmp_path / "cache_index.json").write_bytes(b'{"org/model": {"pinned": tr')
    entries = cache.load_index(tmp_path)
    assert set(entries) == {"org/model"} and entries["org/model"]["rebuilt_from_scan"]
    assert "unreadable" in capsys.readouterr().err
    assert (tmp_path / "cache_index.json.corrupt").read_bytes() == b'{"org/model": {"pinned": tr'
    for garbage in (b"[1, 2]", b"\x00\xff", b""):
        (tmp_path / "cache_index.json").write_bytes(garbage)
        assert set(cache.load_index(tmp_path)) == {"org/model"}


def test_entries_with_bad_ids_are_ignored(tmp_path):
    (tmp_path / "cache_index.json").write_text(json.dumps({"../../etc": {}, "org/ok": {}, "org/x": "not a dict"}))
    assert cache.read_index(tmp_path) == ({"org/ok": {}}, "ok")


def test_read_only_root_answers_from_the_scan(tmp_path, capsys, monkeypatch):
    build_repo(tmp_path, "org/model", FILES, commit_of("c"))

    def read_only(root):
        raise PermissionError(13, "Read-only file system", str(root / "cache_index.json.lock"))

    monkeypatch.setattr(cache, "index_lock", read_only)  # as on a read-only mount (root ignores chmod)
    assert set(cache.load_index(tmp_path)) == {"org/model"}
    assert "using a scan" in capsys.readouterr().err
    assert not (tmp_path / "cache_index.json").exists()


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("500G", 500 * 10**9),
        ("500GB", 500 * 10**9),
        ("1.5TiB", int(1.5 * 1024**4)),
        ("20000", 20000),
        ("10 MiB", 10 * 1024**2),
        ("2k", 2000),
    ],
)
def test_parse_size(text, size):
    assert cache.parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("2w", 14 * 86400), ("45", 45 * 86400), ("90m", 5400)]
)
def test_parse_age(text, seconds):
    assert cache.parse_age(text) == seconds


@pytest.mark.parametrize("bad", ["", "lots", "-1G", "5X", "1e9"])
def test_bad_sizes_and_ages_name_the_option(bad):
    with pytest.raises(CacheError, match="--max-size") as size:
        cache.parse_size(bad)
    assert size.value.code == 2
    with pytest.raises(CacheError, match="--older-than"):
        cache.parse_age(bad + "y")


def test_model_ids_and_slugs():
    assert cache.model_id("Qwen--Qwen3-8B") == "Qwen/Qwen3-8B"
    assert cache.model_id(" org/name ") == "org/name"
    for bad in ("org/../x", "../org", "/abs/x", "org\\x", "a--b--c"):
        with pytest.raises(CacheError) as error:
            cache.model_id(bad)
        assert error.value.code == 2


def test_cache_root_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("AIM_CACHE_DIR", raising=False)
    assert str(cache.cache_root(None)) == "/workspace/model-cache"
    monkeypatch.setenv("AIM_CACHE_DIR", str(tmp_path / "env"))
    assert cache.cache_root(None) == tmp_path / "env"
    assert cache.cache_root(str(tmp_path / "opt")) == tmp_path / "opt"
    (tmp_path / "file").write_text("")
    with pytest.raises(CacheError, match="not a folder"):
        cache.cache_root(str(tmp_path / "file"))
