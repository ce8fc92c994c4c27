"""Writable copies of parts of the shipped catalogue, for tests whose subject does not depend on
the catalogue's size."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_models(repo: Path, root: Path, names: tuple[str, ...]) -> Path:
    """models/<name>.yaml of each name (a file stem) and every recipe of it, copied from `repo` to
    `root`; returns `root`."""
    (root / "models").mkdir(parents=True)
    (root / "recipes").mkdir()
    for name in names:
        shutil.copy2(repo / "models" / f"{name}.yaml", root / "models")
        for recipe in (repo / "recipes").glob(f"{name}-mi*.yaml"):
            shutil.copy2(recipe, root / "recipes")
    return root
