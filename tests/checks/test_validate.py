"""Every validation check: a recipe (or model) that trips it, at the right line, and the
same file without the defect passing."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from aim_engine.build import check
from aim_engine.checks.diagnostics import Check, Severity
from aim_pick.contract.deploy import VISIBILITY_ENV
from tests import yamlio
from tests.conftest import REPO, validate_text

GOOD_VLLM = """
recipe_id: test-qwen3-8b-mi300x-bf16
model_id: Qwen/Qwen3-8B
hardware: MI300X
precision: bf16
env:
  VLLM_ROCM_USE_AITER: "1"
vllm_serve:
  1_gpu:
    enabled: true
    args:
      --model: Qwen/Qwen3-8B
      --dtype: bfloat16
      --max-model-len: 32768
      --max-num-batched-tokens: '8192'
      --gpu-memory-utilization: '0.9'
  2_gpu:
    enabled: true
    args:
      --tensor-parallel-size: '2'
      --dtype: bfloat16
      --max-model-len: 32768
sglang_serve:
  1_gpu:
    enabled: true
    args:
      --model-path: Qwen/Qwen3-8B
      --tp-size: 1
      --dtype: bfloat16
      --context-length: 32768
"""


def mutate(old: str, new: str, base: str = GOOD_VLLM) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def line_of(text: str, marker: str, occurrence: int = 1) -> int:
    lines = textwrap.dedent(text).lstrip("\n").splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if marker in line]
    return hits[occurrence - 1]


def errors(diagnostics):
    return [d for d in diagnostics if d.severity is Severity.ERROR]


def test_good_recipe_passes(tmp_path):
    assert validate_text(tmp_path, GOOD_VLLM) == []


MXFP4_ON_MI300X_BOTH = """
recipe_id: t-gpt-oss-both
model_id: openai/gpt-oss-20b
hardware: MI300X
precision: mxfp4
vllm_serve:
  1_gpu:
    enabled: true
    args:
      --max-model-len: 32768
sglang_serve:
  1_gpu:
    enabled: true
    args:
      --context-length: 32768
