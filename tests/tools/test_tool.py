"""The tool's plumbing: pins from Requires-Dist, the scrubbed env, the fake-module finder, the CLI."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from tools.flagdump import fakes, outer
from tools.flagdump.engines import ENGINES, EngineSpec

REPO = Path(__file__).resolve().parents[2]


def test_light_deps_take_the_engine_pins():
    spec = EngineSpec("eng", "eng serve", ("fastapi", "numpy", "pydantic", "x<2"), (), {})
    requires = [
        "fastapi<0.137,>=0.133",
        "numpy",
        "pydantic>=2.12; python_version >= '3.10'",
        "torch==2.9",
        "rich; extra == 'dev'",
    ]
    assert outer.pinned_light_deps(spec, requires) == [
        "fastapi<0.137,>=0.133",
        "numpy",
        "pydantic>=2.12; python_version >= '3.10'",
        "x<2",
    ]


def test_inner_env_is_scrubbed(tmp_path):
    env = outer.inner_env(ENGINES["vllm"], tmp_path / "home", tmp_path / "pp")
    assert env["VLLM_TARGET_DEVICE"] == "cpu"
    assert env["PYTHONPATH"] == str(tmp_path / "pp")
    assert env["HOME"] == str(tmp_path / "home")
    assert "VIRTUAL_ENV" not in env and env["PATH"] == "/usr/local/bin:/usr/bin:/bin"


def test_package_path_exposes_only_the_tool(tmp_path):
    root = outer._package_path(tmp_path)
    assert sorted(p.name for p in root.iterdir()) == ["tools"]
    assert (root / "tools" / "flagdump" / "__main__.py").exists()


def test_fake_finder_serves_permissive_modules():
    finder = fakes._FakeFinder(["aimfakeheavy"], {"aimfakeheavy": "9.9"})
    sys.meta_path.insert(0, finder)
    try:
        heavy = importlib.import_module("aimfakeheavy.nn")

        class Layer(heavy.Module):  # subclassable
            pass

        assert heavy.cuda.is_available() is not None and not heavy.cuda.is_available()
        assert heavy.Tensor is heavy.Tensor  # stable identity
        assert "gfx942" not in heavy.cuda.get_device_properties(0).gcnArchName  # no endless `in`

        @heavy.compile
        def f():
            return 1

        assert f() == 1  # bare decorator use returns the function
        assert fakes.is_fake(heavy.Tensor) and fakes.fake_path(heavy.float16) == "aimfakeheavy.nn.float16"
        assert importlib.metadata.version("aimfakeheavy") == "9.9"
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n.startswith("aimfakeheavy")]:
            del sys.modules[name]


def test_simulated_rocm_device_is_restored():
    with fakes.simulate_rocm_device("gfx950"):
        assert fakes._FAKE_OVERRIDES["torch.version.hip"]
        props = fakes._FAKE_OVERRIDES["torch.cuda.get_device_properties"](0)
        assert props.gcnArchName.startswith("gfx950")
    assert "torch.cuda.get_device_properties" not in fakes._FAKE_OVERRIDES


def test_package_imports_only_the_standard_library():
    """The inner run imports the package with a venv holding only the engine: no repo deps."""
    code = (
        "import sys, pkgutil, importlib, tools.flagdump as p\n"
        "for m in pkgutil.iter_modules(p.__path__): importlib.import_module('tools.flagdump.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('yaml', 'jinja2', 'jsonschema', 'aim_engine'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(REPO)!r}); " + code],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_runs_from_the_repo_root():
    result = subprocess.run(
        [sys.executable, "-m", "tools.flagdump", "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0 and "vllm" in result.stdout
