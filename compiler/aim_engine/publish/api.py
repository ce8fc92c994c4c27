"""The static JSON API: every plan of the grid, as files (design.md "Build output").

    api/index.json                  models, hardware, engines, counts, catalogue digest
    api/models/<slug>.json          one model: metadata + support matrix
    api/plans/<plan-id>.json        one resolved plan
    api/lookup/<hw>/<slug>.json     request key -> decision (plan id or none + candidates)
    api/schemas/<name>.schema.json  the JSON Schemas of the four record kinds above

Lookup keys are "<n>/<count mode>/<precision>/<backend>/<objective>", e.g.
"8/auto/auto/auto/latency" (aim_pick.contract.layout.KEY_FORMAT).
Identical decisions within one lookup file are stored once and referenced by id.
Everything is sorted and free of timestamps, so equal inputs give equal bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aim_engine import __version__
from aim_engine.catalogue.load import PRECISIONS
from aim_engine.catalogue.records import Catalogue, Hardware, Model
from aim_engine.planning import explain
from aim_engine.planning.generic import HostLayout
from aim_engine.planning.memory import stored_checkpoint
from aim_engine.planning.parallelism import NODE_COUNTS
from aim_engine.planning.planner import (
    MAX_GPUS,
    OBJECTIVES,
    Candidate,
    Considered,
    Decision,
    Planner,
    Reason,
    Request,
    Source,
    first_multi_node,
    plan_warnings,
    route,
)
from aim_engine.publish import artifacts as render
from aim_pick.contract import deploy, layout

if TYPE_CHECKING:
    from aim_pick.contract.records import (
        DecisionRecord,
        MatrixCell,
        MatrixStatus,
        ModelSummary,
        MultiNodeCell,
        MultiNodeRecord,
        PlanSummary,
    )

API_VERSION = 1
COUNT_MODES = ("auto", "exact")


def catalogue_digest(files: dict[str, Path]) -> str:
    """sha256 over the catalogue's input files (names and bytes) and the built-in data."""
    digest = hashlib.sha256()
    data_root = resources.files("aim_engine.catalogue")
    builtin = sorted(
        (f"aim_engine/{sub}/{p.name}", p.read_bytes())
        for sub in ("data", "data/engines", "data/flags", "schemas")
        for p in (data_root / sub).iterdir()
        if p.name.endswith(".json")
    )
    for name, blob in sorted((name, path.read_bytes()) for name, path in files.items()) + builtin:
        digest.update(name.encode() + b"\0" + hashlib.sha256(blob).digest())
    return digest.hexdigest()


# --- plans -------------------------------------------------------------------------------------


def plan_json(planner: Planner, model: Model, c: Candidate) -> dict[str, Any]:
    backend = planner.backends[c.backend]
    settings = backend.settings(c.entry, model, c.hardware)
    port = backend.data.default_port
    memory = c.memory.as_dict() if c.memory else None
    commands = backend.commands(c.entry, settings, port)
    if c.nodes > 1 and c.layout is None:  # validate refuses such entries (entry-hosts); a library caller may not
        raise render.ArtifactError(
            f"recipe {c.recipe.recipe_id}: {c.entry.key} needs {c.nodes} hosts; only generated plans span hosts"
        )
    return {
        "plan_id": c.plan_id,
        "recipe_id": c.recipe.recipe_id,
        "entry": c.entry.key,
        "model": model.model_id,
        "model_slug": model.slug,
        "checkpoint": settings.checkpoint,
        "checkpoint_bytes": checkpoint_bytes(model, settings.checkpoint),
        "gated": model.gated,
        "hardware": c.hardware.name,
        "gfx_target": c.hardware.gfx_target,
        "gpu_count": c.gpus,
        "tensor_parallel_size": settings.tp,
        "precision": c.precision,
        "backend": c.backend,
        "engine": {"name": backend.data.name, "title": backend.data.title, "version": backend.data.version},
        "image": backend.data.image_for(c.hardware),
        "image_entrypoint": backend.data.image_entrypoint,
        "device_ids": list(c.hardware.device_ids),
        "port": port,
        "engine_argv": commands.native,
        "container_argv": commands.container,
        "env": dict(sorted({**backend.data.env_for(c.hardware), **c.entry.env}.items())),
        "memory": memory,
        **status_fields(c),
        "gpus_per_node": c.gpus_per_node,
        "pipeline_parallel_size": settings.pp,
        "multi_node": multi_node_json(c.layout),
        "warnings": plan_warnings(c),
        "derived_from": c.source_hardware if c.derived else None,
        # the recipe's own word only where it describes this plan: a sibling recipe's "verified"
        # was measured on another GPU, and generic plans have no recipe
        "recipe_status": c.recipe.status if c.source is Source.RECIPE else None,
        "metric": c.recipe.metric,
        "notes": c.entry.notes or c.recipe.notes,
        "summary": c.message,
    }