"""

# (id, text, check, marker of the line to blame (None: any line), severity)
CASES = [
    ("yaml", mutate("precision: bf16", "precision: [bf16"), Check.YAML_SYNTAX, None, Severity.ERROR),
    (
        "duplicate-key",
        mutate("      --dtype: bfloat16\n", "      --dtype: bfloat16\n      --dtype: float16\n"),
        Check.DUPLICATE_KEY,
        "--dtype: float16",
        Severity.ERROR,
    ),
    ("unknown-key", mutate("precision: bf16", "precision: bf16\ncolour: red"), Check.SCHEMA, "colour", Severity.ERROR),
    (
        "wrong-type",
        mutate("    enabled: true\n    args:\n      --model", "    enabled: yes please\n    args:\n      --model"),
        Check.SCHEMA,
        "yes please",
        Severity.ERROR,
    ),
    ("bad-precision", mutate("precision: bf16", "precision: fp9"), Check.SCHEMA, "precision:", Severity.ERROR),
    (
        "unknown-model",
        mutate("model_id: Qwen/Qwen3-8B", "model_id: Qwen/Qwen3-9B"),
        Check.UNKNOWN_MODEL,
        "model_id:",
        Severity.ERROR,
    ),
    (
        "unknown-hardware",
        mutate("hardware: MI300X", "hardware: MI400X"),
        Check.UNKNOWN_HARDWARE,
        "hardware:",
        Severity.ERROR,
    ),
    (
        "duplicate-recipe-id",
        mutate("recipe_id: test-qwen3-8b-mi300x-bf16", "recipe_id: qwen3-8b-mi300x-bf16"),
        Check.DUPLICATE_RECIPE_ID,
        "recipe_id:",
        Severity.ERROR,
    ),
    (
        "precision-unsupported",
        mutate(
            "hardware: MI300X",
            "hardware: MI250X",
            mutate("precision: bf16", "precision: fp8", GOOD_VLLM.replace("--dtype: bfloat16", "--quantization: fp8")),
        ),
        Check.PRECISION_UNSUPPORTED,
        "precision:",
        Severity.ERROR,
    ),
    ("no-image", mutate("hardware: MI300X", "hardware: MI250X"), Check.NO_IMAGE, ("1_gpu:", 2), Severity.ERROR),
    (
        "unknown-flag",
        mutate("--max-model-len: 32768", "--max-modle-len: 32768"),
        Check.UNKNOWN_FLAG,
        "--max-modle-len",
        Severity.ERROR,
    ),
    (
        "other-backend-flag",
        mutate("--context-length: 32768", "--max-model-len: 32768"),
        Check.OTHER_BACKEND_FLAG,
        ("--max-model-len", 3),
        Severity.ERROR,
    ),
    (
        "removed-swap-space",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --swap-space: 16\n"),
        Check.REMOVED_FLAG,
        "--swap-space",
        Severity.ERROR,
    ),
    (
        "removed-scheduler-steps",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --num-scheduler-steps: 10\n"),
        Check.REMOVED_FLAG,
        "--num-scheduler-steps",
        Severity.ERROR,
    ),
    (
        "removed-v2-block-manager",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --use-v2-block-manager: true\n"),
        Check.REMOVED_FLAG,
        "--use-v2-block-manager",
        Severity.ERROR,
    ),
    (
        "removed-seq-len-to-capture",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --max-seq-len-to-capture: 32768\n"),
        Check.REMOVED_FLAG,
        "--max-seq-len-to-capture",
        Severity.ERROR,
    ),
    (
        "deprecated",
        mutate("--context-length: 32768", "--context-length: 32768\n      --enable-dp-attention: true"),
        Check.DEPRECATED_FLAG,
        "--enable-dp-attention",
        Severity.WARNING,
    ),
    ("abbreviated", mutate("--tp-size: 1", "--tp-si: 1"), Check.ABBREVIATED_FLAG, "--tp-si", Severity.WARNING),
    (
        "flag-value",
        mutate("--max-num-batched-tokens: '8192'", "--max-num-batched-tokens: lots"),
        Check.FLAG_VALUE,
        "--max-num-batched-tokens",
        Severity.ERROR,
    ),
    (
        "flag-value-bool",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --enforce-eager: 'yes'\n"),
        Check.FLAG_VALUE,
        "--enforce-eager",
        Severity.ERROR,
    ),
    (
        "flag-choice-dtype",
        mutate("--dtype: bfloat16", "--dtype: bf16"),
        Check.FLAG_CHOICE,
        "--dtype: bf16",
        Severity.ERROR,
    ),
    (
        # vLLM's --kv-cache-dtype list is its metavar (CacheDType | str): known values, not a limit
        "registry-kv-metavar",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --kv-cache-dtype: fp9\n"),
        Check.REGISTRY_VALUE,
        "--kv-cache-dtype",
        Severity.WARNING,
    ),
    (
        "registry-reasoning-parser",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --reasoning-parser: qwen4\n"),
        Check.REGISTRY_VALUE,
        "--reasoning-parser",
        Severity.WARNING,
    ),
    (
        "unknown-config-key",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      -cc.pass_config.fuse_rope_kv: 'True'\n"),
        Check.UNKNOWN_CONFIG_KEY,
        "-cc.pass_config",
        Severity.ERROR,
    ),
    (
        "unknown-config-key-json",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --compilation-config: '{\"level\": 3}'\n"),
        Check.UNKNOWN_CONFIG_KEY,
        "--compilation-config",
        Severity.ERROR,
    ),
    (
        "unknown-config-key-append",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      -cc.custom_opz+: +rms_norm\n"),
        Check.UNKNOWN_CONFIG_KEY,
        "-cc.custom_opz+",
        Severity.ERROR,
    ),
    (
        "append-without-key",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --max-num-seqs+: 8\n"),
        Check.UNKNOWN_FLAG,
        "--max-num-seqs+",
        Severity.ERROR,
    ),
    (
        "dotted-enum-value",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      -cc.cudagraph_mode: HALF\n"),
        Check.FLAG_CHOICE,
        "-cc.cudagraph_mode",
        Severity.ERROR,
    ),
    (
        # vLLM merges a --config file's options into argv at launch: not in the plan, not checkable
        "config-file",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --config: config.yaml\n"),
        Check.CONFIG_FILE,
        "--config",
        Severity.ERROR,
    ),
    (
        "optimization-level",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      -O4: null\n"),
        Check.FLAG_CHOICE,
        "-O4",
        Severity.ERROR,
    ),
    (
        "flag-choice-sglang-kv",
        mutate("--context-length: 32768", "--context-length: 32768\n      --kv-cache-dtype: fp8"),
        Check.FLAG_CHOICE,
        "--kv-cache-dtype",
        Severity.ERROR,
    ),
    (
        "flag-choice-sglang-attention",
        mutate("--context-length: 32768", "--context-length: 32768\n      --attention-backend: rocm_aiter"),
        Check.FLAG_CHOICE,
        "--attention-backend",
        Severity.ERROR,
    ),
    (
        "reserved",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --port: 8001\n"),
        Check.RESERVED_FLAG,
        "--port",
        Severity.WARNING,
    ),
    (
        "dtype-mismatch",
        mutate("--dtype: bfloat16", "--dtype: float16"),
        Check.DTYPE_MISMATCH,
        "--dtype: float16",
        Severity.ERROR,
    ),
    (
        "gpu-count",
        mutate("--tensor-parallel-size: '2'", "--tensor-parallel-size: '4'"),
        Check.GPU_COUNT_MISMATCH,
        "--tensor-parallel-size",
        Severity.ERROR,
    ),
    (
        "tp-heads",
        GOOD_VLLM.replace("  2_gpu:", "  3_gpu:").replace("--tensor-parallel-size: '2'", "--tensor-parallel-size: '3'"),
        Check.TP_HEADS,
        "--tensor-parallel-size",
        Severity.ERROR,
    ),
    (
        "tp-kv-heads",
        GOOD_VLLM.replace("Qwen3-8B", "Qwen3-14B")
        .replace("  2_gpu:", "  5_gpu:")
        .replace("--tensor-parallel-size: '2'", "--tensor-parallel-size: '5'"),
        Check.TP_KV_HEADS,
        "--tensor-parallel-size",
        Severity.ERROR,
    ),
    (
        "tp-intermediate",
        GOOD_VLLM.replace("Qwen3-8B", "Qwen3-14B")
        .replace("  2_gpu:", "  5_gpu:")
        .replace("--tensor-parallel-size: '2'", "--tensor-parallel-size: '5'"),
        Check.TP_INTERMEDIATE,
        "--tensor-parallel-size",
        Severity.ERROR,
    ),
    (
        "tp-block-fp8",
        GOOD_VLLM.replace("Qwen3-8B", "Qwen3-30B-A3B")
        .replace("precision: bf16", "precision: fp8")
        .replace("      --dtype: bfloat16\n", "")
        .replace("  2_gpu:", "  4_gpu:")
        .replace("--tensor-parallel-size: '2'", "--model: Qwen/Qwen3-30B-A3B-FP8\n      --tensor-parallel-size: '4'")
        .replace("--model: Qwen/Qwen3-30B-A3B\n", "--model: Qwen/Qwen3-30B-A3B-FP8\n")
        .replace("--model-path: Qwen/Qwen3-30B-A3B\n", "--model-path: Qwen/Qwen3-30B-A3B-FP8\n"),
        Check.TP_BLOCK_FP8,
        "--tensor-parallel-size",
        Severity.ERROR,
    ),
    (
        "context-too-long",
        mutate("--max-model-len: 32768", "--max-model-len: 65536"),
        Check.CONTEXT_TOO_LONG,
        "--max-model-len: 65536",
        Severity.ERROR,
    ),
    (
        "does-not-fit",
        GOOD_VLLM.replace("Qwen3-8B", "Qwen3-235B-A22B"),
        Check.DOES_NOT_FIT,
        "--max-model-len",
        Severity.ERROR,
    ),
    (
        "unknown-checkpoint",
        mutate("--model: Qwen/Qwen3-8B", "--model: someone/Qwen3-8B-copy"),
        Check.UNKNOWN_CHECKPOINT,
        "--model:",
        Severity.ERROR,
    ),
    (
        "checkpoint-precision",
        mutate("precision: bf16", "precision: fp8", GOOD_VLLM.replace("      --dtype: bfloat16\n", "")),
        Check.CHECKPOINT_PRECISION,
        "--model:",
        Severity.ERROR,
    ),
    (
        "env-name",
        mutate('VLLM_ROCM_USE_AITER: "1"', 'vllm-rocm-use-aiter: "1"'),
        Check.ENV_NAME,
        "vllm-rocm-use-aiter",
        Severity.ERROR,
    ),
    (
        "secret-env",
        mutate('VLLM_ROCM_USE_AITER: "1"', 'HF_TOKEN: "hf_abcdefghijklmnopqrstuvwxyz012345"'),
        Check.SECRET,
        "HF_TOKEN",
        Severity.ERROR,
    ),
    (
        "env-visibility",
        mutate('VLLM_ROCM_USE_AITER: "1"', 'HIP_VISIBLE_DEVICES: "0"'),
        Check.ENV_VISIBILITY,
        "HIP_VISIBLE_DEVICES",
        Severity.ERROR,
    ),
    (
        "secret-flag",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --api-key: sk-live-0123456789abcdef0123\n"),
        Check.SECRET,
        "--api-key",
        Severity.ERROR,
    ),
    (
        "env-value-nul",
        mutate('VLLM_ROCM_USE_AITER: "1"', 'VLLM_ROCM_USE_AITER: "1\\0"'),
        Check.ENV_VALUE,
        "VLLM_ROCM_USE_AITER",
        Severity.ERROR,
    ),
    (
        "env-removed",
        mutate('VLLM_ROCM_USE_AITER: "1"', 'VLLM_USE_TRITON_FLASH_ATTN: "0"'),
        Check.ENV_REMOVED,
        "VLLM_USE_TRITON_FLASH_ATTN",
        Severity.WARNING,
    ),
    (
        "env-unknown",
        mutate('VLLM_ROCM_USE_AITER: "1"', 'VLLM_USE_AITER_TRITON_ROPE: "1"'),
        Check.ENV_REMOVED,
        "VLLM_USE_AITER_TRITON_ROPE",
        Severity.WARNING,
    ),
    (
        "env-never-acted-on",
        mutate('VLLM_ROCM_USE_AITER: "1"', 'VLLM_ROCM_USE_AITER_UNIFIED_ATTENTION: "1"'),
        Check.ENV_REMOVED,
        "VLLM_ROCM_USE_AITER_UNIFIED_ATTENTION",
        Severity.WARNING,
    ),
    (
        "env-deprecated",
        mutate(
            "      --context-length: 32768", "      --context-length: 32768\n    env:\n      SGLANG_ENABLE_CP_V2: '1'"
        ),
        Check.ENV_DEPRECATED,
        "SGLANG_ENABLE_CP_V2",
        Severity.WARNING,
    ),
    (
        "env-choice",
        mutate('VLLM_ROCM_USE_AITER: "1"', "VLLM_ROCM_QUICK_REDUCE_QUANTIZATION: INT5"),
        Check.ENV_CHOICE,
        "VLLM_ROCM_QUICK_REDUCE_QUANTIZATION",
        Severity.ERROR,
    ),
    (
        "unknown-backend",
        mutate("sglang_serve:", "trtllm_serve:"),
        Check.UNKNOWN_BACKEND,
        "trtllm_serve",
        Severity.ERROR,
    ),
    ("entry-key", mutate("  2_gpu:", "  two_gpu:"), Check.ENTRY_KEY, "two_gpu", Severity.ERROR),
    (
        "entry-hosts",  # a recipe writes one host's launch; multi-node plans are generated
        mutate(
            "  2_gpu:\n    enabled: true\n    args:\n      --tensor-parallel-size: '2'",
            "  16_gpu:\n    enabled: true\n    args:\n      --tensor-parallel-size: '16'",
        ),
        Check.ENTRY_HOSTS,
        "16_gpu",
        Severity.ERROR,
    ),
    ("no-backend", GOOD_VLLM[: GOOD_VLLM.index("vllm_serve:")], Check.NO_BACKEND, None, Severity.ERROR),
    (
        "env-file-value",
        mutate('VLLM_ROCM_USE_AITER: "1"', 'VLLM_ROCM_USE_AITER: "$(touch PWNED)"'),
        Check.ENV_FILE_VALUE,
        "VLLM_ROCM_USE_AITER",
        Severity.ERROR,
    ),
    (
        "control-character-id",
        mutate("model_id: Qwen/Qwen3-8B", 'model_id: "Qwen/Qwen3-8B\\n"'),
        Check.CONTROL_CHARACTER,
        "model_id:",
        Severity.ERROR,
    ),
    (
        "unknown-value-kv-dtype",
        mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --kv-cache-dtype: turboquant_3bit_nc\n"),
        Check.UNKNOWN_VALUE,
        "--kv-cache-dtype",
        Severity.ERROR,
    ),
    (
        # SGLang starts with a KV pool shorter than one full-context request (it refuses or cuts
        # longer requests at run time): a warning naming the context that fits, not an error.
        "context-fits-shorter-sglang",
        GOOD_VLLM.replace("Qwen3-8B", "Llama-3.1-70B-Instruct")
        .replace("Qwen/", "meta-llama/")
        .replace("--context-length: 32768", "--context-length: 131072"),
        Check.CONTEXT_FITS_SHORTER,
        ("--context-length", 1),
        Severity.WARNING,
    ),
    (
        # vLLM --max-model-len auto: vLLM shortens the context to what fits at start-up.
        "context-fits-shorter-vllm-auto",
        GOOD_VLLM.replace("Qwen3-8B", "Llama-3.1-70B-Instruct")
        .replace("Qwen/", "meta-llama/")
        .replace("--max-model-len: 32768", "--max-model-len: auto", 1),
        Check.CONTEXT_FITS_SHORTER,
        ("--max-model-len: auto", 1),
        Severity.WARNING,
    ),
    (
        "dtype-unsupported",
        GOOD_VLLM.replace("Qwen/Qwen3-8B", "google/gemma-3-27b-it")
        .replace("precision: bf16", "precision: fp16")
        .replace("--dtype: bfloat16", "--dtype: float16"),
        Check.DTYPE_UNSUPPORTED,
        ("--dtype: float16", 1),
        Severity.ERROR,
    ),
    (
        # SGLang 0.5.23 registers no MXFP4 method on gfx942 (vLLM emulates it there)
        "precision-unsupported-by-engine",
        MXFP4_ON_MI300X_BOTH,
        Check.PRECISION_UNSUPPORTED,
        ("1_gpu:", 2),
        Severity.ERROR,
    ),
]


@pytest.mark.parametrize("case_id, text, check, marker, severity", CASES, ids=[c[0] for c in CASES])
def test_each_check_trips_at_the_right_line(tmp_path, case_id, text, check, marker, severity):
    found = validate_text(tmp_path, text)
    hits = [d for d in found if d.check is check]
    assert hits, f"{check} not reported; got {[d.format_text() for d in found]}"
    assert hits[0].severity is severity
    assert hits[0].path.name == "recipe.yaml"
    if marker is not None:
        expected = line_of(text, *marker) if isinstance(marker, tuple) else line_of(text, marker)
        assert expected in {d.line for d in hits}, [d.format_text() for d in hits]
    else:
        assert all(d.line is None or d.line >= 1 for d in hits)


@pytest.mark.parametrize("name", VISIBILITY_ENV)
def test_no_recipe_or_entry_chooses_the_gpus_the_engine_sees(tmp_path, name):
    # at the recipe's env and in one entry's own env: either would reach the plan's container
    entry = "  2_gpu:\n    enabled: true\n"
    in_entry = GOOD_VLLM.replace(entry, f"{entry}    env:\n      {name}: '0,1'\n")
    for text in (mutate('VLLM_ROCM_USE_AITER: "1"', f'{name}: "0"'), in_entry):
        hits = [d for d in validate_text(tmp_path, text) if d.check is Check.ENV_VISIBILITY]
        assert [d.line for d in hits] == [line_of(text, f"{name}:")], text


def test_disabled_entries_skip_fit_but_not_flags(tmp_path):
    text = GOOD_VLLM.replace("Qwen3-8B", "Qwen3-235B-A22B").replace("enabled: true", "enabled: false")
    assert errors(validate_text(tmp_path, text)) == []
    broken = text.replace("--max-model-len: 32768", "--max-modle-len: 32768", 1)
    assert [d.check for d in errors(validate_text(tmp_path, broken))] == [Check.UNKNOWN_FLAG]


def test_does_not_fit_message_names_the_fix(tmp_path):
    text = (
        GOOD_VLLM.replace("Qwen3-8B", "Llama-3.1-70B-Instruct")
        .replace("Qwen/", "meta-llama/")
        .replace("--max-model-len: 32768", "--max-model-len: 131072")
        .replace("  2_gpu:", "  1_gpu_x:")
    )
    text = text[: text.index("  1_gpu_x:")]
    found = [d for d in validate_text(tmp_path, text) if d.check is Check.DOES_NOT_FIT]
    assert len(found) == 1
    message = found[0].message
    assert "needs" in message and "GiB per GPU" in message and "fits with --max-model-len" in message


MXFP4_ON_MI300X = """
recipe_id: t-gpt-oss
model_id: openai/gpt-oss-20b
hardware: MI300X
precision: mxfp4
vllm_serve:
  1_gpu:
    enabled: true
    args:
      --max-model-len: 32768
