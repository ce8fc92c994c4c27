from __future__ import annotations

import textwrap

import pytest

from aim_engine.cli import main
from tests.checks.test_validate import GOOD_VLLM
from tests.conftest import REPO


def test_validate_whole_catalogue_exits_zero(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "0 error(s)" in out.splitlines()[-1]


@pytest.mark.slow
def test_validate_bad_file_exits_one_with_file_and_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(GOOD_VLLM).lstrip().replace("--max-model-len: 32768", "--max-modle-len: 32768", 1))
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if "unknown-flag" in row)
    assert line.split(": error: ")[0].endswith("bad.yaml:13")
    assert out.splitlines()[-1] == "1 file(s) checked: 1 error(s), 0 warning(s)"


@pytest.mark.slow
def test_validate_folder_of_recipes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    (tmp_path / "a.yaml").write_text(textwrap.dedent(GOOD_VLLM).lstrip())
    (tmp_path / "b.yaml").write_text(
        textwrap.dedent(GOOD_VLLM)
        .lstrip()
        .replace("test-qwen3", "other-qwen3")
        .replace("hardware: MI300X", "hardware: MI999X")
    )
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "b.yaml:3: error" in out and "a.yaml" not in out.replace("2 file(s)", "")


@pytest.mark.slow
def test_github_annotations(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    bad = tmp_path / "bad, name.yaml"
    bad.write_text(textwrap.dedent(GOOD_VLLM).lstrip().replace("hardware: MI300X", "hardware: MI999X"))
    assert main(["validate", "--format", "github", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("::error file=") and ",line=3,title=unknown-hardware::" in out[0]
    assert "bad%2C name.yaml" in out[0]


def test_usage_errors_exit_two(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "does-not-exist.yaml"]) == 2
    assert main(["validate"]) == 2  # no models/ here
    assert "no models/ folder" in capsys.readouterr().err


def test_paths_need_a_catalogue_and_some_yaml(tmp_path, capsys, monkeypatch):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("no recipes here")
    monkeypatch.chdir(REPO)
    assert main(["validate", str(tmp_path / "notes")]) == 2
    assert "no .yaml" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # outside a catalogue: say so instead of "unknown model"
    assert main(["validate", str(REPO / "recipes" / "qwen3-8b-mi300x-bf16.yaml")]) == 2
    assert "no models/ folder" in capsys.readouterr().err
    assert main(["validate", "--root", str(REPO), str(REPO / "recipes" / "qwen3-8b-mi300x-bf16.yaml")]) == 0


@pytest.mark.slow
def test_root_option(tmp_path, capsys):
    assert main(["validate", "--root", str(REPO)]) == 0


@pytest.mark.slow
def test_pre_commit_hook_definition_runs_as_pre_commit_would(tmp_path, capsys, monkeypatch):
    """pre-commit runs `entry` with the changed files matching `files` appended."""
    import re
    import shlex

    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "aim-engine-validate")
    assert hook["language"] == "python"
    changed = ["recipes/qwen3-8b-mi300x-bf16.yaml", "models/qwen3-8b.yaml", "README.md"]
    matching = [f for f in changed if re.search(hook["files"], f)]
    assert matching == changed[:2]
    argv = shlex.split(hook["entry"]) + matching
    assert argv[0] == "aim-engine"
    monkeypatch.chdir(REPO)
    assert main(argv[1:]) == 0
    bad = tmp_path / "recipes" / "broken.yaml"
    bad.parent.mkdir()
    bad.write_text(textwrap.dedent(GOOD_VLLM).lstrip().replace("precision: bf16", "precision: bf17"))
    assert main(argv[1:] + [str(bad)]) == 1
