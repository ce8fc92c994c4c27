"""Time `aim-engine validate` on the whole shipped catalogue (target: <= 1 s).

Run: .venv/bin/python bench/bench_validate.py
Prints the in-process time (best of N) and the end-to-end CLI time including start-up.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "compiler"))

from aim_engine.build import check  # noqa: E402
from aim_engine.catalogue.load import catalogue_files  # noqa: E402

RUNS = 5


def main() -> None:
    models, recipes = catalogue_files(REPO)
    in_process = []
    for _ in range(RUNS):
        start = time.perf_counter()
        report = check(REPO, []).report
        in_process.append(time.perf_counter() - start)
    assert not report.errors
    cli = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "aim_engine", "validate"],
            cwd=REPO,
            check=True,
            capture_output=True,
            env={"PYTHONPATH": str(REPO / "compiler"), "PATH": "/usr/bin:/bin"},
        )
        cli.append(time.perf_counter() - start)
    entries = sum(len(r.read_text().split("enabled:")) - 1 for r in recipes)
    print(f"catalogue: {len(models)} models, {len(recipes)} recipes, {entries} entries")
    print(
        f"validate in-process: best {min(in_process):.3f} s, median {statistics.median(in_process):.3f} s "
        f"(first run, with data loading: {in_process[0]:.3f} s)"
    )
    print(f"validate CLI end to end: best {min(cli):.3f} s, median {statistics.median(cli):.3f} s (target <= 1 s)")


if __name__ == "__main__":
    main()
