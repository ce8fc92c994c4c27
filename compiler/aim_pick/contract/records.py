"""The published API's records as TypedDicts, one per object of the JSON Schemas in
compiler/aim_engine/publish/schemas/ (published as api/schemas/*.schema.json). The tests
check that every record here has exactly its schema object's keys, required and optional.

For type checkers only. aim-pick never imports this module at run time (it would import
`typing`, which the shim's start-up avoids): its modules name these records under
`TYPE_CHECKING = False` / `if TYPE_CHECKING:` and in string annotations.

Vocabularies the compiler itself defines (verdicts, reason codes, status words) are
Literals; vocabularies that come from catalogue data (precisions, backends, GPU types,
recipe status) are `str` here and closed by the schemas, which the build tests check
against the data.

No `from __future__ import annotations`: TypedDict must see NotRequired unquoted to tell
required keys from optional ones at run time (the tests read __required_keys__).
"""

from typing import Any, Literal, NotRequired, TypedDict

# --- vocabularies (schemas: $defs/verdict, $defs/reason, $defs/planStatus, ...) -----------------

Verdict = Literal["chosen", "runnable", "low-memory", "rejected"]
CandidateVerdict = Literal["runnable", "low-memory", "rejected"]  # a candidate's own verdict: never chosen
ReasonCode = Literal[
    "chosen",
    "runnable",
    "no-recipe",
    "no-entry",
    "disabled",
    "too-many-gpus",
    "does-not-fit",
    "tp-illegal",
    "precision-unsupported",
    "no-image",
    "invalid",
    "precision-not-requested",
    "backend-not-requested",
]  # aim_engine.planning.planner.Reason codes
PickReason = Literal[ReasonCode, "partition-too-small", "profile", "profile-refused"]  # aim-pick's listing adds these
PlanStatus = Literal["verified", "derived"]
MatrixStatus = Literal["verified", "derived", "does-not-fit", "no-recipe"]
CountMode = Literal["auto", "exact"]

# --- plans/<plan-id>.json (api-plan.schema.json) ----------------------------------------------


class MemoryRecord(TypedDict):
    """$defs/memoryEstimate: the per-GPU memory estimate (bytes per GPU unless named otherwise)."""

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


class PlanEngine(TypedDict):
    """The `engine` of a plan: the engine release it was checked against."""

    name: str  # the backend
    title: str
    version: str


class PlanRecord(TypedDict):
    """$defs/plan: one resolved plan."""

    plan_id: str
    recipe_id: str
    entry: str  # "<n>_gpu"
    model: str
    model_slug: str
    checkpoint: str
    gated: bool
    hardware: str
    gfx_target: str
    gpu_count: int
    tensor_parallel_size: int
    precision: str
    backend: str
    engine: PlanEngine
    image: str
    image_entrypoint: str | None
    device_ids: list[str]
    port: int
    engine_argv: list[str]
    container_argv: list[str]
    env: dict[str, str]
    memory: MemoryRecord  # always set (and fitting) in a published plan
    status: PlanStatus
    derived_from: str | None  # the sibling GPU type of a derived plan
    recipe_status: str  # verified | preview | untested
    metric: str | None  # latency | throughput
    notes: str | None
    summary: str
    docker_argv: list[str]
    docker_command: str
    compose: str  # artifact paths, relative to the build folder
    k8s: str
    env_file: str
    run_script: str


# --- lookup/<hw>/<slug>.json (api-lookup.schema.json) -----------------------------------------


class TargetRecord(TypedDict):
    """$defs/target: where a decision's fallback walk started."""

    gpu_count: int
    precision: str
    backends: list[str]


class DecisionRecord(TypedDict):
    """$defs/decision: the answer to every request that walks the same fallback path."""

    plan: str | None
    target: TargetRecord
    path: list[list[str]]  # [candidate id, Verdict] per step


class CandidateRecord(TypedDict):
    """$defs/candidate: a candidate judged on its own, before any request."""

    plan: str | None
    recipe: str | None
    entry: str | None
    gpus: int
    precision: str
    backend: str
    derived: bool
    source_hardware: str | None
    verdict: CandidateVerdict
    reason: ReasonCode
    message: str
    total_bytes_per_gpu: int | None
    budget_bytes_per_gpu: int | None


