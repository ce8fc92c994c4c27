"""Planning: which recipe entry serves a model on a GPU type, and why not the others.

This is the seed's selection algorithm (target GPU count by size tier, precision by
size, then fallbacks over counts, precisions and backends), made memory-aware and
explainable. Everything here is a pure function of the loaded catalogue:

1. `evaluate` looks at every enabled-or-not entry of every recipe that could serve
   the model on the GPU (its own recipes, and recipes for sibling GPUs of the same
   family as a last, *derived* resort) and gives each an intrinsic verdict:
   runnable, low memory, or rejected with a reason.
2. `decide` walks those candidates in the seed's fallback order for one request
   (n GPUs, count mode, precision, backend) and picks the first runnable one.

Choices where the seed is silent or ambiguous (documented in the README):
- An explicitly requested precision or backend is binding: fallbacks never change it.
  Only `auto` falls back. A requested GPU count is a ceiling, like the seed's
  min(requested, available); fewer GPUs may be used when no entry for n runs.
- Natively quantized models (gpt-oss MXFP4, DeepSeek FP8) have no 16-bit checkpoint,
  so their precision never falls back.
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
from aim_engine.planning.memory import MemoryEstimate
from aim_pick.contract.units import gib

COUNT_FALLBACK = (8, 4, 2, 1)
PRECISION_FALLBACK = ("bf16", "fp16", "fp8")
STATUS_RANK = {"verified": 0, "preview": 1, "untested": 2}
MAX_GPUS = 8


class Reason(enum.Enum):
    """Why a candidate was or was not chosen. Value: (code, sentence)."""

    CHOSEN = ("chosen", "The first runnable candidate in fallback order.")
    RUNNABLE = ("runnable", "Runs here, but an earlier candidate in fallback order was chosen.")
    NO_RECIPE = ("no-recipe", "No recipe serves this model on this GPU at this precision with this backend.")
    NO_ENTRY = ("no-entry", "The recipe has no entry for this GPU count.")
    DISABLED = ("disabled", "The recipe disables this GPU count.")
    TOO_MANY_GPUS = ("too-many-gpus", "The entry needs more GPUs than the request allows.")
    DOES_NOT_FIT = ("does-not-fit", "The entry does not fit in GPU memory at its settings.")
    TP_ILLEGAL = ("tp-illegal", "The tensor-parallel size is not legal for this model.")
    PRECISION_UNSUPPORTED = ("precision-unsupported", "This GPU cannot run the entry's precision.")
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


CountMode = Literal["auto", "exact"]  # auto: the size tiers pick the count; exact: the user asked for n


class Step(NamedTuple):
    """One step of the fallback walk: entries for this many GPUs, precision, backend, and
    whether they come from a sibling GPU's recipes."""

    gpus: int
    precision: str
    backend: str
    derived: bool


@dataclass(frozen=True)
class Candidate:
    """One recipe entry judged on one target GPU type, independent of any request."""

    candidate_id: str
    recipe: Recipe
    entry: Entry
    hardware: Hardware  # the GPU the plan would run on
    source_hardware: str  # the GPU the recipe was written for
    derived: bool
    verdict: Verdict  # RUNNABLE, LOW_MEMORY or REJECTED
    reason: Reason
    message: str
    memory: MemoryEstimate | None
    plan_id: str | None  # set when runnable

    @property
    def backend(self) -> str:
        return self.entry.backend

    @property
    def precision(self) -> str:
        return self.recipe.precision

    @property
    def gpus(self) -> int:
        return self.entry.gpus

    @property
    def step(self) -> Step:
        return Step(self.gpus, self.precision, self.backend, self.derived)


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

    @cached_property
    def outside(self) -> tuple[Considered, ...]:
        """Entries the request never reached, with why (computed only when asked for)."""
        return tuple(
            outside(self.request, list(self.precisions), list(self.backends), list(self.candidates), self.path)
        )

    @property
    def considered(self) -> tuple[Considered, ...]:
        return self.path + self.outside


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
    if natively_quantized(model):
        return [first]
    return [first] + [p for p in PRECISION_FALLBACK if p != first]


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
    if analysis.tp_problems:
        return Verdict.REJECTED, Reason.TP_ILLEGAL, analysis.tp_problems[0].sentence, analysis.memory
    memory = analysis.memory
    flag = backend.context_flag
    if not memory.fits:
        needs = f"needs {gib(memory.total_bytes_per_gpu)} per GPU, has {gib(memory.budget_bytes_per_gpu)}"
        if memory.max_model_len_that_fits:
            return (
                Verdict.LOW_MEMORY,
                Reason.DOES_NOT_FIT,
                f"does not fit: {needs}; fits with {flag} {memory.max_model_len_that_fits}",
                memory,
            )
        return Verdict.REJECTED, Reason.DOES_NOT_FIT, f"does not fit: {needs}; not even a short context fits", memory
    note = " (runs through software kernels on this GPU)" if support == "emulated" else ""
    return (
        Verdict.RUNNABLE,
        Reason.RUNNABLE,
        f"fits: {gib(memory.total_bytes_per_gpu)} of {gib(memory.budget_bytes_per_gpu)} per GPU "
        f"at {flag} {memory.max_model_len}{note}",
        memory,
    )


