from __future__ import annotations

from aim_engine.catalogue.records import Entry
from aim_engine.engines import backends_for


def entry(args, gpus=1):
    return Entry("vllm", f"{gpus}_gpu", gpus, True, args, {}, None)


def test_defaults_follow_vllm(catalogue):
    vllm = backends_for(catalogue.engines)["vllm"]
    model = catalogue.models["Qwen/Qwen3-8B"]
    s = vllm.settings(entry({}), model, catalogue.hardware["MI300X"])
    assert (s.tp, s.utilization, s.max_num_batched_tokens, s.max_num_seqs) == (1, 0.92, 8192, 1024)
    assert s.max_model_len == model.config.max_position_embeddings and not s.max_model_len_explicit
    small = vllm.settings(entry({}), model, catalogue.hardware["W7900"])  # 48 GiB < 70 GiB
    assert (small.max_num_batched_tokens, small.max_num_seqs) == (2048, 256)


def test_seed_style_strings_and_aliases(catalogue):
    vllm = backends_for(catalogue.engines)["vllm"]
    model = catalogue.models["Qwen/Qwen3-8B"]
    s = vllm.settings(
        entry({"-tp": "4", "--max_model_len": "32k", "--gpu-memory-utilization": "0.85", "--enforce-eager": None}, 4),
        model,
        catalogue.hardware["MI300X"],
    )
    assert (s.tp, s.gpus_used, s.max_model_len, s.utilization, s.cuda_graphs) == (4, 4, 32000, 0.85, False)
    s = vllm.settings(entry({"--max-model-len": "32K"}), model, catalogue.hardware["MI300X"])
    assert s.max_model_len == 32768


def test_gpus_used_counts_all_parallel_dimensions(catalogue):
    vllm = backends_for(catalogue.engines)["vllm"]
    s = vllm.settings(
        entry({"--tensor-parallel-size": 2, "--pipeline-parallel-size": 2, "--data-parallel-size": 2}, 8),
        catalogue.models["Qwen/Qwen3-8B"],
        catalogue.hardware["MI300X"],
    )
    assert s.gpus_used == 8


def test_expert_parallelism_spans_the_data_parallel_ranks(catalogue):
    vllm = backends_for(catalogue.engines)["vllm"]
    model, mi300x = catalogue.models["Qwen/Qwen3-235B-A22B"], catalogue.hardware["MI300X"]
    ep = vllm.settings(entry({"--data-parallel-size": 8, "--enable-expert-parallel": None}, 8), model, mi300x)
    assert (ep.tp, ep.gpus_used, ep.expert_shards, ep.attention_shards) == (1, 8, 8, 0)
    # without expert parallelism every data-parallel rank holds all the experts
    plain = vllm.settings(entry({"--data-parallel-size": 8}, 8), model, mi300x)
    assert plain.expert_shards == 1
