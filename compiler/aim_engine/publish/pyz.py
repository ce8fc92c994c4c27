"""Package aim-pick as one file: build/aim-pick.pyz, a zipapp with the API embedded.

The archive is reproducible (fixed timestamps and order), so two builds of the same
inputs give the same bytes.
"""

from __future__ import annotations

import io
import json
import marshal
import subprocess
import sys
import zipfile
from importlib import resources

from aim_pick.contract import layout, pack

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
MAIN = b"import sys\n\nfrom aim_pick.cli import main\n\nsys.exit(main())\n"


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    # Stored, not deflated: every start reads these modules, and inflating them costs more than
    # reading the few hundred kilobytes they are.
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


# Compiles every module in a fresh interpreter and writes {name: .pyc bytes} to stdout. marshal
# writes an object once and refers back to it when the object has other references at that moment,
# so the bytes depend on the state of the compiling process (which modules it has loaded, which
# strings it holds); a fresh isolated interpreter with a fixed hash seed (frozenset constants) is
# always in the same state, so two builds give the same archive however they ran.
_COMPILE = """
import importlib.util, marshal, sys
sources = marshal.loads(sys.stdin.buffer.read())
flags = (0b01).to_bytes(4, "little")  # hash-based, not checked against the source
out = {}
for name, source in sources.items():
    code = compile(source, name, "exec", dont_inherit=True)
    out[name] = importlib.util.MAGIC_NUMBER + flags + importlib.util.source_hash(source) + marshal.dumps(code)
sys.stdout.buffer.write(marshal.dumps(out))
"""


def compiled(sources: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Each module compiled next to its source: zipimport cannot cache bytecode, so without it
    every start compiles aim-pick again. Hash-based and unchecked, so the bytes depend only on
    the source and the interpreter; another Python version ignores it (magic number) and
    compiles the .py instead."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _COMPILE],
        input=marshal.dumps(dict(sources)),
        capture_output=True,
        env={"PYTHONHASHSEED": "0"},
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"compiling aim-pick's modules failed: {done.stderr.decode(errors='replace')[-500:]}")
    out: dict[str, bytes] = marshal.loads(done.stdout)
    return out


def shim_sources() -> list[tuple[str, bytes]]:
    """(archive name, source) of every module of the aim_pick package, subpackages included."""
    out = []

    def walk(folder, prefix: str) -> None:
        for item in sorted(folder.iterdir(), key=lambda p: p.name):
            if item.is_dir() and (item / "__init__.py").is_file():
                walk(item, f"{prefix}{item.name}/")
            elif item.name.endswith(".py"):
                out.append((f"{prefix}{item.name}", item.read_bytes()))

    walk(resources.files("aim_pick"), "aim_pick/")
    return out


def build_pyz(api_files: dict[str, bytes]) -> bytes:
    """`api_files`: build-relative paths ('api/index.json', ...) -> content. The archive is the
    shebang line, the API as one pack (aim_pick/contract/pack.py), then the zip of the modules."""
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    buffer.write(pack.write(embedded_api(api_files)))
    with zipfile.ZipFile(buffer, "w") as archive:
        _add(archive, "__main__.py", MAIN)
        sources = shim_sources()
        pycs = compiled(sources)
        for name, code in sources:
            _add(archive, name, code)
            _add(archive, name + "c", pycs[name])
    return buffer.getvalue()


def embedded_api(api_files: dict[str, bytes]) -> dict[str, bytes | dict[str, bytes]]:
    """The API as the zipapp's pack holds it, by path under api/: every file as published,
    except the plans, which are one nested pack per GPU type and model (the unit a lookup
    needs): plan-bundles/<hw>/<slug> = {plan id: the plan, compact}, with plan-index.json =
    {plan id: "<hw>/<slug>"} for --profile."""
    out: dict[str, bytes | dict[str, bytes]] = {}
    bundles: dict[str, dict[str, bytes]] = {}
    for path in sorted(api_files):
        if not path.startswith("api/"):
            continue
        relative = path[len("api/") :]
        if not relative.startswith("plans/"):
            out[relative] = api_files[path]
            continue
        plan = json.loads(api_files[path])
        bundles.setdefault(f"{plan['hardware']}/{plan['model_slug']}", {})[plan["plan_id"]] = layout.compact_json(plan)
    for where, plans in bundles.items():
        out[f"plan-bundles/{where}"] = plans
    out["plan-index.json"] = layout.compact_json({pid: where for where, plans in bundles.items() for pid in plans})
    return out
