"""Rendering artifacts: templates agree with the data, and no value escapes its quoting
(shell, YAML, compose and Kubernetes interpolation), whatever it contains."""

from __future__ import annotations

import json
import os
import re
import shlex
import string
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aim_engine.publish import artifacts as render
from aim_engine.publish.artifacts import ArtifactError, artifacts, yaml_str
from aim_pick.contract import deploy

from . import readers
from .readers import unescape_dollars

NASTY = [
    "'",
    '"',
    " ",
    "$",
    "$(touch {sentinel})",
    "`touch {sentinel}`",
    "${HF_TOKEN}",
    "$HOME",
    ";",
    "&&",
    "|",
    "\n",
    "\t",
    "\\",
    "#",
    "*",
    "?",
    "~",
    "!",
    "%",
    "{",
    "}",
    "[",
    "]",
    ":",
    "- ",
    "&anchor",
    "*alias",
    "é",
    "漢字",
    "😀",
    "\u2028",
    "\x85",
    "\x7f",
    "\x01",
]


def nasty_text(sentinel: str):
    pieces = st.sampled_from([p.replace("{sentinel}", sentinel) for p in NASTY]) | st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6
    )
    return st.lists(pieces, min_size=1, max_size=6).map("".join)


def base_plan(built, name="qwen3-8b-mi300x-bf16-vllm-tp2.json"):
    return json.loads((built / "api" / "plans" / name).read_text())


def test_templates_render_exactly_the_deploy_data(built):
    for name in ("qwen3-32b-mi300x-bf16-vllm-tp4.json", "llama-3.1-70b-instruct-mi355x-fp8-sglang-tp2.json"):
        plan = base_plan(built, name)
        made = artifacts(plan)
        assert yaml.safe_load(made["compose"]) == deploy.compose_document(plan)
        assert list(yaml.safe_load_all(made["k8s"])) == deploy.k8s_objects(plan)
        for name, objects in deploy.k8s_files(plan).items():
            assert list(yaml.safe_load_all(made["k8s_bundle"][name])) == objects, name
        assert made["docker_command"] == plan["docker_command"]


def test_structural_options(built):
    plan = base_plan(built)
    options = deploy.DeployOptions(
        host_port=9999,
        cache_dir="/data/hf cache",
        container_name="mine",
        visible_devices=("2", "3"),
        offline=True,
        k8s_cache="hostpath",
    )
    argv = deploy.docker_argv(plan, options)
    assert argv[argv.index("-p") + 1] == "9999:8000"
    assert argv[argv.index("-v") + 1] == "/data/hf cache:/workspace/model-cache"
    assert argv[argv.index("--name") + 1] == "mine"
    assert "HIP_VISIBLE_DEVICES=2,3" in argv and "HF_HUB_OFFLINE=1" in argv
    assert not any(a.startswith(("ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")) for a in argv)
    objects = deploy.k8s_objects(plan, options)
    deployment, service = objects[:2]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == {"name": "model-cache", "hostPath": {"path": "/data/hf cache", "type": "DirectoryOrCreate"}}
    # a hostPath cache needs no claim, and a complete (offline) cache no download
    assert [o["kind"] for o in objects] == ["Deployment", "Service", "PodDisruptionBudget"]
    assert "initContainers" not in deployment["spec"]["template"]["spec"]
    assert service["spec"]["ports"][0]["port"] == 9999
    assert "HIP_VISIBLE_DEVICES" not in " ".join(deploy.docker_argv(plan))  # unpinned by default
    # Kubernetes: the device plugin allocates and renumbers GPUs, so host ordinals stay out
    pod_env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "HIP_VISIBLE_DEVICES" not in [e["name"] for e in pod_env]


