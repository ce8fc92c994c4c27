"""cache_index.json: atomic, locked (with a named holder and a bounded wait), rebuilt from the
cache when missing or corrupt, however it is corrupt."""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from aim_engine.cache import CacheError, index
from aim_engine.cache.index import index_lock, load_index, read_index, update_index
from aim_pick.contract import cache_state

from .conftest import build_repo, cli, commit_of, files, offline_env, run

FILES = {"config.json": b"{}", "model.safetensors": b"w" * 3000}

# A writer that rewrites a large index as fast as it can until it is killed.
HAMMER = """
import sys
from pathlib import Path
from aim_engine.cache.index import update_index
root = Path(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    i += 1
    update_index(root, lambda e: e.update({f"org/hammer{i % 50}": {"n": i, "pad": "x" * 2000}}))
"""

# A writer adding its own entries, one locked read-modify-write each.
WRITER = """
import sys
from pathlib import Path
from aim_engine.cache.index import update_index
root, me, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(count):
    update_index(root, lambda e: e.update({f"org/w{me}-{i}": {"writer": me, "i": i}}))
"""


def python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
def test_kill_9_during_writes_never_leaves_an_unreadable_index(tmp_path):
    update_index(tmp_path, lambda e: e.update({f"org/base{i}": {"pad": "y" * 400} for i in range(2000)}))
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
    update_index(tmp_path, lambda e: None)
    assert not list(tmp_path.glob(".cache_index.json.*.tmp"))
    assert read_index(tmp_path)[1] == "ok"


