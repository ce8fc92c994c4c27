"""Presenting a planning decision: as JSON, and as a NIM `list-model-profiles`-style
listing where every line carries its reason."""

from __future__ import annotations

from typing import Any

from aim_engine.catalogue.records import Hardware, Model
from aim_engine.planning.planner import Considered, Decision, Verdict
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
        "gpus": c.gpus if c else gpus,  # all the GPUs a replicated plan uses
        "precision": precision,
        "backend": backend,
        "derived": source == "sibling",
        "source": source.value,
        "tight": bool(c and c.tight),
        "source_hardware": c.source_hardware if c else None,
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


GROUPS = (
    (Verdict.CHOSEN, "CHOSEN"),
    (Verdict.RUNNABLE, "RUNNABLE ALTERNATIVES"),
    (Verdict.LOW_MEMORY, "LOW MEMORY (would fit with a shorter context)"),
    (Verdict.REJECTED, "INCOMPATIBLE"),
)


def _label(x: Considered) -> str:
    if x.candidate is not None and x.candidate.plan_id:
        return x.candidate.plan_id
    if x.candidate is not None:
        return x.candidate.candidate_id
    gpus, precision, backend, _ = x.step
    return f"({backend} {precision}" + (f" {gpus} GPU)" if x.reason.code == "no-entry" else ")")


def render_text(decision: Decision, model: Model, hardware: Hardware) -> str:
    r = decision.request
    count = f"exactly {r.n} requested" if r.count_mode == "exact" else f"auto, target {decision.target_count} of {r.n}"
    lines = [
        f"{model.model_id} on {hardware.name} ({hardware.gfx_target}, {gib(hardware.memory_bytes)} per GPU)",
        f"request: GPUs {count}; precision {r.precision} -> {decision.target_precision} first; "
        f"backends {', '.join(decision.backends)}; objective {r.objective}",
    ]
    width = max((len(_label(x)) for x in decision.considered), default=20)
    for verdict, title in GROUPS:
        group = [x for x in decision.considered if x.verdict is verdict]
        if not group:
            continue
        lines += ["", title]
        for x in group:
            lines.append(f"  {_label(x):<{width}}  {x.reason.code:<23} {x.message}")
    if decision.chosen is None:
        lines += ["", "No plan: every candidate is listed above with the reason it cannot run."]
    else:
        c = decision.chosen
        words = [c.source.word] + (["measured"] if c.measured else []) + (["tight"] if c.tight else [])
        layout = f"{c.replicas} replicas x {c.gpus_per_replica} GPU(s)" if c.replicas > 1 else f"{c.gpus} GPU(s)"
        lines += ["", f"Plan: {c.plan_id} ({', '.join(words)}; {layout})"]
        lines += [f"warning: {w}" for w in decision.warnings]
    return "\n".join(printable(line) for line in lines)  # data (names, notes) never adds a line