def test_gated_models_pass_hf_token_by_name_only(built):
    plan = base_plan(built, "llama-3.1-8b-instruct-mi300x-bf16-vllm-tp1.json")
    argv = plan["docker_argv"]
    assert argv[argv.index("HF_TOKEN") - 1] == "-e"
    assert not any(a.startswith("HF_TOKEN=") for a in argv)
    ungated = base_plan(built)
    assert "HF_TOKEN" not in ungated["docker_argv"]


def test_no_invented_or_wrong_env(built):
    for path in (built / "api" / "plans").glob("*.json"):
        plan = json.loads(path.read_text())
        # a multi-node plan has no one docker command: its leader's is the same but for the place flags
        argv = plan["docker_argv"] or deploy.docker_node_argv(plan, leader=True)
        env = " ".join(argv)
        for wrong in (
            "PYTORCH_ROCM_ARCH",
            "VLLM_USE_ROCM",
            "VLLM_CACHE_DIR",
            "ROCR_VISIBLE_DEVICES",
            "CUDA_VISIBLE_DEVICES",
            "TRANSFORMERS_CACHE",
        ):
            assert wrong not in env, (plan["plan_id"], wrong)


def test_yaml_str_round_trips_awkward_text():
    for text in [
        "plain",
        "a: b",
        "- x",
        "#c",
        "'q'",
        '"q"',
        "\\",
        "\n",
        "\u2028",
        "\x85",
        "\ufeff",
        "😀",
        "\x01\x7f",
        "yes",
        "null",
        "1e3",
        "",
    ]:
        assert yaml.safe_load(f"k: {yaml_str(text)}") == {"k": text}


def bare_text():
    """Env values an env file writes bare (deploy.ENV_BARE), including the empty one."""
    return st.text(alphabet=st.sampled_from(string.ascii_letters + string.digits + "_@%+=:,./-^"), max_size=12)


