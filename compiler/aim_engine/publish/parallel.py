"""Making the models' sections of a build (publish/api.model_section) in worker processes.

Each worker loads the already validated catalogue from the same root once and plans and renders
whole models, so nothing but a model id goes in and the section's files come back. Results are
taken in model order, so the build's bytes do not depend on the number of workers (a test builds
with one and with two and compares). Workers are started with `spawn`: a fresh interpreter, never
a fork of a process that may hold other threads' locks. Ctrl-C is left to the parent, which stops
the pool; a worker's error (an ArtifactError naming the recipe) is raised in the parent as it is.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from aim_engine.catalogue.load import catalogue_files
from aim_engine.catalogue.records import Catalogue
from aim_engine.checks.diagnostics import Report
from aim_engine.checks.loading import load
from aim_engine.planning.planner import Planner
from aim_engine.publish.api import ModelSection, model_section

# Below this many models a pool costs more than it saves (each worker loads the catalogue).
MIN_MODELS_PER_WORKER = 2

_worker: tuple[Catalogue, Planner] | None = None


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def useful_jobs(jobs: int, models: int) -> int:
    return max(1, min(jobs, models // MIN_MODELS_PER_WORKER))


def _start(root: str) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    report = Report()
    loaded = load(*catalogue_files(Path(root)), report)
    if report.errors:  # the parent validated these files a moment ago: they changed since
        raise RuntimeError(f"the catalogue at {root} changed during the build")
    _worker = (loaded.catalogue, Planner(loaded.catalogue))


def _section(model_id: str) -> ModelSection:
    assert _worker is not None, "worker not started"
    catalogue, planner = _worker
    return model_section(planner, catalogue, catalogue.models[model_id])


def model_sections(root: Path, model_ids: list[str], jobs: int) -> Iterator[ModelSection]:
    """The sections of `model_ids` (in that order), made by `jobs` worker processes."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start, initargs=(str(root),)) as pool:
        try:
            yield from pool.map(_section, model_ids)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
