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
    "tight",
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
# aim-pick's listing adds these
PickReason = Literal[
    ReasonCode, "partition-too-small", "profile", "profile-refused", "precision-not-offered", "objective-not-requested"
]
PlanSource = Literal["recipe", "sibling", "generic"]
PlanStatus = Literal["tuned", "derived", "generic"]  # the words shown for recipe, sibling, generic
MatrixStatus = Literal["tuned", "derived", "generic", "tight", "does-not-fit", "not-supported"]
CountMode = Literal["auto", "exact"]
Objective = Literal["latency", "throughput"]

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


class MultiNodeRecord(TypedDict):
    """$defs/plan/multi_node: the flags that give each host of a multi-node plan its place."""

    layout: Literal["pipeline", "expert-data"]  # a pipeline stage per host, or a data-parallel rank per host
    nodes_flag: str | None  # None: the engine takes no host count apart from the layout's size flag
    rank_flag: str
    address_flag: str
    address_port: int | None  # written as <address>:<port> when set
    worker_argv: list[str]  # only the workers add these


class NodeScripts(TypedDict):
    """$defs/plan/node_scripts: docker/<plan_id>-leader.sh and -worker.sh."""

    leader: str
    worker: str


class PlanRecord(TypedDict):
    """$defs/plan: one resolved plan."""

    plan_id: str
    recipe_id: str
    entry: str  # "<n>_gpu"
    model: str
    model_slug: str
    checkpoint: str
    checkpoint_bytes: int | None  # stored size of the checkpoint (None: not recorded)
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
    memory: MemoryRecord  # always set in a published plan
    source: PlanSource
    status: PlanStatus
    measured: bool  # a recipe for this GPU whose status is verified (someone ran it on hardware)
    tight: bool  # fewer than 4 requests of its own context fit at once
    objective: Objective  # throughput: data-parallel replicas
    replicas: int
    gpus_per_replica: int  # gpu_count = replicas x gpus_per_replica
    nodes: int  # hosts (1 unless multi-node: 2 or 4 hosts of 8 GPUs)
    gpus_per_node: int
    pipeline_parallel_size: int  # one stage per host in the pipeline layout; 1 in the expert-data layout
    multi_node: MultiNodeRecord | None  # how each host is told its place; None on one host
    warnings: list[str]
    derived_from: str | None  # the sibling GPU type of a derived plan
    recipe_status: str | None  # the recipe's status (verified | preview | untested); None unless source is recipe
    metric: str | None  # latency | throughput
    notes: str | None
    summary: str
    docker_argv: list[str] | None  # None for a multi-node plan (node_scripts instead)
    docker_command: str | None
    compose: str | None  # artifact paths, relative to the build folder; None for a multi-node plan
    k8s: str  # k8s/<plan_id>/manifests.yaml, inside the bundle
    k8s_bundle: str  # k8s/<plan_id>: the kubectl apply -k folder
    node_scripts: NodeScripts | None  # a multi-node plan's docker scripts per host
    env_file: str
    run_script: str | None


# --- lookup/<hw>/<slug>.json (api-lookup.schema.json) -----------------------------------------


class TargetRecord(TypedDict):
    """$defs/target: where a decision's fallback walk started."""

    gpu_count: int
    precision: str
    backends: list[str]
    objective: Objective


class DecisionRecord(TypedDict):
    """$defs/decision: the answer to every request that walks the same fallback path."""

    plan: str | None
    multi_node: str | None  # when plan is None: the multi-node plan that serves the request, if any
    target: TargetRecord
    warnings: list[str]
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
    source: PlanSource
    tight: bool
    source_hardware: str | None
    layout: Literal["pipeline", "expert-data"] | None  # a multi-node candidate's (MultiNodeRecord.layout)
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
    precisions: list[str]  # the precisions with keys: those some candidate offers
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
    source: PlanSource | None
    measured: bool
    tight: bool
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
    source: PlanSource
    status: PlanStatus
    measured: bool
    tight: bool
    objective: Objective
    replicas: int
    gpus_per_replica: int
    nodes: int