"""


def test_mxfp4_on_gfx942_is_a_warning(tmp_path):
    text = textwrap.dedent(MXFP4_ON_MI300X)
    found = validate_text(tmp_path, text)
    assert [d.check for d in found] == [Check.PRECISION_EMULATED]
    assert found[0].severity is Severity.WARNING
    # on gfx950 it is native
    assert validate_text(tmp_path, text.replace("MI300X", "MI355X")) == []
    # gfx1100 (W7900) cannot run it at all
    assert Check.PRECISION_UNSUPPORTED in {d.check for d in validate_text(tmp_path, text.replace("MI300X", "W7900"))}


def test_seed_example_recipe_is_accepted_as_is(tmp_path):
    """The recipe format of the user's design, verbatim apart from the id."""
    seed = """
    recipe_id: seed-qwen3-32b-mi300x-bf16
    model_id: Qwen/Qwen3-32B
    hardware: MI300X
    precision: bf16
    vllm_serve:
      1_gpu:
        enabled: true
        args:
          --model: Qwen/Qwen3-32B
          --dtype: bfloat16
          --max-num-batched-tokens: '8192'
          --max-model-len: '32768'
          --gpu-memory-utilization: '0.9'
      2_gpu:
        enabled: true
        args:
          --tensor-parallel-size: '2'
          --max-num-batched-tokens: '16384'
    """
    found = validate_text(tmp_path, seed)
    # 2_gpu has no --dtype and Qwen3-32B is bf16: auto keeps bf16, so it is clean
    assert errors(found) == []


