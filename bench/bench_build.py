"""Time `aim-engine build` (API only, no site): shipped catalogue and synthetic x10 / x100.

Run: .venv/bin/python bench/bench_build.py [--scales 1,10,100] [--against REV]
Targets: the shipped catalogue's full build (no site) at most 2 s more than before generic
plans (`--against b4bee7d` measures that revision the same way, in a temporary git worktree,
on the same machine and load); growth roughly linear in the number of models.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "compiler"))
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402
from aim_engine.build import build, compile_catalogue  # noqa: E402
from aim_engine.publish.fsutil import replace_tree  # noqa: E402
from aim_engine.publish.parallel import default_jobs  # noqa: E402

# Times one full build (API, artifacts, aim-pick.pyz; no site) of the catalogue at argv[1] as
# `aim-engine build` runs it, best of 3 after a warm-up, with whatever aim_engine is first on the
# path; then, apart, compile_catalogue alone (everything in memory, nothing written), so the file
# system's share shows as the difference. Prints: build seconds, compile seconds, file count.
FULL_BUILD = """
import inspect, sys, tempfile, time
from pathlib import Path
from aim_engine.build import build, compile_catalogue
root = Path(sys.argv[1])
# as `aim-engine build` runs: with one worker per CPU where the code has workers
options = {}
if "jobs" in inspect.signature(build).parameters:
    from aim_engine.publish.parallel import default_jobs
    options["jobs"] = default_jobs()
with tempfile.TemporaryDirectory() as tmp:
    build(root, Path(tmp) / "warm", site=False, **options)
    builds = []
    for i in range(3):
        start = time.perf_counter()
        build(root, Path(tmp) / f"o{i}", site=False, **options)
        builds.append(time.perf_counter() - start)
compiles = []
for i in range(3):
    start = time.perf_counter()
    api = compile_catalogue(root, **options)
    compiles.append(time.perf_counter() - start)
print(f"{min(builds):.2f} {min(compiles):.2f} {len(api.files)}")
"""


@dataclass(frozen=True)
class BuildTime:
    """The best of 3 full builds (no site), and of 3 compiles in memory (nothing written)."""

    total: float
    compile: float
    files: int

    def __str__(self) -> str:
        return f"{self.total:.2f} s (compile in memory {self.compile:.2f} s; {self.files} files)"


def full_build_seconds(code: Path, catalogue: Path) -> BuildTime:
    """A full build of `catalogue` by the aim_engine of the tree `code`, in a fresh interpreter."""
    env = {"PYTHONPATH": str(code / "compiler"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", FULL_BUILD, str(catalogue)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"build of {catalogue} with {code} failed:\n{done.stderr}")
    total, compile, files = done.stdout.split()[-3:]
    return BuildTime(float(total), float(compile), int(files))


def same_models(repo: Path, other: Path, into: Path) -> Path:
    """This tree's model and recipe files for the models `other`'s catalogue shipped (by file
    name): the same catalogue, written for today's validator, which refuses some old files."""
    names = {p.stem for p in (other / "models").glob("*.yaml")}
    (into / "models").mkdir(parents=True)
    (into / "recipes").mkdir()
    for model in (repo / "models").glob("*.yaml"):
        if model.stem in names:
            shutil.copy2(model, into / "models")
            for recipe in (repo / "recipes").glob(f"{model.stem}-mi*.yaml"):
                shutil.copy2(recipe, into / "recipes")
    return into


def against(rev: str) -> None:
    """Full builds: `rev`'s code on `rev`'s catalogue; this code on the same models (today's
    files of them: the cost of the code, generic plans included); this code on this tree's
    catalogue (what a build costs today)."""
    repo = HERE.parent
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "rev"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(other), rev], check=True)
        try:
            subset = same_models(repo, other, Path(tmp) / "same")
            count = len(list((subset / "models").glob("*.yaml")))
            before = full_build_seconds(other, other)
            same = full_build_seconds(repo, subset)
            now = full_build_seconds(repo, repo)
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(other)], check=True)
    print(f"full build, no site: {rev}'s code on its catalogue: {before}")
    print(f"  this code on the same {count} models: {same} ({same.total - before.total:+.2f} s; target <= +2 s)")
    print(f"  this code on this tree's catalogue: {now}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,10,100")
    parser.add_argument("--against", metavar="REV", help="also time a full build at git revision REV")
    args = parser.parse_args()
    if args.against:
        against(args.against)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # imports, schema compilation, data loading
        build(synthetic.REPO, Path(tmp) / "warm-up", site=False, jobs=default_jobs())
        for scale in [int(s) for s in args.scales.split(",")]:
            root = synthetic.make(Path(tmp) / f"cat{scale}", scale) if scale > 1 else synthetic.REPO
            times, writes = [], []
            for _attempt in range(3 if scale == 1 else 1):  # best of 3 for the small, noisy case
                start = time.perf_counter()
                api = compile_catalogue(root, default_jobs())  # load, check, plan, render (in memory)
                middle = time.perf_counter()
                replace_tree(Path(tmp) / f"out{scale}", api.files)  # write every file, swap in
                times.append(middle - start)
                writes.append(time.perf_counter() - middle)
            seconds, write = min(times), min(writes)
            models = len(list((root / "models").glob("*.yaml")))
            rows.append((scale, models, api.plans, api.decisions, seconds))
            print(
                f"x{scale:<4} {models:>5} models  {api.plans:>7} plans  {api.decisions:>8} decisions  "
                f"compile {seconds:7.2f} s  write {len(api.files)} files {write:6.2f} s  "
                f"{api.plans / seconds:8.0f} plans/s  {seconds / models * 1000:6.1f} ms/model",
                flush=True,
            )
    base = rows[0]
    for scale, models, _, _, seconds in rows[1:]:
        print(f"x{scale}: {models / base[1]:.0f}x the models took {seconds / base[4]:.1f}x the time")
    print("target: shipped catalogue <= 2 s; time per model roughly constant (linear growth).")
    print("The write column is the file system's share (thousands of small files) and varies with the disk.")


if __name__ == "__main__":
    main()
