"""Time `aim-pick MODEL --format docker` end to end against `python3 -c pass`.

Run: .venv/bin/python bench/bench_aim_pick.py [--runs 20] [--model Qwen/Qwen3-32B] [--build DIR]

The host is a simulated 8 x MI300X (SPX) sysfs tree (tests/aim_pick/hosts.py, which follows
shared/reference/amd-hardware.md §2.5) under AIM_SYSFS_ROOT, with its render nodes under
AIM_DEV_ROOT. Every command runs as a fresh process, timed the same way (wall clock around
subprocess.run, output discarded), interleaved round by round so drift hits all alike;
best and median of --runs each. Target: aim-pick <= 1.5 x `python3 -c pass`.

`python3` is resolved once to the real interpreter (a pyenv shim is a shell script and
would add its own start-up to every figure). Rows:

- `python3 -c pass`                     the baseline
- `python3 build/aim-pick.pyz`          the shipped single file (API embedded; no --api)
- `.venv/bin/aim-pick --api build/api`  the installed entry point
- `.venv/bin/python -c pass`            the venv's own baseline: the venv skips the base
                                        interpreter's site-packages, whose .pth files may
                                        cost more at start-up than aim-pick's own work

The .pyz carries unchecked-hash .pyc files next to its sources (compiler/aim_engine/shim.py):
zipimport never writes bytecode, so without them every start would compile aim-pick.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.aim_pick import hosts  # noqa: E402

TARGET = 1.5


def real_python3() -> str:
    found = shutil.which("python3") or sys.executable
    out = subprocess.run([found, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=True)
    return out.stdout.strip() or found


def time_runs(commands: dict[str, list[str]], env: dict, cwd: Path, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # warm-up: page cache, __pycache__
        subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    for _ in range(runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--model", default="Qwen/Qwen3-32B")
    parser.add_argument("--build", help="an existing build folder (default: build one into a temp folder)")
    args = parser.parse_args()
    python3 = real_python3()
    venv_bin = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.build:
            build = Path(args.build).resolve()
        else:
            sys.path.insert(0, str(REPO / "compiler"))
            from aim_engine.build import build as run_build

            build = tmp / "build"
            run_build(REPO, build, site=False)
        gpus = [hosts.MI300X] * 8
        hosts.sysfs_tree(tmp / "sys", gpus)
        hosts.dev_tree(tmp / "dev", hosts.render_minors(gpus))
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp),
            "LANG": "C.UTF-8",
            "AIM_SYSFS_ROOT": str(tmp / "sys"),
            "AIM_DEV_ROOT": str(tmp / "dev"),
            "AIM_CACHE_DIR": str(tmp / "cache"),
        }
        work = tmp / "work"  # no build/api here: the pyz must use its embedded copy
        work.mkdir()
        commands = {
            "python3 -c pass": [python3, "-c", "pass"],
            "python3 build/aim-pick.pyz": [python3, str(build / "aim-pick.pyz"), args.model, "--format", "docker"],
            ".venv/bin/aim-pick": [
                str(venv_bin / "aim-pick"),
                args.model,
                "--format",
                "docker",
                "--api",
                str(build / "api"),
            ],
            ".venv/bin/python -c pass": [sys.executable, "-c", "pass"],
        }
        outputs = set()
        for name, argv in commands.items():  # every aim-pick row prints the same command
            if "pass" in argv:
                continue
            check = subprocess.run(argv, env=env, cwd=work, capture_output=True, text=True)
            if check.returncode != 0 or not check.stdout.startswith("docker run "):
                sys.exit(f"{name} failed (exit {check.returncode}): {check.stderr or check.stdout}")
            outputs.add(check.stdout)
        if len(outputs) != 1:
            sys.exit("the aim-pick rows disagree on the command")
        times = time_runs(commands, env, work, args.runs)

    base_best, base_median = min(times["python3 -c pass"]), statistics.median(times["python3 -c pass"])
    print(
        f"python3 = {python3} ({os.cpu_count()} CPUs); {args.runs} runs each, interleaved; "
        f"model {args.model}, simulated 8 x MI300X"
    )
    print(f"{'command':<30} {'best ms':>8} {'median ms':>10} {'x best':>7} {'x median':>9}")
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        print(
            f"{name:<30} {best * 1000:8.1f} {median * 1000:10.1f} {best / base_best:7.2f} {median / base_median:9.2f}"
        )
    for name in ("python3 build/aim-pick.pyz", ".venv/bin/aim-pick"):
        ratio = statistics.median(times[name]) / base_median
        print(
            f"{name}: {ratio:.2f} x python3 -c pass (median) -> "
            f"{'meets' if ratio <= TARGET else 'misses'} the {TARGET} x target"
        )
    # The venv does not load the base interpreter's site-packages (.pth files run at every
    # start-up there), so its entry point is also compared with its own interpreter.
    own = statistics.median(times[".venv/bin/aim-pick"]) / statistics.median(times[".venv/bin/python -c pass"])
    print(f".venv/bin/aim-pick: {own:.2f} x .venv/bin/python -c pass (median, same interpreter and site)")


if __name__ == "__main__":
    main()