# --- catalogue-level checks (need a writable catalogue copy) ------------------------------


def run(root, *paths):
    checked = check(root, list(paths))
    report, shown = checked.report, checked.shown
    return [d for d in report.sorted() if d.path in shown or not paths]


@pytest.mark.slow
def test_shipped_catalogue_is_clean():
    report = check(REPO, []).report
    assert report.errors == [], [d.format_text() for d in report.errors[:5]]


def edit_aim_recipes(model: Path, edit: Callable[[list[str]], list[str]]) -> str:
    """Rewrite a model file with its aim_recipes list changed; the new text (block style)."""
    data = yamlio.safe_load(model.read_text(encoding="utf-8"))
    data["aim_recipes"] = edit(list(data.get("aim_recipes") or []))
    text = yaml.safe_dump(data, sort_keys=False, width=1000, default_flow_style=False)
    model.write_text(text, encoding="utf-8")
    return text


@pytest.mark.slow
def test_recipe_missing_from_aim_recipes(copy_catalogue):
    model = copy_catalogue / "models" / "qwen3-8b.yaml"
    edit_aim_recipes(model, lambda ids: [i for i in ids if i != "qwen3-8b-mi300x-bf16"])
    found = [d for d in run(copy_catalogue) if d.check is Check.RECIPE_NOT_LISTED]
    assert len(found) == 1 and found[0].path.name == "qwen3-8b-mi300x-bf16.yaml"
    assert found[0].line == 2  # the recipe_id line, after the schema comment


