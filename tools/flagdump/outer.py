"""Outer run (system Python): throw-away venv, pip installs, then the inner run inside it.

The engine wheel goes in with ``--no-deps`` (its real dependency set includes torch and
several GB of CUDA / ROCm kernels we do not need to *parse arguments*), then the few light
pure-Python packages the parser's import chain touches, pinned with the engine's own
``Requires-Dist`` specifiers where it declares them.

The inner run is ``python -m tools.flagdump --_inner ...`` with the venv's interpreter, a
scrubbed environment, and a ``PYTHONPATH`` that exposes *only* this package (a temporary
directory holding ``tools/flagdump`` as a symlink), so nothing else of the repository
(``tests``, ``models``, ...) can shadow a module the engine imports.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .engines import ENGINES, EngineSpec

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent
DEFAULT_OUT = REPO_ROOT / "compiler" / "aim_engine" / "catalogue" / "data" / "flags"
DEFAULT_VENV_ROOT = Path(tempfile.gettempdir()) / "aim-engine-flags"


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", shlex.join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


# After a --no-deps install pip lists every engine requirement we skipped on
# purpose (torch, kernels, ...). Expected; hide it, keep anything else. Local
# index locations that do not exist on this machine are noise too.
_SKIPPED_DEP_NOISE = re.compile(
    r"^(?:ERROR: pip's dependency resolver does not currently take into account"
    r"|\S+ \S+ requires .*, which is not installed\.$)"
)
_MISSING_INDEX_NOISE = re.compile(r"^WARNING: Location '.*' is ignored: it is neither a file nor a directory\.$")


def _pip(cmd: list[str]) -> None:
    print("+", shlex.join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).splitlines()
    if proc.returncode != 0:
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(f"pip failed ({proc.returncode})")
    skipped = [line for line in lines if _SKIPPED_DEP_NOISE.match(line)]
    for line in lines:
        if line not in skipped and not _MISSING_INDEX_NOISE.match(line):
            print(line)
    n_skipped = sum(" requires " in line for line in skipped)
    if n_skipped:
        print(f"  ({n_skipped} engine requirements left out on purpose)")


def norm(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_light_deps(spec: EngineSpec, requires: list[str]) -> list[str]:
    """Pin each light dep with the engine's own specifier when it has one.

    The engine's Requires-Dist already encodes which versions its imports
    work with (e.g. vLLM 0.33 wants fastapi<0.137), so reusing it keeps the
    venv close to a real install without pulling the heavy packages. Extras
    (``fastapi[standard]``) are dropped to stay light; markers are kept, pip
    evaluates them.
    """
    declared: dict[str, str] = {}
    for req in requires:
        if "extra ==" in req:  # optional extras of the engine: not installed
            continue
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)", req)
        if m:
            declared.setdefault(norm(m.group(1)), m.group(3).strip())
    pinned = []
    for dep in spec.light_deps:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", dep):  # carries its own specifier
            pinned.append(dep)
            continue
        rest = declared.get(norm(dep), "")
        pinned.append(f"{dep}{rest}" if rest.startswith(("<", ">", "=", "!", "~", ";")) else dep)
    return pinned


def inner_env(spec: EngineSpec, home: Path, pythonpath: Path) -> dict[str, str]:
    """A scrubbed environment: engines read env vars that change defaults.

    Nothing of the caller's environment is inherited except PATH's system
    part; HOME points to an empty directory so no user config file
    (~/.config/vllm, HF caches, ...) leaks into the snapshot.
    """
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(pythonpath),
        # Help texts are wrapped to the terminal width in some places.
        "COLUMNS": "100",
        # Belt and braces: nothing here should touch the network.
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }
    env.update(spec.env)
    return env


def _package_path(tmp: Path) -> Path:
    """A directory whose only importable content is ``tools.flagdump``."""
    root = tmp / "pythonpath"
    (root / "tools").mkdir(parents=True)
    (root / "tools" / "flagdump").symlink_to(PACKAGE_DIR, target_is_directory=True)
    return root


def install_venv(spec: EngineSpec, version: str, venv_dir: Path) -> Path:
    """The throw-away venv with the released engine wheel (no GPU dependencies) and the light
    packages its parser imports; its interpreter."""
    py = venv_dir / "bin" / "python"
    if not py.exists():
        _run([sys.executable, "-m", "venv", str(venv_dir)])
    pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # --only-binary: we want the released wheel, never an sdist build.
    _pip(pip + ["--only-binary", ":all:", "--no-deps", f"{spec.package}=={version}"])
    requires = json.loads(
        subprocess.run(
            [
                str(py),
                "-c",
                f"import importlib.metadata as m, json;print(json.dumps(m.requires({spec.package!r}) or []))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    _pip(pip + ["--only-binary", ":all:"] + pinned_light_deps(spec, requires))
    return py


def outer_main(engine: str, version: str, out: str | None, venv: str | None, venv_only: bool = False) -> int:
    spec = ENGINES[engine]
    venv_dir = Path(venv) if venv else DEFAULT_VENV_ROOT / f"{engine}-{version}"
    out_dir = Path(out) if out else DEFAULT_OUT
    out_file = out_dir / f"{engine}-{version}.json"

    t0 = time.monotonic()
    py = install_venv(spec, version, venv_dir)
    t_install = time.monotonic() - t0
    if venv_only:  # for the tests that run the real parser (tests/engines/test_real_parser.py)
        print(f"{engine} {version} installed in {venv_dir} in {t_install:.1f}s")
        return 0

    out_dir.mkdir(parents=True, exist_ok=True)
    t1 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aim-flags-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        tmp_out = Path(tmp) / "out.json"
        _run(
            # -s: no user site-packages; cwd is the empty HOME, so neither the
            # repository nor any ./vllm checkout lands on sys.path.
            [str(py), "-s", "-m", "tools.flagdump", "--_inner", engine, version, "--out", str(tmp_out)],
            env=inner_env(spec, home, _package_path(Path(tmp))),
            cwd=home,
        )
        data = tmp_out.read_text(encoding="utf-8")
    out_file.write_text(data, encoding="utf-8")
    t_dump = time.monotonic() - t1

    snap = json.loads(data)
    n_bool = sum(1 for o in snap["options"].values() if o["kind"] == "bool")
    n_dep = sum(1 for o in snap["options"].values() if o["deprecated"])
    print(
        f"wrote {out_file}: {snap['option_count']} options "
        f"({n_bool} bool, {n_dep} deprecated); "
        f"install {t_install:.1f}s, dump {t_dump:.1f}s"
    )
    return 0
