"""Tensor-parallel legality for a model (docs/reference/parallelism.md).

Pure rules; each problem comes back as a `TpProblem` (which rule, one sentence) so the
validator (which maps rules to its finding codes) and the planner word it the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aim_engine.catalogue.records import Model

BLOCK_FP8 = 128  # block-FP8 checkpoints quantize weights in 128 x 128 tiles


class TpRule(enum.StrEnum):
    HEADS = "heads"
    KV_HEADS = "kv-heads"
    INTERMEDIATE = "intermediate"
    BLOCK_FP8 = "block-fp8"


@dataclass(frozen=True)
class TpProblem:
    rule: TpRule
    sentence: str


def tp_problems(model: Model, tp: int, weight_format: str, expert_parallel: bool = False) -> list[TpProblem]:
    cfg = model.config
    problems: list[TpProblem] = []
    if tp < 1:
        return [TpProblem(TpRule.HEADS, f"tensor-parallel size {tp} is not a positive number")]
    if cfg.num_attention_heads % tp:
        problems.append(
            TpProblem(TpRule.HEADS, f"TP {tp} does not divide {model.name}'s {cfg.num_attention_heads} attention heads")
        )
    kv = cfg.num_key_value_heads
    if model.attention.kind != "mla":
        if kv >= tp and kv % tp:
            problems.append(TpProblem(TpRule.KV_HEADS, f"TP {tp} does not divide {model.name}'s {kv} KV heads"))
        elif kv < tp and tp % kv:
            problems.append(
                TpProblem(
                    TpRule.KV_HEADS,
                    f"TP {tp} is not a multiple of {model.name}'s {kv} KV heads, so they cannot be replicated evenly",
                )
            )
    for label, width in tp_split_widths(model, expert_parallel):
        if width % tp:
            problems.append(TpProblem(TpRule.INTERMEDIATE, f"TP {tp} does not divide the {label} {width}"))
        elif weight_format == "fp8_block" and (width // tp) % BLOCK_FP8:
            problems.append(
                TpProblem(
                    TpRule.BLOCK_FP8,
                    f"block-FP8 weights need the per-rank {label} to be a multiple of {BLOCK_FP8}; "
                    f"{width} / TP {tp} = {width // tp}",
                )
            )
    return problems


def tp_split_widths(model: Model, expert_parallel: bool) -> list[tuple[str, int]]:
    """The MLP widths tensor parallelism slices (label, width). Dense layers and shared experts
    are ordinary column/row-parallel MLPs on every rank, with or without expert parallelism
    (vLLM's Glm4MoeMLP and Qwen3-Next's shared expert keep TP under --enable-expert-parallel,
    and their block-FP8 down projection fails at 1536 / 8 = 192: vllm-project/vllm #42384).
    Routed experts are sliced only without EP; with it, whole experts sit on ranks."""
    if not model.moe:
        return [("intermediate size", model.config.intermediate_size)]
    widths = []
    if model.moe.dense_layers:
        widths.append(("intermediate size", model.config.intermediate_size))
    if model.moe.shared_experts:
        widths.append(("shared-expert intermediate size", model.moe.shared_width))
    if not expert_parallel:
        widths.append(("expert intermediate size", model.moe.moe_intermediate_size))
    return widths


# Multi-node plans: hosts of MAX_GPUS GPUs (8, as every catalogue GPU type is sold), tensor
# parallel inside a host (its all-reduce stays on the host's fabric) and per host one pipeline
# stage, or one data-parallel rank with the experts spread over every GPU (planning/generic.py
# host_layouts).
NODE_COUNTS = (2, 4)


def pp_problems(model: Model, pp: int) -> list[str]:
    """Why `model` cannot be cut into `pp` pipeline stages (one per host)."""
    layers = model.config.num_hidden_layers
    if pp > layers:
        return [f"{pp} pipeline stages need at least {pp} layers; {model.name} has {layers}"]
    return []


def legal_tp_sizes(model: Model, weight_format: str, candidates: range = range(1, 9)) -> list[int]:
    return [tp for tp in candidates if not tp_problems(model, tp, weight_format)]
