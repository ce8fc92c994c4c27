"""Time `aim-engine build` (API only, no site): shipped catalogue and synthetic x10 / x100.

Run: .venv/bin/python bench/bench_build.py [--scales 1,10,100]
Targets: <= 2 s for the shipped catalogue; growth roughly linear in the number of models.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "compiler"))
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402
from aim_engine.build import build, compile_catalogue  # noqa: E402
from aim_engine.publish.fsutil import replace_tree  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,10,100")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        build(synthetic.REPO, Path(tmp) / "warm-up", site=False)  # imports, schema compilation, data loading
        for scale in [int(s) for s in args.scales.split(",")]:
            root = synthetic.make(Path(tmp) / f"cat{scale}", scale) if scale > 1 else synthetic.REPO
            times, writes = [], []
            for _attempt in range(3 if scale == 1 else 1):  # best of 3 for the small, noisy case
                start = time.perf_counter()
                api = compile_catalogue(root)  # load, validate, plan, render, publish (in memory)
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
