"""What AIM Engine derives from one recipe entry on one GPU type: the settings the engine
would run with, the weight format and precision it serves, its tensor-parallel problems and
its memory estimate. The validator and the planner both call `analyse_entry`, so they
reason about an entry in exactly one way."""

from __future__ import annotations

from dataclasses import dataclass

from aim_engine.catalogue.records import Entry, Hardware, Model, Recipe
from aim_engine.engines.base import Backend, EntrySettings
from aim_engine.planning.memory import ROCM, MemoryEstimate, ServingShape, estimate, runtime_for
from aim_engine.planning.parallelism import TpProblem, tp_problems
from aim_engine.planning.policy import MIN_USEFUL_CONTEXT
from aim_engine.planning.precision import served_precision, weight_format
from aim_pick.contract.units import gib


def serving_shape(
    backend: Backend, settings: EntrySettings, fmt: str, hardware: Hardware | None = None
) -> ServingShape:
    """How the entry runs, as far as memory is concerned (on `hardware`'s platform figures;
    without it, ROCm's, which only the overhead depends on)."""
    return ServingShape(
        tp=settings.tp,
        pp=settings.pp,
        weight_format=fmt,
        kv_bytes=backend.kv_bytes(settings),
        utilization=settings.utilization,
        max_num_batched_tokens=settings.max_num_batched_tokens,
        max_num_seqs=settings.max_num_seqs,
        max_model_len=settings.max_model_len,
        cuda_graphs=settings.cuda_graphs,
        overhead_in_budget=backend.overhead_in_budget(),
        checkpoint=settings.checkpoint,
        expert_parallel=settings.expert_parallel,
        expert_shards=settings.expert_shards,
        attention_shards=settings.attention_shards,
        runtime=runtime_for(hardware) if hardware is not None else ROCM,
    )


@dataclass(frozen=True)
class EntryAnalysis:
    """Everything AIM Engine derives from one enabled entry on one GPU type."""

    settings: EntrySettings
    weight_format: str
    served_precision: str
    tp_problems: tuple[TpProblem, ...]
    memory: MemoryEstimate
    starts: bool  # the engine starts with these settings (memory-wise)

    @property
    def serves_full_context(self) -> bool:
        """One request of the entry's own context length fits in the KV cache."""
        return self.memory.fits


def starts(backend: Backend, memory: MemoryEstimate) -> bool:
    """vLLM starts only when one full-context request fits; SGLang starts when its KV pool holds
    a useful context (MIN_USEFUL_CONTEXT, or the whole of a shorter one) and serves shorter requests."""
    if memory.fits or backend.needs_full_context_at_start:
        return memory.fits
    return memory.max_model_len_that_fits >= min(MIN_USEFUL_CONTEXT, memory.max_model_len)


def analyse_entry(backend: Backend, entry: Entry, recipe: Recipe, model: Model, hardware: Hardware) -> EntryAnalysis:
    settings = backend.settings(entry, model, hardware)
    fmt = weight_format(model, settings.checkpoint, settings.quantization, recipe.precision, settings.dtype)
    problems = tuple(tp_problems(model, settings.tp, fmt, settings.expert_parallel))
    memory = estimate(model, hardware.memory_bytes, serving_shape(backend, settings, fmt, hardware))
    return EntryAnalysis(settings, fmt, served_precision(fmt), problems, memory, starts(backend, memory))


def fit_sentence(memory: MemoryEstimate, hardware: Hardware, context_flag: str) -> str:
    needed, budget = memory.total_bytes_per_gpu, memory.budget_bytes_per_gpu
    text = (
        f"needs {gib(needed)} per GPU at {context_flag} {memory.max_model_len}, "
        f"has {gib(budget)} ({hardware.name} {gib(hardware.memory_bytes)} x utilization)"
    )
    if memory.max_model_len_that_fits:
        return text + f"; fits with {context_flag} {memory.max_model_len_that_fits}"
    return text + "; the weights and runtime alone leave no room for the KV cache"
