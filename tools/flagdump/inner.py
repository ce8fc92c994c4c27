"""Inner run (inside the throw-away venv): fakes, the engine's parser, captures, JSON.

Only the standard library may be imported here: this runs with the venv's interpreter.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import sys
from pathlib import Path

from . import fakes, serialise
from .engines import ENGINES

GENERATED_BY = "tools/flagdump"
# The engine module of each engine: build_parser(), typing_choices(), capture().
ENGINE_MODULES = {"vllm": "vllm_engine", "sglang": "sglang_engine"}


def snapshot(engine: str, version: str) -> dict:
    spec = ENGINES[engine]
    installed = importlib.metadata.version(spec.package)
    if installed != version:
        raise SystemExit(f"venv has {spec.package}=={installed}, expected {version}")
    fakes.install_fakes(engine, spec)
    module = importlib.import_module(f"{__package__}.{ENGINE_MODULES[engine]}")
    built = module.build_parser()
    snap = {
        "engine": engine,
        "version": version,
        "package": f"{spec.package}=={version}",
        "command": spec.command,
        "generated_by": GENERATED_BY,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        **serialise.dump_parser(built.parser, module.typing_choices, spec.fire_deprecated_actions),
        **serialise.value_syntax(built.parser),
    }
    # Captures run after the parser is serialised: some simulate a GPU.
    snap.update(module.capture(built, snap))
    return snap


def render(snap: dict) -> str:
    """The snapshot file's text: sorted keys, one-space indent, no timestamps."""
    return json.dumps(snap, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def inner_main(engine: str, version: str, out: str) -> int:
    Path(out).write_text(render(snapshot(engine, version)), encoding="utf-8")
    return 0