@pytest.mark.slow
def test_eight_concurrent_writers_lose_no_entries(tmp_path):
    procs = [python(WRITER, str(tmp_path), str(n), "25") for n in range(8)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    entries, status = read_index(tmp_path)
    assert status == "ok"
    assert {f"org/w{n}-{i}" for n in range(8) for i in range(25)} == set(entries)


def test_missing_index_is_rebuilt_from_the_scan(tmp_path):
    build_repo(tmp_path, "org/model", FILES, commit_of("c"))
    entries = load_index(tmp_path)
    assert entries["org/model"]["commit_hash"] == commit_of("c") and entries["org/model"]["cached"] is True
    assert entries["org/model"]["size"] == sum(len(d) for d in FILES.values())
    assert json.loads((tmp_path / "cache_index.json").read_text()) == entries  # saved


def test_corrupt_index_is_rebuilt_and_kept_aside(tmp_path, capsys):
    build_repo(tmp_path, "org/model", FILES, commit_of("c"))
    (tmp_path / "cache_index.json").write_bytes(b'{"org/model": {"pinned": tr')
    entries = load_index(tmp_path)
    assert set(entries) == {"org/model"} and entries["org/model"]["rebuilt_from_scan"]
    assert "unreadable" in capsys.readouterr().err
    assert (tmp_path / "cache_index.json.corrupt").read_bytes() == b'{"org/model": {"pinned": tr'
    for garbage in (b"[1, 2]", b"\x00\xff", b""):
        (tmp_path / "cache_index.json").write_bytes(garbage)
        assert set(load_index(tmp_path)) == {"org/model"}


def test_entries_with_bad_ids_are_ignored(tmp_path):
    (tmp_path / "cache_index.json").write_text(json.dumps({"../../etc": {}, "org/ok": {}, "org/x": "not a dict"}))
    assert read_index(tmp_path) == ({"org/ok": {}}, "ok")


def test_read_only_root_answers_from_the_scan(tmp_path, capsys, monkeypatch):
    build_repo(tmp_path, "org/model", FILES, commit_of("c"))

    def read_only(root):
        raise PermissionError(13, "Read-only file system", str(root / "cache_index.json.lock"))

    monkeypatch.setattr(index, "index_lock", read_only)  # as on a read-only mount (root ignores chmod)
    assert set(load_index(tmp_path)) == {"org/model"}
    assert "using a scan" in capsys.readouterr().err
    assert not (tmp_path / "cache_index.json").exists()


@pytest.mark.slow
def test_an_index_of_deeply_nested_arrays_is_rebuilt_and_every_command_works(root):
    """json answers such a file with a RecursionError: it is a corrupt index like any other."""
    build_repo(root, "org/model", FILES, commit_of("c"))
    nested = b"[" * 100_000 + b"]" * 100_000
    (root / "cache_index.json").write_bytes(nested)
    env = offline_env(AIM_CACHE_DIR=str(root))
    result = cli(env, "cache", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert [(r["model"], r["complete"]) for r in json.loads(result.stdout)] == [("org/model", True)]
    assert "unreadable; rebuilt it from the cache" in result.stderr
    assert (root / "cache_index.json.corrupt").read_bytes() == nested  # kept, as for other unreadable indexes
    assert set(json.loads((root / "cache_index.json").read_text())) == {"org/model"}  # rebuilt and saved
    assert cli(env, "cache", "pin", "org/model").returncode == 0
    assert read_index(root)[0]["org/model"]["pinned"] is True


@pytest.mark.parametrize(
    "text",
    [
        '{"org/model": {"files": ' + "[" * 900 + "]" * 900 + "}}",  # parses, but could never be written back
        "{" * 50_000,
        '{"org/model": ' * 50_000,
    ],
)
def test_indexes_nested_too_deep_are_corrupt_for_the_cache_and_for_aim_pick(root, capsys, text):
    build_repo(root, "org/model", FILES, commit_of("c"))
    (root / "cache_index.json").write_text(text)
    assert cache_state.read_index(str(root)) == {}  # aim-pick: never raises
    assert cache_state.snapshot_state(str(root), "org/model")["complete"]
    code, out, err = run(capsys, "cache", "pin", "org/model", "--cache-dir", str(root))
    assert code == 0 and out == "pinned org/model\n" and "rebuilt it from the cache" in err
    assert (root / "cache_index.json.corrupt").read_text() == text
    assert read_index(root) == ({"org/model": read_index(root)[0]["org/model"]}, "ok")


def test_the_lock_records_its_holder_while_held(root):
    with index_lock(root):
        record = json.loads((root / "cache_index.json.lock").read_text())
        assert record["pid"] == os.getpid() and record["host"] == os.uname().nodename and record["since"]
        assert index.lock_holder(root / "cache_index.json.lock").startswith(f"pid {os.getpid()} on ")
    assert (root / "cache_index.json.lock").read_text() == ""  # released: no stale record


def test_a_lock_held_by_a_process_that_records_nothing_times_out_too(root, monkeypatch):
    monkeypatch.setenv("AIM_CACHE_LOCK_TIMEOUT", "0")
    root.mkdir()
    with open(root / "cache_index.json.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # e.g. an older aim-engine
        start = time.monotonic()
        with pytest.raises(CacheError, match=r"locked by another process \(it did not record who\)") as error:
            update_index(root, lambda e: e.update({"org/x": {}}))
        assert time.monotonic() - start < 0.5  # the bound below (0 s) plus the first try
    assert "AIM_CACHE_LOCK_TIMEOUT" in str(error.value)
    assert not (root / "cache_index.json").exists()  # nothing written


def test_bad_lock_timeouts_are_bad_input(root, capsys, monkeypatch):
    build_repo(root, "org/m", FILES, commit_of("c"))
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv("AIM_CACHE_LOCK_TIMEOUT", bad)
        code, _, err = run(capsys, "cache", "pin", "org/m", "--cache-dir", str(root))
        assert code == 2 and err.count("\n") == 1 and "AIM_CACHE_LOCK_TIMEOUT" in err
    monkeypatch.delenv("AIM_CACHE_LOCK_TIMEOUT")
    assert index.lock_timeout() == index.DEFAULT_LOCK_TIMEOUT == 60


HOLDER = """
import sys, time
from pathlib import Path
from aim_engine.cache.index import index_lock
with index_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow
def test_a_lock_held_by_a_live_process_times_out_naming_it(root):
    """`cache pin` waits at most AIM_CACHE_LOCK_TIMEOUT seconds, says whom it waits for, then fails naming it."""
    build_repo(root, "org/m", FILES, commit_of("c"))
    holder = python(HOLDER, str(root))
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        result = cli(
            offline_env(AIM_CACHE_DIR=str(root), AIM_CACHE_LOCK_TIMEOUT="2"), "cache", "pin", "org/m", timeout=30
        )
        took = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    named = f"pid {holder.pid} on {os.uname().nodename}"
    assert "waiting for the cache index lock" in result.stderr and named in result.stderr  # said while waiting
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("aim-engine: the cache index ") and "is locked by " + named in last
    assert "gave up after 2 s" in last and "AIM_CACHE_LOCK_TIMEOUT" in last
    assert 2 <= took < 10  # the bound, plus starting Python
    assert "org/m" not in read_index(root)[0]  # nothing was recorded
    result = cli(offline_env(AIM_CACHE_DIR=str(root)), "cache", "pin", "org/m")  # holder gone: works at once
    assert result.returncode == 0 and read_index(root)[0]["org/m"]["pinned"] is True


def test_pin_and_unpin(root, capsys):
    build_repo(root, "org/m", files(100), commit_of("c1"))
    assert run(capsys, "cache", "pin", "org/m", "--cache-dir", str(root))[0] == 0
    assert read_index(root)[0]["org/m"]["pinned"] is True
    assert run(capsys, "cache", "unpin", "org/m", "--cache-dir", str(root))[0] == 0
    assert read_index(root)[0]["org/m"]["pinned"] is False
    code, _, err = run(capsys, "cache", "pin", "org/absent", "--cache-dir", str(root))
    assert code == 1 and "not in the cache" in err