def multi_node_json(spread: HostLayout | None) -> MultiNodeRecord | None:
    """How each host of a multi-node plan is told its place (its layout's flags, from the engine
    data), for the artifacts to add per host; None on one host."""
    if spread is None:
        return None
    worker: list[str] = []
    for flag, value in spread.worker_args.items():
        worker += [flag] if value is None else [flag, str(value)]
    return {
        "layout": spread.name,
        "nodes_flag": spread.nodes_flag,
        "rank_flag": spread.rank_flag,
        "address_flag": spread.address_flag,
        "address_port": spread.address_port,
        "worker_argv": worker,
    }


def checkpoint_bytes(model: Model, checkpoint: str | None) -> int | None:
    """The stored size of the checkpoint a plan serves (what its download and cache claim hold)."""
    stored = stored_checkpoint(model, checkpoint)
    return stored.total_bytes if stored else None


def plan_files(plan: dict[str, Any]) -> dict[str, bytes]:
    """The plan's JSON (with its docker command) and its artifact files. A multi-node plan has no
    single docker command or compose file (one host cannot hold it): a leader and a worker script
    take their place, beside the Kubernetes bundle."""
    made = render.artifacts(plan)
    pid = plan["plan_id"]
    bundle = f"k8s/{pid}"  # a `kubectl apply -k` folder
    # artifact kind -> (plan JSON field, path under the build folder; None: not for this plan)
    paths: dict[str, tuple[str, str | None]] = {
        "compose": ("compose", f"compose/{pid}.yaml"),
        "k8s": ("k8s", f"{bundle}/{deploy.K8S_MANIFESTS}"),
        "env": ("env_file", f"env/{pid}.env"),
        "script": ("run_script", f"docker/{pid}.sh"),
    }
    scripts = None
    if deploy.nodes(plan) > 1:
        paths["compose"] = ("compose", None)
        paths["script"] = ("run_script", None)
        scripts = {role: f"docker/{pid}-{role}.sh" for role in ("leader", "worker")}
    plan = {
        **plan,
        "docker_argv": made.get("docker_argv"),
        "docker_command": made.get("docker_command"),
        **{field: path for field, path in paths.values()},
        "k8s_bundle": bundle,
        "node_scripts": scripts,
    }
    files = {path: made[kind].encode("utf-8") for kind, (_, path) in paths.items() if path is not None}
    files.update({f"{bundle}/{name}": text.encode("utf-8") for name, text in made["k8s_bundle"].items()})
    for role, path in (scripts or {}).items():
        files[path] = made["node_scripts"][role].encode("utf-8")
    files[f"api/plans/{pid}.json"] = layout.pretty_json(plan)
    return files


# --- decisions and lookups ---------------------------------------------------------------------


def candidate_id(x: Considered) -> str:
    if x.candidate is not None:
        return x.candidate.candidate_id
    gpus, precision, backend, source = x.step
    suffix = "" if source is Source.RECIPE else f"@{source.value}"
    if x.reason.code == "no-recipe":
        return f"none/{backend}/{precision}{suffix}"
    return f"none/{backend}/{precision}/{gpus}_gpu{suffix}"


def candidate_json(x: Considered) -> dict[str, Any]:
    """A candidate as judged on its own (the verdict a request can only upgrade to chosen)."""
    c = x.candidate
    body = explain.considered_dict(x, intrinsic=True)
    del body["candidate"], body["memory"]
    # what aim-pick needs to re-check a plan against a smaller (partitioned) GPU
    body["total_bytes_per_gpu"] = c.memory.total_bytes_per_gpu if c and c.memory else None
    body["budget_bytes_per_gpu"] = c.memory.budget_bytes_per_gpu if c and c.memory else None
    return body


def lookup_precisions(candidates: tuple[Candidate, ...]) -> list[str]:
    """The precisions a lookup file has keys for: those some candidate (recipe, sibling recipe
    or generic entry) offers. A request for another precision has no key: aim-pick answers it
    from this list ("no int4 checkpoint or recipe ..."), without a walk over empty steps."""
    present = {c.precision for c in candidates}
    return [p for p in PRECISIONS if p in present]


