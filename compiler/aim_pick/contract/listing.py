"""How a decision's candidates are listed for a person: `aim-engine plan` and `aim-pick --format
explain` print the same listing from the same candidate records (api-lookup.schema.json
#/$defs/candidate, plus the verdict and reason a request gave each).

The listing groups what was considered: the chosen plan, runnable alternatives, candidates that
need more memory (with the context that would fit), and incompatible ones. It is short by
default: a sibling GPU's copy of a recipe is not listed where this GPU's own recipe gives the
same GPU count, precision and backend, and incompatible candidates are summarised by reason
("27 candidates [too-many-gpus]"). `everything=True` (`--all`) lists every line.

Each candidate is labelled by what it is (`Qwen3-32B vllm bf16 TP4 (tuned)`), not by its id.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (aim-pick's start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

SECTIONS = (
    ("chosen", "CHOSEN"),
    ("runnable", "RUNNABLE ALTERNATIVES"),
    ("low-memory", "NEED MORE MEMORY (would fit with a shorter context)"),
    ("rejected", "INCOMPATIBLE"),
)
STATUS_WORDS = {"recipe": "tuned", "sibling": "derived", "generic": "generic"}
HOST_GPUS = 8  # GPUs of one host a plan uses at most; more is a multi-node plan


def replicas(candidate_id: str) -> int:
    """Data-parallel replicas of a candidate: its id ends in /dp<R> when replicated."""
    tail = candidate_id.rsplit("/", 1)[-1]
    return int(tail[2:]) if tail.startswith("dp") and tail[2:].isdigit() else 1


def model_name(model_id: str) -> str:
    """The short name a listing uses: the Hugging Face id without its organisation."""
    return model_id.rsplit("/", 1)[-1]


def label(c: Mapping[str, Any], model: str) -> str:
    """What the candidate is, e.g. "Qwen3-32B vllm bf16 TP4 (tuned)", "Qwen3-8B vllm fp16 TP1 x8
    replicas (tuned)", "Qwen3-32B sglang fp8 (no recipe)"."""
    head = " ".join(str(part) for part in (model, c.get("backend"), c.get("precision")) if part)
    if c.get("candidate") is None or c.get("recipe") is None and c.get("plan") is None:
        count = f" {c['gpus']} GPU" if c.get("reason") == "no-entry" and c.get("gpus") else ""
        return f"{head}{count} (no {'entry' if count else 'recipe'})"
    r = replicas(str(c.get("candidate")))  # `gpus` is per replica
    gpus = int(c.get("gpus") or 0)
    if gpus > HOST_GPUS:  # multi-node: tensor parallel inside a host, and per host a pipeline stage or a DP rank
        hosts = gpus // HOST_GPUS
        across = f"DP{hosts}, EP{gpus}" if c.get("layout") == "expert-data" else f"PP{hosts}"
        shape = f"TP{HOST_GPUS} x {across} ({hosts} hosts)"
    else:
        shape = f"TP{gpus}" + (f" x{r} replicas" if r > 1 else "")
    word = STATUS_WORDS.get(str(c.get("source")), "derived" if c.get("derived") else "tuned")
    if c.get("source_hardware") and word == "derived":
        word += f" from {c['source_hardware']}"
    if c.get("tight"):
        word += ", tight"
    return f"{head} {shape} ({word})"


def _own_steps(candidates: Iterable[Mapping[str, Any]]) -> set[tuple[Any, Any, Any]]:
    return {
        (c.get("gpus"), c.get("precision"), c.get("backend"))
        for c in candidates
        if c.get("source") == "recipe" and c.get("verdict") in ("chosen", "runnable")
    }


def lines(candidates: list[Mapping[str, Any]], model: str, everything: bool = False) -> list[str]:
    """The listing, section by section (each section's title, then its lines; no trailing blank)."""
    own = _own_steps(candidates)
    out: list[str] = []
    for verdict, title in SECTIONS:
        group = [c for c in candidates if c.get("verdict") == verdict]
        hidden = 0
        if verdict == "runnable" and not everything:
            shown = [
                c
                for c in group
                if c.get("source") != "sibling" or (c.get("gpus"), c.get("precision"), c.get("backend")) not in own
            ]
            hidden, group = len(group) - len(shown), shown
        if not group and not hidden:
            continue
        out += ["", f"{title} ({len(group) + hidden})" if verdict != "chosen" else title]
        if verdict == "rejected" and not everything:
            out += _summary(group, model)
        else:
            width = max((len(label(c, model)) for c in group), default=0)
            for c in group:
                plan = f"  {c['plan']}" if c.get("plan") and verdict != "rejected" else ""
                out.append(f"  {label(c, model):<{width}}{plan}  [{c.get('reason')}] {c.get('message')}")
        if hidden:
            out.append(f"  ({hidden} copies of this GPU's own recipes from a sibling GPU not listed; --all lists them)")
    return out


def _summary(group: list[Mapping[str, Any]], model: str) -> list[str]:
    """Incompatible candidates by reason, in the order reasons first appear; a reason met once
    keeps its own line."""
    by_reason: dict[str, list[Mapping[str, Any]]] = {}
    for c in group:
        by_reason.setdefault(str(c.get("reason")), []).append(c)
    out = []
    for reason, items in by_reason.items():
        first = items[0]
        if len(items) == 1:
            out.append(f"  {label(first, model)}  [{reason}] {first.get('message')}")
        else:
            out.append(f"  {len(items)} candidates [{reason}], e.g. {label(first, model)}: {first.get('message')}")
    if len(group) > len(by_reason):
        out.append("  (--all lists every candidate)")
    return out


def precision_not_offered(lookup: Mapping[str, Any], precision: str, offered: list[str]) -> dict[str, Any]:
    """The one listing line for a precision no checkpoint, variant or recipe of the model offers."""
    return {
        "plan": None,
        "precision": precision,
        "verdict": "rejected",
        "reason": "precision-not-offered",
        "message": f"no {precision} checkpoint or recipe for {lookup['model']} on {lookup['hardware']}; "
        f"offered here: {', '.join(offered) or 'none'}",
    }
