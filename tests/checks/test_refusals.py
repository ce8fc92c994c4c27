"""What has no business in a catalogue file is refused with a finding at its line: values
that smuggle options, checks that used to switch off (a word "rope", a zero), numbers the
engine would read differently, ids and text with control characters, YAML tags, and every
input that once raised a traceback instead."""

from __future__ import annotations

import re

import pytest

from aim_engine.checks.diagnostics import Check, Diagnostic, Severity
from tests.checks.test_validate import GOOD_VLLM, line_of, mutate
from tests.conftest import validate_text


def codes(found) -> set[Check]:
    return {d.check for d in found if d.severity is Severity.ERROR}


def at(found, check: Check) -> set[int | None]:
    return {d.line for d in found if d.check is check}


VLLM_ARG = "--dtype: bfloat16\n"  # the first entry's args: add flags after this line


def with_vllm_arg(text: str) -> str:
    return mutate(VLLM_ARG, VLLM_ARG + "      " + text + "\n")


SGLANG_ARG = "--context-length: 32768"


def with_sglang_arg(text: str) -> str:
    return mutate(SGLANG_ARG, SGLANG_ARG + "\n      " + text)


# --- option smuggling ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        '[x, --max-model-len, "10000000", --trust-remote-code, --api-key, some-secret]',
        "[--trust-remote-code]",
        "[a, -tp]",
        "[a, --max_model_len=10000000]",
        "--trust-remote-code",
        "-q",
    ],
)
def test_a_value_that_reads_as_another_option_is_an_error(tmp_path, value):
    text = with_vllm_arg(f"--served-model-name: {value}")
    found = validate_text(tmp_path, text)
    assert line_of(text, "--served-model-name") in at(found, Check.FLAG_VALUE), [d.format_text() for d in found]
    assert any("read as another option" in d.message for d in found)


def test_negative_numbers_and_several_plain_values_are_values(tmp_path):
    text = with_vllm_arg("--served-model-name: [qwen, qwen3-8b]")
    assert validate_text(tmp_path, text) == []
    assert validate_text(tmp_path, with_vllm_arg("--seed: -1")) == []


def test_a_list_only_where_the_option_takes_several(tmp_path):
    text = with_vllm_arg("--tokenizer: [a, b]")
    found = validate_text(tmp_path, text)
    assert any("takes one value, not a list" in d.message for d in found)


def test_secrets_in_any_flag_value(tmp_path):
    text = with_vllm_arg("--served-model-name: hf_abcdefghijklmnopqrstuvwxyz012345")
    assert line_of(text, "--served-model-name") in at(validate_text(tmp_path, text), Check.SECRET)


# --- the context check is relaxed only by a real rope-scaling override ---------------------

LONG = "--max-model-len: 163840"  # 4 x Qwen3-8B's 40960


def test_a_word_containing_rope_does_not_switch_the_context_check_off(tmp_path):
    text = mutate("--max-model-len: 32768", LONG + "\n      --hf-overrides: '{\"europe\": 1}'")
    found = validate_text(tmp_path, text)
    assert line_of(text, LONG) in at(found, Check.CONTEXT_TOO_LONG)


@pytest.mark.parametrize(
    "override, ok",
    [
        ('{"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 40960}}', True),
        ('{"rope_parameters": {"rope_type": "yarn", "factor": 4}}', True),
        ('{"rope_scaling": {"rope_type": "yarn", "factor": 2.0}}', False),  # 81920 < 163840
        ('{"rope_scaling": {"factor": "4"}}', False),
        ('{"rope_scaling": {"factor": 1e400}}', False),  # not finite: a flag-value error too
        ('{"rope_scaling": null, "note": "rope_scaling factor 4"}', False),
    ],
)
def test_rope_scaling_override_raises_the_limit_by_its_factor(tmp_path, override, ok):
    text = mutate("--max-model-len: 32768", f"{LONG}\n      --hf-overrides: '{override}'")
    found = validate_text(tmp_path, text)
    assert (Check.CONTEXT_TOO_LONG not in codes(found)) is ok, [d.format_text() for d in found]


