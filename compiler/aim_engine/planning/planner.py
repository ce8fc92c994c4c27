"""Planning: which entry serves a model on a GPU type, and why not the others.

This is the seed's selection algorithm (target GPU count by size tier, precision by
size, then fallbacks over counts, precisions and backends), made memory-aware and
explainable. Everything here is a pure function of the loaded catalogue:

1. `evaluate` judges every entry that could serve the model on the GPU, from three sources
   in this order: the model's recipes for this GPU type (*tuned*), recipes for a sibling GPU
   of the same family (*derived*, re-checked here), and entries synthesized from the model
   and engine data where no recipe of this GPU covers the step (*generic*, planning/generic.py).
   Each gets an intrinsic verdict: runnable (roomy or tight), low memory, or rejected.
2. `walk` follows one request's fallback order and picks the first roomy runnable candidate;
   tight candidates (fewer than HEADROOM_REQUESTS requests of their context fit) are taken
   only when no roomy one exists anywhere on the path.

Objectives: `latency` (the default) is the seed's size-tier policy. `throughput` looks for the
fewest GPUs that hold the model with headroom and fills the GPUs of the request with
data-parallel replicas of that plan (one server with the engine's own data parallelism).

Choices where the seed is silent or ambiguous (documented in the README):
- An explicitly requested precision or backend is binding: fallbacks never change it.
  Only `auto` falls back. A requested GPU count is a ceiling, like the seed's
  min(requested, available); fewer GPUs may be used when no entry for n runs.
- Natively quantized models (gpt-oss MXFP4, DeepSeek FP8) have no 16-bit checkpoint of
  their own, so their precision never falls back (a listed 16-bit variant is asked for
  explicitly).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Literal, NamedTuple, cast

from aim_engine.catalogue.records import Catalogue, Entry, Hardware, Model, Recipe
from aim_engine.engines import backends_for
from aim_engine.engines.base import Backend, settings_problems
from aim_engine.errors import UsageError
from aim_engine.planning.entry import analyse_entry
from aim_engine.planning.generic import (
    LAYOUT_PREFERENCE,
    HostLayout,
    checkpoint_part,
    generic_recipes,
    host_layout_of,
    multi_node_recipes,
)
from aim_engine.planning.memory import MemoryEstimate
from aim_engine.planning.parallelism import NODE_COUNTS
from aim_engine.planning.policy import HEADROOM_REQUESTS, MAX_GPUS
from aim_pick.contract.units import gib

COUNT_FALLBACK = (8, 4, 2, 1)
# The seed's precision fallback, then the 4-bit and int8 precisions a listed variant may offer
# (reached only when nothing at 16 bits or fp8 runs: e.g. Llama 3.1 405B's MXFP4 variant on MI210).
PRECISION_FALLBACK = ("bf16", "fp16", "fp8", "mxfp4", "int8", "int4")
STATUS_RANK = {"verified": 0, "preview": 1, "untested": 2}
OBJECTIVES = ("latency", "throughput")

__all__ = ["MAX_GPUS", "OBJECTIVES", "Candidate", "Decision", "Planner", "Reason", "Source", "Step", "Verdict"]


class Reason(enum.Enum):
    """Why a candidate was or was not chosen. Value: (code, sentence)."""

    CHOSEN = ("chosen", "The first runnable candidate in fallback order (roomy ones first).")
    RUNNABLE = ("runnable", "Runs here, but an earlier candidate in fallback order was chosen.")
    TIGHT = (
        "tight",
        f"Fits, but fewer than {HEADROOM_REQUESTS} requests of its own context length fit at once; "
        "ranked after every roomy candidate.",
    )
    NO_RECIPE = ("no-recipe", "No recipe serves this model on this GPU at this precision with this backend.")
    NO_ENTRY = ("no-entry", "The recipe has no entry for this GPU count.")
    DISABLED = ("disabled", "The recipe disables this GPU count.")
    TOO_MANY_GPUS = ("too-many-gpus", "The entry needs more GPUs than the request allows.")
    DOES_NOT_FIT = ("does-not-fit", "The entry does not fit in GPU memory at its settings.")
    TP_ILLEGAL = ("tp-illegal", "The tensor-parallel size is not legal for this model.")
    PRECISION_UNSUPPORTED = (
        "precision-unsupported",
        "This GPU, or this engine on it, cannot run the entry's precision.",
    )
    NO_IMAGE = ("no-image", "The engine publishes no image for this GPU's architecture.")
    INVALID = ("invalid", "The entry's settings are invalid (see aim-engine validate).")
    PRECISION_NOT_REQUESTED = ("precision-not-requested", "A different precision was requested.")
    BACKEND_NOT_REQUESTED = ("backend-not-requested", "A different backend was requested.")

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def sentence(self) -> str:
        return self.value[1]


class Verdict(enum.StrEnum):
    CHOSEN = "chosen"
    RUNNABLE = "runnable"
    LOW_MEMORY = "low-memory"  # would fit with a shorter context
    REJECTED = "rejected"


class Source(enum.StrEnum):
    """Where a candidate's entry comes from; shown as tuned / derived / generic."""

    RECIPE = "recipe"  # a recipe written for this GPU type
    SIBLING = "sibling"  # a recipe for a sibling GPU of the same family, re-checked here
    GENERIC = "generic"  # synthesized from the model and engine data

    @property
    def word(self) -> Literal["tuned", "derived", "generic"]:
        return _WORDS[self]