def lookup_json(planner: Planner, model: Model, hardware: Hardware) -> tuple[dict[str, Any], dict[int, Decision]]:
    """All grid keys for one model on one GPU; also returns the exact-count decisions.

    Candidates are listed once; a decision is its chosen plan and the path of
    candidate ids the fallback walked, each with the verdict it got there. Candidates
    off the path were outside the request: more GPUs than n (too-many-gpus), or a
    backend or precision that was not requested.
    """
    keys: dict[str, str] = {}
    decisions: dict[str, DecisionRecord] = {}
    candidates: dict[str, dict[str, Any]] = {}
    by_path: dict[tuple[int, str | None], str] = {}
    exact: dict[int, Decision] = {}
    offered = lookup_precisions(planner.candidates(model, hardware))
    for candidate in planner.candidates(model, hardware):
        candidates[candidate.candidate_id] = candidate_json(
            Considered(
                candidate,
                candidate.verdict,
                candidate.reason,
                candidate.message,
                candidate.step,
            )
        )
    for n in range(1, MAX_GPUS + 1):
        for mode in COUNT_MODES:
            for precision in ("auto", *offered):
                for backend in ("auto", *sorted(planner.backends)):
                    for objective in OBJECTIVES:
                        decision = planner.plan(model, hardware, n, mode, precision, backend, objective)
                        if (mode, precision, backend, objective) == ("exact", "auto", "auto", "latency"):
                            exact[n] = decision
                        # The planner keeps one path object per fallback order for its lifetime; with
                        # the chosen plan (replicas depend on n) it names the decision.
                        chosen = decision.chosen
                        name = (id(decision.path), chosen.plan_id if chosen else None)
                        if name not in by_path:
                            by_path[name] = f"d{len(by_path) + 1}"
                            decisions[by_path[name]] = decision_json(decision, candidates)
                        keys[layout.lookup_key(n, mode, precision, backend, objective)] = by_path[name]
    doc = {
        "api_version": API_VERSION,
        "model": model.model_id,
        "model_slug": model.slug,
        "hardware": hardware.name,
        "key_format": layout.key_format(offered, sorted(planner.backends)),
        "precisions": offered,
        "keys": keys,
        "decisions": decisions,
        "candidates": candidates,
    }
    return doc, exact


def decision_json(decision: Decision, candidates: dict[str, dict[str, Any]]) -> DecisionRecord:
    """One decision: the chosen plan and the path of candidate ids with the verdict each got;
    candidates not yet in the lookup's table are added to it. A throughput plan made of replicas
    stands at its base candidate's place on the path."""
    chosen = decision.chosen
    steps = []
    for x in decision.path:
        if x.verdict.value == "chosen" and chosen is not None and chosen.replicas > 1:
            x = Considered(chosen, x.verdict, x.reason, chosen.message, x.step)
            if chosen.candidate_id not in candidates:
                candidates[chosen.candidate_id] = candidate_json(
                    Considered(chosen, chosen.verdict, chosen.reason, chosen.message, chosen.step)
                )
        cid = candidate_id(x)
        if cid not in candidates:
            candidates[cid] = candidate_json(x)
        steps.append([cid, x.verdict.value])
    hosts = decision.multi_node
    return {
        "plan": chosen.plan_id if chosen else None,
        "multi_node": hosts.plan_id if hosts else None,
        "target": {
            "gpu_count": decision.target_count,
            "precision": decision.target_precision,
            "backends": list(decision.backends),
            "objective": decision.request.objective,
        },
        "warnings": decision.warnings,
        "path": steps,
    }


