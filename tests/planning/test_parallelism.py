from __future__ import annotations

from aim_engine.planning.parallelism import TpRule, legal_tp_sizes, tp_problems


def codes(problems):
    return {problem.rule for problem in problems}


def test_powers_of_two_are_legal_for_dense_models(catalogue):
    for model_id in ("Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "meta-llama/Llama-3.1-70B-Instruct", "openai/gpt-oss-120b"):
        assert {1, 2, 4, 8} <= set(legal_tp_sizes(catalogue.models[model_id], "bf16")), model_id


def test_tp_must_divide_heads(catalogue):
    assert TpRule.HEADS in codes(tp_problems(catalogue.models["Qwen/Qwen3-8B"], 3, "bf16"))


def test_kv_heads_rule(catalogue):
    qwen14 = catalogue.models["Qwen/Qwen3-14B"]  # 40 heads, 8 KV heads
    found = codes(tp_problems(qwen14, 5, "bf16"))
    assert TpRule.HEADS not in found and TpRule.KV_HEADS in found
    # TP above the KV-head count must be a multiple of it
    qwen235 = catalogue.models["Qwen/Qwen3-235B-A22B"]  # 4 KV heads
    assert TpRule.KV_HEADS not in codes(tp_problems(qwen235, 8, "bf16"))


def test_block_fp8_intermediate_rule(catalogue):
    # docs/reference/parallelism.md#block-fp8: Qwen3-30B-A3B-FP8 at TP4 (768/4 = 192) and
    # Qwen3-235B-A22B-FP8 at TP8 (1536/8 = 192) fail
    assert TpRule.BLOCK_FP8 in codes(tp_problems(catalogue.models["Qwen/Qwen3-30B-A3B"], 4, "fp8_block"))
    assert not tp_problems(catalogue.models["Qwen/Qwen3-30B-A3B"], 2, "fp8_block")
    assert TpRule.BLOCK_FP8 in codes(tp_problems(catalogue.models["Qwen/Qwen3-235B-A22B"], 8, "fp8_block"))
    assert not tp_problems(catalogue.models["Qwen/Qwen3-235B-A22B"], 4, "fp8_block")
    # expert parallelism splits experts whole, so the rule no longer binds
    assert not tp_problems(catalogue.models["Qwen/Qwen3-235B-A22B"], 8, "fp8_block", expert_parallel=True)
    # DeepSeek: 2048 / 8 = 256 is fine
    assert not tp_problems(catalogue.models["deepseek-ai/DeepSeek-R1"], 8, "fp8_block")
    # the same TP with bf16 weights is legal
    assert not tp_problems(catalogue.models["Qwen/Qwen3-30B-A3B"], 4, "bf16")