class LookupRecord(TypedDict):
    """$defs/lookup: every request for one model on one GPU type, answered."""

    api_version: int
    model: str
    model_slug: str
    hardware: str
    key_format: str
    keys: dict[str, str]  # request key -> decision id
    decisions: dict[str, DecisionRecord]
    candidates: dict[str, CandidateRecord]


class PickCandidate(TypedDict):
    """One line of aim-pick's own listing (its json/explain output, not a published file):
    a published candidate with the verdict this host gives it. A --profile request lists
    only the plan, verdict, reason and message."""

    plan: str | None
    candidate: NotRequired[str]
    gpus: NotRequired[int]
    precision: NotRequired[str]
    backend: NotRequired[str]
    derived: NotRequired[bool]
    verdict: Verdict
    reason: PickReason
    message: str


# --- models/<slug>.json (api-model.schema.json) -----------------------------------------------


class ModelSummary(TypedDict):
    """$defs/modelSummary: a model as the index lists it (also the start of its model file)."""

    model_id: str
    slug: str
    name: str
    family: str
    size: str
    native_precision: str
    readiness_level: str  # production | preview | experimental
    gated: bool
    license: str


class MatrixCell(TypedDict):
    """$defs/matrixCell: what asking for exactly n GPUs of a type gives (auto precision and backend)."""

    status: MatrixStatus
    plan: str | None
    gpu_count: int | None
    precision: str | None
    backend: str | None
    reason: str


class PlanSummary(TypedDict):
    """$defs/planSummary: one plan of a model, in brief."""

    plan_id: str
    hardware: str
    gpu_count: int
    precision: str
    backend: str
    status: PlanStatus


class ParametersRecord(TypedDict):
    total: int
    active: int | None


class ArchitectureConfig(TypedDict):
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    max_position_embeddings: int
    vocab_size: int
    tie_word_embeddings: bool


class AttentionRecord(TypedDict):
    """Figures that are 0 for a model are left out."""

    kind: str  # gqa | mla
    kv_lora_rank: NotRequired[int]
    q_lora_rank: NotRequired[int]
    qk_rope_head_dim: NotRequired[int]
    sliding_window: NotRequired[int]
    sliding_window_layers: NotRequired[int]


class MoeRecord(TypedDict):
    num_experts: int
    experts_per_token: int
    moe_intermediate_size: int
    shared_experts: int
    dense_layers: int


class VariantRecord(TypedDict):
    model_id: str
    precision: str
    quantization: str
    kv_cache_fp8_scales: bool
    source: str
    verified: bool


class ProvenanceRecord(TypedDict):
    source: str
    kind: str
    figures: list[str]


class ModelRecord(ModelSummary):
    """$defs/model: one model with its architecture figures, plans and support matrix."""

    api_version: int
    description: str
    architecture: str
    parameters: ParametersRecord
    architecture_config: ArchitectureConfig
    attention: AttentionRecord
    moe: MoeRecord | None
    rope_scaling: dict[str, Any] | None  # config.json's block as published
    variants: list[VariantRecord]
    provenance: list[ProvenanceRecord]
    unverified: list[str]
    recipes: list[str]
    support_matrix: dict[str, dict[str, MatrixCell]]  # GPU type -> "1".."8" -> cell
    plans: list[PlanSummary]


# --- index.json (api-index.schema.json) -------------------------------------------------------


class HardwareRecord(TypedDict):
    """$defs/hardware: one GPU type as the catalogue describes it."""

    name: str
    product: str
    architecture: str
    gfx_target: str
    gfx_target_version: int
    family: str
    device_ids: list[str]
    device_id_names: dict[str, str]
    memory_bytes: int
    memory_source: str
    compute_units: int
    apu: bool
    devices_per_package: int
    compute_partitions: list[str]
    xcc_per_device: int
    precisions: dict[str, str]  # precision -> native | emulated
    fp8_format: str | None


class EngineRecord(TypedDict):
    """$defs/engine: one inference engine release."""

    title: str
    version: str
    images: dict[str, str]  # gfx target -> image
    default_port: int
    image_entrypoint: str | None
    launch: list[str]


class CountsRecord(TypedDict):
    models: int
    recipes: int
    plans: int
    lookups: int
    decisions: int


class IndexRecord(TypedDict):
    """$defs/index: the entry point of the published API."""

    api_version: int
    generator: str
    catalogue_digest: str
    models: list[ModelSummary]
    hardware: dict[str, HardwareRecord]
    engines: dict[str, EngineRecord]
    counts: CountsRecord
    lookup_key_format: str
    precisions: list[str]
