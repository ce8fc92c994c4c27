"""Dependencies point one way (docs/architecture.md): a module imports only its own package
and packages of lower layers; the shim imports nothing of the compiler; the shared contract
and the shim import only the standard library."""

from __future__ import annotations

import ast
import sys

import pytest

from tests.conftest import REPO

COMPILER = REPO / "compiler"
# Lower number = lower layer. A module may import its own package and anything strictly lower.
LAYERS = {
    "aim_pick.contract": 0,
    "aim_engine.errors": 1,
    "aim_pick": 1,
    "aim_engine.catalogue": 2,
    "aim_engine.engines": 3,
    "aim_engine.planning": 4,
    "aim_engine.checks": 5,
    "aim_engine.publish": 6,
    "aim_engine.cache": 6,
    "aim_engine.build": 7,
    "aim_engine.commands": 8,
    "aim_engine.cli": 9,
    "aim_engine.__main__": 10,
    "aim_engine": 1,  # the package's __init__: the version, no imports
}


def package_of(module: str) -> str:
    """The most specific LAYERS key that `module` belongs to."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in LAYERS:
            return candidate
    raise AssertionError(f"{module} is in no layer")


def modules() -> dict[str, list[str]]:
    """Every compiler module and the first-party modules it imports."""
    found = {}
    for path in sorted(COMPILER.rglob("*.py")):
        relative = path.relative_to(COMPILER).with_suffix("")
        name = ".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts)
        imported = []
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.append(node.module)
            elif isinstance(node, ast.Import):
                imported.extend(alias.name for alias in node.names)
        found[name] = imported
    return found


def test_nothing_imports_up():
    wrong = []
    for module, imported in modules().items():
        own = package_of(module)
        for target in imported:
            if not target.startswith(("aim_engine", "aim_pick")):
                continue
            theirs = package_of(target)
            if module.startswith("aim_engine") and target.startswith("aim_pick") and theirs != "aim_pick.contract":
                wrong.append(
                    f"{module} imports the shim's {target}; the compiler reaches the shim only via its contract"
                )
            if theirs != own and LAYERS[theirs] >= LAYERS[own]:
                wrong.append(
                    f"{module} ({own}, layer {LAYERS[own]}) imports {target} ({theirs}, layer {LAYERS[theirs]})"
                )
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_the_shim_and_the_contract_import_only_the_standard_library():
    # amdsmi and torch are optional detection sources, imported only when installed
    stdlib = set(sys.stdlib_module_names) | {"__future__", "amdsmi", "torch"}
    wrong = []
    for module, imported in modules().items():
        if not module.startswith("aim_pick"):
            continue
        for target in imported:
            top = target.split(".")[0]
            if top == "aim_engine" or (top != "aim_pick" and top not in stdlib):
                wrong.append(f"{module} imports {target}")
            if (
                module.startswith("aim_pick.contract")
                and top == "aim_pick"
                and not target.startswith("aim_pick.contract")
            ):
                wrong.append(f"{module} (the contract) imports the shim's {target}")
    assert not wrong, "\n".join(wrong)
