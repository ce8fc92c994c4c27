"""The pipeline spine and the library's public entry points:

    check(root)     load -> validate                       (aim-engine validate, plan)
    compile(root)   check -> plan every grid cell -> publish, in memory
    build(root)     compile -> write build/ in one rename, with the site

Each step is one call into its package (catalogue, checks, planning, publish).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aim_engine.catalogue.load import select
from aim_engine.checks import validate
from aim_engine.checks.diagnostics import Report
from aim_engine.checks.loading import Loaded, load
from aim_engine.errors import AimError
from aim_engine.planning.planner import Planner
from aim_engine.publish import parallel
from aim_engine.publish.api import Api, build_api
from aim_engine.publish.fsutil import check_output, replace_tree
from aim_engine.publish.pyz import build_pyz
from aim_engine.publish.site import build_site


class CatalogueInvalid(AimError):
    """The catalogue has validation errors; nothing was planned or written."""

    def __init__(self, report: Report):
        super().__init__(f"the catalogue has {len(report.errors)} validation error(s); run aim-engine validate")
        self.report = report


@dataclass(frozen=True)
class Checked:
    """A loaded, validated catalogue and the files the caller asked about."""

    loaded: Loaded
    report: Report
    shown: frozenset[Path]

    @property
    def findings(self) -> list:
        return [d for d in self.report.sorted() if d.path in self.shown]


@dataclass(frozen=True)
class BuildResult:
    out: Path
    files: int
    plans: int
    decisions: int
    lookups: int
    seconds: float


def check(root: Path, paths: Sequence[Path] = (), reuse: Loaded | None = None) -> Checked:
    """Validate the catalogue at `root`, or only `paths` checked against it. `reuse`: an
    earlier load of the same catalogue whose unchanged files need not be parsed again."""
    selection = select(root, paths)
    report = Report()
    loaded = load(list(selection.models), list(selection.recipes), report, reuse)
    validate(loaded, report, set(selection.unlisted_ok), selection.shown if paths else None)
    return Checked(loaded, report, selection.shown)


def checked_catalogue(root: Path) -> Loaded:
    """The catalogue at `root`; raises CatalogueInvalid when it has errors."""
    checked = check(root)
    if checked.report.errors:
        raise CatalogueInvalid(checked.report)
    return checked.loaded


def compile_catalogue(root: Path, jobs: int = 1) -> Api:
    """Validate and plan the catalogue at `root`; the files of the build, in memory. `jobs`:
    worker processes that plan and render models side by side (the bytes are the same)."""
    loaded = checked_catalogue(root)
    base = root.resolve()
    inputs = {p.resolve().relative_to(base).as_posix(): p for p in [*loaded.model_files, *loaded.recipe_files]}
    ids = sorted(loaded.catalogue.models)
    jobs = parallel.useful_jobs(jobs, len(ids))
    sections = parallel.model_sections(root, ids, jobs) if jobs > 1 else None
    api = build_api(loaded.catalogue, Planner(loaded.catalogue), inputs, sections)
    api.files["aim-pick.pyz"] = build_pyz(api.files)
    return api


def build(root: Path, out: Path, site: bool = True, jobs: int = 1) -> BuildResult:
    """Validate, plan and publish into `out`; with `site`, also the catalogue site. `jobs`:
    worker processes for planning and rendering (`aim-engine build` uses one per CPU). They are
    spawned, so they import the caller's main module again: a script that asks for more than one
    needs the usual `if __name__ == "__main__":` guard (see the multiprocessing docs)."""
    start = time.perf_counter()
    protected = [root, root / "models", root / "recipes"]
    check_output(out, protected)  # before any work: a bad --out is one line, at once
    api = compile_catalogue(root, jobs)
    site_step = (lambda staging: build_site(api.files, staging / "site")) if site else None
    replace_tree(out, api.files, site_step, protected=protected)
    return BuildResult(out, len(api.files), api.plans, api.decisions, api.lookups, time.perf_counter() - start)
