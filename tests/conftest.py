"""Shared helpers: the repository's catalogue and a way to validate one file against it."""

from __future__ import annotations

import functools
import shutil
import textwrap
from pathlib import Path

import pytest

from aim_engine.build import build, check
from aim_engine.catalogue.load import catalogue_files
from aim_engine.checks.diagnostics import Report
from aim_engine.checks.loading import load
from aim_engine.publish.parallel import default_jobs
from tests.catalogues import copy_models

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def loaded():
    """The shipped catalogue, loaded once."""
    report = Report()
    result = load(*catalogue_files(REPO), report)
    assert not report.errors, [d.format_text() for d in report.errors]
    return result


@pytest.fixture(scope="session")
def catalogue(loaded):
    return loaded.catalogue


@functools.cache
def shipped_load():
    """The shipped catalogue loaded once per test run; later checks reuse its parsed files."""
    return check(REPO).loaded


def validate_text(tmp_path: Path, text: str, name: str = "recipe.yaml") -> list:
    """Validate one recipe/model text against the shipped catalogue; its diagnostics."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    report = check(REPO, [path], reuse=shipped_load()).report
    return [d for d in report.sorted() if d.path.resolve() == path.resolve()]


@pytest.fixture
def copy_catalogue(tmp_path):
    """A writable copy of the catalogue (models/ and recipes/) under tmp_path."""
    root = tmp_path / "cat"
    shutil.copytree(REPO / "models", root / "models")
    shutil.copytree(REPO / "recipes", root / "recipes")
    return root


SMALL_MODELS = ("qwen3-8b", "qwen3-32b")


@pytest.fixture
def small_catalogue(tmp_path):
    """A writable two-model catalogue (Qwen3-8B and Qwen3-32B with their recipes): for tests of
    the build's own behaviour, which does not depend on the size of the catalogue."""
    return copy_models(REPO, tmp_path / "small", SMALL_MODELS)


def pytest_collection_modifyitems(items):
    """Every test that reads the shared build of the whole catalogue (`built`, half a minute of
    set-up) is slow: the fast tier leaves it out, the full suite runs it."""
    for item in items:
        if "built" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """One build of the shipped catalogue (API, artifacts, aim-pick.pyz; no site), shared by
    every test that reads build output. The site tests build their own catalogue."""
    out = tmp_path_factory.mktemp("b") / "build"
    build(REPO, out, site=False, jobs=default_jobs())  # as `aim-engine build` does
    return out