def matrix_cell(decision: Decision) -> MatrixCell:
    """What you get when you ask for exactly n GPUs of this type (auto precision and backend,
    latency): tuned / derived / generic / tight, or does-not-fit / not-supported with the reason."""
    chosen = decision.chosen
    if chosen is not None:
        word: MatrixStatus = "tight" if chosen.tight else chosen.source.word
        return {
            "status": word,
            "source": chosen.source.value,
            "measured": chosen.measured,
            "tight": chosen.tight,
            "plan": chosen.plan_id,
            "gpu_count": chosen.gpus,
            "precision": chosen.precision,
            "backend": chosen.backend,
            "reason": chosen.message,
        }
    n = decision.request.n
    judged = [x for x in decision.considered if x.candidate is not None and x.candidate.gpus <= n]
    # a recipe entry disabled because it does not fit is a does-not-fit too (its estimate says so)
    low = [
        x
        for x in judged
        if x.reason is Reason.DOES_NOT_FIT
        or (
            x.reason is Reason.DISABLED
            and x.candidate is not None
            and x.candidate.memory is not None
            and not x.candidate.memory.fits
        )
    ]
    unsupported = [x for x in judged if x.reason in (Reason.PRECISION_UNSUPPORTED, Reason.NO_IMAGE)]
    status: MatrixStatus
    if low:
        status, reason = "does-not-fit", low[0].message
    elif unsupported:
        status, reason = "not-supported", unsupported[0].message
    else:
        reasons = [x.message for x in judged] or [x.message for x in decision.considered]
        status, reason = "not-supported", reasons[0] if reasons else "nothing can serve this model on this GPU"
    return {
        "status": status,
        "source": None,
        "measured": False,
        "tight": False,
        "plan": None,
        "gpu_count": None,
        "precision": None,
        "backend": None,
        "reason": reason,
    }


# --- the whole API -----------------------------------------------------------------------------


def model_summary(model: Model) -> ModelSummary:
    return {
        "model_id": model.model_id,
        "slug": model.slug,
        "name": model.name,
        "family": model.family,
        "size": model.size,
        "native_precision": model.native_precision,
        "readiness_level": model.readiness_level,
        "gated": model.gated,
        "license": model.license,
    }