@pytest.mark.slow
def test_dangling_aim_recipes_entry(copy_catalogue):
    model = copy_catalogue / "models" / "qwen3-8b.yaml"
    text = edit_aim_recipes(model, lambda ids: [*ids, "qwen3-8b-mi999x-bf16"])
    found = [d for d in run(copy_catalogue) if d.check is Check.DANGLING_RECIPE]
    assert len(found) == 1 and found[0].path.name == "qwen3-8b.yaml"
    assert found[0].line == line_of(text, "qwen3-8b-mi999x-bf16")


@pytest.mark.slow
def test_aim_recipes_naming_another_models_recipe(copy_catalogue):
    model = copy_catalogue / "models" / "qwen3-8b.yaml"
    edit_aim_recipes(model, lambda ids: [*ids, "qwen3-32b-mi300x-bf16"])
    found = [d for d in run(copy_catalogue) if d.check is Check.DANGLING_RECIPE]
    assert found and "serves Qwen/Qwen3-32B" in found[0].message


@pytest.mark.slow
def test_duplicate_model_file(copy_catalogue):
    src = copy_catalogue / "models" / "qwen3-8b.yaml"
    (copy_catalogue / "models" / "zz-copy.yaml").write_text(src.read_text())
    found = [d for d in run(copy_catalogue) if d.check is Check.DUPLICATE_MODEL_ID]
    assert len(found) == 1 and found[0].path.name == "zz-copy.yaml"