class MultiNodeCell(TypedDict):
    """$defs/multiNodeCell: the multi-node plan for a number of hosts of one GPU type."""

    status: Literal["generic", "tight"]
    plan: str
    nodes: int
    gpus_per_node: int
    gpu_count: int
    precision: str
    backend: str
    tight: bool
    reason: str


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


class LinearAttentionRecord(TypedDict):
    """The linear-attention layers of a hybrid model (a fixed state per request)."""

    layers: int
    num_key_heads: int
    num_value_heads: int
    key_head_dim: int
    value_head_dim: int
    conv_kernel: int


class IndexerRecord(TypedDict):
    """DeepSeek sparse attention's indexer (an extra key cache per token)."""

    n_heads: int
    head_dim: int
    topk: int


class AttentionRecord(TypedDict):
    """Figures that are 0 for a model, and parts it does not have, are left out."""

    kind: str  # gqa | mla | hybrid
    kv_lora_rank: NotRequired[int]
    q_lora_rank: NotRequired[int]
    qk_rope_head_dim: NotRequired[int]
    sliding_window: NotRequired[int]
    sliding_window_layers: NotRequired[int]
    linear: NotRequired[LinearAttentionRecord]  # hybrid models
    indexer: NotRequired[IndexerRecord]  # MLA with sparse attention


class MoeRecord(TypedDict):
    num_experts: int
    experts_per_token: int
    moe_intermediate_size: int
    shared_experts: int
    dense_layers: int


class CheckpointSizeRecord(TypedDict):
    """$defs/checkpointSize: a checkpoint's stored size."""

    total_bytes: int
    bytes_by_dtype: dict[str, int]  # safetensors dtype (BF16, F8_E4M3, ...) -> bytes; empty when not known
    source: str
    computed: bool  # computed from the config's tensor shapes, not read


class MultimodalRecord(TypedDict):
    encoder_params: int
    modalities: list[str]  # image | video | audio


class EngineServingRecord(TypedDict):
    """$defs/engineServing: how one engine serves the model without a recipe (generic plans)."""

    reasoning_parser: str | None
    tool_call_parser: str | None
    args: dict[str, Any]  # flag -> value (None: a switch)
    text_only_args: dict[str, Any]
    env: dict[str, str]
    source: str | None


class ServingRecord(TypedDict):
    trust_remote_code: bool
    engines: dict[str, EngineServingRecord]  # engine name -> serving facts
    notes: str | None


class VariantRecord(TypedDict):
    model_id: str
    precision: str
    quantization: str
    kv_cache_fp8_scales: bool
    source: str
    verified: bool
    checkpoint: CheckpointSizeRecord | None
    alias_of: bool  # the same weights under another repository name


class ProvenanceRecord(TypedDict):
    source: str
    kind: str
    figures: list[str]


class ModelRecord(ModelSummary):
    """$defs/model: one model with its architecture figures, plans and support matrix."""

    api_version: int
    description: str
    architecture: str
    model_type: str | None  # config.json model_type
    parameters: ParametersRecord
    architecture_config: ArchitectureConfig
    attention: AttentionRecord
    moe: MoeRecord | None
    rope_scaling: dict[str, Any] | None  # config.json's block as published
    checkpoint: CheckpointSizeRecord | None
    multimodal: MultimodalRecord | None
    serving: ServingRecord
    variants: list[VariantRecord]
    provenance: list[ProvenanceRecord]
    unverified: list[str]
    recipes: list[str]
    support_matrix: dict[str, dict[str, MatrixCell]]  # GPU type -> "1".."8" -> cell
    multi_node: dict[str, dict[str, MultiNodeCell]]  # GPU type -> "2" | "4" (hosts) -> cell
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
    objectives: list[Objective]