def test_sglang_json_override_is_parsed_too(tmp_path):
    rope = '{"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 40960}}'
    text = mutate(SGLANG_ARG, f"--context-length: 163840\n      --json-model-override-args: '{rope}'")
    assert Check.CONTEXT_TOO_LONG not in codes(validate_text(tmp_path, text))
    text = mutate(SGLANG_ARG, "--context-length: 163840\n      --json-model-override-args: '{\"europe\": 1}'")
    assert Check.CONTEXT_TOO_LONG in codes(validate_text(tmp_path, text))
    text = mutate(SGLANG_ARG, "--context-length: 32768\n      --json-model-override-args: '{not json'")
    assert Check.FLAG_VALUE in codes(validate_text(tmp_path, text))


# --- zero is a value -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        ("--max-model-len: 32768", "--max-model-len: 0"),
        ("--max-num-batched-tokens: '8192'", "--max-num-batched-tokens: 0"),
        ("--max-num-batched-tokens: '8192'", "--max-num-batched-tokens: '8192'\n      --max-num-seqs: 0"),
        (SGLANG_ARG, "--context-length: 0"),
        (SGLANG_ARG, SGLANG_ARG + "\n      --mem-fraction-static: 0"),
        (SGLANG_ARG, SGLANG_ARG + "\n      --max-running-requests: 0"),
        ("--gpu-memory-utilization: '0.9'", "--gpu-memory-utilization: 0"),
        ("--tensor-parallel-size: '2'", "--tensor-parallel-size: 0"),
    ],
)
def test_zero_is_not_unset(tmp_path, change):
    found = validate_text(tmp_path, mutate(*change))
    assert Check.FLAG_VALUE in codes(found), [d.format_text() for d in found]


# --- integers are integers, floats are finite ------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["1.5K", "'8192.0'", "8192.0", "'1e20'", "1.0e+20", "'2.01k'", "-2", "'autofit'", "1" + "0" * 320, "'32k5'"],
)
def test_integer_flags_take_what_the_engine_reads_as_that_integer(tmp_path, value):
    text = mutate("--max-model-len: 32768", f"--max-model-len: {value}")
    found = validate_text(tmp_path, text)
    assert codes(found) & {Check.FLAG_VALUE}, [d.format_text() for d in found]
    assert all(len(d.message) < 400 for d in found)


@pytest.mark.parametrize("value", ["'8192.0'", "8192.0", "'1e4'", "'8k'", "true"])
def test_plain_int_flags_refuse_floats_and_suffixes(tmp_path, value):
    text = mutate(
        "--max-num-batched-tokens: '8192'", f"--max-num-batched-tokens: '8192'\n      --max-num-seqs: {value}"
    )
    assert Check.FLAG_VALUE in codes(validate_text(tmp_path, text))


@pytest.mark.parametrize("value", ["32k", "'25.6k'", "'32K'", "'1.5k'", "' 32768 '"])
def test_human_readable_integers_the_engine_reads_exactly(tmp_path, value):
    text = mutate("--max-model-len: 32768", f"--max-model-len: {value}")
    assert Check.FLAG_VALUE not in codes(validate_text(tmp_path, text))


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "'nan'", "'inf'", "1.0e+400"])
def test_non_finite_numbers_are_refused_and_never_printed(tmp_path, value):
    text = mutate("--gpu-memory-utilization: '0.9'", f"--gpu-memory-utilization: {value}")
    found = validate_text(tmp_path, text)
    assert codes(found) & {Check.FLAG_VALUE, Check.SCHEMA}
    # a quoted 'nan' is the text the recipe wrote; a bare nan or inf would be a float formatted
    assert not any(re.search(r"(?<!')\b(nan|inf)\b(?!')", d.message) for d in found), [d.message for d in found]


def test_non_finite_env_values_are_schema_errors(tmp_path):
    text = mutate('VLLM_ROCM_USE_AITER: "1"', "VLLM_ROCM_USE_AITER: .nan")
    assert line_of(text, "VLLM_ROCM_USE_AITER") in at(validate_text(tmp_path, text), Check.SCHEMA)


