"""Flag values are read exactly as the engine's argparse types read them, refused where the
engine would read something else than what is written, and rendered back canonically."""

from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest

from aim_engine.catalogue.records import Entry
from aim_engine.engines import backends_for
from aim_engine.engines.base import (
    FlagValueError,
    looks_like_option,
    parse_human_int,
    parse_scalar,
    parse_value,
    rope_override,
)


def engine_human_int(text: str) -> int:
    """vLLM's human_readable_int as documented (docs/reference/engines.md): one number with
    a decimal (k m g t) or binary (K M G T) suffix, else Python's int()."""
    value = text.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT])", value)
    if match is None:
        return int(value)
    number, suffix = match.groups()
    if suffix in "kmgt":
        return int(float(number) * 1000 ** ("kmgt".index(suffix) + 1))
    return int(number) * 1024 ** ("KMGT".index(suffix) + 1)  # int() refuses decimals


def _samples() -> list[str]:
    rng = random.Random(7)
    fixed = ["32k", "32K", "1.5k", "1.5K", "25.6k", "2.01k", "0.29k", "8192", " 8192 ", "8192.0", "1e4", "+5", "-5"]
    fixed += ["1_000", "８１９２", "8 k", "k", "", "1.k", ".5k", "1m", "1M", "3g", "2T", "0.001k", "0.0001k", "12kk"]
    digits = "0123456789"
    for _ in range(3000):
        number = "".join(rng.choice(digits) for _ in range(rng.randint(1, 5)))
        if rng.random() < 0.5:
            number += "." + "".join(rng.choice(digits) for _ in range(rng.randint(1, 4)))
        fixed.append(number + rng.choice(["", "k", "K", "m", "M", "g", "G", "t", "T", "x"]))
    return fixed


def test_human_int_is_the_engines_or_refused():
    for text in _samples():
        try:
            engine: int | None = engine_human_int(text)
        except ValueError:
            engine = None
        try:
            ours: int | None = parse_human_int(text)
        except FlagValueError:
            ours = None
        if engine is None:
            assert ours is None, text  # never accept what the engine refuses
        elif ours is None:
            # refused although the engine reads it: only where it drops part of what is written
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)([kmgt])\s*", text)
            assert match, text
            exact = Decimal(match.group(1)) * 1000 ** ("kmgt".index(match.group(2)) + 1)
            assert exact != engine, text
        else:
            assert ours == engine, text


@pytest.fixture(scope="module")
def vllm(catalogue):
    return backends_for(catalogue.engines)["vllm"]


@pytest.fixture(scope="module")
def sglang(catalogue):
    return backends_for(catalogue.engines)["sglang"]


@pytest.mark.parametrize("value", ["8192", " 8192 ", "+8192", "8_192", "８１９２", 8192])
def test_int_flags_take_what_int_takes(vllm, value):
    assert parse_scalar(vllm.flags.options["--max-num-seqs"], value) == 8192


@pytest.mark.parametrize("value", ["8192.0", 8192.0, "8k", "1e4", 1e20, "", "0x2000", float("nan"), True, None])
def test_int_flags_refuse_the_rest(vllm, value):
    with pytest.raises(FlagValueError):
        parse_scalar(vllm.flags.options["--max-num-seqs"], value)


@pytest.mark.parametrize("value", ["auto", "-1", -1, " AUTO "])
def test_auto_context_is_the_engines_own_value(vllm, value):
    """vLLM 0.33 human_readable_int_or_auto: "auto" / -1 fit the context to memory at start-up."""
    assert parse_value(vllm.flags.options["--max-model-len"], value) == -1


def test_auto_context_is_sized_as_the_models_maximum_and_rendered_as_written(vllm, catalogue):
    model = catalogue.models["Qwen/Qwen3-8B"]
    e = Entry("vllm", "1_gpu", 1, True, {"--max-model-len": "auto"}, {}, None)
    s = vllm.settings(e, model, catalogue.hardware["MI300X"])
    assert s.context_auto and not s.max_model_len_explicit
    assert s.max_model_len == model.config.max_position_embeddings
    argv = vllm.engine_args(e, s, 8000)
    assert argv[argv.index("--max-model-len") + 1] == "auto"