@pytest.mark.slow
def test_cli_recipe_needs_no_listing_but_catalogue_recipe_does(copy_catalogue, tmp_path):
    outside = tmp_path / "new-recipe.yaml"
    outside.write_text(textwrap.dedent(GOOD_VLLM))
    assert [d for d in run(copy_catalogue, outside) if d.check is Check.RECIPE_NOT_LISTED] == []
    inside = copy_catalogue / "recipes" / "new-recipe.yaml"
    inside.write_text(textwrap.dedent(GOOD_VLLM))
    assert [d.path.name for d in run(copy_catalogue) if d.check is Check.RECIPE_NOT_LISTED] == ["new-recipe.yaml"]


def test_model_file_schema_errors_name_the_key(tmp_path):
    text = (REPO / "models" / "qwen3-8b.yaml").read_text().replace("gated: false", "gated: false\nstars: 5")
    found = validate_text(tmp_path, text, name="model.yaml")
    assert [d.check for d in found] == [Check.SCHEMA]
    assert found[0].line == line_of(text, "stars: 5")


def test_off_spellings_of_bool_flags(tmp_path):
    text = mutate(
        "--dtype: bfloat16\n",
        "--dtype: bfloat16\n      --no-enable-prefix-caching: true\n      --disable-log-requests: true\n"
        "      --enable-expert-parallel: false\n",
    )
    assert validate_text(tmp_path, text) == []
    double = mutate("--dtype: bfloat16\n", "--dtype: bfloat16\n      --no-enable-prefix-caching: false\n")
    assert [d.check for d in validate_text(tmp_path, double)] == [Check.FLAG_VALUE]