@pytest.mark.parametrize(
    "old, new",
    [
        ("--max-model-len: 32768", "--max-model-len: " + "9" * 330),
        ("--max-num-batched-tokens: '8192'", "--max-num-batched-tokens: " + "9" * 400),
        ("--max-num-batched-tokens: '8192'", "--max-num-batched-tokens: 2000000000"),
        ("--tensor-parallel-size: '2'", "--tensor-parallel-size: 4096"),
    ],
)
def test_huge_sizes_are_out_of_range_not_overflows(tmp_path, old, new):
    found = validate_text(tmp_path, mutate(old, new))
    assert Check.FLAG_VALUE in codes(found), [d.format_text() for d in found]
    assert all(len(d.message) < 300 for d in found)


def test_huge_sglang_chunk_does_not_overflow(tmp_path):
    text = with_sglang_arg("--chunked-prefill-size: " + "9" * 330)
    assert Check.FLAG_VALUE in codes(validate_text(tmp_path, text))


def test_deep_or_non_finite_json_is_a_flag_value_error(tmp_path):
    for value in [
        "'" + "[" * 5000 + "]" * 5000 + "'",
        "'{\"a\": NaN}'",
        "'{\"a\": 1e999}'",
        "'" + "[" * 40 + "]" * 40 + "'",
    ]:
        text = with_vllm_arg(f"--compilation-config: {value}")
        assert Check.FLAG_VALUE in codes(validate_text(tmp_path, text)), value


# --- dtypes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float", "float32"])
def test_fp32_dtypes_are_a_mismatch_not_a_crash(tmp_path, dtype):
    text = mutate("--dtype: bfloat16", f"--dtype: {dtype}")
    found = validate_text(tmp_path, text)
    assert line_of(text, f"--dtype: {dtype}") in at(found, Check.DTYPE_MISMATCH)


def test_half_is_fp16(tmp_path):
    text = mutate("--dtype: bfloat16", "--dtype: half")
    assert "fp16" in next(d.message for d in validate_text(tmp_path, text) if d.check is Check.DTYPE_MISMATCH)


def test_every_engine_dtype_maps_to_a_precision(catalogue):
    from aim_engine.catalogue.load import load_formats

    for engine in catalogue.engines.values():
        choices = engine.flags.options["--dtype"].choices or ()
        assert set(choices) - {"auto"} <= set(load_formats().dtypes), engine.name


# --- ids, names and text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, check, marker",
    [
        ("model_id: Qwen/Qwen3-8B", 'model_id: "Qwen/Qwen3-8B\\n"', Check.SCHEMA, "model_id:"),
        ("model_id: Qwen/Qwen3-8B", 'model_id: "Qwen/Qwen3-8B\\n"', Check.CONTROL_CHARACTER, "model_id:"),
        ("recipe_id: test-qwen3-8b-mi300x-bf16", 'recipe_id: "test-qwen3-8b\\n"', Check.SCHEMA, "recipe_id:"),
        ("recipe_id: test-qwen3-8b-mi300x-bf16", 'recipe_id: "t\\n"', Check.CONTROL_CHARACTER, "recipe_id:"),
        ('VLLM_ROCM_USE_AITER: "1"', '"VLLM_ROCM_USE_AITER\\n": "1"', Check.CONTROL_CHARACTER, "VLLM_ROCM"),
        ('VLLM_ROCM_USE_AITER: "1"', 'VLLM_ROCM_USE_AITER: "1\\e[2J"', Check.ENV_VALUE, "VLLM_ROCM"),
        ('VLLM_ROCM_USE_AITER: "1"', 'VLLM_ROCM_USE_AITER: "1\\nTOUCH=1"', Check.ENV_VALUE, "VLLM_ROCM"),
        ("--model: Qwen/Qwen3-8B", '--model: "Qwen/Qwen3-8B\\n"', Check.CONTROL_CHARACTER, "--model:"),
        (
            "--dtype: bfloat16\n",
            '--dtype: bfloat16\n      --served-model-name: "a\\u202eb"\n',
            Check.CONTROL_CHARACTER,
            "--served",
        ),
        ("  2_gpu:", '  "2_gpu\\n":', Check.CONTROL_CHARACTER, "2_gpu"),
    ],
)
def test_ids_and_text_with_control_characters_are_refused(tmp_path, old, new, check, marker):
    text = mutate(old, new)
    found = validate_text(tmp_path, text)
    assert line_of(text, marker) in at(found, check), [d.format_text() for d in found]
    assert all("\n" not in d.message and "\x1b" not in d.message for d in found)