def plain(value: Any) -> Any:
    """A record as JSON data: dataclasses and mappings as objects with sorted keys, tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in sorted(fields(value), key=lambda f: f.name)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


def model_json(
    model: Model,
    catalogue: Catalogue,
    matrix: dict[str, dict[str, MatrixCell]],
    plans: list[PlanSummary],
    multi_node: dict[str, dict[str, MultiNodeCell]] | None = None,
) -> dict[str, Any]:
    return {
        **model_summary(model),
        "api_version": API_VERSION,
        "description": model.description,
        "architecture": model.architecture,
        "model_type": model.model_type,
        "parameters": {"total": model.total_params, "active": model.active_params},
        "architecture_config": plain(model.config),
        "attention": {k: v for k, v in plain(model.attention).items() if v},
        "moe": plain(model.moe),
        "rope_scaling": plain(model.rope_scaling),
        "checkpoint": plain(model.checkpoint),
        "multimodal": plain(model.multimodal),
        "serving": plain(model.serving),
        "variants": plain(model.variants),
        "provenance": plain(model.provenance),
        "unverified": list(model.unverified),
        "recipes": sorted(model.aim_recipes),
        "support_matrix": matrix,
        "multi_node": multi_node or {},
        "plans": sorted(plans, key=lambda p: p["plan_id"]),
    }


def hardware_json(h: Hardware) -> dict[str, Any]:
    """The hardware record as plain JSON."""
    return cast(dict[str, Any], plain(h))


def schema_files() -> dict[str, bytes]:
    """The JSON Schemas of the published records (package data), as api/schemas/<name>.schema.json."""
    folder = resources.files("aim_engine.publish") / "schemas"
    return {f"api/schemas/{p.name}": p.read_bytes() for p in folder.iterdir() if p.name.endswith(".schema.json")}


def status_fields(c: Candidate) -> dict[str, Any]:
    """How a plan was made and how it runs, as both the plan and its summary say it."""
    return {
        "source": c.source.value,
        "status": c.source.word,
        "measured": c.measured,
        "tight": c.tight,
        "objective": "throughput" if c.replicas > 1 else "latency",
        "replicas": c.replicas,
        "gpus_per_replica": c.gpus_per_replica,
        "nodes": c.nodes,
    }


def plan_summary(c: Candidate) -> PlanSummary:
    summary = {
        "plan_id": cast(str, c.plan_id),
        "hardware": c.hardware.name,
        "gpu_count": c.gpus,
        "precision": c.precision,
        "backend": c.backend,
        **status_fields(c),
    }
    return cast("PlanSummary", summary)


def multi_node_cells(planner: Planner, model: Model, hardware: Hardware) -> dict[str, MultiNodeCell]:
    """Per host count, the multi-node plan for one GPU type (auto precision and backend), where one
    host of it cannot hold the model at that precision: {"2": cell, ...}; empty where none is needed."""
    request = Request(MAX_GPUS, "exact", "auto", "auto", "latency")
    way = route(model, request, planner.backends)
    candidates = planner.candidates(model, hardware)
    cells: dict[str, MultiNodeCell] = {}
    for nodes in NODE_COUNTS:
        c = first_multi_node((c for c in candidates if c.nodes == nodes), way)
        if c is None:
            continue
        cells[str(nodes)] = {
            "status": "tight" if c.tight else "generic",  # multi-node plans are all generic
            "plan": cast(str, c.plan_id),
            "nodes": nodes,
            "gpus_per_node": c.gpus_per_node,
            "gpu_count": c.gpus,
            "precision": c.precision,
            "backend": c.backend,
            "tight": c.tight,
            "reason": c.message,
        }
    return cells


@dataclass
class Api:
    files: dict[str, bytes]  # path under the output folder -> content
    plans: int
    decisions: int
    lookups: int


@dataclass(frozen=True)
class ModelSection:
    """What one model publishes: its plan, artifact and lookup files and its model record."""

    model_id: str
    files: dict[str, bytes]
    plans: int
    decisions: int


def model_section(planner: Planner, catalogue: Catalogue, model: Model) -> ModelSection:
    """Plan `model` on every GPU type and render what it publishes. Sections of different models
    share nothing, so they can be made in any order (or in parallel: publish/parallel.py)."""
    files: dict[str, bytes] = {}
    decisions = 0
    matrix: dict[str, dict[str, MatrixCell]] = {}
    hosts: dict[str, dict[str, MultiNodeCell]] = {}
    plans: list[PlanSummary] = []
    for hardware in sorted(catalogue.hardware.values(), key=lambda h: h.name):
        lookup, exact = lookup_json(planner, model, hardware)  # makes the throughput plans too
        runnable = [c for c in planner.candidates(model, hardware) if c.plan_id]
        for candidate in runnable + planner.replicated_plans(model, hardware):
            files.update(plan_files(plan_json(planner, model, candidate)))
            plans.append(plan_summary(candidate))
        decisions += len(lookup["decisions"])
        # compact: machines read lookups, and they are many
        files["api/" + layout.lookup_path(hardware.name, model.slug)] = layout.compact_json(lookup)
        matrix[hardware.name] = {str(n): matrix_cell(exact[n]) for n in sorted(exact)}
        cells = multi_node_cells(planner, model, hardware)
        if cells:
            hosts[hardware.name] = cells
    body = model_json(model, catalogue, matrix, plans, hosts)
    files[f"api/models/{model.slug}.json"] = layout.pretty_json(body)
    return ModelSection(model.model_id, files, len(plans), decisions)


def build_api(
    catalogue: Catalogue, planner: Planner, inputs: dict[str, Path], sections: Iterable[ModelSection] | None = None
) -> Api:
    """`inputs`: the catalogue files by their path relative to the catalogue root. `sections`:
    the models' sections already made (in model id order), else they are made here, one by one."""
    files: dict[str, bytes] = schema_files()
    plan_count = decision_count = 0
    models = sorted(catalogue.models.values(), key=lambda m: m.model_id)
    made = sections if sections is not None else (model_section(planner, catalogue, m) for m in models)
    for model, section in zip(models, made, strict=True):
        if section.model_id != model.model_id:
            raise ValueError(f"section of {section.model_id} where {model.model_id} was expected")
        files.update(section.files)
        plan_count += section.plans
        decision_count += section.decisions
    lookups = len(catalogue.models) * len(catalogue.hardware)
    index = {
        "api_version": API_VERSION,
        "generator": f"aim-engine {__version__}",
        "catalogue_digest": catalogue_digest(inputs),
        "models": [model_summary(m) for m in sorted(catalogue.models.values(), key=lambda m: m.model_id)],
        "hardware": {name: hardware_json(h) for name, h in sorted(catalogue.hardware.items())},
        "engines": {
            name: {
                "title": b.data.title,
                "version": b.data.version,
                "images": dict(sorted(b.data.images.items())),
                "default_port": b.data.default_port,
                "image_entrypoint": b.data.image_entrypoint,
                "launch": list(b.data.launch),
            }
            for name, b in sorted(planner.backends.items())
        },
        "counts": {
            "models": len(catalogue.models),
            "recipes": len(catalogue.recipes),
            "plans": plan_count,
            "lookups": lookups,
            "decisions": decision_count,
        },
        "lookup_key_format": layout.key_format(PRECISIONS, sorted(planner.backends)),
        "precisions": list(PRECISIONS),
        "objectives": list(OBJECTIVES),
    }
    files["api/index.json"] = layout.pretty_json(index)
    return Api(files, plan_count, decision_count, lookups)
