"""`aim-engine build`: load -> validate -> plan every grid cell -> publish the API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from aim_engine.catalogue.load import catalogue_files, load
from aim_engine.checks.diagnostics import Report
from aim_engine.checks.rules import validate
from aim_engine.planning.planner import Planner
from aim_engine.publish.api import Api, build_api
from aim_engine.publish.fsutil import replace_tree
from aim_engine.publish.pyz import build_pyz
from aim_engine.publish.site import build_site


class BuildError(Exception):
    def __init__(self, report: Report):
        super().__init__(f"{len(report.errors)} validation error(s)")
        self.report = report


@dataclass
class BuildResult:
    out: Path
    files: int
    plans: int
    decisions: int
    lookups: int
    seconds: float


def compile_catalogue(root: Path) -> Api:
    """Validate and plan the catalogue at `root`; the files of the build, in memory."""
    models, recipes = catalogue_files(root)
    report = Report()
    loaded = load(models, recipes, report)
    validate(loaded, report)
    if report.errors:
        raise BuildError(report)
    planner = Planner(loaded.catalogue)
    api = build_api(loaded.catalogue, planner, {p.relative_to(root).as_posix(): p for p in [*models, *recipes]})
    api.files["aim-pick.pyz"] = build_pyz(api.files)
    return api


def build(root: Path, out: Path, site: bool = True) -> BuildResult:
    """Validate, plan and publish into `out`; with `site`, also the catalogue site."""
    start = time.perf_counter()
    api = compile_catalogue(root)
    replace_tree(out, api.files, (lambda staging: build_site(api.files, staging / "site")) if site else None)
    return BuildResult(out, len(api.files), api.plans, api.decisions, api.lookups, time.perf_counter() - start)
