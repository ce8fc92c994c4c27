from __future__ import annotations

import pytest

from aim_engine.catalogue.load import load_engines
from aim_engine.catalogue.records import Entry
from aim_engine.engines import backends_for
from aim_engine.engines.sglang import by_memory, default_mem_fraction_static

DEFAULTS = load_engines()["sglang"].defaults


def entry(args, gpus=1):
    return Entry("sglang", f"{gpus}_gpu", gpus, True, args, {}, None)


def test_auto_mem_fraction_matches_reference_example():
    # docs/reference/memory.md#sglang-automatic-mem-fraction-static:
    # MI300X (about 192 GiB), TP=8, chunk 16384, max_bs 512 -> about 0.862
    assert default_mem_fraction_static(
        192 * 1024**3, 16384, 8, 1, by_memory(DEFAULTS["cuda_graph_max_bs"], 192 * 1024**3)
    ) == pytest.approx(0.862, abs=0.002)


def test_chunked_prefill_defaults_by_memory():
    gib = 1024**3
    assert [by_memory(DEFAULTS["chunked_prefill_size"], x * gib) for x in (192, 100, 48, 16)] == [
        16384,
        8192,
        4096,
        2048,
    ]


def test_settings_read_sglang_names(catalogue):
    sglang = backends_for(catalogue.engines)["sglang"]
    model = catalogue.models["Qwen/Qwen3-32B"]
    s = sglang.settings(
        entry(
            {
                "--tp-size": 4,
                "--context-length": 16384,
                "--mem-fraction-static": 0.8,
                "--model-path": "Qwen/Qwen3-32B-FP8",
            },
            4,
        ),
        model,
        catalogue.hardware["MI300X"],
    )
    assert (s.tp, s.gpus_used, s.max_model_len, s.utilization, s.checkpoint) == (4, 4, 16384, 0.8, "Qwen/Qwen3-32B-FP8")
    assert not sglang.overhead_in_budget()


def test_attention_dp_runs_inside_tp(catalogue):
    sglang = backends_for(catalogue.engines)["sglang"]
    model = catalogue.models["deepseek-ai/DeepSeek-R1"]
    plain = sglang.settings(entry({"--tp-size": 4, "--dp-size": 2}, 8), model, catalogue.hardware["MI300X"])
    assert plain.gpus_used == 8
    attn = sglang.settings(entry({"--tp-size": 8, "--attn-dp-size": 8}, 8), model, catalogue.hardware["MI300X"])
    assert attn.gpus_used == 8


def test_abbreviation_renders_as_the_full_flag(catalogue):
    sglang = backends_for(catalogue.engines)["sglang"]
    model = catalogue.models["Qwen/Qwen3-32B"]
    e = entry({"--tp": 2, "--context-length": 8192}, 2)
    settings = sglang.settings(e, model, catalogue.hardware["MI300X"])
    argv = sglang.engine_args(e, settings, 30000)
    assert settings.tp == 2 and settings.gpus_used == 2
    assert argv.count("--tp-size") == 1 and argv[argv.index("--tp-size") + 1] == "2"
    assert "--tp" not in argv


def test_dp_attention_gives_each_attention_group_tp_over_dp_gpus(catalogue):
    sglang = backends_for(catalogue.engines)["sglang"]
    model, mi355x = catalogue.models["deepseek-ai/DeepSeek-R1-0528"], catalogue.hardware["MI355X"]
    args = {"--tp-size": 8, "--dp-size": 8, "--enable-dp-attention": None}
    s = sglang.settings(entry(args, 8), model, mi355x)
    assert (s.gpus_used, s.attention_shards, s.expert_shards) == (8, 1, 0)
    assert sglang.settings(entry({"--tp-size": 8}, 8), model, mi355x).attention_shards == 8
