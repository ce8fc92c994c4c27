"""Per-GPU memory model: will this model, split this way, fit on this GPU?

One implementation shared by the validator, the planner and `aim-engine estimate`. It follows
what vLLM 0.33 does at start-up (docs/reference/memory.md#fit-check), with its constants
calibrated against real start-up logs (docs/reference/memory.md#calibration-against-start-up-logs):

    budget   = device memory x utilization
    weights  = the checkpoint's stored bytes (or parameters x bytes per format when no size is
               recorded) / (TP x PP), plus the parts every rank holds whole (MoE routers, MLA
               down-projections, DSA indexer projections), plus the padding the engine adds to
               MXFP4 experts for its kernels
    overhead = non-torch memory of the platform (grows with the TP x PP group) + graph pool
               + activation peak of the profiling pass: the MoE workspace plus the largest of
               the forward pass over --max-num-batched-tokens, the sampler over
               min(--max-num-seqs, tokens) rows of the vocabulary, and a multimodal encoder pass
    kv       = one request of --max-model-len in whole blocks: GQA heads split by TP (one head per
               rank when TP exceeds the KV heads), MLA latent (+ DSA indexer keys) whole on every
               rank, sliding-window / chunked-local layers capped at their window, and a fixed
               state per request for linear-attention layers
    fits     = weights + overhead + kv(one request) <= budget

SGLang sizes its static pool (weights + KV) as a fraction of the memory free before the weights
load and keeps the rest for activations, so for it (`overhead_in_budget` False) the KV pool is
`(memory - memory used before loading) x fraction - weights`; hybrid linear-attention models give
`1 / (1 + 0.9)` of the pool to attention KV and the rest to request states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import ClassVar

from aim_engine.catalogue.load import load_formats
from aim_engine.catalogue.records import CheckpointSize, Hardware, Model
from aim_engine.planning.precision import weight_format
from aim_pick.contract.units import GIB

MIB = 1024**2
KV_BLOCK = 16  # vLLM's default block size; KV is allocated in whole blocks

# Bytes per parameter of quantized linear weights, scales included (data/formats.json).
WEIGHT_BYTES = {name: f.bytes_per_param for name, f in load_formats().weight_formats.items()}
EMBEDDING_BYTES = 2.0  # embeddings and lm_head stay 16-bit in every quantized checkpoint here
ROUTER_BYTES = 2.0  # MoE routers stay 16-bit in every quantized checkpoint here
EIGHT_BIT_FORMATS = ("fp8", "fp8_block", "int8")

# --- activation peak of vLLM's profiling pass (calibrated: docs/reference/memory.md#activation-peak)
HIDDEN_BYTES = 9.0  # per batched token per hidden-size element (residual, norm, q/k/v, attention out)
MLP_BYTES = 6.0  # per batched token per element of the rank's dense MLP width (gate/up, activation)
MOE_WORKSPACE_BYTES = 3.0  # fused-MoE workspaces per element of tokens x top-k x width: bf16 + a quantized copy
SAMPLER_BYTES = 16.0  # per logit: bf16 logits, fp32 copy, probabilities, exponential noise (0.33)
ENCODER_TOKENS = 16384  # vLLM's encoder-cache budget for the largest image the profile runs
ENCODER_PATCHES_PER_TOKEN = 4  # vision encoders merge 2 x 2 patches into one output token
ENCODER_DEPTH = 27  # typical ViT depth, to estimate the encoder's width from its parameters
ENCODER_FP32 = 2  # vision encoders run norms and rotary embeddings in fp32: twice the bf16 activation
INDEXER_TOPK_BYTES = 4  # DSA: int32 top-k indices per batched token

# --- KV-cache layout ------------------------------------------------------------------------
IN_FLIGHT_BATCHES = 2  # vLLM 0.33 schedules asynchronously: sliding layers keep two batches in flight
CONV_STATE_BYTES = 2  # linear attention: convolution state in the model dtype
TEMPORAL_STATE_BYTES = 4  # recurrent state in fp32 (SGLang's default; Qwen3.5 asks vLLM for it too)
VLLM_STATE_PAGES = 3  # vLLM 0.33 with prefix caching ("align"): 2 live state pages + 1 checkpoint
SGLANG_MAMBA_RATIO = 0.9  # SGLang's --mamba-full-memory-ratio: state pool / attention KV pool
INDEXER_QUANT_BLOCK = 128  # DSA indexer keys: fp8 values + one fp32 scale per 128


@dataclass(frozen=True)
class Runtime:
    """Memory an engine uses outside weights, activations and KV on one platform (per GPU)."""

    name: str  # rocm | cuda (also picks the MXFP4 expert padding of the engine's kernels)
    non_torch_bytes: int  # what vLLM's profile sees grow outside PyTorch on one GPU (TP x PP = 1)
    non_torch_per_rank_bytes: int  # added per further rank of the TP x PP group (collective buffers)
    preload_bytes: int  # used before the weights load (context, collectives): outside SGLang's pool
    preload_per_rank_bytes: int
    graph_pool_bytes: int  # captured graphs' private pool (vLLM subtracts its estimate since 0.21)

    def non_torch(self, ranks: int) -> int:
        return self.non_torch_bytes + self.non_torch_per_rank_bytes * max(0, ranks - 1)

    def preload(self, ranks: int) -> int:
        return self.preload_bytes + self.preload_per_rank_bytes * max(0, ranks - 1)


# Fitted to the start-up logs in tests/planning/startup_logs (docs/reference/memory.md#non-torch-memory).
ROCM = Runtime(
    name="rocm",
    non_torch_bytes=3 * GIB,
    non_torch_per_rank_bytes=3 * GIB // 4,
    preload_bytes=768 * MIB,
    preload_per_rank_bytes=640 * MIB,
    graph_pool_bytes=1 * GIB,
)
CUDA = Runtime(
    name="cuda",
    non_torch_bytes=400 * MIB,
    non_torch_per_rank_bytes=896 * MIB,
    preload_bytes=640 * MIB,
    preload_per_rank_bytes=384 * MIB,
    graph_pool_bytes=3 * GIB // 4,
)
RUNTIMES = {r.name: r for r in (ROCM, CUDA)}

# MXFP4 expert padding (vllm fused_moe/oracle/mxfp4.py mxfp4_round_up_hidden_size_and_intermediate_size):
# (hidden alignment, per-rank intermediate alignment). ROCm rounds both to 256 for gpt-oss's
# activation; CUDA's Marlin/triton kernels round the hidden size to 256, the intermediate to 128.
MXFP4_ALIGNMENT = {"rocm": (256, 256), "cuda": (256, 128)}


def runtime_for(hardware: Hardware) -> Runtime:
    """The platform figures for a GPU type: ROCm's, with the GPU's own non-torch figure if it has one."""
    if hardware.non_torch_bytes is None:
        return ROCM
    return replace(ROCM, non_torch_bytes=hardware.non_torch_bytes)


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
    overhead_in_budget: bool = True  # vLLM; False: SGLang's static pool
    checkpoint: str | None = None  # the checkpoint served (its stored size); None: the model's own
    expert_parallel: bool = False
    runtime: Runtime = ROCM
    sampler_bytes: float = SAMPLER_BYTES  # per logit of the sampler's profiling pass
    in_flight_batches: int = IN_FLIGHT_BATCHES
    # GPUs of one pipeline stage that split the routed experts / the attention weights; 0: the
    # TP group. vLLM's expert parallelism spreads experts over TP x DP; SGLang's DP attention
    # gives each attention group of tp / dp GPUs the attention weights whole.
    expert_shards: int = 0
    attention_shards: int = 0

    @property
    def expert_group(self) -> int:
        return self.expert_shards or self.tp

    @property
    def attention_group(self) -> int:
        return self.attention_shards or self.tp

    @property
    def communicating_ranks(self) -> int:
        """The ranks a GPU keeps collective buffers for: its TP x PP group, or the expert-parallel
        group where that is larger (vLLM's experts over TP x DP, across hosts too)."""
        return max(self.tp, self.expert_group if self.expert_parallel else 0) * self.pp


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
    # Not published in plans (the plan schema is fixed); `aim-engine estimate` shows them.
    kv_tokens: int = 0  # tokens the KV budget holds, counted as vLLM prints "GPU KV cache size"
    weights_source: str = "parameters"  # checkpoint (stored bytes) | parameters (parameters x format)
    runtime_bytes_per_gpu: int = 0  # non-torch memory + graph pool (part of the overhead)
    padding_bytes_per_gpu: int = 0  # MXFP4 expert padding (part of the weights)
    state_bytes_per_request: int = 0  # linear-attention state of one request (part of its KV)
    kv_block_tokens: int = KV_BLOCK

    PUBLISHED: ClassVar[tuple[str, ...]] = (
        "weights_bytes_per_gpu",
        "replicated_bytes_per_gpu",
        "kv_bytes_per_token_per_gpu",
        "kv_bytes_per_request",
        "activation_bytes_per_gpu",
        "overhead_bytes_per_gpu",
        "total_bytes_per_gpu",
        "budget_bytes_per_gpu",
        "kv_budget_bytes_per_gpu",
        "max_model_len",
        "max_model_len_that_fits",
        "max_concurrency",
        "fits",
    )

    def as_dict(self) -> dict[str, int | bool]:
        """The published figures (api-plan.schema.json#/$defs/memoryEstimate)."""
        return {name: getattr(self, name) for name in self.PUBLISHED}

    def details(self) -> dict[str, int | bool | str]:
        return dict(self.__dict__)


# --- sizing problems -----------------------------------------------------------------------

BYTES_PER_PARAM_RANGE = (0.4, 4.5)  # a checkpoint outside this is not the model's weights


def sizing_problem(model: Model) -> str | None:
    """Why the memory model cannot size `model` (it would be sized wrongly), or None."""
    cfg, att = model.config, model.attention
    layers = cfg.num_hidden_layers
    if att.kind == "hybrid" and att.linear is None:
        return "attention kind hybrid needs attention.linear (the linear-attention layers and their state shape)"
    if att.linear is not None and att.kind != "hybrid":
        return f"attention.linear is set but attention kind is {att.kind}; linear-attention layers need kind hybrid"
    if att.kind == "mla" and att.kv_lora_rank <= 0:
        return "MLA attention needs kv_lora_rank (the latent the KV cache holds)"
    if att.indexer is not None and att.kind != "mla":
        return "a sparse-attention indexer is only modelled for MLA attention"
    linear = att.linear.layers if att.linear else 0
    if linear > layers:
        return f"attention.linear.layers {linear} exceeds the model's {layers} layers"
    if att.sliding_window_layers + linear > layers:
        return (
            f"{att.sliding_window_layers} sliding-window layers and {linear} linear-attention layers "
            f"exceed the model's {layers} layers"
        )
    if att.sliding_window_layers and att.kind == "mla":
        return "sliding-window layers with MLA attention are not modelled"
    if model.moe and model.moe.dense_layers >= layers:
        return f"moe.dense_layers {model.moe.dense_layers} leaves none of the {layers} layers a MoE layer"
    if model.moe and model.moe.experts_per_token > model.moe.num_experts:
        return f"{model.moe.experts_per_token} experts per token exceed the {model.moe.num_experts} experts"
    checkpoints = [(model.model_id, model.checkpoint)] + [(v.model_id, v.checkpoint) for v in model.variants]
    for name, size in checkpoints:
        problem = _checkpoint_problem(model, name, size)
        if problem:
            return problem
    return None


def _checkpoint_problem(model: Model, name: str, size: CheckpointSize | None) -> str | None:
    if size is None:
        return None
    per_param = size.total_bytes / model.total_params
    low, high = BYTES_PER_PARAM_RANGE
    if not low <= per_param <= high:
        return (
            f"checkpoint {name} records {size.total_bytes:,} bytes for {model.total_params:,} parameters "
            f"({per_param:.2f} bytes each, outside {low}-{high}): not this model's weights"
        )
    if size.bytes_by_dtype:
        listed = sum(size.bytes_by_dtype.values())
        if abs(listed - size.total_bytes) > 0.05 * size.total_bytes:
            return (
                f"checkpoint {name}: bytes_by_dtype add up to {listed:,} bytes but total_bytes is "
                f"{size.total_bytes:,} (per-dtype figures must be bytes, not parameter counts)"
            )
    return None


# --- weights -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterSplit:
    embedding: int  # input embedding + untied lm_head
    experts: int  # routed expert weights (split across ranks)
    replicated: int  # linear weights every rank holds whole, at the checkpoint's dense bytes
    router: int  # MoE routers (every rank holds them whole, 16-bit)
    other: int  # remaining linear weights (split across ranks)
    attention: int  # of `other`, the attention projections (split by the attention group)


def parameter_split(model: Model) -> ParameterSplit:
    cfg, att = model.config, model.attention
    embedding = cfg.vocab_size * cfg.hidden_size * (1 if cfg.tie_word_embeddings else 2)
    experts = router = replicated = 0
    if model.moe:
        moe_layers = cfg.num_hidden_layers - model.moe.dense_layers
        experts = moe_layers * model.moe.num_experts * 3 * cfg.hidden_size * model.moe.moe_intermediate_size
        router = moe_layers * model.moe.num_experts * cfg.hidden_size
    if att.kind == "mla":
        # q_a_proj and kv_a_proj_with_mqa are ReplicatedLinear in vLLM's DeepSeek-V2/V3 model.
        replicated += (
            cfg.num_hidden_layers * cfg.hidden_size * (att.q_lora_rank + att.kv_lora_rank + att.qk_rope_head_dim)
        )
        if att.indexer:
            # The DSA indexer's wq_b, wk and weights_proj are ReplicatedLinear too.
            ix = att.indexer
            replicated += cfg.num_hidden_layers * (
                att.q_lora_rank * ix.n_heads * ix.head_dim + cfg.hidden_size * (ix.head_dim + ix.n_heads)
            )
    other = max(0, model.total_params - embedding - experts - router - replicated)
    if att.kind == "gqa":
        # q, k, v and o projections of every layer.
        heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        attention = cfg.num_hidden_layers * cfg.hidden_size * cfg.head_dim * 2 * (heads + kv_heads)
    else:
        # MLA and hybrid layers: the records do not carry every projection's width, so all of
        # `other` counts as attention -- it can only over-count the bytes an attention group holds.
        attention = other
    return ParameterSplit(embedding, experts, replicated, router, other, min(attention, other))


@dataclass(frozen=True)
class Weights:
    per_gpu: int
    replicated: int  # of which every rank holds the same
    padding: int  # of which MXFP4 expert padding
    source: str  # checkpoint | parameters


def stored_checkpoint(model: Model, checkpoint: str | None) -> CheckpointSize | None:
    """The recorded stored size of the checkpoint served (the model's own, a variant's, or an alias's)."""
    if checkpoint is None or checkpoint == model.model_id:
        return model.checkpoint
    variant = model.variant(checkpoint)
    if variant is None:
        return None
    if variant.alias_of:
        return variant.checkpoint or model.checkpoint
    return variant.checkpoint


def _same_width(a: str, b: str) -> bool:
    return a == b or WEIGHT_BYTES.get(a) == WEIGHT_BYTES.get(b) == 2.0


def checkpoint_applies(model: Model, checkpoint: str | None, fmt: str) -> CheckpointSize | None:
    """The stored size, if the engine holds the weights as stored: not when it quantizes them at
    load (--quantization fp8 on a 16-bit checkpoint) or widens them (--dtype float32)."""
    size = stored_checkpoint(model, checkpoint)
    if size is None:
        return None
    stored = weight_format(model, checkpoint or model.model_id, None, "", "auto")
    return size if _same_width(stored, fmt) else None


def _dense_bytes(model: Model, fmt: str, checkpoint: str | None) -> float:
    """Bytes per parameter of everything but the routed experts (attention, dense layers, shared
    experts) for the checkpoint served in `fmt`."""
    if not model.moe:
        return WEIGHT_BYTES[fmt]
    # 4-bit MoE checkpoints (gpt-oss MXFP4, Quark MXFP4 exports, Kimi's int4 W4A16) quantize only the
    # experts; attention and the dense layers stay 16-bit.
    if fmt in ("mxfp4", "int4"):
        return 2.0
    # An 8-bit MoE checkpoint served as stored whose size no source gives: which of its parts stay
    # 16-bit is its quantization config's ignore list, which we have not read either. Qwen's
    # block-FP8 exports quantize attention, Meta's FP8 releases keep it 16-bit (Llama-3.1-405B FP8
    # is 1.20 bytes per parameter); the upper bound of the two, so such a plan cannot promise more
    # room than the checkpoint leaves. With a stored size, the size sets the total anyway.
    if fmt in EIGHT_BIT_FORMATS and stored_checkpoint(model, checkpoint) is None:
        stored = weight_format(model, checkpoint or model.model_id, None, "", "auto")
        if _same_width(stored, fmt):  # not online quantization of a 16-bit checkpoint
            return 2.0
    return WEIGHT_BYTES[fmt]


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def mxfp4_padding(model: Model, fmt: str, tp: int, expert_parallel: bool, runtime: Runtime) -> int:
    """Bytes per GPU (before PP) the engine adds when it pads MXFP4 experts to its kernel tiles."""
    if fmt != "mxfp4" or not model.moe:
        return 0
    hidden, inter = model.config.hidden_size, model.moe.moe_intermediate_size
    experts = model.moe.num_experts
    if expert_parallel:
        experts_r, inter_r = math.ceil(experts / tp), inter
    else:
        experts_r, inter_r = experts, math.ceil(inter / tp)
    align_h, align_i = MXFP4_ALIGNMENT.get(runtime.name, MXFP4_ALIGNMENT["rocm"])
    extra = _round_up(hidden, align_h) * _round_up(inter_r, align_i) - hidden * inter_r
    moe_layers = model.config.num_hidden_layers - model.moe.dense_layers
    return math.ceil(moe_layers * experts_r * 3 * extra * WEIGHT_BYTES["mxfp4"])


def weights(model: Model, shape: ServingShape) -> Weights:
    split = parameter_split(model)
    fmt = shape.weight_format
    dense = _dense_bytes(model, fmt, shape.checkpoint)
    replicated = split.replicated * dense + split.router * ROUTER_BYTES
    # The bytes each group splits, from parameters x format; a stored size scales them all alike.
    experts = split.experts * WEIGHT_BYTES[fmt]
    attention = split.attention * dense
    rest = split.embedding * EMBEDDING_BYTES + (split.other - split.attention) * dense
    size = checkpoint_applies(model, shape.checkpoint, fmt)
    scale, source = 1.0, "parameters"
    if size is not None:
        scale, source = max(0.0, size.total_bytes - replicated) / max(experts + attention + rest, 1.0), "checkpoint"
    split_per_gpu = scale * (experts / shape.expert_group + attention / shape.attention_group + rest / shape.tp)
    padding = mxfp4_padding(model, fmt, shape.expert_group, shape.expert_parallel, shape.runtime) / shape.pp
    per_gpu = math.ceil((split_per_gpu + replicated) / shape.pp + padding)
    return Weights(per_gpu, math.ceil(replicated / shape.pp), math.ceil(padding), source)


def weight_bytes_per_gpu(
    model: Model, fmt: str, tp: int, pp: int = 1, checkpoint: str | None = None, runtime: Runtime = ROCM
) -> tuple[int, int]:
    """(bytes per GPU, of which replicated on every rank)."""
    shape = ServingShape(tp, fmt, 2.0, 1.0, 1, 1, 1, pp=pp, checkpoint=checkpoint, runtime=runtime)
    w = weights(model, shape)
    return w.per_gpu, w.replicated


# --- KV cache ------------------------------------------------------------------------------


def kv_heads_per_rank(model: Model, tp: int) -> int:
    return max(1, model.config.num_key_value_heads // tp)


@dataclass(frozen=True)
class KvLayout:
    """Where one GPU's KV bytes go for this model and shape."""

    block: int  # tokens per block of the layers that grow with context
    full_per_token: float  # bytes per token of the layers that grow with context
    window_per_token: float  # bytes per token of the sliding-window / chunked-local layers
    window_tokens: int  # the most tokens those layers keep for one request
    state_per_request: int  # fixed linear-attention state of one request
    counted_per_token: float  # bytes per token with every cache layer counted (vLLM's token count)


def _gqa_page_per_layer(model: Model, shape: ServingShape) -> float:
    return 2 * kv_heads_per_rank(model, shape.attention_group) * model.config.head_dim * shape.kv_bytes


def linear_state_bytes(model: Model, tp: int) -> int:
    """One linear-attention layer's state for one request on one GPU: the short-convolution state
    (k, k, v channels x kernel - 1) and the recurrent state (value heads x v dim x k dim); vLLM's
    MambaStateShapeCalculator.gated_delta_net_state_shape, sharded by TP."""
    lin = model.attention.linear
    if lin is None:
        return 0
    conv_dim = lin.key_head_dim * lin.num_key_heads * 2 + lin.value_head_dim * lin.num_value_heads
    conv = math.ceil(conv_dim / tp) * (lin.conv_kernel - 1) * CONV_STATE_BYTES
    temporal = math.ceil(lin.num_value_heads / tp) * lin.value_head_dim * lin.key_head_dim * TEMPORAL_STATE_BYTES
    return conv + temporal


def kv_layout(model: Model, shape: ServingShape) -> KvLayout:
    cfg, att = model.config, model.attention
    pp = shape.pp
    if att.kind == "mla":
        per_layer = (att.kv_lora_rank + att.qk_rope_head_dim) * shape.kv_bytes  # not split by TP
        if att.indexer:
            head = att.indexer.head_dim
            per_layer += head + head // INDEXER_QUANT_BLOCK * 4  # fp8 keys + fp32 scales, any KV dtype
        full = cfg.num_hidden_layers / pp * per_layer
        return KvLayout(KV_BLOCK, full, 0.0, 0, 0, full)
    page = _gqa_page_per_layer(model, shape)
    linear = att.linear.layers if att.linear else 0
    full_layers = (cfg.num_hidden_layers - att.sliding_window_layers - linear) / pp
    window_layers = att.sliding_window_layers / pp
    window_tokens = 0
    if window_layers:
        window_tokens = att.sliding_window - 1 + shape.in_flight_batches * shape.max_num_batched_tokens
    block, state = KV_BLOCK, 0
    if linear:
        state_layer = linear_state_bytes(model, shape.attention_group)
        if shape.overhead_in_budget:
            # vLLM makes an attention page at least one state page (Platform.update_block_size_for_backend)
            # and pads the state page to it; each linear layer holds VLLM_STATE_PAGES pages per request.
            block = KV_BLOCK * math.ceil(state_layer / (KV_BLOCK * page))
            state_layer = math.ceil(block * page)
            state = math.ceil(linear / pp * state_layer * VLLM_STATE_PAGES)
        else:
            state = math.ceil(linear / pp * state_layer)
    counted_layers = full_layers + window_layers + (linear / pp if shape.overhead_in_budget else 0)
    return KvLayout(block, full_layers * page, window_layers * page, window_tokens, state, counted_layers * page)


def kv_bytes_per_token(model: Model, shape: ServingShape) -> int:
    """KV bytes per token per GPU for the layers whose cache grows with context."""
    return math.ceil(kv_layout(model, shape).full_per_token)


def _request_bytes(layout: KvLayout, tokens: int) -> int:
    block = layout.block
    total = layout.full_per_token * (math.ceil(tokens / block) * block) + layout.state_per_request
    if layout.window_per_token:
        kept = min(layout.window_tokens, tokens)
        total += layout.window_per_token * (math.ceil(kept / KV_BLOCK) + 1) * KV_BLOCK  # SlidingWindowSpec: +1 block
    return math.ceil(total)


def kv_bytes_for_request(model: Model, shape: ServingShape, tokens: int) -> int:
    return _request_bytes(kv_layout(model, shape), tokens)


# --- overhead ------------------------------------------------------------------------------


def _dense_mlp_width(model: Model) -> int:
    """Width of the MLP computed outside the fused-MoE kernel (dense layers, shared experts)."""
    if not model.moe:
        return model.config.intermediate_size
    return max(model.moe.shared_width, model.config.intermediate_size if model.moe.dense_layers else 0)


def moe_workspace_bytes(model: Model, shape: ServingShape) -> int:
    """The fused-MoE workspaces (vLLM TritonExperts.workspace_shapes: tokens x top-k x
    max(width, hidden), twice), kept by the workspace manager after the profile."""
    if not model.moe:
        return 0
    hidden = model.config.hidden_size
    inter = (
        model.moe.moe_intermediate_size
        if shape.expert_parallel
        else math.ceil(model.moe.moe_intermediate_size / shape.tp)
    )
    per_token = model.moe.experts_per_token * (max(inter, hidden) + max(2 * inter, hidden))
    return math.ceil(shape.max_num_batched_tokens * per_token * MOE_WORKSPACE_BYTES)


def encoder_activation_bytes(model: Model) -> int:
    """One largest image through the vision encoder (vLLM profiles it before the language model)."""
    if not model.multimodal:
        return 0
    width = math.sqrt(model.multimodal.encoder_params / (12 * ENCODER_DEPTH))  # params ~ 12 x width^2 x depth
    per_patch = width * (HIDDEN_BYTES + MLP_BYTES * 4) * ENCODER_FP32  # MLP about 4 x the width
    return math.ceil(ENCODER_TOKENS * ENCODER_PATCHES_PER_TOKEN * per_patch)


def activation_bytes(model: Model, shape: ServingShape) -> int:
    """Peak of the profiling pass: the MoE workspace plus the largest transient (forward pass over
    max_num_batched_tokens, sampler over the rows it samples, one encoder pass)."""
    cfg = model.config
    tokens = shape.max_num_batched_tokens
    mlp_width = _dense_mlp_width(model) / shape.tp
    forward = tokens * (cfg.hidden_size * HIDDEN_BYTES + mlp_width * MLP_BYTES)
    if model.attention.indexer:
        forward += tokens * model.attention.indexer.topk * INDEXER_TOPK_BYTES
    sampler = min(shape.max_num_seqs, tokens) * cfg.vocab_size * shape.sampler_bytes
    transient = max(forward, sampler, encoder_activation_bytes(model))
    return math.ceil(moe_workspace_bytes(model, shape) + transient)


def runtime_bytes(shape: ServingShape) -> int:
    """Non-torch memory (growing with the group of ranks a GPU talks to) and the graph pool."""
    total = shape.runtime.non_torch(shape.communicating_ranks)
    if shape.cuda_graphs:
        total += shape.runtime.graph_pool_bytes
    return total


def overhead_bytes(model: Model, shape: ServingShape) -> tuple[int, int]:
    """(total overhead, of which activations)."""
    activations = activation_bytes(model, shape)
    return runtime_bytes(shape) + activations, activations


# --- the estimate --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    budget: int
    kv_budget: int  # for attention KV (and, for vLLM, the request states)
    state_budget: int | None = field(default=None)  # SGLang hybrid: the separate state pool


def _budget(memory_bytes: int, shape: ServingShape, weights_per_gpu: int, overhead: int, layout: KvLayout) -> _Budget:
    budget = math.floor(memory_bytes * shape.utilization)
    if shape.overhead_in_budget:
        return _Budget(budget, budget - weights_per_gpu - overhead)
    # SGLang: rest = free after load - free before load x (1 - fraction) (KVCacheConfigurator).
    ranks = shape.tp * shape.pp
    pool = math.floor((memory_bytes - shape.runtime.preload(ranks)) * shape.utilization) - weights_per_gpu
    if layout.state_per_request:
        state_pool = math.floor(pool * SGLANG_MAMBA_RATIO / (1 + SGLANG_MAMBA_RATIO))
        return _Budget(budget, pool - state_pool, state_pool)
    return _Budget(budget, pool)


def estimate(model: Model, memory_bytes: int, shape: ServingShape) -> MemoryEstimate:
    w = weights(model, shape)
    overhead, activations = overhead_bytes(model, shape)
    layout = kv_layout(model, shape)
    b = _budget(memory_bytes, shape, w.per_gpu, overhead, layout)
    attention_layout = replace(layout, state_per_request=0) if b.state_budget is not None else layout
    request = _request_bytes(attention_layout, shape.max_model_len)
    state = layout.state_per_request
    fits = request <= b.kv_budget and (b.state_budget is None or state <= b.state_budget)
    fitting_len = _max_len_that_fits(model, shape, attention_layout, b.kv_budget)
    if b.state_budget is not None and state > b.state_budget:
        fitting_len = 0
    concurrency = b.kv_budget // request if request > 0 and b.kv_budget > 0 else 0
    if b.state_budget is not None and state:
        concurrency = min(concurrency, max(0, b.state_budget) // state)
    kv_tokens = int(max(0, b.kv_budget) // layout.counted_per_token) if layout.counted_per_token else 0
    full_request = request + (state if b.state_budget is not None else 0)
    total = b.budget - b.kv_budget + request
    return MemoryEstimate(
        weights_bytes_per_gpu=w.per_gpu,
        replicated_bytes_per_gpu=w.replicated,
        kv_bytes_per_token_per_gpu=math.ceil(layout.full_per_token),
        kv_bytes_per_request=full_request,
        activation_bytes_per_gpu=activations,
        overhead_bytes_per_gpu=overhead,
        total_bytes_per_gpu=total,
        budget_bytes_per_gpu=b.budget,
        kv_budget_bytes_per_gpu=b.kv_budget,
        max_model_len=shape.max_model_len,
        max_model_len_that_fits=fitting_len,
        max_concurrency=int(concurrency),
        fits=fits,
        kv_tokens=kv_tokens,
        weights_source=w.source,
        runtime_bytes_per_gpu=runtime_bytes(shape),
        padding_bytes_per_gpu=w.padding,
        state_bytes_per_request=state,
        kv_block_tokens=layout.block,
    )


def max_model_len_that_fits(model: Model, shape: ServingShape, kv_budget: int) -> int:
    """Largest context (up to the model's maximum) whose KV fits; 0 if none does."""
    return _max_len_that_fits(model, shape, kv_layout(model, shape), kv_budget)


def _max_len_that_fits(model: Model, shape: ServingShape, layout: KvLayout, kv_budget: int) -> int:
    ceiling = max(model.config.max_position_embeddings, shape.max_model_len)
    if kv_budget <= 0 or _request_bytes(layout, 1) > kv_budget:
        return 0
    if _request_bytes(layout, ceiling) <= kv_budget:
        return ceiling
    low, high = 1, ceiling  # invariant: low fits, high does not
    while high - low > 1:
        mid = (low + high) // 2
        if _request_bytes(layout, mid) <= kv_budget:
            low = mid
        else:
            high = mid
    return low