def test_notes_may_span_lines_but_hold_no_escapes(tmp_path):
    ok = mutate("precision: bf16", 'precision: bf16\nnotes: "line one\\n\\tline two"')
    assert validate_text(tmp_path, ok) == []
    bad = mutate("precision: bf16", 'precision: bf16\nnotes: "red \\e[31m"')
    assert line_of(bad, "notes:") in at(validate_text(tmp_path, bad), Check.CONTROL_CHARACTER)


MODEL = "models/qwen3-8b.yaml"


@pytest.mark.parametrize(
    "old, new",
    [
        ("model_id: Qwen/Qwen3-8B", 'model_id: "Qwen/Qwen3-8B\\n"'),
        ("model_id: Qwen/Qwen3-8B", "model_id: Qwen/Qwen3--8B"),
        ("model_id: Qwen/Qwen3-8B", "model_id: Qwen/Qwen3-8B."),
        ("model_id: Qwen/Qwen3-8B", "model_id: -Qwen/Qwen3-8B"),
        ("model_id: Qwen/Qwen3-8B", "model_id: Qwen/" + "q" * 97),
        ("model_id: Qwen/Qwen3-8B", "model_id: Qwen/Qwen3 8B"),
        ("name: Qwen3-8B", 'name: "Qwen3-8B\\e[2J"'),
    ],
)
def test_model_ids_follow_the_hub_rules_and_names_hold_no_controls(tmp_path, old, new):
    from tests.conftest import REPO

    text = mutate(old, new, (REPO / MODEL).read_text())
    found = validate_text(tmp_path, text, name="model.yaml")
    key = new.split(":")[0]
    assert line_of(text, key + ":") in {d.line for d in found if d.check in (Check.SCHEMA, Check.CONTROL_CHARACTER)}


def test_the_longest_hub_name_is_accepted(tmp_path):
    from tests.conftest import REPO

    text = mutate("model_id: Qwen/Qwen3-8B", "model_id: Qwen/" + "q" * 96, (REPO / MODEL).read_text())
    assert not [d for d in validate_text(tmp_path, text, name="model.yaml") if d.check is Check.SCHEMA]


def test_output_never_carries_raw_control_characters():
    from pathlib import Path

    from aim_engine.checks.diagnostics import Report

    report = Report()
    report.add(Path("a\nb.yaml"), 3, Check.SCHEMA, "x\x1b[2J\ny\u202ez\ud800")
    d: Diagnostic = report.items[0]
    for text in (d.message, d.format_text(), d.format_github()):
        assert not any(c in text for c in "\n\x1b\u202e\ud800"), text
        text.encode("utf-8")


# --- YAML that once raised instead of reporting -------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["!!float abc", "!!int abc", "!!timestamp 2001-99-99", "!!bool maybe", "2001-99-99", "0x_", "!!binary aGk="],
)
def test_yaml_tags_and_bad_implicit_values_are_syntax_errors_with_a_line(tmp_path, value):
    text = mutate("precision: bf16", f"precision: bf16\nstatus: {value}")
    found = validate_text(tmp_path, text)
    assert line_of(text, "status:") in at(found, Check.YAML_SYNTAX), [d.format_text() for d in found]


def test_control_bytes_in_yaml_give_one_line_with_a_line_number(tmp_path):
    text = GOOD_VLLM.replace("hardware: MI300X", "hardware: MI300X\x00")
    found = validate_text(tmp_path, text)
    assert line_of(text, "hardware:") in at(found, Check.YAML_SYNTAX)
    assert all("\n" not in d.message for d in found)
