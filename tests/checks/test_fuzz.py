"""Random damage to valid model and recipe files never produces a traceback: every
problem comes back as a diagnostic naming the damaged file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aim_engine.build import check
from tests.conftest import REPO

pytestmark = [pytest.mark.slow]

RECIPE = (REPO / "recipes" / "qwen3-32b-mi300x-bf16.yaml").read_text()
MODEL = (REPO / "models" / "deepseek-r1.yaml").read_text()

nasty_scalars = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(min_size=0, max_size=12).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.sampled_from(
        [
            "null",
            "~",
            "true",
            "no",
            "[]",
            "{}",
            "[1, [2, [3]]]",
            "{a: {b: c}}",
            "*nope",
            "&a x",
            "!!binary aGk=",
            "!!python/object:os.system ls",
            "'",
            '"',
            "|",
            ">-",
            "- x",
            "? k",
            "@",
            "`x`",
            "%TAG",
            "1e999",
            "-0",
            "0x1F",
            "ＭＩ３００Ｘ",
            "😀",
            "\u202e",
            "\x00",
        ]
    ),
)


@st.composite
def damaged(draw, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["value", "delete", "dup", "indent", "truncate", "anchor", "key"]))
        line = lines[i]
        if action == "value" and ":" in line:
            lines[i] = line[: line.index(":") + 1] + " " + draw(nasty_scalars)
        elif action == "delete":
            del lines[i]
        elif action == "dup":
            lines.insert(i, line)
        elif action == "indent":
            lines[i] = " " * draw(st.integers(0, 9)) + line.lstrip()
        elif action == "truncate":
            lines[i] = line[: draw(st.integers(0, len(line)))]
        elif action == "anchor" and ":" in line:
            lines[i] = line + " &anc" if draw(st.booleans()) else line[: line.index(":") + 1] + " *anc"
        elif action == "key":
            lines[i] = draw(nasty_scalars) + ": " + line.split(":", 1)[-1]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n---\nx: 1\n"]))


def check_file(root, path, text):
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if False else path.write_bytes(
        text.encode("utf-8", "replace")
    )
    checked = check(root, [path])  # must not raise
    report, shown = checked.report, checked.shown
    for diagnostic in report.items:
        if diagnostic.path in shown:
            assert diagnostic.path.name == path.name
            assert diagnostic.message


def small_catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("cat")
    shutil.copytree(REPO / "models", root / "models")
    (root / "recipes").mkdir()
    return root


FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@FUZZ
@given(text=damaged(RECIPE))
def test_damaged_recipes_never_crash(tmp_path_factory, text):
    root = small_catalogue(tmp_path_factory)
    check_file(root, root / "fuzz-recipe.yaml", text)


@FUZZ
@given(text=damaged(MODEL))
def test_damaged_models_never_crash(tmp_path_factory, text):
    root = small_catalogue(tmp_path_factory)
    (root / "models" / "deepseek-r1.yaml").unlink()
    check_file(root, root / "models" / "fuzz-model.yaml", text)


def test_binary_and_non_utf8_files(tmp_path):
    for name, data in [
        ("bin.yaml", bytes(range(256))),
        ("latin1.yaml", "recipe_id: caf\xe9\n".encode("latin-1")),
        ("empty.yaml", b""),
        ("list.yaml", b"- 1\n- 2\n"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        checked = check(REPO, [path])
        report, shown = checked.report, checked.shown
        assert report.errors and all(d.path.name == name for d in report.errors if d.path in shown), name


def test_cli_never_prints_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe_id: [\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "compiler")}
    done = subprocess.run(
        [sys.executable, "-m", "aim_engine", "validate", str(bad)], cwd=REPO, capture_output=True, text=True, env=env
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert "bad.yaml:" in done.stdout and "yaml-syntax" in done.stdout