ENV_LINE = re.compile(r"(#[^\n]*|[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_@%+=:,./^-]*)")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def assert_comments_one_line(made: dict, plan: dict) -> None:
    """Comment text never breaks its line: the YAML files hold no control character at all
    (yaml_str escapes them), every env-file line is a comment or NAME=bare value, the script
    is comments up to its `exec` line, and against the same plan with plain text in the
    comments, the files have as many lines and differ only in comment lines."""
    for kind in ("compose", "k8s"):
        assert not CONTROL.search(made[kind].replace("\n", "")), kind
    for name, text in made.get("k8s_bundle", {}).items():
        assert not CONTROL.search(text.replace("\n", "")), name
    if "env" in made:
        for line in made["env"].splitlines():
            assert ENV_LINE.fullmatch(line), line
    head, _, command = made["script"].partition("\nset -eu\nexec ")
    assert all(line.startswith("#") for line in head.splitlines())
    assert command.rstrip("\n") == made["docker_command"]
    plain = {**plan, "model": "test-org/plain", "engine": {**plan["engine"], "title": "Engine"}}
    renderers = {"compose": render.compose_text, "k8s": render.k8s_text, "script": render.script_text}
    if "env" in made:
        renderers["env"] = render.env_text
    for kind, rendered in renderers.items():
        lines, plain_lines = made[kind].split("\n"), rendered(plain).split("\n")
        assert len(lines) == len(plain_lines), kind
        assert all(a.startswith("#") for a, b in zip(lines, plain_lines) if a != b), kind


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.slow
def test_adversarial_values_never_escape_quoting(built, tmp_path, data):
    sentinel = str(tmp_path / "pwned")
    plan = base_plan(built)
    served = data.draw(nasty_text(sentinel), label="served name")
    arg = data.draw(nasty_text(sentinel), label="arg value")
    env_value = data.draw(bare_text() | nasty_text(sentinel), label="env value")
    model = data.draw(nasty_text(sentinel), label="model (shown in comments)")
    title = data.draw(nasty_text(sentinel), label="engine title (shown in comments)")
    plan = {
        **plan,
        "model": model,
        "engine": {**plan["engine"], "title": title},
        "gated": data.draw(st.booleans(), label="gated"),
        "container_argv": [*plan["container_argv"], "--served-model-name", served, "--chat-template", arg],
        "env": {**plan["env"], "AIM_TEST_VALUE": env_value},
    }
    if deploy.env_bare(env_value):
        made = artifacts(plan)
    else:
        # the env file cannot carry it: a build error naming the recipe; the others still do
        with pytest.raises(ArtifactError, match=f"^recipe {plan['recipe_id']} .*AIM_TEST_VALUE=.*env file"):
            artifacts(plan)
        argv = deploy.docker_argv(plan)
        made = {
            "docker_argv": argv,
            "docker_command": deploy.shell_command(argv),
            "compose": render.compose_text(plan),
            "k8s": render.k8s_text(plan),
            "k8s_bundle": render.k8s_bundle(plan),
            "script": render.script_text(plan),
        }
    assert_comments_one_line(made, plan)

    # docker: the shell words are exactly the argv, and the argv carries the values intact
    assert shlex.split(made["docker_command"]) == made["docker_argv"]
    assert made["docker_argv"][-4:] == ["--served-model-name", served, "--chat-template", arg]
    assert f"AIM_TEST_VALUE={env_value}" in made["docker_argv"]

    # compose and Kubernetes: parsing gives the data back; after the $$ un-escaping the
    # tools apply, the values are the originals
    compose = yaml.safe_load(made["compose"])
    service = next(iter(compose["services"].values()))
    assert compose == deploy.compose_document(plan)
    assert unescape_dollars(service["command"]) == plan["container_argv"]
    assert unescape_dollars(service["environment"]["AIM_TEST_VALUE"]) == env_value
    objects = list(yaml.safe_load_all(made["k8s"]))
    assert objects == deploy.k8s_objects(plan)
    for name, bundle_objects in deploy.k8s_files(plan).items():
        assert list(yaml.safe_load_all(made["k8s_bundle"][name])) == bundle_objects, name
    container = readers.k8s_container(objects)
    assert container["args"] == plan["container_argv"]
    assert {"name": "AIM_TEST_VALUE", "value": env_value} in container["env"]

    # run script: docker (a stub) gets exactly the argv, and nothing else runs
    script = tmp_path / "run.sh"
    script.write_text(made["script"], "utf-8")
    assert readers.run_script(script, tmp_path) == made["docker_argv"]

    # env file: sourcing runs nothing and yields the exact values
    if "env" in made:
        env_path = tmp_path / "plan.env"
        env_path.write_text(made["env"], "utf-8")
        assert readers.new_vars(readers.source_env_file(env_path, tmp_path)) == dict(deploy.env_file(plan))
    assert not os.path.exists(sentinel)
    assert readers.ran_payloads(tmp_path) == []


@pytest.mark.clients
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_env_files_read_the_same_by_sh_and_docker(built, tmp_path, data):
    """Property: whatever env value is drawn, the env file either refuses it (an error naming
    the recipe) or the real docker CLI and a POSIX shell read exactly the value."""
    sentinel = str(tmp_path / "pwned")
    plan = base_plan(built)
    values = data.draw(st.lists(bare_text(), min_size=1, max_size=4), label="bare values")
    if data.draw(st.booleans(), label="add a nasty value"):
        values.append(data.draw(nasty_text(sentinel), label="nasty value"))
    plan = {**plan, "env": {**plan["env"], **{f"AIM_TEST_{i}": v for i, v in enumerate(values)}}}
    if not all(deploy.env_bare(v) for v in values):
        with pytest.raises(ArtifactError, match=f"^recipe {plan['recipe_id']} "):
            artifacts(plan)
        return
    path = tmp_path / "plan.env"
    path.write_text(artifacts(plan)["env"], "utf-8")
    expected = dict(deploy.env_file(plan))
    assert readers.new_vars(readers.source_env_file(path, tmp_path)) == expected
    assert dict(item.split("=", 1) for item in readers.docker_env_file(path, tmp_path)) == expected
    assert readers.ran_payloads(tmp_path) == [] and not os.path.exists(sentinel)


