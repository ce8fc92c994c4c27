"""Time `aim-pick MODEL --format docker` end to end against a bare interpreter's start-up.

Run: .venv/bin/python bench/bench_aim_pick.py [--runs 20] [--model Qwen/Qwen3-32B] [--build DIR]

The baseline is a **bare interpreter**: a fresh venv made for this run with
`python3 -m venv --without-pip` in a temporary folder, timed as `python -c pass`. It has
no site-packages beyond the standard library, so it measures what any host's Python costs
to start. (An interpreter with a large site-packages, such as the project's .venv or a
pyenv base with .pth files, starts slower and would flatter every ratio.)

The host is a simulated 8 x MI300X (SPX) sysfs tree (tests/aim_pick/hosts.py, which follows
docs/reference/hardware.md#sysfs-kfd-topology) under AIM_SYSFS_ROOT, with its render nodes
under AIM_DEV_ROOT. Every command runs as a fresh process, timed the same way (wall clock
around subprocess.run, output discarded), interleaved round by round so drift hits all
alike; best and median of --runs each. Rows:

- `bare python -c pass`               the baseline
- `bare python build/aim-pick.pyz`    the shipped single file, run by the bare interpreter
                                      (API embedded; no --api)
- `.venv/bin/aim-pick --api ...`      the installed entry point (the project's venv, whose
                                      site-packages are large)
- `.venv/bin/python -c pass`          that venv's own start-up, for reference

Ratios are medians over the bare baseline; the entry point is also compared with its own
interpreter. `python3` is resolved once to the real interpreter (a pyenv shim is a shell
script and would add its own start-up to every figure).

The .pyz carries unchecked-hash .pyc files next to its sources, stored uncompressed
(compiler/aim_engine/publish/pyz.py): zipimport never writes bytecode, so without them every
start would compile aim-pick. Its API is one pack in front of the zip (aim_pick/contract/pack.py),
so zipimport's directory, read whole at every start, lists only the modules.
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

TARGET = 1.5  # aim-pick.pyz <= 1.5 x a bare interpreter's start-up
BASELINE = "bare python -c pass"
PYZ = "bare python build/aim-pick.pyz"
ENTRY = ".venv/bin/aim-pick --api ..."
VENV = ".venv/bin/python -c pass"


def real_python3() -> str:
    found = shutil.which("python3") or sys.executable
    out = subprocess.run([found, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=True)
    return out.stdout.strip() or found


def bare_venv(python3: str, folder: Path) -> str:
    """A fresh venv with nothing installed (no pip): the bare interpreter of the baseline."""
    subprocess.run([python3, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=300)
    python = folder / "bin" / "python"
    probe = subprocess.run([python, "-c", "import aim_pick"], capture_output=True)
    if probe.returncode == 0:
        sys.exit(f"{python} can import aim_pick: not a bare interpreter")
    return str(python)


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
        bare = bare_venv(python3, tmp / "bare")
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
            BASELINE: [bare, "-c", "pass"],
            PYZ: [bare, str(build / "aim-pick.pyz"), args.model, "--format", "docker"],
            ENTRY: [str(venv_bin / "aim-pick"), args.model, "--format", "docker", "--api", str(build / "api")],
            VENV: [sys.executable, "-c", "pass"],
        }
        outputs = set()
        for name in (PYZ, ENTRY):  # every aim-pick row prints the same command
            check = subprocess.run(commands[name], env=env, cwd=work, capture_output=True, text=True)
            if check.returncode != 0 or not check.stdout.startswith("docker run "):
                sys.exit(f"{name} failed (exit {check.returncode}): {check.stderr or check.stdout}")
            outputs.add(check.stdout)
        if len(outputs) != 1:
            sys.exit("the aim-pick rows disagree on the command")
        times = time_runs(commands, env, work, args.runs)

    base_best, base_median = min(times[BASELINE]), statistics.median(times[BASELINE])
    print(
        f"bare interpreter: a fresh venv of {python3} ({os.cpu_count()} CPUs); {args.runs} runs each, "
        f"interleaved; model {args.model}, simulated 8 x MI300X"
    )
    print(f"{'command':<32} {'best ms':>8} {'median ms':>10} {'x best':>7} {'x median':>9}")
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        print(
            f"{name:<32} {best * 1000:8.1f} {median * 1000:10.1f} {best / base_best:7.2f} {median / base_median:9.2f}"
        )
    for name in (PYZ, ENTRY):
        ratio = statistics.median(times[name]) / base_median
        verdict = "meets" if ratio <= TARGET else "misses"
        print(f"{name}: {ratio:.2f} x {BASELINE} (median) -> {verdict} the {TARGET} x target")
    own = statistics.median(times[ENTRY]) / statistics.median(times[VENV])
    print(f"{ENTRY}: {own:.2f} x {VENV} (median, same interpreter and site-packages)")


if __name__ == "__main__":
    main()