_WORDS: dict[Source, Literal["tuned", "derived", "generic"]] = {
    Source.RECIPE: "tuned",
    Source.SIBLING: "derived",
    Source.GENERIC: "generic",
}
CountMode = Literal["auto", "exact"]  # auto: the size tiers pick the count; exact: the user asked for n
Objective = Literal["latency", "throughput"]


class Step(NamedTuple):
    """One step of the fallback walk: entries for this many GPUs, precision, backend, and
    where they come from."""

    gpus: int
    precision: str
    backend: str
    source: Source


@dataclass(frozen=True)
class Candidate:
    """One entry judged on one target GPU type, independent of any request."""

    candidate_id: str
    recipe: Recipe
    entry: Entry
    hardware: Hardware  # the GPU the plan would run on
    source_hardware: str  # the GPU the recipe was written for
    source: Source
    verdict: Verdict  # RUNNABLE, LOW_MEMORY or REJECTED
    reason: Reason
    message: str
    memory: MemoryEstimate | None
    plan_id: str | None  # set when runnable
    replicas: int = 1  # data-parallel replicas (throughput plans)
    layout: HostLayout | None = None  # how a multi-node plan spans its hosts

    @property
    def backend(self) -> str:
        return self.entry.backend

    @property
    def precision(self) -> str:
        return self.recipe.precision

    @property
    def gpus(self) -> int:
        """GPUs the whole plan uses (replicas x GPUs per replica)."""
        return self.entry.gpus

    @property
    def gpus_per_replica(self) -> int:
        return self.entry.gpus // self.replicas

    @property
    def nodes(self) -> int:
        return hosts_for(self.entry.gpus)

    @property
    def gpus_per_node(self) -> int:
        return self.entry.gpus // self.nodes

    @property
    def step(self) -> Step:
        return Step(self.gpus_per_replica, self.precision, self.backend, self.source)

    @property
    def derived(self) -> bool:
        return self.source is Source.SIBLING

    @property
    def measured(self) -> bool:
        """Someone ran it on this hardware: only a recipe for this GPU whose status is verified."""
        return self.source is Source.RECIPE and self.recipe.status == "verified"

    @property
    def tight(self) -> bool:
        """Runnable, but fewer than HEADROOM_REQUESTS requests of its own context fit at once."""
        return (
            self.verdict is Verdict.RUNNABLE
            and self.memory is not None
            and self.memory.max_concurrency < HEADROOM_REQUESTS
        )


@dataclass(frozen=True)
class Considered:
    candidate: Candidate | None  # None: nothing exists for this step
    verdict: Verdict
    reason: Reason
    message: str
    step: Step  # the fallback step it was considered at


@dataclass(frozen=True)
class Request:
    n: int  # GPUs the plan may use (a ceiling)
    count_mode: CountMode
    precision: str  # "auto" or one of the catalogue's precisions
    backend: str  # "auto" or an engine name
    objective: Objective = "latency"


