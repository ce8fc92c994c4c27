"""Artifacts of a hostile catalogue (tests/hostile.py) read back by their real readers: no
payload runs, and every reader gets the literal values of the recipe.

The env file can carry only values that `set -a; . file` and `docker run --env-file` read the
same (bare values, deploy.ENV_BARE): docker takes the rest of a line verbatim, with no quote
removal. The validator refuses other env values (ENV_FILE_VALUE), and the build refuses them
too should one get past it. The artifacts are checked twice:

- `carried`: the hostile catalogue (its env values are hostile values an env file can carry;
  beside two shipped models, tests/conftest.py SMALL_MODELS), built for real; every artifact
  of the hostile plans goes to its reader;
- the refused payloads, put back into those plans (with the newline and terminal-escape
  payloads as the model's name, which every artifact's comments show): compose, Kubernetes
  and the run script carry them exactly; only the env file refuses them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aim_engine.build import CatalogueInvalid, build
from aim_engine.publish import artifacts as render
from aim_pick.contract import deploy
from tests.conftest import REPO, SMALL_MODELS
from tests.hostile import ENV_PAYLOADS, LINE_PAYLOADS, MODEL_ID, PAYLOADS, REFUSED_ENV_PAYLOADS, hostile_catalogue

from . import readers

pytestmark = pytest.mark.slow  # real processes, timeouts and catalogue builds

RECIPE = "hostile-8b-mi300x-bf16"
# Hostile values an env file can carry: hostile.py's env payloads.
CARRIED = {f"AIM_HOSTILE_{i}": value for i, value in enumerate(ENV_PAYLOADS[:-1])}
CARRIED_ENTRY = {"AIM_HOSTILE_ENTRY": ENV_PAYLOADS[-1]}
# Control characters, as aim_pick.contract.text counts them.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def recipe_path(root: Path) -> Path:
    return root / "recipes" / f"{RECIPE}.yaml"


def edit_recipe(root: Path, change) -> None:
    recipe = json.loads(recipe_path(root).read_text("utf-8"))
    change(recipe)
    recipe_path(root).write_text(json.dumps(recipe, indent=1), "utf-8")


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory):
    # the hostile model beside two shipped ones: its plans and artifacts do not depend on the rest
    return hostile_catalogue(tmp_path_factory.mktemp("hostile") / "cat", REPO, SMALL_MODELS)


@pytest.fixture(scope="module")
def hostile_recipe(hostile_root):
    return json.loads(recipe_path(hostile_root).read_text("utf-8"))


@pytest.fixture(scope="module")
def carried(tmp_path_factory, hostile_root):
    """The hostile catalogue (env values an env file can carry), built without the site."""
    root = hostile_root
    assert recipe_env(json.loads(recipe_path(root).read_text("utf-8")), "vllm") == {**CARRIED, **CARRIED_ENTRY}
    out = tmp_path_factory.mktemp("carried-out") / "build"
    build(root, out, site=False)
    return root, out


def hostile_plans(out: Path) -> list[dict]:
    plans = [json.loads(p.read_text("utf-8")) for p in sorted((out / "api" / "plans").glob("*.json"))]
    # the plans of the hostile recipe (its own GPU's and its siblings'); the model's generic plans
    # carry its values but not the recipe's
    found = [p for p in plans if p["model"] == MODEL_ID and p["source"] != "generic"]
    assert {p["recipe_id"] for p in found} == {RECIPE}
    assert {p["backend"] for p in found} == {"vllm", "sglang"} and len(found) >= 2
    return found


def client_plans(out: Path) -> list[dict]:
    """The hostile plans a real reader gets: one of each artifact shape (readers.one_of_each_shape);
    the other plans of the recipe carry the same values through the same slots."""
    return readers.one_of_each_shape(hostile_plans(out))


def recipe_env(recipe: dict, backend: str) -> dict[str, str]:
    """What the recipe asks for, as literal text: the recipe's env overlaid by the entry's."""
    return {**recipe.get("env", {}), **recipe[f"{backend}_serve"]["1_gpu"].get("env", {})}


def recipe_args(recipe: dict, backend: str) -> dict[str, str]:
    return {k: str(v) for k, v in recipe[f"{backend}_serve"]["1_gpu"]["args"].items()}


def assert_flag(argv: list[str], flag: str, value: str) -> None:
    assert argv[argv.index(flag) + 1] == value, (flag, value)


# --- env payloads no env file can carry: validation errors, and a build error behind them ---------


@pytest.fixture(scope="module")
def refusing_root(tmp_path_factory):
    root = hostile_catalogue(tmp_path_factory.mktemp("refusing") / "cat", REPO, SMALL_MODELS)
    edit_recipe(root, lambda recipe: recipe.update(env={f"AIM_BAD_{i}": v for i, v in enumerate(REFUSED_ENV_PAYLOADS)}))
    return root


def test_env_values_no_env_file_can_carry_are_validation_errors(refusing_root, tmp_path):
    out = tmp_path / "build"
    with pytest.raises(CatalogueInvalid) as caught:
        build(refusing_root, out, site=False)
    found = [d for d in caught.value.report.errors if d.path.name == f"{RECIPE}.yaml"]
    assert {d.check.slug for d in found} == {"env-file-value"}
    assert len(found) == len(REFUSED_ENV_PAYLOADS) and all(d.line for d in found)
    assert not any(CONTROL.search(d.format_text()) for d in found)
    assert not out.exists()


def test_the_refusal_is_one_line_per_finding_from_the_command(refusing_root, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "aim_engine", "validate", "--root", str(refusing_root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    ours = [line for line in done.stdout.splitlines() if f"{RECIPE}.yaml:" in line]
    assert len(ours) == len(REFUSED_ENV_PAYLOADS)


def test_the_build_refuses_what_gets_past_the_validator(carried):
    _, out = carried
    plan = hostile_plans(out)[0]
    for value in REFUSED_ENV_PAYLOADS:
        with pytest.raises(render.ArtifactError, match="cannot go in an env file") as caught:
            render.artifacts({**plan, "env": {**plan["env"], "AIM_BAD": value}})
        assert not CONTROL.search(str(caught.value))


# --- a hostile catalogue whose env values an env file can carry, built for real ------------------


def test_recipe_values_reach_the_plans_unchanged(carried):
    root, out = carried
    recipe = json.loads(recipe_path(root).read_text("utf-8"))
    for plan in hostile_plans(out):
        assert recipe_env(recipe, plan["backend"]).items() <= plan["env"].items()
        served = recipe_args(recipe, plan["backend"])["--served-model-name"]
        assert served in PAYLOADS
        assert_flag(plan["container_argv"], "--served-model-name", served)


def test_env_files_source_to_the_literal_values(carried, tmp_path):
    root, out = carried
    recipe = json.loads(recipe_path(root).read_text("utf-8"))
    for plan in client_plans(out):
        text = (out / plan["env_file"]).read_text("utf-8")
        assert not CONTROL.search(text.replace("\n", ""))
        cwd = tmp_path / plan["plan_id"]
        cwd.mkdir()
        loaded = readers.new_vars(readers.source_env_file(out / plan["env_file"], cwd))
        assert loaded == dict(deploy.env_file(plan))
        for key, value in recipe_env(recipe, plan["backend"]).items():
            assert loaded[key] == value
        assert readers.ran_payloads(cwd) == []


@pytest.mark.clients
def test_env_files_read_by_the_docker_cli_give_the_literal_values(carried, tmp_path):
    root, out = carried
    recipe = json.loads(recipe_path(root).read_text("utf-8"))
    for plan in client_plans(out):
        parsed = readers.docker_env_file(out / plan["env_file"], tmp_path)
        assert parsed == [f"{k}={v}" for k, v in deploy.env_file(plan)]
        as_dict = dict(item.split("=", 1) for item in parsed)
        for key, value in recipe_env(recipe, plan["backend"]).items():
            assert as_dict[key] == value
        assert readers.ran_payloads(tmp_path) == []


def test_run_scripts_run_docker_with_exactly_the_plan_argv(carried, tmp_path):
    _, out = carried
    for plan in client_plans(out):
        cwd = tmp_path / plan["plan_id"]
        cwd.mkdir()
        assert readers.run_script(out / plan["run_script"], cwd) == plan["docker_argv"]
        assert readers.ran_payloads(cwd) == []


@pytest.mark.clients
def test_compose_files_resolve_to_the_literal_values(carried, tmp_path):
    root, out = carried
    recipe = json.loads(recipe_path(root).read_text("utf-8"))
    for plan in client_plans(out):
        config = readers.compose_config(out / plan["compose"], tmp_path, {"HF_TOKEN": "leak"})
        service = next(iter(config["services"].values()))
        assert service["command"] == plan["container_argv"]
        assert service["image"] == plan["image"]
        for key, value in recipe_env(recipe, plan["backend"]).items():
            assert service["environment"][key] == value
        assert "leak" not in json.dumps(config)
        assert readers.ran_payloads(tmp_path) == []


def test_k8s_manifests_give_back_the_literal_values(carried):
    root, out = carried
    recipe = json.loads(recipe_path(root).read_text("utf-8"))
    for plan in hostile_plans(out):
        objects = list(yaml.safe_load_all((out / plan["k8s"]).read_text("utf-8")))
        assert objects == deploy.k8s_objects(plan)
        container = readers.k8s_container(objects)
        assert container[next(f for f in ("command", "args") if f in container)] == plan["container_argv"]
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        for key, value in recipe_env(recipe, plan["backend"]).items():
            assert env[key] == value


# --- the refused env payloads and line-breaking names, rendered straight from the plans ----------


def refused_plans(carried, hostile_recipe) -> list[tuple[dict, dict]]:
    """Each hostile plan with env payloads no env file can carry (as if they had got past the
    validator) and a model name with a line break and terminal escapes (it is shown in every
    artifact's comments); and the same with the carried env (for the env file)."""
    _, out = carried
    made = []
    shapes = client_plans(out)
    for i in range(max(len(shapes), len(LINE_PAYLOADS))):  # every shape, and every line payload
        plan = shapes[i % len(shapes)]
        model = LINE_PAYLOADS[i % len(LINE_PAYLOADS)] + "\x1b[2J"
        env = {**plan["env"], **{f"AIM_BAD_{j}": v for j, v in enumerate(REFUSED_ENV_PAYLOADS)}}
        made.append(({**plan, "env": env, "model": model, "gated": True}, {**plan, "model": model, "gated": True}))
    return made


def test_the_env_file_refuses_the_payloads_and_names_the_recipe(carried, hostile_recipe):
    for hostile, _ in refused_plans(carried, hostile_recipe):
        with pytest.raises(render.ArtifactError, match=rf"^recipe {RECIPE} \(plan {re.escape(hostile['plan_id'])}\): "):
            render.artifacts(hostile)
        with pytest.raises(deploy.DeployError, match="cannot go in an env file"):
            render.env_text(hostile)


def test_comments_stay_one_line_whatever_the_model_name(carried, hostile_recipe, tmp_path):
    for hostile, carried_plan in refused_plans(carried, hostile_recipe):
        benign = {**carried_plan, "model": "test-org/benign"}
        for text, plain in (
            (render.compose_text(hostile), render.compose_text({**hostile, "model": "test-org/benign"})),
            (render.k8s_text(hostile), render.k8s_text({**hostile, "model": "test-org/benign"})),
            (render.script_text(hostile), render.script_text({**hostile, "model": "test-org/benign"})),
            (render.env_text(carried_plan), render.env_text(benign)),
        ):
            assert text.count("\n") == plain.count("\n")
            assert not CONTROL.search(text.replace("\n", ""))
            shown = deploy.one_line(hostile["model"])  # e.g. line one\ntouch PWNED20 #, escaped
            assert shown in text
            assert all(line.startswith("#") for line in text.splitlines() if shown in line)
        env_path = tmp_path / f"{hostile['plan_id']}.env"
        env_path.write_text(render.env_text(carried_plan), "utf-8")
        cwd = tmp_path / hostile["plan_id"]
        cwd.mkdir()
        assert readers.new_vars(readers.source_env_file(env_path, cwd)) == dict(deploy.env_file(carried_plan))
        assert readers.ran_payloads(cwd) == []


def test_run_scripts_carry_the_refused_payloads(carried, hostile_recipe, tmp_path):
    for hostile, _ in refused_plans(carried, hostile_recipe):
        cwd = tmp_path / hostile["plan_id"]
        cwd.mkdir()
        script = cwd / "run.sh"
        script.write_text(render.script_text(hostile), "utf-8")
        argv = readers.run_script(script, cwd)
        assert argv == deploy.docker_argv(hostile)
        for key, value in recipe_env(hostile_recipe, hostile["backend"]).items():
            assert f"{key}={value}" in argv
        assert readers.ran_payloads(cwd) == []


def test_k8s_carries_the_refused_payloads(carried, hostile_recipe):
    for hostile, _ in refused_plans(carried, hostile_recipe):
        objects = list(yaml.safe_load_all(render.k8s_text(hostile)))
        assert objects == deploy.k8s_objects(hostile)
        container = readers.k8s_container(objects)
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        for key, value in recipe_env(hostile_recipe, hostile["backend"]).items():
            assert env[key] == value
        assert container[next(f for f in ("command", "args") if f in container)] == hostile["container_argv"]


@pytest.mark.clients
def test_compose_carries_the_refused_payloads(carried, hostile_recipe, tmp_path):
    for hostile, _ in refused_plans(carried, hostile_recipe):
        path = tmp_path / f"{hostile['plan_id']}.yaml"
        path.write_text(render.compose_text(hostile), "utf-8")
        config = readers.compose_config(path, tmp_path, {"HF_TOKEN": "leak", "HOME": "/home/leak"})
        service = next(iter(config["services"].values()))
        assert service["command"] == hostile["container_argv"]
        for key, value in recipe_env(hostile_recipe, hostile["backend"]).items():
            assert service["environment"][key] == value
        assert service["environment"]["HF_TOKEN"] == "leak"  # passed by name: taken from the shell
        assert "/home/leak" not in json.dumps(config)  # ${HOME} in a value was not interpolated
        assert readers.ran_payloads(tmp_path) == []


@pytest.mark.clients
def test_run_scripts_through_the_real_docker_cli(carried, hostile_recipe, tmp_path):
    """The script's command, parsed by the real docker client (fake daemon): the container
    it would create has exactly the plan's image, command and environment."""
    from .fakedocker import FakeDocker

    for hostile, _ in refused_plans(carried, hostile_recipe):
        script = tmp_path / f"{hostile['plan_id']}.sh"
        script.write_text(render.script_text(hostile), "utf-8")
        with FakeDocker(tmp_path) as daemon:
            body, _ = daemon.run("sh", [str(script)], {**readers.base_env(), "HF_TOKEN": "from-the-shell"})
        assert body["Image"] == hostile["image"]
        assert body["Cmd"] == hostile["container_argv"]
        expected = [f"{k}={v}" for k, v in deploy.environment(hostile, deploy.DEFAULT_OPTIONS).items()]
        assert sorted(body["Env"]) == sorted([*expected, "HF_TOKEN=from-the-shell"])  # the CLI reorders -e
        assert readers.ran_payloads(tmp_path) == []


# --- aim-pick prints the same artifacts (--format env, explain) by the same rules ----------------


def pick(out: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """aim-pick on a simulated 1 x MI300X host, reading the hostile build's API."""
    empty = cwd / "empty-sysfs"
    empty.mkdir(exist_ok=True)
    env = {
        **readers.base_env(),
        "PATH": "/usr/bin:/bin",
        "AIM_SYSFS_ROOT": str(empty),
        "AIM_DEV_ROOT": str(empty),
        "AIM_GPU_MODEL": "MI300X",
        "AIM_GPU_COUNT": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "aim_pick", MODEL_ID, "--api", str(out / "api"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_aim_pick_env_output_sources_to_the_literal_values(carried, tmp_path):
    root, out = carried
    recipe = json.loads(recipe_path(root).read_text("utf-8"))
    done = pick(out, tmp_path, "--format", "env", "--backend", "vllm", "--output", str(tmp_path / "pick.env"))
    assert done.returncode == 0, done.stderr
    assert "needed shell quoting" not in done.stderr  # every value bare: docker reads it the same
    text = (tmp_path / "pick.env").read_text("utf-8")
    loaded = readers.new_vars(readers.source_env_file(tmp_path / "pick.env", tmp_path))
    for key, value in recipe_env(recipe, "vllm").items():
        assert loaded[key] == value
    assert all(
        re.fullmatch(r"#[^\n]*|[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_@%+=:,./^-]*", line) for line in text.splitlines()
    )
    assert readers.ran_payloads(tmp_path) == []


@pytest.mark.clients
def test_aim_pick_env_output_reads_the_same_in_docker(carried, tmp_path):
    _, out = carried
    done = pick(out, tmp_path, "--format", "env", "--output", str(tmp_path / "pick.env"))
    assert done.returncode == 0, done.stderr
    loaded = readers.new_vars(readers.source_env_file(tmp_path / "pick.env", tmp_path))
    parsed = readers.docker_env_file(tmp_path / "pick.env", tmp_path)
    assert dict(item.split("=", 1) for item in parsed) == loaded


def test_aim_pick_env_output_quotes_what_docker_cannot_read_and_says_so(carried, tmp_path):
    _, out = carried
    cache = "/data/hf cache/$(touch PWNED30)"
    done = pick(out, tmp_path, "--format", "env", "--cache-dir", cache)
    assert done.returncode == 0, done.stderr
    assert "aim-pick: note: HF_HOME needed shell quoting" in done.stderr
    (tmp_path / "pick.env").write_text(done.stdout, "utf-8")
    assert readers.new_vars(readers.source_env_file(tmp_path / "pick.env", tmp_path))["HF_HOME"] == cache
    assert readers.ran_payloads(tmp_path) == []
    # a line break cannot be one env-file line, for either reader: a usage error
    done = pick(out, tmp_path, "--format", "env", "--cache-dir", "/data/x\ntouch PWNED31")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--cache-dir: " in done.stderr and "control character" in done.stderr


def test_aim_pick_output_of_hostile_plans_keeps_every_line(carried, hostile_recipe, tmp_path):
    """The env output and the explain text of plans whose data is hostile: values shell-quoted,
    comments and explain lines one line each, no control character reaching the terminal."""
    from aim_pick import output
    from aim_pick import pick as picking

    detected = {
        "count": 1,
        "gpu": "MI300X\x1b[2J",
        "partition": None,
        "memory_bytes_per_device": None,
        "source": "sysfs\nforged line",
        "simulated": False,
        "apu": False,
        "levels": {"host": 1, "container": 1, "process": 1, "usable": 1},
        "container_note": LINE_PAYLOADS[0],
    }
    for hostile, _ in refused_plans(carried, hostile_recipe):
        key = "1/auto/auto/auto/latency"
        request = picking.Request(hostile["model"], 1, "auto", "auto", "auto", None, key, "latency")
        candidates = [{"plan": hostile["plan_id"], "verdict": "chosen", "reason": "x", "message": LINE_PAYLOADS[1]}]
        cache = {"complete": False, "reason": LINE_PAYLOADS[0]}
        text = output.explain_text(
            detected, request, hostile, candidates, cache, [LINE_PAYLOADS[1]], deploy.DEFAULT_OPTIONS
        )
        plain = output.explain_text(
            {**detected, "gpu": "MI300X", "source": "sysfs", "container_note": "x"},
            request._replace(model="m"),
            {**hostile, "model": "m"},
            [{**candidates[0], "message": "m"}],
            {**cache, "reason": "r"},
            ["w"],
            deploy.DEFAULT_OPTIONS,
        )
        assert text.count("\n") == plain.count("\n") and not CONTROL.search(text.replace("\n", ""))
        env = output.plan_text("env", hostile, deploy.DEFAULT_OPTIONS)
        assert not CONTROL.search(env.replace("\n", ""))
        assert output.env_quoted(hostile, deploy.DEFAULT_OPTIONS)  # the payloads needed quoting
        path = tmp_path / f"{hostile['plan_id']}.env"
        path.write_text(env + "\n", "utf-8")
        cwd = tmp_path / hostile["plan_id"]
        cwd.mkdir()
        assert readers.new_vars(readers.source_env_file(path, cwd)) == dict(deploy.env_file(hostile))
        assert readers.ran_payloads(cwd) == []