def test_abbreviated_parallel_flags_count_as_the_full_flag(tmp_path):
    """SGLang's docs write --tp 2; it abbreviates --tp-size and sizes the GPUs used."""
    text = GOOD_VLLM.replace(
        "  1_gpu:\n    enabled: true\n    args:\n      --model-path: Qwen/Qwen3-8B\n      --tp-size: 1",
        "  2_gpu:\n    enabled: true\n    args:\n      --model-path: Qwen/Qwen3-8B\n      --tp: 2",
    )
    assert "--tp: 2" in text
    found = validate_text(tmp_path, text)
    assert [d.check for d in found] == [Check.ABBREVIATED_FLAG]


# Catalogue-level cases: (id, change to a writable catalogue copy, check, file that gets it).
def _unlist(root):
    edit_aim_recipes(root / "models" / "qwen3-8b.yaml", lambda ids: [i for i in ids if i != "qwen3-8b-mi300x-bf16"])


def _dangle(root):
    edit_aim_recipes(root / "models" / "qwen3-8b.yaml", lambda ids: [*ids, "qwen3-8b-mi999x-bf16"])


def _duplicate(root):
    (root / "models" / "zz-copy.yaml").write_text((root / "models" / "qwen3-8b.yaml").read_text())


def _emulated(root):
    (root / "recipes" / "zz-gpt-oss.yaml").write_text(textwrap.dedent(MXFP4_ON_MI300X))
    edit_aim_recipes(root / "models" / "gpt-oss-20b.yaml", lambda ids: [*ids, "t-gpt-oss"])


CATALOGUE_CASES = [
    ("not-listed", _unlist, Check.RECIPE_NOT_LISTED, "qwen3-8b-mi300x-bf16.yaml"),
    ("dangling", _dangle, Check.DANGLING_RECIPE, "qwen3-8b.yaml"),
    ("duplicate-model", _duplicate, Check.DUPLICATE_MODEL_ID, "zz-copy.yaml"),
    ("emulated", _emulated, Check.PRECISION_EMULATED, "zz-gpt-oss.yaml"),
]


@pytest.mark.parametrize("case_id, change, check_code, file_name", CATALOGUE_CASES, ids=[c[0] for c in CATALOGUE_CASES])
@pytest.mark.slow
def test_each_catalogue_check_trips(copy_catalogue, case_id, change, check_code, file_name):
    change(copy_catalogue)
    found = [d for d in run(copy_catalogue) if d.check is check_code and d.path.name == file_name]
    assert len(found) == 1, [d.format_text() for d in run(copy_catalogue) if d.check is check_code]
    assert found[0].severity is check_code.severity


# Bugs: a rule that raises on one file (simulated) is an INTERNAL finding on that file.
FAULT_CASES = [("internal", Check.INTERNAL)]