@dataclass(frozen=True)
class Decision:
    model: str
    hardware: str
    request: Request
    target_count: int
    target_precision: str
    backends: tuple[str, ...]
    chosen: Candidate | None
    path: tuple[Considered, ...]  # the fallback walk, shared by every request with the same steps
    candidates: tuple[Candidate, ...]
    precisions: tuple[str, ...]
    # When nothing on one host serves the request: the multi-node plan that does (its precision
    # and backend within the request), for "needs N hosts" answers.
    multi_node: Candidate | None = None
    notes: tuple[str, ...] = ()  # what the request itself should know (e.g. a plan the build does not publish)

    @cached_property
    def outside(self) -> tuple[Considered, ...]:
        """Entries the request never reached, with why (computed only when asked for)."""
        return tuple(
            outside(self.request, list(self.precisions), list(self.backends), list(self.candidates), self.path)
        )

    @property
    def considered(self) -> tuple[Considered, ...]:
        return self.path + self.outside

    @property
    def warnings(self) -> list[str]:
        """What a user should know about the chosen plan."""
        return [*(plan_warnings(self.chosen) if self.chosen else []), *self.notes]


def plan_warnings(c: Candidate) -> list[str]:
    notes = []
    if c.tight and c.memory is not None:
        notes.append(
            f"tight plan: only {c.memory.max_concurrency} request(s) of {c.memory.max_model_len} tokens fit at once "
            f"(fewer than {HEADROOM_REQUESTS}); no roomier plan exists for this request"
        )
    if c.source is Source.SIBLING:
        notes.append(f"derived plan: the recipe was written for {c.source_hardware}, not measured on {c.hardware.name}")
    elif c.source is Source.GENERIC:
        notes.append(f"generic plan: no tuned recipe for {c.hardware.name} yet")
    if c.nodes > 1:
        notes.append(
            f"multi-node plan: {c.nodes} hosts x {c.gpus_per_node} {c.hardware.name}, {spread(c.layout, c.gpus)}; "
            "deploy it on Kubernetes (LeaderWorkerSet) or with the leader/worker scripts"
        )
    return notes


