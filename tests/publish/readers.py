"""The real readers of each artifact, for tests: a POSIX shell loading an env file, a run
script run with a `docker` stub first on PATH, docker-compose's own view of a compose file,
Kubernetes' `$(VAR)` expansion, and the docker CLI reading an env file (tests/publish/fakedocker.py).

Every reader runs in a folder of its own, so a payload that ran (`touch PWNED7`) leaves a
file there that `ran_payloads` finds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from .fakedocker import FakeDocker, parsed_env

# Records its argv NUL-separated (any byte but NUL survives), runs nothing else.
DOCKER_STUB = """#!/bin/sh
printf '%s\\0' "$@" > "$AIM_DOCKER_ARGV"
"""


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: run scripts/install-test-tools.sh (the README's test command does)"
    return path


def ran_payloads(folder: Path) -> list[str]:
    """Files a payload created (hostile payloads touch PWNED<n>)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("PWNED*"))


def base_env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"}


def source_env_file(path: Path, cwd: Path) -> dict[str, str]:
    """The environment after `set -a; . file; set +a` in sh, started from an almost empty one."""
    script = 'set -a; . "$1"; set +a; env -0'
    done = subprocess.run(["sh", "-c", script, "sh", str(path)], capture_output=True, cwd=cwd, env=base_env())
    assert done.returncode == 0 and not done.stderr, done.stderr.decode(errors="replace")
    pairs = [item.split(b"=", 1) for item in done.stdout.split(b"\0") if item]
    return {k.decode(): v.decode("utf-8") for k, v in pairs}


def new_vars(env: dict[str, str]) -> dict[str, str]:
    """`env` without what the shell itself sets or was started with."""
    return {k: v for k, v in env.items() if k not in {*base_env(), "PWD", "OLDPWD", "SHLVL", "_"}}


def docker_stub(folder: Path) -> Path:
    """A folder holding a `docker` that records its argv; put it first on PATH."""
    bin_dir = folder / "stub-bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "docker"
    stub.write_text(DOCKER_STUB)
    stub.chmod(0o755)
    return bin_dir


def run_script(script: Path, cwd: Path) -> list[str]:
    """Run a docker/*.sh script with the stub first on PATH: the argv it ran docker with
    (argv[0] included, as "docker")."""
    record = cwd / "docker-argv"
    record.unlink(missing_ok=True)
    env = {**base_env(), "PATH": f"{docker_stub(cwd)}:{os.environ['PATH']}", "AIM_DOCKER_ARGV": str(record)}
    done = subprocess.run(["sh", str(script)], capture_output=True, cwd=cwd, env=env)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode(errors="replace")
    words = record.read_bytes().split(b"\0")
    assert words[-1] == b""  # every word ends with its NUL
    return ["docker", *(w.decode("utf-8") for w in words[:-1])]


def compose_config(path: Path, cwd: Path, env: dict[str, str] | None = None) -> dict:
    """docker-compose's resolved view of a compose file (`config`), with `$$` turned back into
    `$` the way compose reads it (config prints `$` escaped again)."""
    done = subprocess.run(
        [tool("docker-compose"), "-f", str(path), "config"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return unescape_dollars(yaml.safe_load(done.stdout))


def unescape_dollars(value):
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [unescape_dollars(v) for v in value]
    if isinstance(value, dict):
        return {k: unescape_dollars(v) for k, v in value.items()}
    return value


def k8s_expand(text: str, variables: dict[str, str] | None = None) -> str:
    """Kubernetes' expansion of command, args and env values (third_party/forked/golang/expansion
    in kubernetes/kubernetes): `$$` is `$`, `$(NAME)` is NAME's value (left as written when
    undefined), any other `$` stays."""
    variables = variables or {}
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                close = text.find(")", i + 2)
                if close != -1:
                    name = text[i + 2 : close]
                    out.append(variables.get(name, f"$({name})"))
                    i = close + 1
                    continue
                out.append("$(")
                i += 2
                continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def k8s_container(objects: list[dict]) -> dict:
    """The engine container of a Deployment as the kubelet runs it: command, args and env values expanded."""
    container = dict(objects[0]["spec"]["template"]["spec"]["containers"][0])
    for field in ("command", "args"):
        if field in container:
            container[field] = [k8s_expand(a) for a in container[field]]
    container["env"] = [{**e, "value": k8s_expand(e["value"])} if "value" in e else e for e in container["env"]]
    return container


def docker_env_file(path: Path, folder: Path) -> list[str]:
    """What the real docker CLI parses from `--env-file path` (sent to a fake daemon)."""
    with FakeDocker(folder) as daemon:
        return parsed_env(tool("docker"), daemon, path, base_env())


def artifact_shape(plan: dict) -> tuple:
    """What decides how a plan's artifacts are written: the engine, the option names of its command,
    the environment's names, where it came from, gated or not, replicas and hosts. Values (ids,
    counts, lengths) only fill slots the templates quote; tests/publish/test_hostile_artifacts.py
    sends every kind of hostile value through each slot."""
    options = tuple(sorted({a.split("=")[0] for a in plan["engine_argv"] if a.startswith("-")}))
    return (
        plan["backend"],
        options,
        tuple(sorted(plan["env"])),
        plan["source"],
        bool(plan.get("gated")),
        plan["replicas"] > 1,
        plan["nodes"],
    )


def one_of_each_shape(plans: list[dict]) -> list[dict]:
    """The first plan (by id) of every artifact shape: the real clients check each way an artifact
    is written (368 of the 8,500 plans of the shipped catalogue) instead of every file."""
    chosen: dict[tuple, dict] = {}
    for plan in sorted(plans, key=lambda p: p["plan_id"]):
        chosen.setdefault(artifact_shape(plan), plan)
    return list(chosen.values())
