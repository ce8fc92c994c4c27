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


def test_shared_experts_stay_tensor_parallel_under_expert_parallelism(catalogue):
    # GLM-4.6's shared expert (1536) and Qwen3-Next's (512) are plain TP MLPs even with
    # --enable-expert-parallel: their block-FP8 down projection fails at 192 and 64 per rank
    # (vllm-project/vllm #42384), so TP 8 is refused with or without EP; TP 4 (384, 128) is fine
    for model_id, width in (("zai-org/GLM-4.6", 1536), ("Qwen/Qwen3-Next-80B-A3B-Instruct", 512)):
        model = catalogue.models[model_id]
        for ep in (False, True):
            problems = tp_problems(model, 8, "fp8_block", expert_parallel=ep)
            assert [p.rule for p in problems if "shared-expert" in p.sentence] == [TpRule.BLOCK_FP8], (model_id, ep)
            assert f"{width} / TP 8" in " ".join(p.sentence for p in problems)
            assert not tp_problems(model, 4, "fp8_block", expert_parallel=ep), (model_id, ep)
        assert not tp_problems(model, 8, "bf16", expert_parallel=True)


def test_expert_parallelism_checks_no_width_a_moe_layer_does_not_have(catalogue):
    # MiniMax-M2.x has no dense layer and no shared expert: with EP no MLP is sliced, so TP 8
    # + EP is legal for the block-FP8 checkpoint (vllm-project/recipes' single_node_tep), while
    # pure TP 8 slices the 1536-wide experts into 192 and is refused
    minimax = catalogue.models["MiniMaxAI/MiniMax-M2.1"]
    assert not tp_problems(minimax, 8, "fp8_block", expert_parallel=True)
    assert codes(tp_problems(minimax, 8, "fp8_block")) == {TpRule.BLOCK_FP8}
