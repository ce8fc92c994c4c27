"""The memory model: weights from stored checkpoint bytes, KV layouts (GQA, MLA + DSA indexer,
sliding windows, hybrid linear attention), platform overhead, SGLang's pool, sizing problems.

Model records come from the start-up log fixtures (tests/planning/startup_logs), not from
models/*.yaml, so these figures do not move when the catalogue's files change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aim_engine.catalogue.records import CheckpointSize, LinearAttention, Variant
from aim_engine.planning.memory import (
    CUDA,
    GIB,
    KV_BLOCK,
    ROCM,
    ServingShape,
    estimate,
    kv_bytes_for_request,
    kv_bytes_per_token,
    kv_layout,
    linear_state_bytes,
    parameter_split,
    runtime_for,
    sizing_problem,
    weight_bytes_per_gpu,
    weights,
)
from tests.planning.startup_logs.replay import fixtures

MI300X_BYTES = 206141652992  # hardware.json
RECORDS = {f.model.model_id: f.model for f in fixtures()}


def record(model_id, **changes):
    return replace(RECORDS[model_id], **changes)


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


# --- weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_id, fmt, expected_gib",
    [
        # parameters x bytes per format (no stored size), embeddings kept 16-bit
        ("meta-llama/Llama-3.1-70B-Instruct", "bf16", 131.4),
        ("meta-llama/Llama-3.1-70B-Instruct", "fp8", 67.7),
        ("meta-llama/Llama-3.1-405B-Instruct", "bf16", 756.0),
        # MXFP4 experts padded to ROCm's 256 x 256 kernel tiles (2880 -> 3072 both ways)
        ("openai/gpt-oss-20b", "mxfp4", 14.1),
        ("openai/gpt-oss-120b", "mxfp4", 68.5),
        # 684.5 B parameters with the MTP layer; an 8-bit MoE checkpoint without a stored size
        # counts all but its routed experts 16-bit (the next test)
        ("deepseek-ai/DeepSeek-V3", "fp8_block", 666.2),
    ],
)
def test_weights_from_parameters(model_id, fmt, expected_gib):
    got, _ = weight_bytes_per_gpu(record(model_id, checkpoint=None), fmt, tp=1)
    assert got / GIB == pytest.approx(expected_gib, abs=0.15)


def test_an_unsized_8bit_moe_checkpoint_is_bounded_from_above():
    """Without a stored size, an 8-bit MoE checkpoint is sized with every part but the routed
    experts 16-bit. Checked on the 8-bit MoE checkpoints whose stored bytes we have: the bound is
    never below the real size, and at most 5 % above it."""
    for model_id in (
        "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8",
        "Qwen/Qwen3-235B-A22B-FP8",
        "zai-org/GLM-5-FP8",
        "deepseek-ai/DeepSeek-V3",
    ):
        model, fmt = RECORDS[model_id], "fp8_block"
        assert model.checkpoint is not None and model.moe is not None
        real, _ = weight_bytes_per_gpu(model, fmt, tp=1)
        bound, _ = weight_bytes_per_gpu(replace(model, checkpoint=None), fmt, tp=1)
        assert real <= bound <= 1.05 * real, (model.model_id, real / GIB, bound / GIB)


def test_weights_come_from_the_stored_bytes_when_recorded():
    model = record("meta-llama/Llama-3.1-405B-Instruct")
    w = weights(model, shape(tp=8, checkpoint=model.model_id))
    assert w.source == "checkpoint"
    assert w.per_gpu == pytest.approx(model.checkpoint.total_bytes / 8, rel=1e-6)
    # A mixed-precision FP8 checkpoint (attention and the first and last layers kept bf16) is as big as it is
    # stored, not parameters x 1 byte: 17 % more here.
    fp8 = Variant("org/Llama-405B-FP8", "fp8", "fp8", False, "test", True, CheckpointSize(487_229_259_776, {}, "test"))
    model = replace(model, variants=(fp8,))
    stored = weights(model, shape(tp=8, weight_format="fp8", checkpoint=fp8.model_id)).per_gpu
    nominal = weights(replace(model, variants=(replace(fp8, checkpoint=None),)), shape(tp=8, weight_format="fp8"))
    assert stored / nominal.per_gpu == pytest.approx(1.19, abs=0.01)


def test_online_quantization_and_wider_dtypes_do_not_use_the_stored_bytes():
    model = record("meta-llama/Llama-3.1-70B-Instruct")
    online = weights(model, shape(weight_format="fp8", checkpoint=model.model_id))
    assert online.source == "parameters" and online.per_gpu / GIB == pytest.approx(67.7, abs=0.1)
    assert weights(model, shape(weight_format="fp16", checkpoint=model.model_id)).source == "checkpoint"
    # an unknown checkpoint (a local path) has no recorded size
    assert weights(model, shape(checkpoint="/models/llama")).source == "parameters"


def test_mxfp4_padding_depends_on_the_platform_and_the_shard():
    model = record("openai/gpt-oss-120b")
    rocm = weights(model, shape(weight_format="mxfp4", checkpoint=model.model_id))
    cuda = weights(model, shape(weight_format="mxfp4", checkpoint=model.model_id, runtime=CUDA))
    stored = model.checkpoint.total_bytes
    # 2880 x 2880 experts become 3072 x 3072 on ROCm (+13.8 %), 3072 x 2944 with Marlin (+9.0 %)
    assert rocm.per_gpu - stored == rocm.padding and rocm.padding / GIB == pytest.approx(7.8, abs=0.1)
    assert cuda.padding / GIB == pytest.approx(5.1, abs=0.1)
    # at TP 8 each rank's 360-wide slice pads to 512
    tp8 = weights(model, shape(tp=8, weight_format="mxfp4", checkpoint=model.model_id))
    assert tp8.padding / GIB == pytest.approx(56.9 * (3072 * 512 / (2880 * 360) - 1) / 8, abs=0.1)


def test_replicated_parts_every_rank_holds():
    model = record("deepseek-ai/DeepSeek-V3")
    one = weights(model, shape(weight_format="fp8_block", checkpoint=model.model_id))
    eight = weights(model, shape(tp=8, weight_format="fp8_block", checkpoint=model.model_id))
    assert eight.replicated == one.replicated  # MLA down-projections (fp8) and routers (bf16)
    assert eight.replicated / GIB == pytest.approx(1.06, abs=0.01)
    assert eight.per_gpu == pytest.approx((one.per_gpu - one.replicated) / 8 + one.replicated, abs=1)


def test_expert_parallel_over_data_parallel_ranks_splits_the_experts_not_the_attention():
    # vLLM DP8 + --enable-expert-parallel at TP1: the expert-parallel group is 8 GPUs wide.
    model = record("Qwen/Qwen3-235B-A22B-FP8", checkpoint=None)
    whole = weights(model, shape(weight_format="fp8"))
    dp8 = weights(model, shape(weight_format="fp8", expert_parallel=True, expert_shards=8))
    tp8 = weights(model, shape(tp=8, weight_format="fp8", expert_parallel=True))
    split = parameter_split(model)
    non_expert = whole.per_gpu - split.experts  # fp8 experts: one byte per parameter
    assert dp8.per_gpu == pytest.approx(split.experts / 8 + non_expert, rel=1e-6)
    # each data-parallel rank holds the attention and embeddings whole, so more than TP8 does
    assert tp8.per_gpu < dp8.per_gpu < whole.per_gpu / 4


def test_sglang_dp_attention_holds_attention_whole_per_attention_group():
    model = record("meta-llama/Llama-3.1-70B-Instruct", checkpoint=None)
    tp8 = shape(tp=8)
    dp_attention = shape(tp=8, attention_shards=1)  # --tp 8 --dp 8 --enable-dp-attention
    split = parameter_split(model)
    grown = weights(model, dp_attention).per_gpu - weights(model, tp8).per_gpu
    assert grown == pytest.approx(split.attention * 2 * (1 - 1 / 8), rel=1e-6)
    # each attention group caches all 8 KV heads of its requests
    assert kv_bytes_per_token(model, dp_attention) == 8 * kv_bytes_per_token(model, tp8)


# --- KV cache --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_id, per_token",
    [
        ("meta-llama/Llama-3.1-8B-Instruct", 131_072),
        ("meta-llama/Llama-3.1-70B-Instruct", 327_680),
        ("meta-llama/Llama-2-7b-chat-hf", 524_288),
        ("Qwen/Qwen3-14B", 163_840),
        ("deepseek-ai/DeepSeek-V3", 70_272),  # MLA: 61 x 576 x 2
        ("openai/gpt-oss-20b", 24_576),  # full-attention layers only
    ],
)
def test_kv_bytes_per_token(model_id, per_token):
    assert kv_bytes_per_token(record(model_id), shape()) == per_token


def test_dsa_indexer_keys_add_132_bytes_per_layer_at_any_kv_dtype():
    model = record("zai-org/GLM-5-FP8")
    fp8 = kv_layout(model, shape(tp=8, kv_bytes=656 / 576))
    assert fp8.counted_per_token == pytest.approx(78 * (656 + 128 + 4))  # SGLang's 61,464 B on MI355X
    assert kv_bytes_per_token(model, shape(kv_bytes=2)) == 78 * (1152 + 132)
    assert kv_layout(model, shape(tp=1, kv_bytes=2)).full_per_token == kv_layout(model, shape(tp=8)).full_per_token


def test_gqa_kv_split_by_tp_then_replicated():
    model = record("Qwen/Qwen3-235B-A22B-FP8")  # 4 KV heads
    per = {tp: kv_bytes_per_token(model, shape(tp=tp)) for tp in (1, 2, 4, 8)}
    assert per[2] == per[1] // 2 and per[4] == per[1] // 4
    assert per[8] == per[4]  # TP 8 > 4 KV heads: one head per rank, two copies


def test_sliding_window_layers_do_not_grow_with_context():
    model = record("openai/gpt-oss-120b")
    short = kv_bytes_for_request(model, shape(), 32768)
    long = kv_bytes_for_request(model, shape(), 65536)
    assert long - short == kv_bytes_per_token(model, shape()) * 32768
    # the window keeps window - 1 + two batches in flight (async scheduling), plus one block
    window = kv_layout(model, shape())
    assert window.window_tokens == 127 + 2 * 8192
    assert kv_bytes_for_request(model, shape(), 1_000_000) - kv_bytes_per_token(model, shape()) * 1_000_000 == int(
        18 * 2 * 8 * 64 * 2 * ((16511 + 15) // 16 + 1) * 16
    )


def test_chunked_local_attention_is_capped_like_a_window():
    # Llama 4: 3 of 4 layers attend within 8192-token chunks (recorded as an 8192-token window)
    base = record("meta-llama/Llama-3.1-70B-Instruct")
    llama4 = replace(base, attention=replace(base.attention, sliding_window=8192, sliding_window_layers=60))
    full = kv_bytes_for_request(base, shape(), 131072)
    chunked = kv_bytes_for_request(llama4, shape(), 131072)
    assert chunked < full / 2
    assert chunked == pytest.approx(full / 4 + 60 * 4096 * ((8191 + 16384 + 15) // 16 + 1) * 16, rel=1e-6)


def qwen3_next():
    """Qwen3-Next-80B-A3B: 36 Gated DeltaNet layers and 12 full-attention layers (2 KV heads of 256)."""
    base = record("Qwen/Qwen3-30B-A3B-Instruct-2507")
    cfg = replace(base.config, hidden_size=2048, num_hidden_layers=48, num_key_value_heads=2, head_dim=256)
    linear = LinearAttention(
        layers=36, num_key_heads=16, num_value_heads=32, key_head_dim=128, value_head_dim=128, conv_kernel=4
    )
    attention = replace(base.attention, kind="hybrid", linear=linear)
    return replace(base, model_id="Qwen/Qwen3-Next-80B-A3B-Instruct", config=cfg, attention=attention, checkpoint=None)


def test_linear_attention_holds_a_fixed_state_per_request():
    model = qwen3_next()
    # per layer and request: conv (2 x 16 x 128 + 32 x 128) x 3 x 2 B + recurrent 32 x 128 x 128 x 4 B
    assert linear_state_bytes(model, 1) == 8192 * 3 * 2 + 32 * 128 * 128 * 4
    assert linear_state_bytes(model, 2) == linear_state_bytes(model, 1) // 2
    layout = kv_layout(model, shape())
    # vLLM raises the attention block so one attention page holds a state page: 2 KiB per token and layer
    assert layout.block == KV_BLOCK * -(-linear_state_bytes(model, 1) // (KV_BLOCK * 2048))
    assert layout.block % KV_BLOCK == 0 and layout.block > 500
    assert layout.state_per_request == 36 * 3 * layout.block * 2048  # 3 padded pages per linear layer
    assert layout.full_per_token == 12 * 2048
    # the state does not grow with context; attention grows in whole (large) blocks
    assert (
        kv_bytes_for_request(model, shape(), 2 * layout.block) - kv_bytes_for_request(model, shape(), layout.block)
        == 12 * 2048 * layout.block
    )


def test_sglang_splits_a_hybrid_pool_between_states_and_attention():
    model = qwen3_next()
    sglang = shape(overhead_in_budget=False, max_model_len=32768)
    est = estimate(model, MI300X_BYTES, sglang)
    pool = est.kv_budget_bytes_per_gpu * 1.9  # attention gets 1 / (1 + 0.9) of it
    assert est.state_bytes_per_request == 36 * linear_state_bytes(model, 1)  # unpadded in SGLang
    assert est.max_concurrency == min(
        int(est.kv_budget_bytes_per_gpu // (12 * 2048 * 32768)), int(pool * 0.9 / 1.9 // est.state_bytes_per_request)
    )
    assert est.fits


# --- overhead and budgets --------------------------------------------------------------------


def test_overhead_grows_with_the_tp_group_and_differs_by_platform():
    assert ROCM.non_torch(8) > ROCM.non_torch(2) > ROCM.non_torch(1) == ROCM.non_torch_bytes
    assert ROCM.non_torch(1) > 5 * CUDA.non_torch(1)  # HIP runtime and workspaces vs CUDA's
    model = record("meta-llama/Llama-3.1-8B-Instruct")
    rocm = estimate(model, 24 * GIB, shape(max_num_batched_tokens=2048, max_num_seqs=256, max_model_len=8192))
    cuda = estimate(
        model, 24 * GIB, shape(max_num_batched_tokens=2048, max_num_seqs=256, max_model_len=8192, runtime=CUDA)
    )
    assert cuda.kv_budget_bytes_per_gpu - rocm.kv_budget_bytes_per_gpu == ROCM.non_torch(1) - CUDA.non_torch(1) + (
        ROCM.graph_pool_bytes - CUDA.graph_pool_bytes
    )


def test_runtime_for_a_gpu_uses_its_own_non_torch_figure(catalogue):
    mi300x = catalogue.hardware["MI300X"]
    assert runtime_for(mi300x).name == "rocm"
    if mi300x.non_torch_bytes is not None:
        assert runtime_for(mi300x).non_torch_bytes == mi300x.non_torch_bytes


def test_activation_peak_is_the_moe_workspace_plus_the_largest_transient():
    dense = record("meta-llama/Llama-3.1-8B-Instruct")
    moe = record("Qwen/Qwen3-235B-A22B-FP8")
    few = estimate(dense, MI300X_BYTES, shape(max_num_seqs=8))
    many = estimate(dense, MI300X_BYTES, shape(max_num_seqs=1024))
    assert many.activation_bytes_per_gpu > few.activation_bytes_per_gpu  # the sampler is the peak at 1024 rows
    assert many.activation_bytes_per_gpu == 1024 * 128256 * 16
    moe_est = estimate(moe, MI300X_BYTES, shape(tp=4, weight_format="fp8_block"))
    assert moe_est.activation_bytes_per_gpu > 1024 * 151936 * 16 + GIB  # workspace 8192 x 8 x 8192 x 3 B on top


def test_sglang_pool_leaves_out_what_was_used_before_loading():
    model = record("meta-llama/Llama-3.1-8B-Instruct")
    est = estimate(model, MI300X_BYTES, shape(overhead_in_budget=False, utilization=0.88, max_model_len=8192))
    assert est.kv_budget_bytes_per_gpu == int((MI300X_BYTES - ROCM.preload(1)) * 0.88) - est.weights_bytes_per_gpu
    assert est.total_bytes_per_gpu - est.kv_bytes_per_request == est.budget_bytes_per_gpu - est.kv_budget_bytes_per_gpu


# --- fit, concurrency, context ---------------------------------------------------------------


def test_llama70b_bf16_one_mi300x_does_not_fit_full_context():
    model = record("meta-llama/Llama-3.1-70B-Instruct")
    result = estimate(model, MI300X_BYTES, shape(checkpoint=model.model_id))
    assert not result.fits
    assert result.kv_bytes_per_request == 40 * GIB
    assert 30 * GIB < result.kv_budget_bytes_per_gpu < 36 * GIB
    assert 90_000 < result.max_model_len_that_fits < 131072
    assert estimate(model, MI300X_BYTES, shape(max_model_len=result.max_model_len_that_fits)).fits
    assert estimate(model, MI300X_BYTES, shape(kv_bytes=1)).fits  # fp8 KV: 20 GiB
    assert estimate(model, MI300X_BYTES, shape(utilization=0.95)).fits


def test_deepseek_tp8_kv_is_replicated():
    model = record("deepseek-ai/DeepSeek-V3")
    one = estimate(model, MI300X_BYTES, shape(tp=1, weight_format="fp8_block", max_model_len=163840))
    eight = estimate(model, MI300X_BYTES, shape(tp=8, weight_format="fp8_block", max_model_len=163840))
    assert one.kv_bytes_per_token_per_gpu == eight.kv_bytes_per_token_per_gpu == 70_272
    assert eight.kv_bytes_per_request / GIB == pytest.approx(10.7, abs=0.05)
    assert eight.weights_bytes_per_gpu / GIB == pytest.approx(81.1, abs=0.5)  # stored bytes incl. the MTP layer
    assert eight.fits and not one.fits


def test_concurrency_tokens_and_max_len_are_consistent():
    model = record("Qwen/Qwen3-14B")
    result = estimate(model, 288 * GIB, shape(max_model_len=32768))
    assert result.fits
    assert result.max_concurrency == result.kv_budget_bytes_per_gpu // result.kv_bytes_per_request
    assert result.kv_tokens == result.kv_budget_bytes_per_gpu // 163840
    assert result.max_model_len_that_fits == model.config.max_position_embeddings


def test_more_gpus_need_less_memory_each():
    model = record("meta-llama/Llama-3.1-405B-Instruct")
    totals = [
        estimate(model, MI300X_BYTES, shape(tp=tp, max_model_len=32768)).total_bytes_per_gpu for tp in (1, 2, 4, 8)
    ]
    assert totals == sorted(totals, reverse=True)
    assert not estimate(model, MI300X_BYTES, shape(tp=4, max_model_len=32768)).fits
    assert estimate(model, MI300X_BYTES, shape(tp=8, max_model_len=32768)).fits


def test_published_figures_stay_the_plan_schema():
    est = estimate(record("Qwen/Qwen3-14B"), MI300X_BYTES, shape())
    assert set(est.as_dict()) == set(est.PUBLISHED) and len(est.PUBLISHED) == 13
    assert {"kv_tokens", "weights_source", "runtime_bytes_per_gpu"} <= set(est.details())


# --- what the memory model refuses -----------------------------------------------------------


def test_sizable_models_have_no_problem():
    for model in RECORDS.values():
        assert sizing_problem(model) is None, model.model_id
    assert sizing_problem(qwen3_next()) is None


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda m: replace(m, attention=replace(m.attention, kind="hybrid")), "needs attention.linear"),
        (
            lambda m: replace(m, attention=replace(m.attention, linear=qwen3_next().attention.linear)),
            "need kind hybrid",
        ),
        (lambda m: replace(m, attention=replace(m.attention, sliding_window=128, sliding_window_layers=99)), "exceed"),
        (lambda m: replace(m, checkpoint=CheckpointSize(10**9, {}, "test")), "not this model's weights"),
        (
            lambda m: replace(m, checkpoint=CheckpointSize(m.checkpoint.total_bytes, {"BF16": 10**9}, "test")),
            "must be bytes, not parameter counts",
        ),
    ],
)
def test_sizing_problems_name_the_reason(change, words):
    problem = sizing_problem(change(record("Qwen/Qwen3-14B")))
    assert problem is not None and words in problem
