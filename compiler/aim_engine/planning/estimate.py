"""`aim-engine estimate`: the memory model as a VRAM calculator, pure.

A request (model, GPU or bare memory size, engine settings) becomes an entry the engine module
reads exactly as it reads a recipe's, so the defaults, the weight format and the memory figures
are the planner's own (`serving_shape` and `memory.estimate`; one implementation). The command
(commands/estimate.py) only parses arguments and prints `EstimateResult.as_json()` or `.text()`.

JSON fields (stable; docs/reference/memory.md#aim-engine-estimate):

- `weights_gib_per_gpu`, `available_kv_gib`, `kv_tokens`, `max_concurrency`,
  `max_model_len_that_fits`, `fits`: the figures the planner judges a plan by;
- everything else is described in FIELDS below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from aim_engine.catalogue.load import PRECISIONS, load_formats
from aim_engine.catalogue.records import Entry, Hardware, Model
from aim_engine.engines.base import Backend, EntrySettings, FlagValueError, problems_of
from aim_engine.errors import AimError, UsageError
from aim_engine.planning.entry import serving_shape, starts
from aim_engine.planning.memory import (
    RUNTIMES,
    MemoryEstimate,
    ServingShape,
    estimate,
    runtime_for,
    sizing_problem,
    stored_checkpoint,
)
from aim_engine.planning.parallelism import tp_problems
from aim_engine.planning.precision import weight_format
from aim_pick.contract.units import GIB

# Each backend's spelling of the settings the calculator takes (the engines' own flags).
FLAGS = {
    "vllm": {
        "checkpoint": "--model",
        "tp": "--tensor-parallel-size",
        "pp": "--pipeline-parallel-size",
        "max_model_len": "--max-model-len",
        "utilization": "--gpu-memory-utilization",
        "kv_cache_dtype": "--kv-cache-dtype",
        "max_num_seqs": "--max-num-seqs",
        "max_num_batched_tokens": "--max-num-batched-tokens",
        "eager": "--enforce-eager",
    },
    "sglang": {
        "checkpoint": "--model-path",
        "tp": "--tp-size",
        "pp": "--pp-size",
        "max_model_len": "--context-length",
        "utilization": "--mem-fraction-static",
        "kv_cache_dtype": "--kv-cache-dtype",
        "max_num_seqs": "--max-running-requests",
        "max_num_batched_tokens": "--chunked-prefill-size",
        "eager": "--disable-cuda-graph",
    },
}

# The JSON fields, in output order, with what each means (README and docs/reference/memory.md list them).
FIELDS = {
    "model": "the catalogue model (Hugging Face id)",
    "checkpoint": "the checkpoint served (the model's own or a variant)",
    "gpu": "the catalogue GPU type, or 'custom' for --gpu-memory",
    "gpu_memory_gib": "memory of one GPU",
    "platform": "rocm or cuda: which runtime figures the overhead uses",
    "backend": "vllm or sglang",
    "engine_version": "the pinned engine release whose defaults and flags were used",
    "tp": "tensor-parallel size",
    "pp": "pipeline-parallel size",
    "gpus": "GPUs one replica uses (TP x PP)",
    "weight_format": "how the weights are held (bf16, fp8_block, mxfp4, ...)",
    "weights_source": "checkpoint: the checkpoint's recorded stored bytes; parameters: parameters x bytes per format",
    "checkpoint_bytes": "the checkpoint's recorded stored size (null when none is recorded)",
    "max_model_len": "context length of one request (tokens)",
    "utilization": "--gpu-memory-utilization (vLLM) or --mem-fraction-static (SGLang) as the engine would use it",
    "kv_cache_dtype": "--kv-cache-dtype",
    "max_num_seqs": "--max-num-seqs / --max-running-requests as the engine would use it",
    "max_num_batched_tokens": "--max-num-batched-tokens / --chunked-prefill-size as the engine would use it",
    "budget_gib_per_gpu": "memory x utilization",
    "weights_gib_per_gpu": "weights one GPU holds (split by TP/PP, replicated parts whole, MXFP4 padding)",
    "replicated_gib_per_gpu": "of the weights, what every rank holds whole",
    "runtime_gib_per_gpu": "non-torch memory and graph pool",
    "activation_gib_per_gpu": "activation peak of the engine's profiling pass",
    "overhead_gib_per_gpu": "runtime + activations (outside the budget for SGLang)",
    "kv_bytes_per_token_per_gpu": "KV bytes one token takes on one GPU in the layers that grow with context",
    "kv_gib_per_request": "KV (and linear-attention state) of one request of max_model_len",
    "available_kv_gib": "memory left for the KV cache on one GPU",
    "kv_tokens": "tokens the KV memory holds (as vLLM prints 'GPU KV cache size', SGLang max_total_num_tokens)",
    "max_concurrency": "requests of max_model_len the KV memory holds at once",
    "max_model_len_that_fits": "the longest context one request can have (up to the model's maximum)",
    "fits": "one request of max_model_len fits",
    "starts": "the engine starts with these settings (vLLM needs one full request; SGLang a useful context)",
    "notes": "what the figures do not show: a context beyond the model's maximum, a weight format the engine "
    "cannot run or emulates on this GPU",
    "bytes": "the same figures in bytes",
}

SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|[KMGT]|B)?\s*\Z", re.IGNORECASE)
UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
MAX_GPU_MEMORY = 64 * 1024**4  # no accelerator has 64 TiB


def parse_size(text: str) -> int:
    """A memory size: bytes, or a number with KiB/MiB/GiB/TiB (binary) or KB/MB/GB/TB (decimal);
    a bare K/M/G/T is binary."""
    match = SIZE.fullmatch(text or "")
    if not match:
        raise UsageError(f"--gpu-memory: {text!r} is not a size (write e.g. 80GiB, 192GB or a number of bytes)")
    number, unit = match.group(1), (match.group(2) or "").lower()
    if unit in ("", "b") or unit.endswith("ib") or len(unit) == 1:
        scale = UNITS[unit[:1]]
    else:  # KB, MB, GB, TB: decimal
        scale = 1000 ** ("kmgt".index(unit[0]) + 1)
    value = float(number) * scale
    if not 1 * GIB <= value <= MAX_GPU_MEMORY:
        raise UsageError(f"--gpu-memory: {text!r} is outside 1 GiB to 64 TiB")
    return int(value)


def custom_gpu(memory_bytes: int) -> Hardware:
    """A GPU known only by its memory (partitions, new GPUs, other people's logs)."""
    return Hardware(
        name="custom",
        product="a GPU with this much memory",
        architecture="",
        gfx_target="",
        gfx_target_version=0,
        family="custom",
        device_ids=(),
        device_id_names={},
        memory_bytes=memory_bytes,
        memory_source="--gpu-memory",
        compute_units=0,
        apu=False,
        devices_per_package=1,
        compute_partitions=(),
        xcc_per_device=1,
        precisions=dict.fromkeys(PRECISIONS, "native"),
        fp8_format=None,
    )


@dataclass(frozen=True)
class EstimateRequest:
    model: Model
    gpu: Hardware
    backend: str = "vllm"
    platform: str | None = None  # None: the GPU's (ROCm for every catalogue GPU)
    checkpoint: str | None = None
    tp: int = 1
    pp: int = 1
    max_model_len: int | None = None
    utilization: float | None = None
    kv_cache_dtype: str | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    eager: bool = False

    def args(self) -> dict[str, Any]:
        flags = FLAGS[self.backend]
        args: dict[str, Any] = {flags["tp"]: self.tp, flags["pp"]: self.pp}
        for key in (
            "checkpoint",
            "max_model_len",
            "utilization",
            "kv_cache_dtype",
            "max_num_seqs",
            "max_num_batched_tokens",
        ):
            value = getattr(self, key)
            if value is not None:
                args[flags[key]] = value
        if self.eager:
            args[flags["eager"]] = True
        return args


@dataclass(frozen=True)
class EstimateResult:
    request: EstimateRequest
    settings: EntrySettings
    weight_format: str
    shape: ServingShape
    memory: MemoryEstimate
    starts: bool
    engine_version: str
    notes: tuple[str, ...] = ()  # what the figures do not show (the engine would refuse or emulate)

    def as_json(self) -> dict[str, Any]:
        m, s, req = self.memory, self.settings, self.request
        size = stored_checkpoint(req.model, s.checkpoint)

        def g(value: int) -> float:
            return round(value / GIB, 3)

        out: dict[str, Any] = {
            "model": req.model.model_id,
            "checkpoint": s.checkpoint,
            "gpu": req.gpu.name,
            "gpu_memory_gib": g(req.gpu.memory_bytes),
            "platform": self.shape.runtime.name,
            "backend": req.backend,
            "engine_version": self.engine_version,
            "tp": s.tp,
            "pp": s.pp,
            "gpus": s.tp * s.pp,
            "weight_format": self.weight_format,
            "weights_source": m.weights_source,
            "checkpoint_bytes": size.total_bytes if size and m.weights_source == "checkpoint" else None,
            "max_model_len": s.max_model_len,
            "utilization": s.utilization,
            "kv_cache_dtype": s.kv_cache_dtype,
            "max_num_seqs": s.max_num_seqs,
            "max_num_batched_tokens": s.max_num_batched_tokens,
            "budget_gib_per_gpu": g(m.budget_bytes_per_gpu),
            "weights_gib_per_gpu": g(m.weights_bytes_per_gpu),
            "replicated_gib_per_gpu": g(m.replicated_bytes_per_gpu),
            "runtime_gib_per_gpu": g(m.runtime_bytes_per_gpu),
            "activation_gib_per_gpu": g(m.activation_bytes_per_gpu),
            "overhead_gib_per_gpu": g(m.overhead_bytes_per_gpu),
            "kv_bytes_per_token_per_gpu": m.kv_bytes_per_token_per_gpu,
            "kv_gib_per_request": g(m.kv_bytes_per_request),
            "available_kv_gib": g(max(0, m.kv_budget_bytes_per_gpu)),
            "kv_tokens": m.kv_tokens,
            "max_concurrency": m.max_concurrency,
            "max_model_len_that_fits": m.max_model_len_that_fits,
            "fits": m.fits,
            "starts": self.starts,
            "notes": list(self.notes),
            "bytes": {
                "gpu_memory": req.gpu.memory_bytes,
                "budget_per_gpu": m.budget_bytes_per_gpu,
                "weights_per_gpu": m.weights_bytes_per_gpu,
                "replicated_per_gpu": m.replicated_bytes_per_gpu,
                "padding_per_gpu": m.padding_bytes_per_gpu,
                "runtime_per_gpu": m.runtime_bytes_per_gpu,
                "activation_per_gpu": m.activation_bytes_per_gpu,
                "overhead_per_gpu": m.overhead_bytes_per_gpu,
                "kv_per_request": m.kv_bytes_per_request,
                "state_per_request": m.state_bytes_per_request,
                "available_kv": m.kv_budget_bytes_per_gpu,
                "total_per_gpu": m.total_bytes_per_gpu,
            },
        }
        assert list(out) == list(FIELDS)
        return out

    def text(self) -> str:
        m, s, req = self.memory, self.settings, self.request
        engine = {"vllm": "vLLM", "sglang": "SGLang"}[req.backend]
        size = stored_checkpoint(req.model, s.checkpoint)
        if m.weights_source == "checkpoint" and size is not None:
            source = f"from the checkpoint's stored size ({size.total_bytes:,} bytes)"
        else:
            source = f"from parameters x {self.weight_format} bytes (no stored size recorded)"
        gpu = (
            f"{req.gpu.name} ({_gib(req.gpu.memory_bytes)})" if req.gpu.name != "custom" else _gib(req.gpu.memory_bytes)
        )
        util_flag = FLAGS[req.backend]["utilization"]
        served = "" if s.checkpoint == req.model.model_id else f" ({s.checkpoint})"
        lines = [
            f"{req.model.model_id}{served} on {s.tp * s.pp} x {gpu}, {engine} {self.engine_version}, "
            f"TP {s.tp}" + (f" PP {s.pp}" if s.pp > 1 else "") + f", {self.weight_format} weights, "
            f"{self.shape.runtime.name} runtime",
            f"  budget       {_gib(m.budget_bytes_per_gpu):>12} per GPU "
            f"({_gib(req.gpu.memory_bytes)} x {util_flag} {s.utilization:g})",
            f"  weights      {_gib(m.weights_bytes_per_gpu):>12} {source}"
            + (f"; {_gib(m.padding_bytes_per_gpu)} of it MXFP4 padding" if m.padding_bytes_per_gpu else ""),
        ]
        outside = "" if self.shape.overhead_in_budget else " (outside --mem-fraction-static)"
        lines.append(f"  runtime      {_gib(m.runtime_bytes_per_gpu):>12} non-torch memory and graph pool{outside}")
        lines.append(
            f"  activations  {_gib(m.activation_bytes_per_gpu):>12} profiling peak over {s.max_num_batched_tokens:,} "
            f"tokens / {min(s.max_num_seqs, s.max_num_batched_tokens):,} sequences{outside}"
        )
        lines.append(
            f"  KV cache     {_gib(max(0, m.kv_budget_bytes_per_gpu)):>12} available: {m.kv_tokens:,} tokens "
            f"at {m.kv_bytes_per_token_per_gpu:,} bytes per token per GPU"
        )
        verdict = (
            f"fits, {m.max_concurrency:,} at once"
            if m.fits
            else "does not fit" + ("" if self.starts else "; the engine would not start")
        )
        lines.append(
            f"  context      {s.max_model_len:,} tokens: one request needs {_gib(m.kv_bytes_per_request)} -> {verdict}"
        )
        longest = m.max_model_len_that_fits
        note = " (the model's maximum)" if longest == req.model.config.max_position_embeddings else ""
        lines.append(f"  longest context that fits: {longest:,} tokens{note}")
        lines.extend(f"  note: {text}" for text in self.notes)
        return "\n".join(lines)


def _gib(value: int) -> str:
    return f"{value / GIB:,.2f} GiB"


def run_estimate(request: EstimateRequest, backends: dict[str, Backend]) -> EstimateResult:
    """Size one request the way the planner sizes an entry; UsageError for settings no engine runs."""
    if request.backend not in backends:
        raise UsageError(f"--backend {request.backend!r}: known backends are {', '.join(sorted(backends))}")
    model = request.model
    problem = sizing_problem(model)
    if problem:
        raise AimError(f"cannot size {model.model_id}: {problem}")
    if (
        request.checkpoint is not None
        and request.checkpoint != model.model_id
        and model.variant(request.checkpoint) is None
    ):
        known = ", ".join([model.model_id, *(v.model_id for v in model.variants)])
        raise UsageError(f"--checkpoint {request.checkpoint!r} is not one of {model.model_id}'s checkpoints ({known})")
    if request.kv_cache_dtype is not None and request.kv_cache_dtype not in load_formats().kv_cache_dtypes:
        known = ", ".join(sorted(load_formats().kv_cache_dtypes))
        raise UsageError(f"--kv-cache-dtype {request.kv_cache_dtype!r} is not one of {known}")
    layers = model.config.num_hidden_layers
    if request.pp > layers:  # every pipeline stage needs at least one layer
        raise UsageError(f"--pp {request.pp}: more pipeline stages than {model.model_id}'s {layers} layers")
    backend = backends[request.backend]
    for flag, value in request.args().items():  # as the engine's parser reads them: nan, inf are refused there
        found = backend.flags.resolve(flag)
        if found is not None:
            try:
                backend.parse(found[0], value)
            except FlagValueError as exc:
                raise UsageError(str(exc)) from None
    entry = Entry(
        request.backend, f"{request.tp * request.pp}_gpu", request.tp * request.pp, True, request.args(), {}, None
    )
    settings = backend.settings(entry, model, request.gpu)
    problems = problems_of(settings)
    if problems:
        raise UsageError(problems[0].sentence)
    fmt = weight_format(model, settings.checkpoint, settings.quantization, "", settings.dtype)
    tp = tp_problems(model, settings.tp, fmt, settings.expert_parallel)
    if tp:
        raise UsageError(f"--tp {settings.tp}: {tp[0].sentence}")
    shape = serving_shape(backend, settings, fmt, request.gpu)
    runtime = RUNTIMES[request.platform] if request.platform else runtime_for(request.gpu)
    shape = replace(shape, runtime=runtime)
    memory = estimate(model, request.gpu.memory_bytes, shape)
    notes = _notes(request, backend, settings, fmt)
    return EstimateResult(request, settings, fmt, shape, memory, starts(backend, memory), backend.data.version, notes)


def _notes(request: EstimateRequest, backend: Backend, settings: EntrySettings, fmt: str) -> tuple[str, ...]:
    """What the memory figures do not show but the engine would do with this request."""
    notes = []
    limit = request.model.config.max_position_embeddings
    if settings.max_model_len > limit:
        # The validator's context check says the same of a recipe (without a rope-scaling override).
        notes.append(
            f"{settings.max_model_len:,} tokens is beyond the model's maximum context ({limit:,}); the engine "
            "refuses it without a rope-scaling override"
        )
    if request.gpu.name != "custom":  # a bare memory size has no gfx target to check kernels against
        support, why = backend.precision_support_reason(request.gpu, fmt)
        if support != "native":
            notes.append(why)
    return tuple(notes)


__all__ = [
    "FIELDS",
    "FLAGS",
    "EstimateRequest",
    "EstimateResult",
    "custom_gpu",
    "parse_size",
    "run_estimate",
]
