"""Run aim-pick as a user would, on simulated hosts (see hosts.py), against one build."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import hosts

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable  # the project's venv interpreter (aim_pick is installed there)
BASE_PATH = "/usr/bin:/bin"  # never the real machine's ROCm tools (/opt/rocm/bin, ~/.local/bin, ...)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)

    def argv(self) -> list[str]:
        """The printed docker command as an argv (it is one POSIX shell line)."""
        import shlex

        return shlex.split(self.out.strip())


@dataclass
class Host:
    """A simulated host: a sysfs root, a /dev root, a folder of fake tools on PATH, a
    folder of fake modules on PYTHONPATH, extra environment, and the API to read."""

    tmp: Path
    api: Path | str | None
    env: dict = field(default_factory=dict)

    def __post_init__(self):
        self.sys = self.tmp / "sys"
        self.dev = self.tmp / "dev"
        self.bin = self.tmp / "bin"
        self.mods = self.tmp / "mods"
        self.cache = self.tmp / "cache"
        for folder in (self.sys, self.dev, self.bin, self.mods, self.cache):
            folder.mkdir(parents=True, exist_ok=True)

    def gpus(self, gpus: list[hosts.Gpu], *, render_minors=None, kfd: bool = True, **kwargs) -> Host:
        """Put `gpus` in sysfs and (by default) every one of their render nodes in /dev."""
        hosts.sysfs_tree(self.sys, gpus, **kwargs)
        hosts.dev_tree(self.dev, hosts.render_minors(gpus) if render_minors is None else render_minors, kfd=kfd)
        return self

    def environment(self, extra: dict | None = None) -> dict:
        env = {
            "PATH": f"{self.bin}:{BASE_PATH}",
            "HOME": str(self.tmp),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(self.mods),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AIM_SYSFS_ROOT": str(self.sys),
            "AIM_DEV_ROOT": str(self.dev),
            "AIM_DETECT_TIMEOUT": "3",
            "AIM_CACHE_DIR": str(self.cache),
        }
        env.update(self.env)
        env.update(extra or {})
        return {k: v for k, v in env.items() if v is not None}

    def pick(self, *args: str, env: dict | None = None, api: bool = True, timeout: float = 60) -> Result:
        argv = [PYTHON, "-m", "aim_pick", *args]
        if api and self.api is not None and "--api" not in args:
            argv += ["--api", str(self.api)]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.environment(env),
            cwd=self.tmp,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def api_dir(built) -> Path:
    """build/api of one build of the shipped catalogue (tests/conftest.py: `built`)."""
    return built / "api"


@pytest.fixture
def host(tmp_path, api_dir) -> Host:
    return Host(tmp_path, api_dir)


def env_of(argv: list[str]) -> dict[str, str]:
    """The -e settings of a docker argv (before the image)."""
    out = {}
    for i, word in enumerate(argv):
        if word == "-e" and i + 1 < len(argv):
            key, _, value = argv[i + 1].partition("=")
            out[key] = value if "=" in argv[i + 1] else None
    return out


def option(argv: list[str], flag: str) -> list[str]:
    """Every value given to `flag` in a docker argv."""
    return [argv[i + 1] for i, word in enumerate(argv) if word == flag and i + 1 < len(argv)]