def evaluate(
    catalogue: Catalogue,
    model: Model,
    hardware: Hardware,
    backends: dict[str, Backend] | None = None,
    recipes: list[Recipe] | None = None,
) -> list[Candidate]:
    """Every entry of every recipe that could serve `model` on `hardware`, judged.

    `recipes` (the model's recipes) may be passed in by callers that indexed them.
    """
    backends = backends if backends is not None else backends_for(catalogue.engines)
    sources = [(hardware, False)] + [(h, True) for h in siblings(catalogue, hardware)]
    recipes = recipes if recipes is not None else catalogue.recipes_for(model.model_id)
    out: list[Candidate] = []
    for source, derived in sources:
        mine = sorted(
            (r for r in recipes if r.hardware == source.name), key=lambda r: (STATUS_RANK.get(r.status, 9), r.recipe_id)
        )
        for recipe in mine:
            for entry in recipe.entries:
                backend = backends.get(entry.backend)
                if backend is None:
                    continue
                verdict, reason, message, memory = _judge(backend, recipe, entry, model, hardware)
                if derived:
                    message += f" (derived from the {source.name} recipe, not verified on {hardware.name})"
                out.append(
                    Candidate(
                        candidate_id=f"{recipe.recipe_id}/{entry.backend}/{entry.key}"
                        + (f"@{hardware.name}" if derived else ""),
                        recipe=recipe,
                        entry=entry,
                        hardware=hardware,
                        source_hardware=source.name,
                        derived=derived,
                        verdict=verdict,
                        reason=reason,
                        message=message,
                        memory=memory,
                        plan_id=None,
                    )
                )
    return _assign_plan_ids(model, out)


def _assign_plan_ids(model: Model, candidates: list[Candidate]) -> list[Candidate]:
    """Readable, stable ids for runnable candidates, unique within the model and GPU."""
    out, used = [], set()
    for c in candidates:
        plan_id = None
        if c.verdict is Verdict.RUNNABLE:
            base = f"{model_stem(model)}-{c.hardware.name.lower()}-{c.precision}-{c.backend}-tp{c.gpus}"
            if c.derived:
                base += f"-from-{c.source_hardware.lower()}"
            plan_id = base if base not in used else f"{base}-{c.recipe.recipe_id}"
            used.add(plan_id)
        out.append(replace(c, plan_id=plan_id))
    return out


# --- deciding one request ------------------------------------------------------------------


def steps(
    model: Model, request: Request, backend_names: Iterable[str]
) -> tuple[int, list[str], list[str], tuple[Step, ...]]:
    """The seed's fallback order as (gpus, precision, backend, derived) steps."""
    target = target_count(model, request.n, request.count_mode)
    precisions = precision_order(model, request.precision)
    names = sorted(backend_names, key=lambda b: (b != "vllm", b))
    backends = [request.backend] if request.backend != "auto" else names
    counts = count_order(target, request.n)
    return target, precisions, backends, _order(counts, tuple(precisions), tuple(backends))


@lru_cache(maxsize=4096)
def _order(counts: tuple[int, ...], precisions: tuple[str, ...], backends: tuple[str, ...]) -> tuple[Step, ...]:
    target = counts[0]
    order: list[Step] = []
    for derived in (False, True):
        for backend in backends:
            order.append(Step(target, precisions[0], backend, derived))
            order.extend(Step(c, precisions[0], backend, derived) for c in counts[1:])
            for precision in precisions[1:]:
                order.extend(Step(c, precision, backend, derived) for c in counts)
    return tuple(dict.fromkeys(order))  # first occurrence of each step, in order


@dataclass(frozen=True)
class CandidateIndex:
    by_step: dict[Step, list[Candidate]]
    recipes_at: frozenset[tuple[str, str, bool]]  # (precision, backend, derived) with any recipe

    @classmethod
    def of(cls, candidates: Iterable[Candidate]) -> CandidateIndex:
        by_step: dict[Step, list[Candidate]] = {}
        for c in candidates:
            by_step.setdefault(c.step, []).append(c)
        return cls(by_step, frozenset((p, b, d) for (_, p, b, d) in by_step))


