"""The repository's own pre-commit configuration is valid and its data hooks pass, run by
pre-commit itself (ruff and mypy run in the test command before the tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def pre_commit(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", "PRE_COMMIT_HOME": str(home)}
    return subprocess.run(
        [str(BIN / "pre-commit"), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


def test_config_is_valid_and_the_data_hooks_pass(tmp_path):
    assert pre_commit("validate-config", ".pre-commit-config.yaml", home=tmp_path).returncode == 0
    for hook in ("check-yaml", "check-json", "aim-engine-validate"):
        done = pre_commit("run", hook, "--all-files", home=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Passed" in done.stdout, done.stdout