@pytest.mark.parametrize("value", ["-1.0", "auto-fit"])
def test_only_the_engines_spellings_of_auto(vllm, value):
    with pytest.raises(FlagValueError):
        parse_value(vllm.flags.options["--max-model-len"], value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", float("inf"), 10**400])
def test_floats_are_finite(vllm, value):
    with pytest.raises(FlagValueError):
        parse_scalar(vllm.flags.options["--gpu-memory-utilization"], value)


@pytest.mark.parametrize(
    "text, option",
    [("--x", True), ("-x", True), ("-tp", True), ("-1", False), ("-1.5", False), ("-", False), ("x", False)],
)
def test_what_reads_as_an_option(text, option):
    assert looks_like_option(text) is option


def test_list_values_only_for_options_taking_several(vllm):
    names = vllm.flags.options["--served-model-name"]
    assert parse_value(names, ["a", "b"]) == ["a", "b"]
    with pytest.raises(FlagValueError, match="another option"):
        parse_value(names, ["a", "--trust-remote-code"])
    with pytest.raises(FlagValueError, match="not a list"):
        parse_value(vllm.flags.options["--model"], ["a"])


def test_json_is_strict(vllm):
    spec = vllm.flags.options["--compilation-config"]
    assert parse_value(spec, '{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    for text in ['{"a": NaN}', '{"a": Infinity}', '{"a": 1e999}', "[" * 5000 + "]" * 5000, "[" * 40 + "]" * 40, "{"]:
        with pytest.raises(FlagValueError):
            parse_value(spec, text)


def test_values_are_rendered_as_parsed(vllm, catalogue):
    args = {
        "--max-model-len": "32k",
        "--max-num-seqs": " 512 ",
        "--gpu-memory-utilization": "0.90",
        "--compilation-config": '{"mode": 3,  "pass_config": {"x": true}}',
        "--served-model-name": ["a", "b"],
    }
    e = Entry("vllm", "1_gpu", 1, True, args, {}, None)
    settings = vllm.settings(e, catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"])
    argv = vllm.engine_args(e, settings, 8000)
    pairs = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    assert pairs["--max-model-len"] == "32000" and pairs["--max-num-seqs"] == "512"
    assert pairs["--gpu-memory-utilization"] == "0.9"
    assert pairs["--compilation-config"] == '{"mode":3,"pass_config":{"x":true}}'
    assert argv[argv.index("--served-model-name") + 1 : argv.index("--served-model-name") + 3] == ["a", "b"]


def test_zero_is_a_value(vllm, sglang, catalogue):
    model, gpu = catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"]
    s = vllm.settings(
        Entry("vllm", "1_gpu", 1, True, {"--max-model-len": 0, "--max-num-seqs": 0}, {}, None), model, gpu
    )
    assert (s.max_model_len, s.max_model_len_explicit, s.max_num_seqs) == (0, True, 0)
    s = sglang.settings(
        Entry("sglang", "1_gpu", 1, True, {"--context-length": 0, "--mem-fraction-static": 0}, {}, None), model, gpu
    )
    assert (s.max_model_len, s.utilization) == (0, 0.0)


@pytest.mark.parametrize(
    "overrides, factor",
    [
        ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, 4.0),
        ({"rope_parameters": {"factor": 8}}, 8.0),
        ({"text_config": {"rope_scaling": {"factor": 2}}}, 2.0),
        ({"europe": 1}, None),
        ({"rope_scaling": {"factor": 1}}, None),
        ({"rope_scaling": {"factor": True}}, None),
        ({"rope_scaling": {"factor": "4"}}, None),
        ({"rope_scaling": {"factor": 10**6}}, None),
        ({"rope_scaling": None}, None),
        ("rope", None),
        (None, None),
    ],
)
def test_rope_override_needs_a_real_factor(overrides, factor):
    found = rope_override(overrides)
    assert (found.factor if found else None) == factor


@pytest.mark.parametrize("value, parsed", [("32k", 32000), ("1M", 10**6), ("1.5M", 1_500_000), ("2G", 2 * 10**9)])
def test_sglang_suffixes_come_from_its_snapshot(sglang, value, parsed):
    assert parse_value(sglang.flags.options["--context-length"], value) == parsed


@pytest.mark.parametrize("value", ["32K", "1m", "1g", "8192.0"])
def test_sglang_refuses_suffixes_it_does_not_know(sglang, value):
    with pytest.raises(FlagValueError):
        parse_value(sglang.flags.options["--context-length"], value)


@pytest.mark.parametrize("option", ["--spec-method", "--tool-strict-level", "--served-model-name"])
def test_the_literal_none_is_a_value_the_engine_accepts(vllm, option):
    """vLLM's Optional options read "None" as not set (the snapshot keeps it among the choices)."""
    assert parse_value(vllm.flags.options[option], "None") is None


def test_none_is_not_set_for_planning(vllm, catalogue):
    e = Entry("vllm", "1_gpu", 1, True, {"--quantization": "None"}, {}, None)
    s = vllm.settings(e, catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"])
    assert s.quantization is None
    argv = vllm.engine_args(e, s, 8000)
    assert argv[argv.index("--quantization") + 1] == "None"


def test_other_special_spellings_are_values(vllm):
    spec = vllm.flags.options["--reasoning-parser"]
    assert spec.special and spec.special.get("none") == ""
    assert parse_value(spec, "none") == "none"


def test_list_append_keys_are_split_at_commas_and_rendered_as_the_engine_reads_them(vllm, catalogue):
    """FlexibleArgumentParser: `--<option>.<key>+ a,b` appends the comma-separated items to the key's list."""
    args = {"-cc.custom_ops+": "+rms_norm,-quant_fp8", "--compilation-config.splitting_ops+": ["a", "b,c"]}
    e = Entry("vllm", "1_gpu", 1, True, args, {}, None)
    short = vllm.shorthand("-cc.custom_ops+", args["-cc.custom_ops+"])
    assert (short.keys, short.value, short.append) == (("custom_ops",), ["+rms_norm", "-quant_fp8"], True)
    assert short.problem is None
    argv = vllm.engine_args(e, vllm.settings(e, catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI300X"]), 8000)
    assert "--compilation-config.custom_ops+=+rms_norm,-quant_fp8" in argv
    assert "--compilation-config.splitting_ops+=a,b,c" in argv