@pytest.mark.parametrize("case_id, check_code", FAULT_CASES, ids=[c[0] for c in FAULT_CASES])
@pytest.mark.slow
def test_a_bug_in_a_rule_is_reported_on_its_file_and_hides_nothing(
    copy_catalogue, monkeypatch, capsys, case_id, check_code
):
    from aim_engine.checks import rules
    from aim_engine.cli import main

    broken = copy_catalogue / "recipes" / "qwen3-8b-mi300x-bf16.yaml"
    other = copy_catalogue / "recipes" / "qwen3-32b-mi300x-bf16.yaml"
    other.write_text(other.read_text().replace("--max-model-len", "--max-modle-len", 1))
    real = rules.Validator.check_recipe

    def check_recipe(self, recipe):
        if recipe.path.name == broken.name:
            raise RuntimeError("simulated bug")
        return real(self, recipe)

    monkeypatch.setattr(rules.Validator, "check_recipe", check_recipe)
    found = run(copy_catalogue)
    assert [(d.path.name, d.check) for d in found if d.check is check_code] == [(broken.name, check_code)]
    assert any(d.path.name == other.name and d.check is Check.UNKNOWN_FLAG for d in found)  # not hidden
    assert main(["validate", "--root", str(copy_catalogue)]) == 70
    assert "simulated bug" in capsys.readouterr().out


def _model_base() -> dict:
    """A copy of a shipped MoE model file as data, under another id and with no recipes."""
    data = yamlio.safe_load((REPO / "models" / "qwen3-30b-a3b.yaml").read_text(encoding="utf-8"))
    data["model_id"] = "Test/Qwen3-30B-A3B-copy"
    data["aim_recipes"] = []
    for variant in data.get("variants") or []:
        variant["model_id"] = "Test/" + variant["model_id"].split("/", 1)[1] + "-copy"
    data["parameters"] = {"total": 30532122624, "active": 3353032704}
    data["architecture_config"].update(num_attention_heads=32, num_key_value_heads=4, hidden_size=2048)
    data["moe"].update(num_experts=128, experts_per_token=8)
    return data


def model_text(*changes: tuple[tuple[str, ...], object]) -> str:
    data = _model_base()
    for where, value in changes:
        holder = data
        for key in where[:-1]:
            holder = holder[key]
        holder[where[-1]] = value
    return yaml.safe_dump(data, sort_keys=False, width=1000)


MODEL_TEXT = model_text()


# Model files: (id, text, check, marker of the line to blame)
MODEL_CASES = [
    ("active-above-total", model_text((("parameters", "active"), 40532122624)), Check.MODEL_INCONSISTENT, "active:"),
    (
        "experts-per-token",
        model_text((("moe", "experts_per_token"), 200)),
        Check.MODEL_INCONSISTENT,
        "experts_per_token:",
    ),
    (
        "heads-not-multiple",
        model_text((("architecture_config", "num_key_value_heads"), 5)),
        Check.MODEL_INCONSISTENT,
        "num_key_value_heads:",
    ),
    (
        "more-kv-heads",
        model_text((("architecture_config", "num_key_value_heads"), 64)),
        Check.MODEL_INCONSISTENT,
        "num_key_value_heads:",
    ),
    (
        "sliding-window-layers",
        model_text((("attention",), {"kind": "gqa", "sliding_window": 4096, "sliding_window_layers": 99})),
        Check.MODEL_INCONSISTENT,
        "sliding_window_layers:",
    ),
    (
        "total-below-embeddings",
        model_text((("parameters",), {"total": 100000000, "active": 90000000})),
        Check.MODEL_INCONSISTENT,
        "total:",
    ),
    (
        "decimal-integer",
        model_text((("architecture_config", "hidden_size"), 2048.0)),
        Check.NOT_AN_INTEGER,
        "hidden_size:",
    ),
    (
        "decimal-exponent",
        model_text((("parameters", "total"), 3.0532122624e10)),
        Check.NOT_AN_INTEGER,
        "total:",
    ),
]


def test_model_text_passes(tmp_path):
    assert validate_text(tmp_path, MODEL_TEXT, "model.yaml") == []


@pytest.mark.parametrize("case_id, text, check, marker", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_each_model_check_trips_at_the_right_line(tmp_path, case_id, text, check, marker):
    found = validate_text(tmp_path, text, "model.yaml")
    hits = [d for d in found if d.check is check]
    assert hits, [d.format_text() for d in found]
    assert line_of(text, marker) in {d.line for d in hits}, [d.format_text() for d in hits]
    assert {d.check for d in found} == {check}, [d.format_text() for d in found]


def test_every_check_has_a_case():
    """The case tables together trip every finding code (each case is a test above)."""
    covered = {c[2] for c in CASES} | {c[2] for c in CATALOGUE_CASES} | {c[1] for c in FAULT_CASES}
    assert set(Check) == covered | {c[2] for c in MODEL_CASES}
