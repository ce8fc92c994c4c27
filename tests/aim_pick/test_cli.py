"""The quick argument parser: the namespace argparse would give, or None (then argparse
parses, with its help and error messages). It exists for start-up time only."""

from __future__ import annotations

import random

import pytest

from aim_pick import cli

MODEL = "Qwen/Qwen3-32B"


def argparse_result(argv: list[str]):
    try:
        return vars(cli.build_parser().parse_args(argv))
    except SystemExit:
        return None


@pytest.mark.parametrize(
    "argv",
    [
        [MODEL],
        [MODEL, "--format", "json"],
        ["--format=explain", MODEL],
        [MODEL, "--gpus", "4", "--precision", "fp8", "--backend", "sglang"],
        [MODEL, "--port", "9000", "--cache-dir", "/data/hf cache", "--name", "my-llm"],
        [MODEL, "--api", "http://example.invalid/api", "--profile", "qwen3-32b-mi300x-bf16-vllm-tp4"],
        [MODEL, "--format", "k8s", "--k8s-cache", "hostpath", "--output", "out.json"],
        [MODEL, "--format", "json", "--format", "docker"],  # the last one wins
        [MODEL, "--name="],
        [MODEL, "--name=-x"],  # with '=', a value may start with '-'
        [""],
    ],
)
def test_quick_parse_gives_what_argparse_gives(argv):
    quick = cli.quick_parse(argv)
    assert quick is not None, argv
    assert vars(quick) == argparse_result(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],  # the model is required
        ["-h"],
        [MODEL, "--help"],
        [MODEL, "--form", "json"],  # an abbreviation: argparse resolves it
        [MODEL, "--format", "yaml"],  # not a choice
        [MODEL, "--gpus", "two"],
        [MODEL, "--gpus", "9" * 5000],
        [MODEL, "--port", "-1"],  # a value starting with '-'
        [MODEL, "--name"],  # no value
        [MODEL, "--", "--gpus"],
        [MODEL, "other"],  # two positionals
        [MODEL, "-x"],
        [MODEL, "--unknown", "1"],
    ],
)
def test_quick_parse_leaves_the_rest_to_argparse(argv):
    assert cli.quick_parse(argv) is None


def test_quick_parse_agrees_with_argparse_on_random_command_lines():
    """Whenever the quick parser answers, argparse answers the same."""
    words = [
        MODEL,
        "other",
        "--gpus",
        "--gpus=2",
        "2",
        "٣",
        "+4",
        "--port",
        "8080",
        "--format",
        "--format=json",
        "json",
        "docker",
        "yaml",
        "--k8s-cache",
        "pvc",
        "--name",
        "--name=x",
        "-",
        "--",
        "--api",
        "--form",
        "-1",
        "",
        "a b",
        "--precision",
        "fp8",
    ]
    rng = random.Random(20260822)
    answered = 0
    for _ in range(3000):
        argv = [rng.choice(words) for _ in range(rng.randint(0, 6))]
        quick = cli.quick_parse(argv)
        if quick is not None:
            answered += 1
            assert vars(quick) == argparse_result(argv), argv
    assert answered > 100


def test_main_uses_argparse_for_help(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--help"])
    assert stop.value.code == 0
    assert "Detect AMD GPUs" in capsys.readouterr().out
