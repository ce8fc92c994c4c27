"""The committed flag snapshots are real parser dumps with the shape the validator reads,
plus the facts tools/flagdump captures around the parser (see tools/flagdump/README.md)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

FLAGS = resources.files("aim_engine.catalogue") / "data" / "flags"
SNAPSHOTS = ["vllm-0.33.0.json", "sglang-0.5.23.json"]
SECTIONS = {
    "config_keys",
    "dtype_restrictions",
    "env",
    "number_suffixes",
    "quantization_support",
    "registries",
    "shorthands",
    "special_values",
    "startup_deprecations",
}
GFX = ["gfx1100", "gfx90a", "gfx942", "gfx950"]


def snapshot(name):
    return json.loads((FLAGS / name).read_text())


@pytest.fixture(scope="module")
def vllm():
    return snapshot("vllm-0.33.0.json")


@pytest.fixture(scope="module")
def sglang():
    return snapshot("sglang-0.5.23.json")


def test_engine_files_point_at_existing_snapshots(catalogue):
    for engine in catalogue.engines.values():
        assert engine.flags.options, engine.name
        assert engine.flags.version == engine.version


def test_vllm_snapshot_looks_like_the_real_parser(vllm):
    options = vllm["options"]
    assert vllm["option_count"] == len(options) > 250
    bools = [o for o in options.values() if o["kind"] == "bool"]
    assert len(bools) > 60 and all(o["negation"].startswith("--no-") for o in bools)
    assert options["--gpu-memory-utilization"]["default"] == 0.92
    assert "-tp" in options["--tensor-parallel-size"]["aliases"]
    assert "fp8" in options["--kv-cache-dtype"]["choices"]
    for removed in (
        "--num-scheduler-steps",
        "--swap-space",
        "--use-v2-block-manager",
        "--device",
        "--task",
        "--max-seq-len-to-capture",
    ):
        assert removed not in options


def test_sglang_snapshot_looks_like_the_real_parser(sglang):
    options = sglang["options"]
    assert sglang["allow_abbrev"] is True
    assert len(options) > 400
    assert "--tensor-parallel-size" in options["--tp-size"]["aliases"]
    assert "fp8" not in options["--kv-cache-dtype"]["choices"]  # SGLang has no plain fp8
    assert options["--enable-dp-attention"]["deprecated"] is True


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_snapshot_is_stable_json(name):
    text = (FLAGS / name).read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_snapshot_has_every_section_and_comes_from_the_tool(name):
    data = snapshot(name)
    assert SECTIONS <= set(data)
    assert data["generated_by"] == "tools/flagdump"
    for option, by_spelling in data["special_values"].items():
        assert option in data["options"] and by_spelling


# --- (g) exact choices ---------------------------------------------------------------------


def test_vllm_choices_keep_the_literal_none(vllm):
    options = vllm["options"]
    for name in ("--spec-method", "--tool-strict-level"):
        assert {"None", ""} <= set(options[name]["choices"]), name
        assert options[name]["choices_source"] == "argparse"
    assert "ngram" in options["--spec-method"]["choices"]
    # a plain str option with choices and no None: nothing added
    assert "None" not in options["--all2all-backend"]["choices"]


# --- (a) dotted config arguments -------------------------------------------------------------


def test_vllm_json_options_have_their_config_keys(vllm):
    options, keys = vllm["options"], vllm["config_keys"]
    assert {n for n, o in options.items() if o["type"] == "json"} == set(keys)
    cc = keys["--compilation-config"]
    assert cc["config_class"] == "vllm.config.compilation.CompilationConfig"
    assert cc["extra_keys"] == "forbid"
    assert {"mode", "cudagraph_mode", "cudagraph_capture_sizes", "pass_config"} <= set(cc["keys"])
    assert "fuse_norm_quant" in cc["keys"]["pass_config"]["keys"]
    assert cc["keys"]["mode"]["enum_values"] == [0, 1, 2, 3]
    spec = keys["--speculative-config"]
    assert spec["config_class"] == "vllm.config.speculative.SpeculativeConfig"
    assert {"method", "num_speculative_tokens", "model"} <= set(spec["keys"])
    for name in ("--kv-transfer-config", "--structured-outputs-config", "--attention-config"):
        assert keys[name]["config_class"] and keys[name]["keys"], name
    assert keys["--hf-overrides"]["config_class"] is None  # free-form


def test_vllm_shorthands(vllm):
    short = vllm["shorthands"]
    assert short["json_option_aliases"]["-cc"] == "--compilation-config"
    assert short["json_option_aliases"]["-sc"] == "--speculative-config"
    level = short["optimization_level"]
    assert level["option"] == "--optimization-level" and level["shorthand"] == "-O"
    assert level["levels"] == level["separate_values"] == ["0", "1", "2", "3"]
    assert level["attached_value_any_text"] is True
    probes = {tuple(p["argv"]): p["parsed_as"] for p in short["probes"]}
    dotted = next(argv for argv in probes if argv[0].startswith("-cc.") and "=" in argv[0])
    key = dotted[0].split(".", 1)[1].split("=")[0]
    assert probes[dotted] == ["-cc", json.dumps({key: 1})]
    assert probes[("-O3",)] == ["--optimization-level", "3"]
    assert probes[("-O", "4")] == ["-O", "4"]  # only 0-3 may follow -O as a separate word


def test_vllm_max_model_len_takes_auto_and_suffixes(vllm):
    assert vllm["special_values"]["--max-model-len"] == {"-1": -1, "auto": -1}
    suffixes = vllm["number_suffixes"]["--max-model-len"]
    assert suffixes["multipliers"]["k"] == 1000 and suffixes["multipliers"]["K"] == 1024
    assert "K" not in suffixes["decimal_suffixes"] and "k" in suffixes["decimal_suffixes"]
    assert "auto" not in vllm["special_values"].get("--max-num-batched-tokens", {})


# --- (b) registries ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_registry_values_are_the_options_choices(name):
    data = snapshot(name)
    for key, registry in data["registries"].items():
        for option in registry["options"]:
            assert set(registry["values"]) <= set(data["options"][option]["choices"]), (key, option)


def test_vllm_registries(vllm):
    regs, options = vllm["registries"], vllm["options"]
    assert {"deepseek_r1", "qwen3", "openai_gptoss"} <= set(regs["reasoning_parsers"]["values"])
    assert "hermes" in regs["tool_call_parsers"]["values"]
    backends = regs["AttentionBackendEnum"]
    assert {"ROCM_AITER_FA", "TRITON_ATTN", "ROCM_ATTN"} <= set(backends["values"])
    assert backends["case_insensitive"] is True and backends["special_values"] == {"auto": None}
    assert "--attention-backend" in backends["options"]
    for option in ("--reasoning-parser", "--tool-call-parser", "--attention-backend"):
        assert options[option]["choices_source"] == "registry"
    assert options["--optimization-level"]["choices_source"] == "enum"


def test_sglang_registries(sglang):
    regs = sglang["registries"]
    assert regs["reasoning_parsers"]["registry_matches"] is True
    assert regs["tool_call_parsers"]["registry_matches"] is True
    assert regs["reasoning_parsers"]["parser_adds"] == ["auto"]
    assert {"--attention-backend", "--prefill-attention-backend", "--decode-attention-backend"} <= set(
        regs["attention_backend"]["options"]
    )
    assert "aiter" in regs["attention_backend"]["values"]
    assert all(r["enforced_by_parser"] for r in regs.values())


# --- (c) environment variables ---------------------------------------------------------------


def test_vllm_env(vllm):
    env = vllm["env"]
    variables = env["registry"]["variables"]
    assert len(variables) > 300
    assert variables["VLLM_ROCM_USE_AITER"] == {"type": "bool", "default": False}
    assert not set(env["read_ad_hoc"]["variables"]) & set(variables)
    unknown = env["unknown_variables"]
    assert unknown["behaviour"] == "warn"
    assert unknown["warning"] == "Unknown vLLM environment variable detected: {name}"
    assert unknown["error_option"] in vllm["options"]


def test_sglang_env(sglang):
    env = sglang["env"]
    variables = env["registry"]["variables"]
    assert len(variables) > 500 and all(name.startswith(("SGLANG_", "SGL_")) or name for name in variables)
    assert env["deprecated"]["variables"]
    assert all(v["message"] for v in env["deprecated"]["variables"].values())
    assert "{name}" in env["deprecated"]["legacy_prefix"]["message"]
    assert env["read_ad_hoc"]["variables"] and not set(env["read_ad_hoc"]["variables"]) & set(variables)


# --- (d) quantization per gfx target ---------------------------------------------------------


def test_vllm_mxfp4_is_emulated_on_gfx942_and_native_on_gfx950(vllm):
    quant = vllm["quantization_support"]
    assert quant["gfx_targets"] == ["gfx90a", "gfx942", "gfx950", "gfx1100"]
    assert "mxfp4" in quant["platform"]["supported_quantization"]
    row = quant["methods"]["mxfp4"]["support"]
    assert (row["gfx942"], row["gfx950"]) == ("emulated", "native")
    supports_mx = {"gfx1100": False, "gfx90a": False, "gfx942": False, "gfx950": True}
    assert quant["arch_predicates"]["supports_mx"] == supports_mx
    for method, entry in quant["methods"].items():
        assert set(entry["support"]) == set(GFX), method
        if method not in quant["platform"]["supported_quantization"]:
            assert set(entry["support"].values()) == {"unsupported"}, method


def test_sglang_has_no_mxfp4_on_gfx942(sglang):
    quant = sglang["quantization_support"]
    row = quant["methods"]["mxfp4"]["by_gfx"]
    assert row["gfx942"]["support"] == "unsupported" and row["gfx950"]["support"] == "native"
    gate = quant["arch_gates"]["sglang.srt.layers.quantization.mxfp4:Mxfp4Config.from_config"]
    assert gate["gfx942"]["result"] is False and gate["gfx950"]["result"] is True
    assert "not support mxfp4" in gate["gfx942"]["message"]


# --- (e) dtype restrictions, (f) start-up deprecations ---------------------------------------


def test_vllm_refuses_float16_for_gemma3(vllm):
    gemma3 = vllm["dtype_restrictions"]["model_types"]["gemma3"]
    assert gemma3["rejected_dtypes"] == ["float16", "half"]
    assert gemma3["auto_never_picks"] == ["float16"]
    assert "does not support float16" in gemma3["message"]


def test_sglang_has_no_dtype_rejections_but_picks_bf16_for_fp32_gemma(sglang):
    dtypes = sglang["dtype_restrictions"]
    assert dtypes["model_types"] == {}
    auto = dtypes["auto_resolution"]["by_model_type_then_checkpoint_dtype"]
    assert auto["gemma"]["float32"] == "bfloat16" and auto["<other>"]["float32"] == "float16"


def test_startup_deprecations(vllm, sglang):
    model = vllm["startup_deprecations"]["--model"]
    assert any("will be removed" in m["message"] and "argparse_utils" in m["source"] for m in model)
    for data in (vllm, sglang):
        for option, messages in data["startup_deprecations"].items():
            assert option in data["options"] and messages
