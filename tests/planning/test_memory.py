"""The memory model against the worked examples of docs/reference/memory.md#worked-examples."""

from __future__ import annotations

import pytest

from aim_engine.planning.memory import (
    GIB,
    ServingShape,
    estimate,
    kv_bytes_for_request,
    kv_bytes_per_token,
    weight_bytes_per_gpu,
)


def shape(**overrides):
    base = dict(
        tp=1,
        weight_format="bf16",
        kv_bytes=2,
        utilization=0.9,
        max_num_batched_tokens=8192,
        max_num_seqs=1024,
        max_model_len=131072,
    )
    base.update(overrides)
    return ServingShape(**base)


@pytest.mark.parametrize(
    "model_id, fmt, expected_gib",
    [
        # "Derived per-model figures" table (embeddings kept bf16)
        ("meta-llama/Llama-3.1-70B-Instruct", "bf16", 131.4),
        ("meta-llama/Llama-3.1-70B-Instruct", "fp8", 67.7),
        ("Qwen/Qwen3-32B", "bf16", 61.0),
        ("Qwen/Qwen3-8B", "bf16", 15.3),
        ("Qwen/Qwen3-235B-A22B", "bf16", 437.9),
        ("meta-llama/Llama-3.1-405B-Instruct", "bf16", 756.0),
        ("openai/gpt-oss-20b", "mxfp4", 12.8),
        ("openai/gpt-oss-120b", "mxfp4", 60.8),
        ("deepseek-ai/DeepSeek-R1", "fp8_block", 626.8),
    ],
)
def test_weights_match_reference(catalogue, model_id, fmt, expected_gib):
    weights, _ = weight_bytes_per_gpu(catalogue.models[model_id], fmt, tp=1)
    assert weights / GIB == pytest.approx(expected_gib, abs=0.15)


@pytest.mark.parametrize(
    "model_id, per_token",
    [
        ("Qwen/Qwen3-8B", 147_456),
        ("Qwen/Qwen3-32B", 262_144),
        ("meta-llama/Llama-3.1-70B-Instruct", 327_680),
        ("meta-llama/Llama-2-7b-chat-hf", 524_288),
        ("deepseek-ai/DeepSeek-R1", 70_272),  # MLA: 61 x 576 x 2
        ("openai/gpt-oss-20b", 24_576),  # full-attention layers only
        ("google/gemma-3-27b-it", 81_920),  # 10 global layers only
    ],
)
def test_kv_bytes_per_token_match_reference(catalogue, model_id, per_token):
    assert kv_bytes_per_token(catalogue.models[model_id], shape()) == per_token


def test_llama70b_bf16_one_mi300x_does_not_fit_full_context(catalogue):
    model, mi300x = catalogue.models["meta-llama/Llama-3.1-70B-Instruct"], catalogue.hardware["MI300X"]
    result = estimate(model, mi300x.memory_bytes, shape())
    assert not result.fits
    # KV for the full 131072-token context is 40 GiB; about 36 GiB is left after overhead
    assert result.kv_bytes_per_request == 40 * GIB
    assert 34 * GIB < result.kv_budget_bytes_per_gpu < 38 * GIB
    assert 100_000 < result.max_model_len_that_fits < 131072
    assert estimate(model, mi300x.memory_bytes, shape(max_model_len=result.max_model_len_that_fits)).fits


def test_llama70b_bf16_fits_with_fp8_kv_cache(catalogue):
    model, mi300x = catalogue.models["meta-llama/Llama-3.1-70B-Instruct"], catalogue.hardware["MI300X"]
    result = estimate(model, mi300x.memory_bytes, shape(kv_bytes=1))
    assert result.fits
    assert result.kv_bytes_per_request == 20 * GIB


def test_llama70b_bf16_fits_at_utilization_095(catalogue):
    model, mi300x = catalogue.models["meta-llama/Llama-3.1-70B-Instruct"], catalogue.hardware["MI300X"]
    assert estimate(model, mi300x.memory_bytes, shape(utilization=0.95)).fits


def test_deepseek_r1_tp8_kv_is_replicated(catalogue):
    model, mi300x = catalogue.models["deepseek-ai/DeepSeek-R1"], catalogue.hardware["MI300X"]
    one = estimate(model, mi300x.memory_bytes, shape(tp=1, weight_format="fp8_block", max_model_len=163840))
    eight = estimate(model, mi300x.memory_bytes, shape(tp=8, weight_format="fp8_block", max_model_len=163840))
    assert one.kv_bytes_per_token_per_gpu == eight.kv_bytes_per_token_per_gpu == 70_272
    assert eight.kv_bytes_per_request / GIB == pytest.approx(10.7, abs=0.05)
    assert eight.weights_bytes_per_gpu / GIB == pytest.approx(79, abs=1.5)  # ~80 GiB per GPU
    assert eight.fits and not one.fits


def test_gqa_kv_split_by_tp_then_replicated(catalogue):
    model = catalogue.models["Qwen/Qwen3-235B-A22B"]  # 4 KV heads
    per = {tp: kv_bytes_per_token(model, shape(tp=tp)) for tp in (1, 2, 4, 8)}
    assert per[2] == per[1] // 2 and per[4] == per[1] // 4
    assert per[8] == per[4]  # TP 8 > 4 KV heads: one head per rank, two copies


def test_sliding_window_layers_do_not_grow_with_context(catalogue):
    model = catalogue.models["openai/gpt-oss-120b"]
    short = kv_bytes_for_request(model, shape(), 32768)
    long = kv_bytes_for_request(model, shape(), 65536)
    full_only = kv_bytes_per_token(model, shape()) * 32768
    assert long - short == full_only  # the sliding layers added nothing for the extra tokens


def test_concurrency_and_max_len_are_consistent(catalogue):
    model, mi355x = catalogue.models["Qwen/Qwen3-8B"], catalogue.hardware["MI355X"]
    result = estimate(model, mi355x.memory_bytes, shape(max_model_len=32768))
    assert result.fits
    assert result.max_concurrency == result.kv_budget_bytes_per_gpu // result.kv_bytes_per_request
    assert result.max_concurrency > 50
    assert result.max_model_len_that_fits == model.config.max_position_embeddings


def test_more_gpus_need_less_memory_each(catalogue):
    model, mi300x = catalogue.models["meta-llama/Llama-3.1-405B-Instruct"], catalogue.hardware["MI300X"]
    totals = [
        estimate(model, mi300x.memory_bytes, shape(tp=tp, max_model_len=32768)).total_bytes_per_gpu
        for tp in (1, 2, 4, 8)
    ]
    assert totals == sorted(totals, reverse=True)
    assert not estimate(model, mi300x.memory_bytes, shape(tp=4, max_model_len=32768)).fits
    assert estimate(model, mi300x.memory_bytes, shape(tp=8, max_model_len=32768)).fits