def walk(
    model: Model, hardware: Hardware, order: Iterable[Step], index: CandidateIndex
) -> tuple[Candidate | None, tuple[Considered, ...]]:
    """Follow the fallback steps; the first runnable candidate is chosen."""
    by_step, recipes_at = index.by_step, index.recipes_at
    considered: list[Considered] = []
    chosen: Candidate | None = None
    reported_missing: set = set()
    for step in order:
        gpus, precision, backend, derived = step
        found = by_step.get(step, [])
        if not found:
            # Say once per (precision, backend) that no recipe exists; missing counts of
            # an existing recipe are reported per count.
            group = (precision, backend, derived)
            if group not in recipes_at:
                if group not in reported_missing and not derived:
                    reported_missing.add(group)
                    considered.append(
                        Considered(
                            None,
                            Verdict.REJECTED,
                            Reason.NO_RECIPE,
                            f"no {backend} recipe for {model.name} on {hardware.name} at {precision}",
                            step,
                        )
                    )
            else:
                considered.append(
                    Considered(
                        None,
                        Verdict.REJECTED,
                        Reason.NO_ENTRY,
                        f"no {gpus}-GPU {backend} entry at {precision}"
                        + (" in sibling-GPU recipes" if derived else ""),
                        step,
                    )
                )
            continue
        for c in found:
            if c.verdict is Verdict.RUNNABLE and chosen is None:
                chosen = c
                considered.append(Considered(c, Verdict.CHOSEN, Reason.CHOSEN, c.message, step))
            else:
                considered.append(Considered(c, c.verdict, c.reason, c.message, step))
    return chosen, tuple(considered)


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
        step = c.step
        if c.gpus > request.n:
            out.append(
                Considered(
                    c,
                    Verdict.REJECTED,
                    Reason.TOO_MANY_GPUS,
                    f"needs {c.gpus} GPUs; the request allows {request.n}",
                    step,
                )
            )
        elif c.backend not in backends:
            out.append(
                Considered(
                    c,
                    Verdict.REJECTED,
                    Reason.BACKEND_NOT_REQUESTED,
                    f"{c.backend} entry; {request.backend} was requested",
                    step,
                )
            )
        else:
            out.append(
                Considered(
                    c,
                    Verdict.REJECTED,
                    Reason.PRECISION_NOT_REQUESTED,
                    f"{c.precision} entry; {', '.join(precisions)} considered",
                    step,
                )
            )
    return out


def decide(
    model: Model,
    hardware: Hardware,
    request: Request,
    candidates: Iterable[Candidate],
    backend_names: Iterable[str],
    walks: dict | None = None,
    index: CandidateIndex | None = None,
    planned_steps: tuple | None = None,
) -> Decision:
    """One request. Callers answering many requests may pass caches: `walks` (fallback
    paths, shared by many requests), `index` (the candidates indexed) and
    `planned_steps` (this request's `steps`, the same on every GPU type)."""
    target, precisions, backends, order = planned_steps or steps(model, request, backend_names)
    walks = {} if walks is None else walks
    key = (model.model_id, hardware.name, order)
    if key not in walks:
        walks[key] = walk(model, hardware, order, index or CandidateIndex.of(candidates))
    chosen, walked = walks[key]
    return Decision(
        model.model_id,
        hardware.name,
        request,
        target,
        precisions[0],
        tuple(backends),
        chosen,
        walked,
        tuple(candidates),
        tuple(precisions),
    )


@dataclass
class Planner:
    """Evaluates candidates once per (model, GPU) and answers any number of requests."""

    catalogue: Catalogue
    backends: dict[str, Backend] = field(init=False)
    _cache: dict[tuple[str, str], tuple[tuple[Candidate, ...], CandidateIndex]] = field(
        init=False, default_factory=dict
    )
    _walks: dict[tuple, tuple[Candidate | None, tuple[Considered, ...]]] = field(init=False, default_factory=dict)
    _steps: dict[tuple, tuple] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.backends = backends_for(self.catalogue.engines)
        self._recipes: dict[str, list[Recipe]] = {}
        for recipe in sorted(self.catalogue.recipes.values(), key=lambda r: r.recipe_id):
            self._recipes.setdefault(recipe.model_id, []).append(recipe)

    def candidates(self, model: Model, hardware: Hardware) -> tuple[Candidate, ...]:
        return self._evaluated(model, hardware)[0]

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
    ) -> Decision:
        if not 1 <= n <= MAX_GPUS:
            raise UsageError(f"GPU count must be between 1 and {MAX_GPUS} (plans use at most {MAX_GPUS} GPUs), got {n}")
        if count_mode not in ("auto", "exact"):
            raise UsageError(f"count mode must be auto or exact, got {count_mode!r}")
        if backend != "auto" and backend not in self.backends:
            raise UsageError(f"unknown backend {backend!r}; known: {', '.join(self.backends)}")
        request = Request(n, cast(CountMode, count_mode), precision, backend)
        candidates, index = self._evaluated(model, hardware)
        key = (model.model_id, request)
        if key not in self._steps:
            self._steps[key] = steps(model, request, self.backends)
        return decide(model, hardware, request, candidates, self.backends, self._walks, index, self._steps[key])
