"""Replaying a start-up log fixture through the memory model (tests/planning/test_startup_logs.py,
bench/bench_estimate.py and the calibration table in docs/reference/memory.md).

Each fixture (one YAML file here) holds a real engine start-up: its source, the engine version,
the GPU, the model record the memory model needs (config figures and the checkpoint's stored
size, with their sources), the settings the engine ran with, what the log printed and the log
lines verbatim. The replay gives the memory model the same model and settings, with the knobs of
the engine generation that wrote the log, and compares what it predicts with what was printed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aim_engine.catalogue.load import load_formats, model_from
from aim_engine.catalogue.records import Model
from aim_engine.planning.memory import RUNTIMES, MemoryEstimate, ServingShape, estimate
from aim_pick.contract.units import GIB
from tests import yamlio

HERE = Path(__file__).resolve().parent

# What changed between the engine generations the logs come from
# (docs/reference/memory.md#calibration-against-start-up-logs):
# - vLLM V0 (0.6.x and before) sampled the profiling batch with a sorting top-k/top-p sampler that also
#   computed log-probs: 39 bytes per logit, measured (Llama-3.1-70B, 4096 rows: 19.1 GiB peak; Llama-3.1-8B
#   TP8 with chunked prefill, 256 rows: 1.19 GiB peak);
# - vLLM V1 before the Triton top-k/top-p kernel sorted too: fp32 logits, sorted values, int64 indices,
#   softmax and the scattered result, 24 bytes per logit;
# - before 0.21 neither subtracted the CUDA/HIP graph pool from the KV budget (graphs were captured after
#   the KV cache, inside the 1 - utilization margin), so the replay leaves the graph pool out;
# - before async scheduling, sliding-window layers kept one batch in flight.
GENERATIONS: dict[str, dict[str, Any]] = {
    "v0": {"sampler_bytes": 39.0, "cuda_graphs": False, "in_flight_batches": 1},
    "v1": {"sampler_bytes": 24.0, "cuda_graphs": False, "in_flight_batches": 1},
    "sglang": {"overhead_in_budget": False},
}

MODEL_DEFAULTS = {
    "name": "fixture",
    "family": "fixture",
    "size": "1B",
    "readiness_level": "experimental",
    "description": "a start-up log fixture's model",
    "license": "fixture",
    "gated": False,
    "aim_recipes": [],
    "provenance": [{"source": "tests/planning/startup_logs", "kind": "computed", "figures": ["all"]}],
}


@dataclass(frozen=True)
class Fixture:
    id: str
    data: dict[str, Any]
    model: Model
    shape: ServingShape | None  # None when the GPU's memory is unknown
    memory_bytes: int | None

    @property
    def checks(self) -> list[str]:
        return list(self.data.get("checks") or [])

    @property
    def logged(self) -> dict[str, Any]:
        return dict(self.data["logged"])


def fixture_model(record: dict[str, Any]) -> Model:
    data = {**MODEL_DEFAULTS, **{k: v for k, v in record.items() if k != "config_source" and v is not None}}
    return model_from(data, HERE / "fixture.yaml")


def load_fixture(path: Path) -> Fixture:
    data = yamlio.safe_load(path.read_text("utf-8"))
    model = fixture_model(data["model"])
    serving = data["serving"]
    kv = load_formats().kv_cache_dtypes.get(serving["kv_cache_dtype"])
    shape = ServingShape(
        tp=serving["tp"],
        pp=serving.get("pp", 1),
        weight_format=serving["weight_format"],
        kv_bytes=2.0 if kv is None else float(kv),
        utilization=serving["utilization"],
        max_num_batched_tokens=serving["profile_tokens"],
        max_num_seqs=serving["max_num_seqs"],
        max_model_len=serving["max_model_len"],
        cuda_graphs=serving.get("cuda_graphs", True),
        checkpoint=model.model_id,
        runtime=RUNTIMES[data["platform"]],
    )
    shape = replace(shape, **GENERATIONS[data["generation"]])
    memory = data["gpu"].get("memory_gib")
    return Fixture(data["id"], data, model, shape, round(memory * GIB) if memory else None)


def fixtures() -> list[Fixture]:
    return [load_fixture(p) for p in sorted(HERE.glob("*.yaml"))]


@dataclass(frozen=True)
class Comparison:
    figure: str
    predicted: float
    logged: float

    @property
    def error(self) -> float:
        """(predicted - logged) / logged: positive is optimistic for KV, conservative is negative."""
        return (self.predicted - self.logged) / self.logged


def predicted(fx: Fixture) -> MemoryEstimate | None:
    if fx.shape is None or fx.memory_bytes is None:
        return None
    return estimate(fx.model, fx.memory_bytes, fx.shape)


def compare(fx: Fixture) -> list[Comparison]:
    est = predicted(fx)
    out = []
    logged = fx.logged
    for figure in fx.checks:
        if figure == "kv_bytes_per_token":
            assert fx.shape is not None
            from aim_engine.planning.memory import kv_layout

            value = kv_layout(fx.model, fx.shape).counted_per_token
            out.append(Comparison(figure, value, logged["kv_bytes_per_token"]))
            continue
        assert est is not None, f"{fx.id}: {figure} needs the GPU's memory"
        if figure == "weights":
            out.append(Comparison(figure, est.weights_bytes_per_gpu / GIB, logged["weights_gib"]))
        elif figure == "available_kv":
            out.append(Comparison(figure, est.kv_budget_bytes_per_gpu / GIB, logged["available_kv_gib"]))
        elif figure == "kv_tokens":
            out.append(Comparison(figure, est.kv_tokens, logged["kv_tokens"]))
        else:
            raise ValueError(f"{fx.id}: unknown check {figure}")
    return out
