"""Rendering artifacts: templates agree with the data, and no value escapes its quoting
(shell, YAML, compose and Kubernetes interpolation), whatever it contains."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aim_engine.publish.artifacts import artifacts, yaml_str
from aim_pick.contract import deploy

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


def unescape_dollars(value):
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [unescape_dollars(v) for v in value]
    if isinstance(value, dict):
        return {k: unescape_dollars(v) for k, v in value.items()}
    return value


def test_templates_render_exactly_the_deploy_data(built):
    for name in ("qwen3-32b-mi300x-bf16-vllm-tp4.json", "llama-3.1-70b-instruct-mi355x-fp8-sglang-tp2.json"):
        plan = base_plan(built, name)
        made = artifacts(plan)
        assert yaml.safe_load(made["compose"]) == deploy.compose_document(plan)
        assert list(yaml.safe_load_all(made["k8s"])) == deploy.k8s_objects(plan)
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
    deployment, service = deploy.k8s_objects(plan, options)
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == {"name": "model-cache", "hostPath": {"path": "/data/hf cache", "type": "DirectoryOrCreate"}}
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
        env = " ".join(plan["docker_argv"])
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


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_adversarial_values_never_escape_quoting(built, tmp_path, data):
    sentinel = str(tmp_path / "pwned")
    plan = base_plan(built)
    served = data.draw(nasty_text(sentinel), label="served name")
    arg = data.draw(nasty_text(sentinel), label="arg value")
    env_value = data.draw(nasty_text(sentinel), label="env value")
    plan = {
        **plan,
        "container_argv": [*plan["container_argv"], "--served-model-name", served, "--chat-template", arg],
        "env": {**plan["env"], "AIM_TEST_VALUE": env_value},
    }
    made = artifacts(plan)

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
    container = objects[0]["spec"]["template"]["spec"]["containers"][0]
    assert unescape_dollars(container["args"]) == plan["container_argv"]

    # env file and run script: sourcing runs nothing and yields the exact value
    env_path = tmp_path / "plan.env"
    env_path.write_text(made["env"])
    done = subprocess.run(
        ["sh", "-c", f'set -a; . "{env_path}"; set +a; printf %s "$AIM_TEST_VALUE"'],
        capture_output=True,
        env={"PATH": os.environ["PATH"]},
    )  # bytes: text mode would turn \r into \n
    assert done.returncode == 0 and done.stdout.decode("utf-8") == env_value
    assert not os.path.exists(sentinel)


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
    path.write_text(artifacts(plan)["compose"])
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

    ok, err = docker_parses(artifacts(plan)["docker_argv"])
    assert ok, err
