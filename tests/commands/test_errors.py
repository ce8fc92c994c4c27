"""One error model: every expected failure of both tools is one line naming what is wrong,
with its documented exit status, never a traceback; Ctrl-C exits 130; a bug exits 70."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aim_engine import cli
from tests.conftest import REPO

BIN = Path(sys.executable).parent


def aim_engine(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "aim-engine"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def one_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    assert len(lines) == 1 and lines[0].startswith("aim-engine: "), done.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, status, words",
    [
        (["validate", "no/such/file.yaml"], 2, "no such file or folder"),
        (["validate", "--root", "/"], 2, "has no models/ folder"),
        (["plan", "No/Such-Model", "--gpu", "MI300X"], 2, "unknown model"),
        (["plan", "Qwen/Qwen3-8B", "--gpu", "MI999X"], 2, "unknown GPU"),
        (["plan", "Qwen/Qwen3-8B", "--gpu", "MI300X", "--gpus", "99"], 2, "between 1 and 8"),
        # an unwritable --out fails before anything is planned
        (["build", "--no-site", "--out", "/proc/aim-engine-build"], 2, "cannot write in /proc"),
        (["cache", "list", "--cache-dir", "/proc/self/status"], 2, "not a folder"),
    ],
)
def test_expected_failures_are_one_line(args, status, words):
    done = aim_engine(*args)
    assert done.returncode == status, (done.returncode, done.stderr)
    assert words in one_line(done)


def test_an_unreadable_catalogue_file_is_a_finding(tmp_path):
    root = tmp_path / "cat"
    (root / "models").mkdir(parents=True)
    (root / "recipes").mkdir()
    os.mkfifo(root / "recipes" / "not-a-file.yaml")  # neither readable as a file nor a folder of files
    (root / "models" / "bad.yaml").write_bytes(b"\xff\xfe not utf-8")
    done = aim_engine("validate", "--root", str(root), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout
    assert "bad.yaml" in done.stdout and "not UTF-8" in done.stdout


def test_a_bug_exits_70_with_one_line(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("aim_engine.commands.validate.run", broken)  # the parser is built at each main()
    assert cli.main(["validate"]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (RuntimeError: simulated bug)" in err


@pytest.mark.slow
def test_ctrl_c_exits_130_in_both_tools(tmp_path):
    build = subprocess.Popen(
        [str(BIN / "aim-engine"), "build", "--out", str(tmp_path / "out")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)  # loading and planning take longer than this
    build.send_signal(signal.SIGINT)
    _, err = build.communicate(timeout=120)
    assert build.returncode == 130 and "Traceback" not in err and "interrupted" in err
    assert not (tmp_path / "out").exists()  # nothing half-written
    # aim-pick, interrupted while a hanging detection tool runs
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "amd-smi").write_text("#!/bin/sh\nsleep 30\n")
    (tools / "amd-smi").chmod(0o755)
    env = {"PATH": f"{tools}:/usr/bin:/bin", "AIM_SYSFS_ROOT": str(tmp_path / "nosys"), "AIM_DETECT_TIMEOUT": "20"}
    pick = subprocess.Popen(
        [sys.executable, "-m", "aim_pick", "Qwen/Qwen3-8B"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    pick.send_signal(signal.SIGINT)
    _, err = pick.communicate(timeout=60)
    assert pick.returncode == 130 and "Traceback" not in err


def test_build_jobs_must_be_a_whole_number_of_at_least_one():
    for value in ("0", "-1", "two", "²"):
        done = aim_engine("build", "--jobs", value)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "--jobs" in done.stderr.splitlines()[-1]
