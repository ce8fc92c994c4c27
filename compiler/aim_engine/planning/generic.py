"""Generic plans: entries synthesized from the model and engine data where no recipe covers a
model x GPU type x GPU count x precision x backend.

A generic entry is what a vLLM/SGLang-on-ROCm operator would write without tuning: the
checkpoint (the model's own, or the variant that carries the precision), the parallel size,
the engine's defaults for the GPU family (engine data `generic`: flags per setting, env per gfx
target), the model's own serving facts (reasoning and tool-call parsers, remote code, flags it
always needs, the text-only switch of a multimodal model), an fp8 KV cache when the checkpoint
ships KV scales, expert parallelism for an MoE model on more than one GPU, and a context
length chosen by one rule (`context_for`): the model's maximum when HEADROOM_REQUESTS requests
of it fit, else the largest multiple of CONTEXT_STEP that leaves that headroom, never below
MIN_USEFUL_CONTEXT. Memory utilization is left to the engine's default.

Generic entries are judged exactly like recipe entries (planner `_judge`); they come last in
every fallback walk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from aim_engine.catalogue.records import Entry, Hardware, Model, Recipe
from aim_engine.engines.base import Backend
from aim_engine.planning.entry import analyse_entry, serving_shape
from aim_engine.planning.memory import max_model_len_that_fits
from aim_engine.planning.parallelism import pp_problems, tp_problems
from aim_engine.planning.policy import CONTEXT_STEP, HEADROOM_REQUESTS, MAX_GPUS, MIN_USEFUL_CONTEXT
from aim_engine.planning.precision import weight_format

GENERIC_STATUS = "generic"  # the synthesized recipes' status (recipe files say verified|preview|untested)


@dataclass(frozen=True)
class CheckpointOption:
    """One way to serve the model at one precision: a checkpoint and how to load it."""

    checkpoint: str
    precision: str
    kv_fp8: bool  # the checkpoint ships fp8 KV-cache scales


def checkpoint_options(model: Model) -> list[CheckpointOption]:
    """The precisions the checkpoints provide: the model's own checkpoint at its stored
    precision and every variant that is not a mere alias of it. A bf16 checkpoint is not
    cast to fp16 by a generic plan (fp16 can overflow where bf16 does not, and vLLM refuses
    the cast for some architectures); a recipe may still ask for it with --dtype."""
    options = [CheckpointOption(model.model_id, model.native_precision, False)]
    for variant in model.variants:
        if variant.alias_of:
            continue
        options.append(CheckpointOption(variant.model_id, variant.precision, variant.kv_cache_fp8_scales))
    return options


def generic_args(backend: Backend, model: Model, option: CheckpointOption, tp: int, context: int) -> dict[str, Any]:
    """The engine arguments of one generic entry (null values are bare flags, as in recipes)."""
    generic = backend.data.generic
    flags = generic["flags"]
    serving = model.serving.for_engine(backend.name)
    args: dict[str, Any] = {flags["checkpoint"]: option.checkpoint}
    if tp > 1:
        args[flags["tensor_parallel"]] = tp
    args[flags["context"]] = context
    if option.kv_fp8:
        args[flags["kv_cache_dtype"]] = generic["kv_cache_fp8"]
    if model.moe and tp > 1:  # experts whole on each rank instead of every expert split tp ways
        args[flags["expert_parallel"]] = None if generic["expert_parallel"] == "switch" else tp
    if serving.reasoning_parser and "reasoning_parser" in flags:
        args[flags["reasoning_parser"]] = serving.reasoning_parser
    if serving.tool_call_parser and "tool_call_parser" in flags:
        args[flags["tool_call_parser"]] = serving.tool_call_parser
        if "tool_choice" in flags:
            args[flags["tool_choice"]] = None
    if model.serving.trust_remote_code and "trust_remote_code" in flags:
        args[flags["trust_remote_code"]] = None
    args.update(serving.args)
    if model.multimodal is not None:
        args.update(serving.text_only_args)  # the memory model sizes the text path only
    args.update(generic["args"])
    return args


GENERIC_PREFIX = "generic-"  # a generic recipe's id: generic-<checkpoint>-<gpu>-<precision> (_recipe)


def checkpoint_part(recipe: Recipe) -> str:
    """The checkpoint of a generic recipe's id ("amd-deepseek-r1-0528-mxfp4-v2"): what tells two
    generic plans of one shape apart when a model has several checkpoints at one precision."""
    tail = f"-{recipe.hardware.lower()}-{recipe.precision}"
    return recipe.recipe_id.removeprefix(GENERIC_PREFIX).removesuffix(tail)


def generic_env(backend: Backend, model: Model, hardware: Hardware) -> dict[str, str]:
    env = dict(backend.data.generic["env"].get(hardware.gfx_target, {}))
    env.update(model.serving.for_engine(backend.name).env)
    return env


def _recipe(model: Model, hardware: Hardware, option: CheckpointOption, entries: tuple[Entry, ...]) -> Recipe:
    checkpoint = re.sub(r"[^a-z0-9.]+", "-", option.checkpoint.lower()).strip("-")
    return Recipe(
        recipe_id=f"{GENERIC_PREFIX}{checkpoint}-{hardware.name.lower()}-{option.precision}",
        model_id=model.model_id,
        hardware=hardware.name,
        precision=option.precision,
        status=GENERIC_STATUS,
        metric=None,
        notes=f"generic plan: no tuned recipe for {model.name} on {hardware.name} yet",
        env={},
        entries=entries,
        path=model.path,  # findings about a generic entry point at the model file
    )


def context_for(backend: Backend, model: Model, hardware: Hardware, recipe: Recipe, entry: Entry) -> int:
    """The generic context rule, judged with the memory model on a trial entry at the model's
    maximum (the KV budget does not depend on the context)."""
    longest = model.config.max_position_embeddings
    analysis = analyse_entry(backend, entry, recipe, model, hardware)
    budget = analysis.memory.kv_budget_bytes_per_gpu
    if budget <= 0:
        return min(longest, MIN_USEFUL_CONTEXT)
    shape = serving_shape(backend, analysis.settings, analysis.weight_format)
    roomy = max_model_len_that_fits(model, shape, budget // HEADROOM_REQUESTS)
    if roomy >= longest:
        return longest
    stepped = roomy // CONTEXT_STEP * CONTEXT_STEP
    return min(longest, max(stepped, MIN_USEFUL_CONTEXT))


def generic_recipes(
    model: Model, hardware: Hardware, backends: dict[str, Backend], covered: set[tuple[int, str, str]]
) -> list[Recipe]:
    """Synthesized recipes (one per checkpoint option) for every (GPU count, precision,
    backend) no recipe of this GPU covers, `covered` holding (gpus, precision, backend)."""
    out = []
    for option in checkpoint_options(model):
        if hardware.precision_support(option.precision) is None:
            continue
        entries = []
        for name, backend in sorted(backends.items()):
            if backend.data.image_for(hardware) is None:
                continue
            fmt = weight_format(model, option.checkpoint, None, option.precision)
            for tp in range(1, MAX_GPUS + 1):
                if (tp, option.precision, name) in covered:
                    continue
                if tp_problems(model, tp, fmt, expert_parallel=bool(model.moe) and tp > 1):
                    continue
                trial = _entry(backend, model, hardware, option, tp, model.config.max_position_embeddings)
                context = context_for(backend, model, hardware, _recipe(model, hardware, option, ()), trial)
                entries.append(_entry(backend, model, hardware, option, tp, context))
        if entries:
            out.append(_recipe(model, hardware, option, tuple(entries)))
    return out


LAYOUT_PREFERENCE = ("expert-data", "pipeline")  # host_layouts' order, for a mixture-of-experts model


@dataclass(frozen=True)
class HostLayout:
    """How a multi-node plan spans its hosts (engine data `generic.multi_node`): the flag whose
    value is the number of hosts, the flags that give each host its place, and the flags every
    host or only the workers add."""

    name: Literal["pipeline", "expert-data"]  # a pipeline stage per host, or a data-parallel rank per host
    size_flag: str
    nodes_flag: str | None  # how many hosts, for an engine that takes it apart from size_flag
    rank_flag: str
    address_flag: str
    address_port: int | None  # written after the leader's address as host:port
    args: dict[str, Any]
    worker_args: dict[str, Any]
    recipe_suffix: str  # after -<nodes>x<MAX_GPUS> in the recipe id

    def summary(self, gpus: int) -> str:
        """The layout in words, for a plan on `gpus` GPUs."""
        if self.name == "pipeline":
            return "one pipeline stage per host"
        return f"one data-parallel rank per host, the experts spread over all {gpus} GPUs"


def host_layouts(backend: Backend, model: Model) -> list[HostLayout]:
    """The layouts a multi-node plan of `model` can take on `backend`, preferred first.

    For a mixture-of-experts model, where the engine has the mode, one data-parallel rank of
    tensor parallel MAX_GPUS per host with the experts as one expert-parallel group over every
    GPU: the layout vLLM documents for large MoE models, where no host waits for another's
    pipeline stage. One pipeline stage per host (tensor parallel inside it) comes next, and is the
    only layout of a dense model: a stage boundary is the only traffic between hosts."""
    multi = backend.data.generic.get("multi_node")
    if not multi:
        return []
    flags = multi["flags"]
    pipeline = HostLayout(
        "pipeline",
        flags["pipeline_parallel"],
        flags["nodes"],
        flags["node_rank"],
        flags["leader_address"],
        multi["address_port"],
        dict(multi["args"]),
        dict(multi["worker_args"]),
        "",
    )
    spread = multi.get("expert_data_parallel")
    if not (model.moe and spread):
        return [pipeline]
    ranks = spread["flags"]
    expert_data = HostLayout(
        "expert-data",
        ranks["data_parallel"],
        None,
        ranks["node_rank"],  # the host's first rank: its index, with one rank per host
        ranks["leader_address"],
        None,
        dict(spread["args"]),
        dict(spread["worker_args"]),
        "-ep",
    )
    return [expert_data, pipeline]


def host_layout_of(backend: Backend, model: Model, entry: Entry, nodes: int) -> HostLayout | None:
    """The layout a multi-node entry was written with (the one whose size flag it sets to `nodes`)."""
    if nodes == 1:
        return None
    return next((lay for lay in host_layouts(backend, model) if entry.args.get(lay.size_flag) == nodes), None)


def _entry(
    backend: Backend,
    model: Model,
    hardware: Hardware,
    option: CheckpointOption,
    tp: int,
    context: int,
    nodes: int = 1,
    layout: HostLayout | None = None,
) -> Entry:
    args = generic_args(backend, model, option, tp, context)
    if layout is not None:
        args[layout.size_flag] = nodes
        args.update(layout.args)
    gpus = tp * nodes
    return Entry(backend.name, f"{gpus}_gpu", gpus, True, args, generic_env(backend, model, hardware), None)


def multi_node_recipes(
    model: Model, hardware: Hardware, backends: dict[str, Backend], fits: set[tuple[str, str]], nodes: int
) -> list[Recipe]:
    """Synthesized recipes for `nodes` hosts of MAX_GPUS GPUs each, one per checkpoint option and
    host layout (`host_layouts`, preferred first), for every (precision, backend) with no
    runnable plan on one host (`fits` holds those that have one). Their recipe ids end in
    -<nodes>x<MAX_GPUS>, then the layout's suffix."""
    out = []
    tp = MAX_GPUS
    for option in checkpoint_options(model):
        if hardware.precision_support(option.precision) is None:
            continue
        fmt = weight_format(model, option.checkpoint, None, option.precision)
        if tp_problems(model, tp, fmt, expert_parallel=bool(model.moe)):
            continue
        unsized = _recipe(model, hardware, option, ())  # what context_for judges a trial entry in
        by_layout: dict[str, list[Entry]] = {}  # layout name -> entries (one per backend)
        suffixes: dict[str, str] = {}
        for name, backend in sorted(backends.items()):
            if (option.precision, name) in fits or backend.data.image_for(hardware) is None:
                continue
            for layout in host_layouts(backend, model):
                if layout.name == "pipeline" and pp_problems(model, nodes):
                    continue
                if layout.name == "expert-data" and model.moe and model.moe.num_experts < tp * nodes:
                    continue  # every GPU of the expert-parallel group holds at least one expert
                trial = _entry(
                    backend, model, hardware, option, tp, model.config.max_position_embeddings, nodes, layout
                )
                context = context_for(backend, model, hardware, unsized, trial)
                entry = _entry(backend, model, hardware, option, tp, context, nodes, layout)
                by_layout.setdefault(layout.name, []).append(entry)
                suffixes[layout.name] = layout.recipe_suffix
        for layout_name in sorted(by_layout, key=LAYOUT_PREFERENCE.index):
            base = _recipe(model, hardware, option, tuple(by_layout[layout_name]))
            out.append(replace(base, recipe_id=f"{base.recipe_id}-{nodes}x{tp}{suffixes[layout_name]}"))
    return out
