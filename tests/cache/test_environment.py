"""cache env and volumes: the artifacts' own values, gating from explicit sources, output a shell
can source without running anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aim_engine.cache.environment import catalogue_gated, model_environment
from aim_engine.cache.index import update_index
from aim_pick.contract import deploy

from .conftest import build_repo, commit_of, files, run

C1 = commit_of("c1")
GATED_YAML = """model_id: {id}
name: Gated
gated: {gated}
"""


def test_env_and_volumes_match_the_generated_artifacts(root, capsys):
    build_repo(root, "org/done", files(100), C1)
    build_repo(root, "org/half", files(100), C1, ref=None)
    update_index(root, lambda e: e.update({"org/done": {"commit_hash": C1, "gated": True}}))
    code, out, err = run(capsys, "cache", "env", "org/done", "--cache-dir", str(root))
    assert code == 0 and out.splitlines() == [
        "HF_HOME=/workspace/model-cache",
        "HF_HUB_OFFLINE=1",
        "# org/done is gated: also export HF_TOKEN (never stored here)",
    ]
    code, out, _ = run(capsys, "cache", "env", "org/half", "--cache-dir", str(root), "--json")
    data = json.loads(out)
    assert data["env"] == {"HF_HOME": deploy.CACHE_ROOT} and data["complete"] is False
    code, out, _ = run(capsys, "cache", "env", "org/done", "--cache-dir", str(root), "--host")
    assert f"HF_HOME={root}" in out.splitlines()
    assert not any(name in out for name in ("TRANSFORMERS_CACHE", "VLLM_CACHE_DIR", "MODEL_CACHE_PATH"))
    code, out, _ = run(capsys, "cache", "volumes", "org/done", "--cache-dir", str(root))
    assert out.splitlines() == [f"{root}:/workspace/model-cache"]
    # The docker command the build writes, for a host whose cache is this root.
    plan = {
        "plan_id": "p",
        "port": 8000,
        "env": {},
        "gated": True,
        "image": "img",
        "container_argv": [],
        "engine_argv": [],
    }
    argv = deploy.docker_argv(plan, deploy.DeployOptions(cache_dir=str(root), offline=True))
    assert argv[argv.index("-v") + 1] == out.strip()
    assert {f"{k}={v}" for k, v in model_environment(root, "org/done").values.items()} <= set(argv)


@pytest.mark.slow  # the `built` fixture: one build of the catalogue
def test_gated_model_not_yet_cached(built, tmp_path):
    """The catalogue knows a model is gated before its first download, when the index cannot yet."""
    env = model_environment(tmp_path, "meta-llama/Llama-3.1-70B-Instruct", api_dir=built / "api")
    values, by_name, state = env.values, env.pass_through, env.state
    assert not state["complete"]
    assert by_name == ["HF_TOKEN"] and "HF_TOKEN" not in values
    ungated = model_environment(tmp_path, "Qwen/Qwen3-8B", api_dir=built / "api").pass_through
    assert ungated == []
    unknown = model_environment(tmp_path, "someone/else", api_dir=tmp_path / "no-api").pass_through
    assert unknown == []


def api(folder: Path, repo_id: str, gated: bool) -> Path:
    """A minimal built API: index.json as `aim-engine build` writes it (only what is read here)."""
    folder.mkdir(parents=True)
    index = {"models": [{"model_id": repo_id, "gated": gated}], "hardware": [], "engines": []}
    (folder / "index.json").write_text(json.dumps(index))
    return folder


def catalogue(folder: Path, repo_id: str, gated: bool) -> Path:
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "m.yaml").write_text(GATED_YAML.format(id=repo_id, gated=str(gated).lower()))
    return folder


def test_gating_comes_from_the_catalogue_root_or_the_api_never_from_build_api_in_the_current_folder(
    tmp_path, root, capsys, monkeypatch
):
    cat = catalogue(tmp_path / "cat", "org/gated-one", True)
    token = "# org/gated-one is gated: also export HF_TOKEN (never stored here)"
    code, out, _ = run(capsys, "cache", "env", "org/gated-one", "--cache-dir", str(root), "--root", str(cat))
    assert code == 0 and token in out.splitlines()
    monkeypatch.chdir(cat)  # the default --root is the current folder
    code, out, _ = run(capsys, "cache", "env", "org/gated-one", "--cache-dir", str(root))
    assert code == 0 and token in out.splitlines()
    # A folder that only has a built API saying the model is gated: it is not read implicitly...
    elsewhere = tmp_path / "elsewhere"
    api(elsewhere / "build" / "api", "org/api-gated", True)
    monkeypatch.chdir(elsewhere)
    code, out, err = run(capsys, "cache", "env", "org/api-gated", "--cache-dir", str(root))
    assert code == 0 and "HF_TOKEN" not in out
    assert "whether org/api-gated is gated is not known" in err and "--root or --api" in err
    # ...only when asked for.
    code, out, _ = run(capsys, "cache", "env", "org/api-gated", "--cache-dir", str(root), "--api", "build/api")
    assert code == 0 and "# org/api-gated is gated: also export HF_TOKEN (never stored here)" in out.splitlines()
    code, out, _ = run(
        capsys, "cache", "env", "org/api-gated", "--cache-dir", str(root), "--api", "build/api", "--json"
    )
    assert json.loads(out)["gated"] is True and json.loads(out)["pass_through"] == ["HF_TOKEN"]
    code, _, err = run(capsys, "cache", "env", "org/api-gated", "--cache-dir", str(root), "--api", "nowhere")
    assert code == 0 and "could not be read" in err  # an unreadable catalogue is a note, not a failure


def test_the_index_record_from_the_hub_and_the_catalogue_combine(tmp_path, root):
    build_repo(root, "org/m", files(100), C1)
    not_gated = catalogue(tmp_path / "a", "org/m", False)
    gated = catalogue(tmp_path / "b", "org/m", True)
    assert catalogue_gated("org/m", catalogue_root=not_gated).gated is False
    assert catalogue_gated("org/m", catalogue_root=tmp_path / "none").gated is None
    assert model_environment(root, "org/m", catalogue_root=not_gated).gating.gated is False
    assert model_environment(root, "org/m", catalogue_root=gated).pass_through == ["HF_TOKEN"]
    update_index(root, lambda e: e.update({"org/m": {"gated": True}}))  # recorded by a download
    assert model_environment(root, "org/m", catalogue_root=not_gated).pass_through == ["HF_TOKEN"]
    assert model_environment(root, "org/m", catalogue_root=tmp_path / "none").gating.source.startswith(
        "the cache index"
    )


NASTY_ROOTS = ["$(touch PWNED)", "`touch PWNED`", "a'b; touch PWNED; '", "sp ace $HOME"]


def test_a_cache_root_with_a_control_character_is_refused(tmp_path, capsys):
    root = tmp_path / "x" / "new\nline; touch PWNED"
    build_repo(root, "org/m", files(100), C1)
    code, out, err = run(capsys, "cache", "env", "org/m", "--host", "--cache-dir", str(root))
    assert code == 2 and out == "" and "control character" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", NASTY_ROOTS)
def test_env_host_output_sources_to_the_literal_path_and_runs_nothing(tmp_path, capsys, name):
    """`aim-engine cache env --host > file; . ./file` with a cache folder named like a command."""
    root = tmp_path / "x" / name
    build_repo(root, "org/m", files(100), C1)
    evil = root / "hub" / "models--org--m" / "snapshots" / C1 / "evil\ntouch PWNED\n#"
    evil.symlink_to("../../blobs/missing")  # a broken link: its name shows up in the reason
    code, out, err = run(capsys, "cache", "env", "org/m", "--host", "--cache-dir", str(root))
    assert code == 0 and "evil" in err
    shell = tmp_path / "shell"
    shell.mkdir()
    (shell / "env").write_text(out)
    (shell / "notes").write_text(err)  # the comments on stderr: safe to source too
    sourced = subprocess.run(
        ["sh", "-c", '. ./env && . ./notes && printf %s "$HF_HOME"'],
        cwd=shell,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert sourced.returncode == 0, sourced.stderr
    assert sourced.stdout == str(root)  # exactly the folder, nothing expanded
    assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()
    assert all(line.startswith("# ") for line in err.splitlines())  # one comment per line, never a command
    show = "import os, sys; sys.stdout.write(os.environ['HF_HOME'])"
    exported = subprocess.run(  # as the generated .env files are used: `set -a; . file`, then a program
        ["sh", "-c", f'set -a && . ./env && exec "$0" -c "{show}"', sys.executable],
        cwd=shell,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert exported.returncode == 0 and exported.stdout == str(root)
    assert not list(tmp_path.rglob("PWNED"))


def test_volumes_and_notes_stay_on_one_line(tmp_path, capsys):
    root = tmp_path / "two\nlines"  # a mount spec holds one line: such a root is refused, in one line
    code, out, err = run(capsys, "cache", "volumes", "org/m", "--cache-dir", str(root))
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "two\\nlines" in err
