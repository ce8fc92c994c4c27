"""Presenting a planning decision: as JSON, and as a NIM `list-model-profiles`-style
listing where every line carries its reason."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aim_engine.catalogue.records import Hardware, Model
from aim_engine.planning.planner import Considered, Decision, Verdict
from aim_pick.contract import listing
from aim_pick.contract.text import printable
from aim_pick.contract.units import gib


def considered_dict(x: Considered, intrinsic: bool = False) -> dict[str, Any]:
    """One candidate line. `intrinsic`: the candidate's own verdict rather than the one
    a particular request gave it."""
    c = x.candidate
    judged = c if (intrinsic and c is not None) else x
    gpus, precision, backend, source = x.step
    return {
        "plan": c.plan_id if c else None,
        "candidate": c.candidate_id if c else None,
        "recipe": c.recipe.recipe_id if c else None,
        "entry": c.entry.key if c else None,
        "gpus": gpus,  # per replica (the step); a /dp<R> candidate uses R times as many
        "precision": precision,
        "backend": backend,
        "derived": source == "sibling",
        "source": source.value,
        "tight": bool(c and c.tight),
        "source_hardware": c.source_hardware if c else None,
        "layout": c.layout.name if c and c.layout else None,  # how a multi-node candidate spans its hosts
        "verdict": judged.verdict.value,
        "reason": judged.reason.code,
        "message": judged.message,
        "memory": c.memory.as_dict() if c and c.memory else None,
    }


def decision_dict(decision: Decision) -> dict[str, Any]:
    r = decision.request
    return {
        "model": decision.model,
        "hardware": decision.hardware,
        "request": {
            "n": r.n,
            "count_mode": r.count_mode,
            "precision": r.precision,
            "backend": r.backend,
            "objective": r.objective,
        },
        "target": {
            "gpu_count": decision.target_count,
            "precision": decision.target_precision,
            "backends": list(decision.backends),
        },
        "plan": decision.chosen.plan_id if decision.chosen else None,
        "warnings": decision.warnings,
        "candidates": [considered_dict(x) for x in decision.considered],
    }


def render_text(decision: Decision, model: Model, hardware: Hardware, everything: bool = False) -> str:
    """The decision as `aim-engine plan` prints it (aim_pick.contract.listing; `everything`: --all)."""
    r = decision.request
    count = f"exactly {r.n} requested" if r.count_mode == "exact" else f"auto, target {decision.target_count} of {r.n}"
    lines = [
        f"{model.model_id} on {hardware.name} ({hardware.gfx_target}, {gib(hardware.memory_bytes)} per GPU)",
        f"request: GPUs {count}; precision {r.precision} -> {decision.target_precision} first; "
        f"backends {', '.join(decision.backends)}; objective {r.objective}",
    ]
    chosen = decision.chosen
    shown = [
        # a throughput plan is listed as what it is (the replicated candidate), not its one replica
        replace(x, candidate=chosen) if chosen is not None and x.verdict is Verdict.CHOSEN else x
        for x in decision.considered
    ]
    lines += listing.lines([considered_dict(x) for x in shown], listing.model_name(model.model_id), everything)
    if decision.chosen is None:
        lines += ["", "No plan: every candidate is listed above with the reason it cannot run (--all: one per line)."]
    else:
        c = decision.chosen
        words = [c.source.word] + (["measured"] if c.measured else []) + (["tight"] if c.tight else [])
        layout = f"{c.replicas} replicas x {c.gpus_per_replica} GPU(s)" if c.replicas > 1 else f"{c.gpus} GPU(s)"
        lines += ["", f"Plan: {c.plan_id} ({', '.join(words)}; {layout})"]
        lines += [f"warning: {w}" for w in decision.warnings]
    return "\n".join(printable(line) for line in lines)  # data (names, notes) never adds a line
