"""The wheel and the sdist build and do the main job outside the repository: a fresh
virtualenv with only the built wheel validates the shipped catalogue and builds a catalogue
(API, artifacts, site) from another folder, and the aim-pick.pyz it produces runs with a bare interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def run(argv: list, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel, built like a release (the wheel is built from the unpacked sdist)."""
    tmp = tmp_path_factory.mktemp("dist")
    source = tmp / "src"
    tracked = run(["git", "ls-files", "-z"], REPO).stdout.split("\0")
    for name in filter(None, tracked):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp / "out", source], tmp)
    return tmp / "out"


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh virtualenv holding only the wheel; its dependencies are made visible from the
    test environment's site-packages by path (not its .pth files, so the editable install of
    this checkout stays invisible)."""
    root = tmp_path_factory.mktemp("venv") / "v"
    run([sys.executable, "-m", "venv", root], root.parent)
    wheel = next(dist.glob("*.whl"))
    run([root / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], root.parent)
    site = next((root / "lib").glob("python3*/site-packages"))
    (site / "zz-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


def test_sdist_and_wheel_carry_the_package_data(dist):
    names = zipfile.ZipFile(next(dist.glob("*.whl"))).namelist()
    for needed in (
        "aim_engine/publish/templates/compose.yaml.j2",
        "aim_engine/publish/templates/site/model.md.j2",
        "aim_engine/publish/mkdocs/mkdocs.yml",
        "aim_engine/publish/mkdocs/docs/stylesheets/aim.css",
        "aim_engine/catalogue/data/hardware.json",
        "aim_engine/catalogue/data/flags/vllm-0.33.0.json",
        "aim_engine/catalogue/schemas/recipe.schema.json",
        "aim_pick/contract/deploy.py",
    ):
        assert needed in names, needed
    with tarfile.open(next(dist.glob("*.tar.gz"))) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"pyproject.toml", "README.md", "compiler/aim_engine/publish/templates/k8s.yaml.j2"} <= members


def test_installed_wheel_does_the_main_job_from_another_folder(venv, small_catalogue, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    env.pop("PYTHONPATH", None)
    where = run([venv / "bin" / "python", "-c", "import aim_engine; print(aim_engine.__file__)"], elsewhere, env)
    assert str(venv) in where.stdout and str(REPO) not in where.stdout
    validated = run([venv / "bin" / "aim-engine", "validate", "--root", REPO], elsewhere, env)
    assert " 0 error(s)" in validated.stdout
    out = tmp_path / "out"
    # API, artifacts, site and zipapp from the package data alone (two models keep it quick)
    run([venv / "bin" / "aim-engine", "build", "--root", small_catalogue, "--out", out], elsewhere, env)
    assert (out / "api" / "index.json").is_file() and (out / "site" / "index.html").is_file()
    assert any((out / "compose").glob("*.yaml")) and any((out / "k8s").iterdir())
    # the produced zipapp runs with a bare interpreter (-I: no site-packages, no PYTHONPATH)
    picked = run(
        [sys.executable, "-I", out / "aim-pick.pyz", "Qwen/Qwen3-8B"],
        elsewhere,
        {"PATH": "/usr/bin:/bin", "AIM_GPU_MODEL": "MI300X", "AIM_GPU_COUNT": "1"},
    )
    assert picked.stdout.startswith("docker run ") and "Qwen/Qwen3-8B" in picked.stdout
