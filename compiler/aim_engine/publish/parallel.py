"""Making the models' sections of a build (publish/api.model_section) in worker processes.

Each worker is a fresh interpreter (`python -m aim_engine.publish.parallel ROOT OUT MODEL...`)
that loads the already validated catalogue from the same root once, plans and renders its share
of the models and writes their sections to its own file, in order; the parent reads the files
once every worker is done and hands the sections on in model order, so the build's bytes do not
depend on the number of workers (a test builds with one and with two and compares). Plain
subprocesses, not multiprocessing: nothing forks a process that may hold other threads' locks,
and nothing imports the caller's main module again (a script needs no `__main__` guard).

Ctrl-C is the parent's alone: workers ignore it and are stopped by the parent. A worker's
expected failure (an AimError such as an ArtifactError naming the recipe) is raised in the
parent as it is; anything else is an internal error with the worker's traceback.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from aim_engine.errors import AimError
from aim_engine.publish.api import ModelSection

# Below this many models a worker costs more than it saves (each one loads the catalogue).
MIN_MODELS_PER_WORKER = 2


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def useful_jobs(jobs: int, models: int) -> int:
    return max(1, min(jobs, models // MIN_MODELS_PER_WORKER))


def model_sections(root: Path, model_ids: list[str], jobs: int) -> Iterator[ModelSection]:
    """The sections of `model_ids` (in that order), made by `jobs` worker processes; models are
    dealt out in turn, so each worker gets big and small ones alike."""
    shares = [model_ids[i::jobs] for i in range(jobs)]
    with tempfile.TemporaryDirectory(prefix="aim-engine-workers-") as tmp:
        outs = [Path(tmp) / f"worker-{i}.pickle" for i in range(jobs)]
        errs = [open(Path(tmp) / f"worker-{i}.err", "w+b") for i in range(jobs)]  # closed in `finally`
        workers = []
        try:
            for share, out, err in zip(shares, outs, errs, strict=True):
                argv = [sys.executable, "-m", "aim_engine.publish.parallel", str(root), str(out), *share]
                workers.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err))
            for worker, out, err in zip(workers, outs, errs, strict=True):
                if worker.wait() != 0:
                    _raise_failure(out, err)
            made: dict[str, ModelSection] = {}
            for out in outs:
                with out.open("rb") as handle:
                    while True:
                        try:
                            section = pickle.load(handle)
                        except EOFError:
                            break
                        made[section.model_id] = section
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
            for err in errs:
                err.close()
        for model_id in model_ids:
            yield made[model_id]


def _raise_failure(out: Path, err: IO[bytes]) -> None:
    err.seek(0)
    text = err.read().decode("utf-8", "replace")
    failure = out.with_suffix(".failure")
    if failure.is_file():
        raise pickle.loads(failure.read_bytes())  # an expected failure, as the worker raised it
    raise RuntimeError(f"a build worker failed:\n{text[-2000:]}")


def _work(root: Path, out: Path, model_ids: list[str]) -> None:
    from aim_engine.catalogue.load import catalogue_files
    from aim_engine.checks.diagnostics import Report
    from aim_engine.checks.loading import load
    from aim_engine.planning.planner import Planner
    from aim_engine.publish.api import model_section

    report = Report()
    loaded = load(*catalogue_files(root), report)
    if report.errors:  # the parent validated these files a moment ago
        raise AimError(f"the catalogue at {root} changed during the build; build again")
    catalogue = loaded.catalogue
    planner = Planner(catalogue)
    with out.open("wb") as handle:
        for model_id in model_ids:
            pickle.dump(model_section(planner, catalogue, catalogue.models[model_id]), handle)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops its workers
    root, out, *model_ids = argv
    try:
        _work(Path(root), Path(out), model_ids)
    except AimError as exc:
        Path(out).with_suffix(".failure").write_bytes(pickle.dumps(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
