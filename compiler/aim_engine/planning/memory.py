"""Per-GPU memory model: will this model, split this way, fit on this GPU?

One implementation shared by the validator and the planner. It follows what vLLM does
at start-up (docs/reference/memory.md#fit-check):

    budget   = device memory x utilization
    weights  = linear weights / (TP x PP) at the checkpoint's bytes per parameter
               + parts every rank holds in full (MoE routers, MLA down-projections)
    overhead = runtime + collective buffers + graph pool + activation peak of one
               forward pass over --max-num-batched-tokens
    kv       = bytes per token per GPU x --max-model-len (GQA heads split by TP, one
               head per rank when TP exceeds the KV heads; MLA latent held whole on
               every rank; sliding-window layers capped at the window)
    fits     = weights + overhead + kv(one request of max-model-len) <= budget

SGLang sizes its static pool (weights + KV) as a fraction of memory and keeps the rest
as reserve for activations, so for it `overhead_in_budget` is False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aim_engine.catalogue.load import load_formats
from aim_engine.catalogue.records import Model
from aim_pick.contract.units import GIB

KV_BLOCK = 16  # vLLM's default block size; KV is allocated in whole blocks

# Bytes per parameter of quantized linear weights, scales included (data/formats.json).
WEIGHT_BYTES = {name: f.bytes_per_param for name, f in load_formats().weight_formats.items()}
EMBEDDING_BYTES = 2.0  # embeddings and lm_head stay 16-bit in every quantized checkpoint here

# Runtime pieces outside weights and KV (docs/reference/memory.md#non-torch-memory): HIP context,
# collective buffers and graph pool. Measured figures vary by release; these sit in the middle of the range.
RUNTIME_BYTES = 1 * GIB
COLLECTIVE_BYTES = 1 * GIB
GRAPH_POOL_BYTES = 3 * GIB // 2
# Activation copies of the hidden state alive at the peak of one forward pass
# (residual, norm output, q/k/v, attention output, ...), each 2 bytes per element.
HIDDEN_COPIES = 8
MLP_COPIES = 3  # gate, up and activated product
LOGIT_BYTES = 4  # the sampler works on fp32 logits


@dataclass(frozen=True)
class ServingShape:
    """How an entry runs, as far as memory is concerned."""

    tp: int
    weight_format: str
    kv_bytes: float
    utilization: float
    max_num_batched_tokens: int
    max_num_seqs: int
    max_model_len: int
    pp: int = 1
    cuda_graphs: bool = True
    overhead_in_budget: bool = True


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes_per_gpu: int
    replicated_bytes_per_gpu: int
    kv_bytes_per_token_per_gpu: int
    kv_bytes_per_request: int
    activation_bytes_per_gpu: int
    overhead_bytes_per_gpu: int
    total_bytes_per_gpu: int
    budget_bytes_per_gpu: int
    kv_budget_bytes_per_gpu: int
    max_model_len: int
    max_model_len_that_fits: int
    max_concurrency: int
    fits: bool

    def as_dict(self) -> dict[str, int | bool]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ParameterSplit:
    embedding: int  # input embedding + untied lm_head
    experts: int  # routed expert weights (split across ranks)
    replicated: int  # linear weights every rank holds whole
    other: int  # remaining linear weights (split across ranks)


def parameter_split(model: Model) -> ParameterSplit:
    cfg = model.config
    embedding = cfg.vocab_size * cfg.hidden_size * (1 if cfg.tie_word_embeddings else 2)
    experts = replicated = 0
    if model.moe:
        moe_layers = cfg.num_hidden_layers - model.moe.dense_layers
        experts = moe_layers * model.moe.num_experts * 3 * cfg.hidden_size * model.moe.moe_intermediate_size
        replicated += moe_layers * model.moe.num_experts * cfg.hidden_size  # router
    if model.attention.kind == "mla":
        a = model.attention
        replicated += cfg.num_hidden_layers * cfg.hidden_size * (a.q_lora_rank + a.kv_lora_rank + a.qk_rope_head_dim)
    other = max(0, model.total_params - embedding - experts - replicated)
    return ParameterSplit(embedding, experts, replicated, other)


def weight_bytes_per_gpu(model: Model, fmt: str, tp: int, pp: int = 1) -> tuple[int, int]:
    """(bytes per GPU, of which replicated on every rank)."""
    split = parameter_split(model)
    quantized = WEIGHT_BYTES[fmt]
    # MXFP4 MoE checkpoints (gpt-oss) quantize only the experts; attention stays 16-bit.
    dense_bytes = 2.0 if (fmt == "mxfp4" and model.moe) else quantized
    shards = tp * pp
    split_bytes = split.embedding * EMBEDDING_BYTES + split.experts * quantized + split.other * dense_bytes
    replicated = split.replicated * dense_bytes / pp
    return math.ceil(split_bytes / shards + replicated), math.ceil(replicated)


def kv_heads_per_rank(model: Model, tp: int) -> int:
    return max(1, model.config.num_key_value_heads // tp)


def kv_bytes_per_token(model: Model, shape: ServingShape) -> int:
    """KV bytes per token per GPU for the layers whose cache grows with context."""
    cfg, att = model.config, model.attention
    layers = cfg.num_hidden_layers / shape.pp
    if att.kind == "mla":
        # The compressed latent is not split by TP: every rank holds all of it.
        return math.ceil(layers * (att.kv_lora_rank + att.qk_rope_head_dim) * shape.kv_bytes)
    full_layers = (cfg.num_hidden_layers - att.sliding_window_layers) / shape.pp
    return math.ceil(full_layers * 2 * kv_heads_per_rank(model, shape.tp) * cfg.head_dim * shape.kv_bytes)


def _blocks(tokens: int) -> int:
    return math.ceil(tokens / KV_BLOCK) * KV_BLOCK


def kv_bytes_for_request(model: Model, shape: ServingShape, tokens: int) -> int:
    total = kv_bytes_per_token(model, shape) * _blocks(tokens)
    att = model.attention
    if att.sliding_window_layers and att.kind != "mla":
        window_tokens = min(att.sliding_window - 1 + shape.max_num_batched_tokens, tokens)
        per_token = (
            (att.sliding_window_layers / shape.pp)
            * 2
            * kv_heads_per_rank(model, shape.tp)
            * model.config.head_dim
            * shape.kv_bytes
        )
        total += math.ceil(per_token * (_blocks(window_tokens) + KV_BLOCK))
    return total


def activation_bytes(model: Model, shape: ServingShape) -> int:
    """Peak of one profiling forward pass over max_num_batched_tokens tokens."""
    cfg = model.config
    tokens = shape.max_num_batched_tokens
    if model.moe:
        mlp_width = model.moe.experts_per_token * model.moe.moe_intermediate_size
    else:
        mlp_width = cfg.intermediate_size
    per_token = cfg.hidden_size * 2 * HIDDEN_COPIES + (mlp_width / shape.tp) * 2 * MLP_COPIES
    logits = min(shape.max_num_seqs, tokens) * cfg.vocab_size * LOGIT_BYTES
    return math.ceil(tokens * per_token + logits)


def overhead_bytes(model: Model, shape: ServingShape) -> tuple[int, int]:
    """(total overhead, of which activations)."""
    activations = activation_bytes(model, shape)
    total = RUNTIME_BYTES + activations
    if shape.tp * shape.pp > 1:
        total += COLLECTIVE_BYTES
    if shape.cuda_graphs:
        total += GRAPH_POOL_BYTES
    return total, activations


def estimate(model: Model, memory_bytes: int, shape: ServingShape) -> MemoryEstimate:
    weights, replicated = weight_bytes_per_gpu(model, shape.weight_format, shape.tp, shape.pp)
    overhead, activations = overhead_bytes(model, shape)
    budget = math.floor(memory_bytes * shape.utilization)
    in_budget_overhead = overhead if shape.overhead_in_budget else 0
    kv_budget = budget - weights - in_budget_overhead
    per_token = kv_bytes_per_token(model, shape)
    request = kv_bytes_for_request(model, shape, shape.max_model_len)
    total = weights + in_budget_overhead + request
    fitting_len = max_model_len_that_fits(model, shape, kv_budget)
    concurrency = kv_budget // request if request > 0 and kv_budget > 0 else 0
    return MemoryEstimate(
        weights_bytes_per_gpu=weights,
        replicated_bytes_per_gpu=replicated,
        kv_bytes_per_token_per_gpu=per_token,
        kv_bytes_per_request=request,
        activation_bytes_per_gpu=activations,
        overhead_bytes_per_gpu=overhead,
        total_bytes_per_gpu=total,
        budget_bytes_per_gpu=budget,
        kv_budget_bytes_per_gpu=kv_budget,
        max_model_len=shape.max_model_len,
        max_model_len_that_fits=fitting_len,
        max_concurrency=int(concurrency),
        fits=total <= budget,
    )


def max_model_len_that_fits(model: Model, shape: ServingShape, kv_budget: int) -> int:
    """Largest context (up to the model's maximum) whose KV fits; 0 if none does."""
    ceiling = max(model.config.max_position_embeddings, shape.max_model_len)
    if kv_budget <= 0 or kv_bytes_for_request(model, shape, 1) > kv_budget:
        return 0
    if kv_bytes_for_request(model, shape, ceiling) <= kv_budget:
        return ceiling
    low, high = 1, ceiling  # invariant: low fits, high does not
    while high - low > 1:
        mid = (low + high) // 2
        if kv_bytes_for_request(model, shape, mid) <= kv_budget:
            low = mid
        else:
            high = mid
    return low
