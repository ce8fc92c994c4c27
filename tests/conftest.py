"""Shared helpers: the repository's catalogue and a way to validate one file against it."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from aim_engine.build import build, check
from aim_engine.catalogue.load import catalogue_files
from aim_engine.checks.diagnostics import Report
from aim_engine.checks.loading import load

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


def validate_text(tmp_path: Path, text: str, name: str = "recipe.yaml") -> list:
    """Validate one recipe/model text against the shipped catalogue; its diagnostics."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    checked = check(REPO, [path])
    report, shown = checked.report, checked.shown
    return [d for d in report.sorted() if d.path.resolve() == path.resolve()]


@pytest.fixture
def copy_catalogue(tmp_path):
    """A writable copy of the catalogue (models/ and recipes/) under tmp_path."""
    root = tmp_path / "cat"
    shutil.copytree(REPO / "models", root / "models")
    shutil.copytree(REPO / "recipes", root / "recipes")
    return root


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """One build of the shipped catalogue, shared by every test that reads build output."""
    out = tmp_path_factory.mktemp("b") / "build"
    build(REPO, out)
    return out