@pytest.mark.clients
def test_the_bare_alphabet_is_what_both_readers_agree_on(tmp_path):
    """Every printable ASCII character, alone, first and inside a word: whatever
    deploy.env_value accepts, sh and the docker CLI read the same. What it refuses, written
    the way a shell needs it (quoted), docker reads with the quotes. (It refuses a few
    characters both would take literally in an assignment, such as * and #: the rule is
    shlex's safe set plus ^, simple to state.)"""
    candidates = {
        f"AIM_C{ord(c)}_{where}": text
        for c in map(chr, range(0x20, 0x7F))
        for where, text in (("alone", c), ("inside", f"a{c}b"), ("lead", f"{c}a"))
    }
    candidates["AIM_EMPTY"] = ""
    accepted = {k: v for k, v in candidates.items() if deploy.env_bare(v)}
    lines = [deploy.env_assignment(k, v) for k, v in accepted.items()]
    path = tmp_path / "alphabet.env"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert readers.new_vars(readers.source_env_file(path, tmp_path)) == accepted
    assert readers.docker_env_file(path, tmp_path) == [f"{k}={v}" for k, v in accepted.items()]
    # the refused ones, written as a shell would need them: docker keeps the quotes
    refused = {k: v for k, v in candidates.items() if k not in accepted}
    for key, value in refused.items():
        with pytest.raises(deploy.DeployError, match="cannot go in an env file"):
            deploy.env_assignment(key, value)
    shell_form = tmp_path / "quoted.env"
    shell_form.write_text("\n".join(deploy.env_assignment(k, v, quote=True) for k, v in refused.items()) + "\n")
    assert readers.new_vars(readers.source_env_file(shell_form, tmp_path)) == refused
    docker = dict(item.split("=", 1) for item in readers.docker_env_file(shell_form, tmp_path))
    assert all(docker[k] != v for k, v in refused.items())
    assert readers.ran_payloads(tmp_path) == []


@pytest.mark.clients
def test_adversarial_compose_through_the_real_client(built, tmp_path):
    plan = base_plan(built)
    evil = "a$b $(touch /tmp/x) ${HF_TOKEN} `id` 'q' \"dq\" ; é 😀"
    plan = {
        **plan,
        "container_argv": [*plan["container_argv"], "--served-model-name", evil],
        "env": {**plan["env"], "AIM_TEST_VALUE": evil},
    }
    path = tmp_path / "c.yaml"
    path.write_text(render.compose_text(plan))  # (the env file refuses the value: see above)
    done = subprocess.run(
        ["docker-compose", "-f", str(path), "config"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_TOKEN": "leak"},
    )
    assert done.returncode == 0, done.stderr
    service = next(iter(yaml.safe_load(done.stdout)["services"].values()))
    # `config` prints a compose file again, so $ comes back escaped as $$
    assert unescape_dollars(service["command"][-1]) == evil
    assert unescape_dollars(service["environment"]["AIM_TEST_VALUE"]) == evil
    assert "leak" not in done.stdout  # ${HF_TOKEN} in a value was not interpolated
    from .test_artifacts_clients import docker_parses

    ok, err = docker_parses(deploy.docker_argv(plan))
    assert ok, err


@pytest.mark.slow
def test_run_scripts_run_docker_with_the_plan_argv(built, tmp_path):
    """The run script of one plan of every artifact shape (readers.one_of_each_shape), run by sh."""
    plans = [json.loads(path.read_text()) for path in sorted((built / "api" / "plans").glob("*.json"))]
    for plan in readers.one_of_each_shape(plans):
        if plan["nodes"] > 1:
            assert plan["run_script"] is None and plan["docker_argv"] is None  # leader/worker scripts instead
            continue
        assert readers.run_script(built / plan["run_script"], tmp_path) == plan["docker_argv"], plan["plan_id"]