def hosts_for(gpus: int) -> int:
    """Hosts an entry of `gpus` GPUs runs on: multi-node plans use MAX_GPUS GPUs on each."""
    return max(1, gpus // MAX_GPUS) if gpus > MAX_GPUS else 1


def spread(layout: HostLayout | None, gpus: int) -> str:
    """How a multi-node entry spans its hosts, in words (no layout: an entry validate refuses)."""
    return layout.summary(gpus) if layout else f"{gpus} GPUs over {hosts_for(gpus)} hosts"


# --- the seed's rules --------------------------------------------------------------------


def target_count(model: Model, n: int, count_mode: str) -> int:
    """Seed size tiers (by total parameters), capped at n; exact mode asks for n."""
    if count_mode == "exact":
        return n
    billions = model.total_params / 1e9
    tier = 1 if billions <= 10 else 2 if billions <= 20 else 4 if billions <= 40 else 8
    return min(tier, n)


def natively_quantized(model: Model) -> bool:
    return model.native_precision not in ("bf16", "fp16")


def default_precision(model: Model) -> str:
    if natively_quantized(model):
        return model.native_precision
    return "fp16" if model.total_params <= 10e9 else "bf16"


def precision_order(model: Model, requested: str) -> list[str]:
    if requested != "auto":
        return [requested]
    first = default_precision(model)
    rest = [p for p in PRECISION_FALLBACK if p != first]
    if natively_quantized(model):
        # no 16-bit checkpoint to fall back on: only the precisions its listed variants carry
        # (DeepSeek-R1-0528's MXFP4 variant serves where no fp8 runs, e.g. on MI210)
        offered = {v.precision for v in model.variants}
        rest = [p for p in rest if p in offered]
    return [first, *rest]


@lru_cache(maxsize=256)
def count_order(target: int, n: int) -> tuple[int, ...]:
    return (target, *(c for c in COUNT_FALLBACK if c <= n and c != target))


# --- candidate evaluation ------------------------------------------------------------------


def model_stem(model: Model) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", model.name.lower()).strip("-")


def siblings(catalogue: Catalogue, hardware: Hardware) -> list[Hardware]:
    return [
        h for name, h in sorted(catalogue.hardware.items()) if h.family == hardware.family and name != hardware.name
    ]


def _judge(
    backend: Backend, recipe: Recipe, entry: Entry, model: Model, hardware: Hardware
) -> tuple[Verdict, Reason, str, MemoryEstimate | None]:
    engine = backend.data
    if not entry.enabled:
        why = f": {entry.notes}" if entry.notes else ""
        memory = None
        if not settings_problems(backend.settings(entry, model, hardware)):
            memory = analyse_entry(backend, entry, recipe, model, hardware).memory  # so listings can say "does not fit"
        return Verdict.REJECTED, Reason.DISABLED, f"{entry.key} is disabled in {recipe.recipe_id}{why}", memory
    support = hardware.precision_support(recipe.precision)
    if support is None:
        return (
            Verdict.REJECTED,
            Reason.PRECISION_UNSUPPORTED,
            f"{hardware.name} ({hardware.gfx_target}) cannot run {recipe.precision}",
            None,
        )
    if engine.image_for(hardware) is None:
        return (
            Verdict.REJECTED,
            Reason.NO_IMAGE,
            f"{engine.title} {engine.version} has no ROCm image for {hardware.gfx_target}",
            None,
        )
    problems = settings_problems(backend.settings(entry, model, hardware))
    if problems:
        return Verdict.REJECTED, Reason.INVALID, "; ".join(problems), None
    analysis = analyse_entry(backend, entry, recipe, model, hardware)
    engine_support, why = backend.precision_support_reason(hardware, analysis.weight_format)
    if engine_support is None:
        return Verdict.REJECTED, Reason.PRECISION_UNSUPPORTED, why, analysis.memory
    if analysis.tp_problems:
        return Verdict.REJECTED, Reason.TP_ILLEGAL, analysis.tp_problems[0].sentence, analysis.memory
    memory = analysis.memory
    flag = backend.context_flag
    if not analysis.starts:
        needs = f"needs {gib(memory.total_bytes_per_gpu)} per GPU, has {gib(memory.budget_bytes_per_gpu)}"
        if memory.max_model_len_that_fits:
            return (
                Verdict.LOW_MEMORY,
                Reason.DOES_NOT_FIT,
                f"does not fit: {needs}; fits with {flag} {memory.max_model_len_that_fits}",
                memory,
            )
        return Verdict.REJECTED, Reason.DOES_NOT_FIT, f"does not fit: {needs}; not even a short context fits", memory
    notes = []
    if "emulated" in (support, engine_support):
        notes.append("runs through software kernels on this GPU")
    if not analysis.serves_full_context:
        notes.append(f"{engine.title} starts but serves requests up to {memory.max_model_len_that_fits} tokens")
    note = f" ({'; '.join(notes)})" if notes else ""
    return (
        Verdict.RUNNABLE,
        Reason.RUNNABLE,
        f"fits: {gib(memory.total_bytes_per_gpu)} of {gib(memory.budget_bytes_per_gpu)} per GPU "
        f"at {flag} {memory.max_model_len}, room for {memory.max_concurrency} such request(s){note}",
        memory,
    )


def evaluate(
    catalogue: Catalogue,
    model: Model,
    hardware: Hardware,
    backends: dict[str, Backend] | None = None,
    recipes: list[Recipe] | None = None,
) -> list[Candidate]:
    """Every entry that could serve `model` on `hardware`, judged: recipes for this GPU, recipes
    for sibling GPUs, then generic entries for every step no recipe of this GPU covers.

    `recipes` (the model's recipes) may be passed in by callers that indexed them.
    """
    backends = backends if backends is not None else backends_for(catalogue.engines)
    recipes = recipes if recipes is not None else catalogue.recipes_for(model.model_id)
    mine = [r for r in recipes if r.hardware == hardware.name]
    covered = {(e.gpus, r.precision, e.backend) for r in mine for e in r.entries}
    sources: list[tuple[Hardware, Source, list[Recipe]]] = [(hardware, Source.RECIPE, mine)]
    for sibling in siblings(catalogue, hardware):
        sources.append((sibling, Source.SIBLING, [r for r in recipes if r.hardware == sibling.name]))
    sources.append((hardware, Source.GENERIC, generic_recipes(model, hardware, backends, covered)))
    out: list[Candidate] = []
    for origin, source, found in sources:
        out += _judged(model, hardware, backends, origin, source, found)
    # More hosts only where one host does not do: for each (precision, backend) with no runnable
    # plan on one host, the fewest hosts (NODE_COUNTS) whose plan runs, and only runnable ones.
    fits = {(c.precision, c.backend) for c in out if c.verdict is Verdict.RUNNABLE}
    for nodes in NODE_COUNTS:
        found = multi_node_recipes(model, hardware, backends, fits, nodes)
        for c in sorted(_judged(model, hardware, backends, hardware, Source.GENERIC, found), key=multi_node_order):
            # one plan per (precision, backend): the first in multi_node_order, then the first
            # checkpoint that carries the precision
            if c.verdict is Verdict.RUNNABLE and (c.precision, c.backend) not in fits:
                fits.add((c.precision, c.backend))
                out.append(c)
    return _assign_plan_ids(model, out)


def multi_node_order(c: Candidate) -> tuple[bool, int]:
    """The order multi-node candidates are tried in (a stable sort key): roomy before tight, then
    their layout's place in LAYOUT_PREFERENCE."""
    return c.tight, LAYOUT_PREFERENCE.index(c.layout.name) if c.layout else len(LAYOUT_PREFERENCE)


def multi_node_candidates(
    model: Model, hardware: Hardware, nodes: int, backends: dict[str, Backend]
) -> list[Candidate]:
    """Every multi-node generic entry for `nodes` hosts, judged, whether or not one host would do
    (a request for that many hosts)."""
    found = multi_node_recipes(model, hardware, backends, set(), nodes)
    judged = sorted(_judged(model, hardware, backends, hardware, Source.GENERIC, found), key=multi_node_order)
    return _assign_plan_ids(model, judged)


def _judged(
    model: Model,
    hardware: Hardware,
    backends: dict[str, Backend],
    origin: Hardware,
    source: Source,
    found: list[Recipe],
) -> list[Candidate]:
    out = []
    for recipe in sorted(found, key=lambda r: (STATUS_RANK.get(r.status, 9), r.recipe_id)):
        for entry in recipe.entries:
            backend = backends.get(entry.backend)
            if backend is None:
                continue
            verdict, reason, message, memory = _judge(backend, recipe, entry, model, hardware)
            hosts = hosts_for(entry.gpus)
            layout = host_layout_of(backend, model, entry, hosts)
            if source is Source.SIBLING:
                message += f" (derived from the {origin.name} recipe, not measured on {hardware.name})"
            elif source is Source.GENERIC and hosts > 1:
                message += (
                    f" (generic plan on {hosts} hosts x {MAX_GPUS} {hardware.name}, {spread(layout, entry.gpus)})"
                )
            elif source is Source.GENERIC:
                message += f" (generic plan: no tuned recipe for {hardware.name} yet)"
            suffix = f"@{hardware.name}" if source is Source.SIBLING else ""
            out.append(
                Candidate(
                    candidate_id=f"{recipe.recipe_id}/{entry.backend}/{entry.key}{suffix}",
                    recipe=recipe,
                    entry=entry,
                    hardware=hardware,
                    source_hardware=origin.name,
                    source=source,
                    verdict=verdict,
                    reason=reason,
                    message=message,
                    memory=memory,
                    plan_id=None,
                    layout=layout,
                )
            )
    return out


def _assign_plan_ids(model: Model, candidates: list[Candidate]) -> list[Candidate]:
    """Readable, stable ids for runnable candidates, unique within the model and GPU."""
    out, used = [], set()
    for c in candidates:
        plan_id = None
        if c.verdict is Verdict.RUNNABLE:
            suffix = c.layout.recipe_suffix if c.layout else ""
            shape = f"{c.nodes}x{c.gpus_per_node}{suffix}" if c.nodes > 1 else f"tp{c.gpus}"
            base = f"{model_stem(model)}-{c.hardware.name.lower()}-{c.precision}-{c.backend}-{shape}"
            if c.source is Source.SIBLING:
                base += f"-from-{c.source_hardware.lower()}"
            elif c.source is Source.GENERIC:
                base += "-generic"
            # a second plan of one shape: another recipe, or for generic plans another checkpoint
            other = checkpoint_part(c.recipe) if c.source is Source.GENERIC else c.recipe.recipe_id
            plan_id = base if base not in used else f"{base}-{other}"
            used.add(plan_id)
        out.append(replace(c, plan_id=plan_id))
    return out


# --- deciding one request ------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A request's fallback order by what defines it: small and hashable, so walks are
    cached by it and shared by every request that takes the same route."""

    objective: Objective
    counts: tuple[int, ...]  # the first is the target count
    precisions: tuple[str, ...]
    backends: tuple[str, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        if self.objective == "throughput":
            return _throughput_order(self.counts, self.precisions, self.backends)
        return _order(self.counts, self.precisions, self.backends)


def route(model: Model, request: Request, backend_names: Iterable[str]) -> Route:
    """The request's fallback order: the seed's for latency, fewest GPUs first for
    throughput; within either, recipes for this GPU, then sibling recipes, then generic."""
    precisions = tuple(precision_order(model, request.precision))
    names = sorted(backend_names, key=lambda b: (b != "vllm", b))
    backends = (request.backend,) if request.backend != "auto" else tuple(names)
    if request.objective == "throughput":
        counts = tuple(c for c in sorted(COUNT_FALLBACK) if c <= request.n)
        if request.count_mode == "exact" and request.n not in counts:
            counts = tuple(sorted({*counts, request.n}))
        return Route("throughput", counts, precisions, backends)
    counts = count_order(target_count(model, request.n, request.count_mode), request.n)
    return Route("latency", counts, precisions, backends)


@lru_cache(maxsize=4096)
def _order(counts: tuple[int, ...], precisions: tuple[str, ...], backends: tuple[str, ...]) -> tuple[Step, ...]:
    target = counts[0]
    order: list[Step] = []
    for source in Source:
        for backend in backends:
            order.append(Step(target, precisions[0], backend, source))
            order.extend(Step(c, precisions[0], backend, source) for c in counts[1:])
            for precision in precisions[1:]:
                order.extend(Step(c, precision, backend, source) for c in counts)
    return tuple(dict.fromkeys(order))  # first occurrence of each step, in order


@lru_cache(maxsize=4096)
def _throughput_order(
    counts: tuple[int, ...], precisions: tuple[str, ...], backends: tuple[str, ...]
) -> tuple[Step, ...]:
    """Fewest GPUs per replica first; at each count, tuned before derived before generic."""
    return tuple(
        Step(c, precision, backend, source)
        for c in counts
        for source in Source
        for backend in backends
        for precision in precisions
    )


@dataclass(frozen=True)
class StepEntries:
    """The candidates of one step as a walk reports them, judged once per (model, GPU)."""

    considered: tuple[Considered, ...]  # each with its intrinsic verdict (tight ones say so)
    roomy: int | None  # position of the first roomy runnable candidate
    tight: int | None  # position of the first tight one


@dataclass(frozen=True)
class CandidateIndex:
    by_step: dict[Step, StepEntries]
    recipes_at: frozenset[tuple[str, str, Source]]  # (precision, backend, source) with any entry

    @classmethod
    def of(cls, candidates: Iterable[Candidate]) -> CandidateIndex:
        grouped: dict[Step, list[Candidate]] = {}
        for c in candidates:
            grouped.setdefault(c.step, []).append(c)
        by_step = {}
        for step, found in grouped.items():
            considered = tuple(
                Considered(c, c.verdict, Reason.TIGHT if c.tight else c.reason, c.message, step) for c in found
            )
            runnable = [i for i, c in enumerate(found) if c.verdict is Verdict.RUNNABLE]
            roomy = next((i for i in runnable if not found[i].tight), None)
            tight = next((i for i in runnable if found[i].tight), None)
            by_step[step] = StepEntries(considered, roomy, tight)
        return cls(by_step, frozenset((s.precision, s.backend, s.source) for s in by_step))


def walk(
    model: Model, hardware: Hardware, order: Iterable[Step], index: CandidateIndex
) -> tuple[Candidate | None, tuple[Considered, ...]]:
    """Follow the fallback steps. The first roomy runnable candidate is chosen; a tight one
    only when the whole path has no roomy candidate (then the first tight one)."""
    by_step, recipes_at = index.by_step, index.recipes_at
    considered: list[Considered] = []
    roomy = tight = None  # positions in `considered`
    reported_missing: set = set()
    for step in order:
        entries = by_step.get(step)
        if entries is not None:
            if roomy is None and entries.roomy is not None:
                roomy = len(considered) + entries.roomy
            if tight is None and entries.tight is not None:
                tight = len(considered) + entries.tight
            considered.extend(entries.considered)
            continue
        # Say once per (precision, backend) that no recipe exists; missing counts of an
        # existing recipe are reported per count. Missing sibling or generic steps are silent.
        if step.source is not Source.RECIPE:
            continue
        group = (step.precision, step.backend, step.source)
        if group not in recipes_at:
            if group not in reported_missing:
                reported_missing.add(group)
                text = f"no {step.backend} recipe for {model.name} on {hardware.name} at {step.precision}"
                considered.append(Considered(None, Verdict.REJECTED, Reason.NO_RECIPE, text, step))
        else:
            text = f"no {step.gpus}-GPU {step.backend} entry at {step.precision}"
            considered.append(Considered(None, Verdict.REJECTED, Reason.NO_ENTRY, text, step))
    at = roomy if roomy is not None else tight
    if at is None:
        return None, tuple(considered)
    x = considered[at]
    considered[at] = Considered(x.candidate, Verdict.CHOSEN, Reason.CHOSEN, x.message, x.step)
    return x.candidate, tuple(considered)


def outside(
    request: Request,
    precisions: list[str],
    backends: list[str],
    candidates: list[Candidate],
    walked: tuple[Considered, ...],
) -> list[Considered]:
    """Entries the request never reached, each with the reason, so listings cover all."""
    visited = {id(x.candidate) for x in walked if x.candidate is not None}
    out = []
    for c in candidates:
        if id(c) in visited:
            continue
        if c.gpus > request.n:
            reason, text = Reason.TOO_MANY_GPUS, f"needs {c.gpus} GPUs; the request allows {request.n}"
        elif c.backend not in backends:
            reason, text = Reason.BACKEND_NOT_REQUESTED, f"{c.backend} entry; {request.backend} was requested"
        else:
            reason, text = Reason.PRECISION_NOT_REQUESTED, f"{c.precision} entry; {', '.join(precisions)} considered"
        out.append(Considered(c, Verdict.REJECTED, reason, text, c.step))
    return out


def first_multi_node(candidates: Iterable[Candidate], way: Route) -> Candidate | None:
    """The runnable multi-node candidate a route prefers: precision order, then backend order,
    then fewer hosts; roomy before tight."""
    found = [
        c
        for c in candidates
        if c.nodes > 1 and c.verdict is Verdict.RUNNABLE and c.precision in way.precisions and c.backend in way.backends
    ]
    if not found:
        return None
    return min(
        found, key=lambda c: (c.tight, way.precisions.index(c.precision), way.backends.index(c.backend), c.nodes)
    )


@dataclass
class Planner:
    """Evaluates candidates once per (model, GPU) and answers any number of requests."""

    catalogue: Catalogue
    backends: dict[str, Backend] = field(init=False)
    _cache: dict[tuple[str, str], tuple[tuple[Candidate, ...], CandidateIndex]] = field(
        init=False, default_factory=dict
    )
    _walks: dict[tuple[str, str, Route], tuple[Candidate | None, tuple[Considered, ...]]] = field(
        init=False, default_factory=dict
    )
    _routes: dict[tuple[str, Request], Route] = field(init=False, default_factory=dict)
    _replicated: dict[tuple[str, str, str, int], Candidate] = field(init=False, default_factory=dict)
    _multi: dict[tuple[str, str, int], tuple[Candidate, ...]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.backends = backends_for(self.catalogue.engines)
        self._recipes: dict[str, list[Recipe]] = {}
        for recipe in sorted(self.catalogue.recipes.values(), key=lambda r: r.recipe_id):
            self._recipes.setdefault(recipe.model_id, []).append(recipe)

    def candidates(self, model: Model, hardware: Hardware) -> tuple[Candidate, ...]:
        return self._evaluated(model, hardware)[0]

    def replicated_plans(self, model: Model, hardware: Hardware) -> list[Candidate]:
        """The data-parallel plans throughput decisions made for this model and GPU so far."""
        found = self._replicated.items()
        return [c for (m, h, _, _), c in sorted(found) if m == model.model_id and h == hardware.name]

    def _evaluated(self, model: Model, hardware: Hardware) -> tuple[tuple[Candidate, ...], CandidateIndex]:
        key = (model.model_id, hardware.name)
        if key not in self._cache:
            found = tuple(
                evaluate(self.catalogue, model, hardware, self.backends, self._recipes.get(model.model_id, []))
            )
            self._cache[key] = (found, CandidateIndex.of(found))
        return self._cache[key]

    def plan(
        self,
        model: Model,
        hardware: Hardware,
        n: int,
        count_mode: str = "auto",
        precision: str = "auto",
        backend: str = "auto",
        objective: str = "latency",
    ) -> Decision:
        if not 1 <= n <= MAX_GPUS:
            raise UsageError(f"GPU count must be between 1 and {MAX_GPUS} (plans use at most {MAX_GPUS} GPUs), got {n}")
        if count_mode not in ("auto", "exact"):
            raise UsageError(f"count mode must be auto or exact, got {count_mode!r}")
        if backend != "auto" and backend not in self.backends:
            raise UsageError(f"unknown backend {backend!r}; known: {', '.join(self.backends)}")
        if objective not in OBJECTIVES:
            raise UsageError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        request = Request(n, cast(CountMode, count_mode), precision, backend, cast(Objective, objective))
        candidates, index = self._evaluated(model, hardware)
        key = (model.model_id, request)
        if key not in self._routes:
            self._routes[key] = route(model, request, self.backends)
        way = self._routes[key]
        walk_key = (model.model_id, hardware.name, way)
        if walk_key not in self._walks:
            self._walks[walk_key] = walk(model, hardware, way.steps, index)
        chosen, walked = self._walks[walk_key]
        if chosen is not None and request.objective == "throughput" and n // chosen.gpus > 1:
            chosen = self.replicate(model, chosen, n // chosen.gpus)
        more_hosts = None if chosen is not None else first_multi_node(candidates, way)
        return Decision(
            model.model_id,
            hardware.name,
            request,
            way.counts[0],
            way.precisions[0],
            way.backends,
            chosen,
            walked,
            candidates,
            way.precisions,
            more_hosts,
        )

    def plan_nodes(
        self, model: Model, hardware: Hardware, nodes: int, precision: str = "auto", backend: str = "auto"
    ) -> Decision:
        """A request for `nodes` hosts of MAX_GPUS GPUs (`--nodes N`): the first runnable multi-node
        plan in precision, then backend order, whether or not one host would do."""
        if nodes not in NODE_COUNTS:
            counts = " or ".join(str(n) for n in NODE_COUNTS)
            raise UsageError(f"multi-node plans use {counts} hosts of {MAX_GPUS} GPUs, got {nodes}")
        if backend != "auto" and backend not in self.backends:
            raise UsageError(f"unknown backend {backend!r}; known: {', '.join(self.backends)}")
        request = Request(MAX_GPUS, "exact", precision, backend, "latency")
        way = route(model, request, self.backends)
        key = (model.model_id, hardware.name, nodes)
        if key not in self._multi:
            self._multi[key] = tuple(multi_node_candidates(model, hardware, nodes, self.backends))
        found = self._multi[key]
        chosen = first_multi_node(found, way)
        path = tuple(
            Considered(
                c,
                Verdict.CHOSEN if c is chosen else c.verdict,
                Reason.CHOSEN if c is chosen else c.reason,
                c.message,
                c.step,
            )
            for c in found
            if c.precision in way.precisions and c.backend in way.backends
        )
        notes: tuple[str, ...] = ()
        published = {c.plan_id for c in self.candidates(model, hardware) if c.nodes == nodes}
        if chosen is not None and chosen.plan_id not in published:
            # the build publishes a multi-node plan only where one host cannot serve the model
            notes = (
                f"not in the published build: one host of {hardware.name} can serve {model.name}, so "
                f"`aim-engine build` publishes no {nodes}-host plan for it (aim-pick --profile will not find "
                f"{chosen.plan_id}); this is what the planner would choose",
            )
        return Decision(
            model.model_id,
            hardware.name,
            request,
            nodes * MAX_GPUS,
            way.precisions[0],
            way.backends,
            chosen,
            path,
            found,
            way.precisions,
            notes=notes,
        )

    def replicate(self, model: Model, base: Candidate, replicas: int) -> Candidate:
        """`base` served as `replicas` data-parallel replicas by one engine server."""
        cache_key = (model.model_id, base.hardware.name, base.candidate_id, replicas)
        if cache_key not in self._replicated:
            backend = self.backends[base.backend]
            dp_flag = backend.data.generic["flags"]["data_parallel"]
            gpus = base.gpus * replicas
            # the recipe's entry on all the GPUs, keyed by the GPUs the plan uses (the API's `entry`)
            args = {**base.entry.args, dp_flag: replicas}
            entry = replace(base.entry, key=f"{gpus}_gpu", gpus=gpus, args=args)
            verdict, reason, message, memory = _judge(backend, base.recipe, entry, model, base.hardware)
            self._replicated[cache_key] = replace(
                base,
                candidate_id=f"{base.candidate_id}/dp{replicas}",
                entry=entry,
                verdict=verdict,
                reason=reason,
                message=f"{replicas} replicas of {base.gpus_per_replica} GPU(s): {message}",
                memory=memory,
                plan_id=f"{base.plan_id}-dp{replicas}",
                replicas=replicas,
            )
        return self._replicated[cache_key]
