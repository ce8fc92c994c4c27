"""Pictures for the catalogue site, as inline SVG generated at build time (no scripts, no
external fonts or images; every text escaped).

`memory_bar(memory)`: one plan's per-GPU memory as a stacked bar against its budget: weights,
runtime and activations, the KV cache one full-length request takes, and the rest of the KV
cache (what further requests share). The published memory record (api-plan.schema.json
#/$defs/memoryEstimate) is all it reads.

`concurrency_chart(series, max_context)`: per model, how many requests of each context length
fit at once on each GPU type, read from each plan's KV budget and KV bytes per token."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from aim_pick.contract.units import GIB

WIDTH, BAR_Y, BAR_H, HEIGHT = 560, 8, 22, 64
# Colours that read on Material's light and dark schemes.
COLOURS = {
    "weights": "#3f6fb5",
    "runtime": "#e39b2d",
    "kv": "#3a9a5b",
    "free": "#a8d5b5",
    "over": "#c8393f",
}
LABELS = {
    "weights": "weights",
    "runtime": "runtime and activations",
    "kv": "KV of one request",
    "free": "KV for more requests",
    "over": "over budget",
}


def _number(memory: Mapping[str, Any], key: str) -> int:
    value = memory.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"memory record has no number for {key}")
    return max(0, int(value))


def segments(memory: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(kind, bytes) in drawing order; the budget line sits at `budget_bytes_per_gpu`."""
    budget = _number(memory, "budget_bytes_per_gpu")
    weights = _number(memory, "weights_bytes_per_gpu")
    request = _number(memory, "kv_bytes_per_request")
    kv_budget = int(memory.get("kv_budget_bytes_per_gpu") or 0)
    # What the budget holds besides weights and KV: runtime and activations for vLLM (for SGLang,
    # the share of memory used before the weights loaded; its activations live outside the budget).
    runtime = max(0, budget - max(kv_budget, 0) - weights)
    out = [("weights", weights), ("runtime", runtime)]
    room = max(0, kv_budget)
    out.append(("kv", min(request, room)))
    if request > room:
        out.append(("over", request - room))
    else:
        out.append(("free", room - request))
    return [(kind, size) for kind, size in out if size > 0]


def memory_bar(memory: Mapping[str, Any], title: str | None = None) -> Markup:
    """The stacked bar as one line of inline SVG (Markup: safe to place in HTML and Markdown)."""
    budget = _number(memory, "budget_bytes_per_gpu")
    parts = segments(memory)
    total = max(budget, sum(size for _, size in parts), 1)
    scale = WIDTH / total
    shapes: list[str] = []
    x = 0.0
    for kind, size in parts:
        width = size * scale
        tip = html.escape(f"{LABELS[kind]}: {size / GIB:.1f} GiB", quote=True)
        shapes.append(
            f'<rect x="{x:.2f}" y="{BAR_Y}" width="{width:.2f}" height="{BAR_H}" fill="{COLOURS[kind]}">'
            f"<title>{tip}</title></rect>"
        )
        x += width
    line = budget * scale
    shapes.append(
        f'<line x1="{line:.2f}" y1="{BAR_Y - 4}" x2="{line:.2f}" y2="{BAR_Y + BAR_H + 4}" '
        'stroke="currentColor" stroke-width="2"/>'
    )
    legend_x = 0
    for kind, size in parts:
        text = html.escape(f"{LABELS[kind]} {size / GIB:.1f} GiB", quote=False)
        shapes.append(
            f'<rect x="{legend_x}" y="{BAR_Y + BAR_H + 12}" width="10" height="10" fill="{COLOURS[kind]}"/>'
            f'<text x="{legend_x + 14}" y="{BAR_Y + BAR_H + 21}" font-size="11">{text}</text>'
        )
        legend_x += 14 + 7 * len(text) + 12
    width = max(WIDTH + 4, legend_x)
    fits = bool(memory.get("fits"))
    summary = (
        f"{title + ': ' if title else ''}{sum(s for k, s in parts if k != 'free') / GIB:.1f} GiB of a "
        f"{budget / GIB:.1f} GiB budget per GPU, {'fits' if fits else 'does not fit'}"
    )
    label = html.escape(summary, quote=True)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="memory-bar" role="img" aria-label="{label}" '
        f'width="{width}" height="{HEIGHT}" viewBox="0 0 {width} {HEIGHT}" '
        'font-family="system-ui, sans-serif" fill="currentColor">'
        f"<title>{label}</title>{''.join(shapes)}</svg>"
    )


# --- concurrency chart ---------------------------------------------------------------------------

LABEL_W, CELL_W, CELL_H, HEAD_H = 120, 54, 22, 20
FIRST_CONTEXT = 4096


@dataclass(frozen=True)
class ChartSeries:
    """One row of the concurrency chart: a GPU type's plan and the memory figures it is read from."""

    label: str  # e.g. "MI300X × 1"
    kv_budget_bytes: int  # KV cache budget per GPU
    kv_bytes_per_token: int  # KV of one token per GPU
    longest_context: int  # the longest context one request can have on this plan
    replicas: int = 1


def contexts(max_context: int) -> list[int]:
    """Context lengths the chart shows: powers of two from 4K up to the model's maximum, and the maximum."""
    out, length = [], FIRST_CONTEXT
    while length < max_context:
        out.append(length)
        length *= 2
    out.append(max_context)
    return out


def requests_at(series: ChartSeries, context: int) -> int:
    """How many requests of `context` tokens fit in the KV budget at once (0 when one does not)."""
    if context > series.longest_context or series.kv_bytes_per_token <= 0:
        return 0
    return series.replicas * (series.kv_budget_bytes // (series.kv_bytes_per_token * context))


def _context_text(tokens: int) -> str:
    if tokens % (1024 * 1024) == 0:
        return f"{tokens // (1024 * 1024)}M"
    return f"{tokens // 1024}K" if tokens % 1024 == 0 else f"{tokens / 1000:.0f}k"


def concurrency_chart(series: list[ChartSeries], max_context: int) -> Markup:
    """A grid, one row per GPU type and one column per context length, each cell the number of
    requests of that length that fit at once (darker: more). Inline SVG, every text escaped."""
    columns = contexts(max_context)
    width = LABEL_W + CELL_W * len(columns)
    height = HEAD_H + CELL_H * len(series) + 4
    peak = max((requests_at(s, c) for s in series for c in columns), default=0)
    parts: list[str] = []
    for i, context in enumerate(columns):
        x = LABEL_W + CELL_W * i + CELL_W / 2
        parts.append(f'<text x="{x:.0f}" y="14" font-size="11" text-anchor="middle">{_context_text(context)}</text>')
    for row, s in enumerate(series):
        y = HEAD_H + CELL_H * row
        label = html.escape(s.label, quote=False)
        parts.append(f'<text x="0" y="{y + 15}" font-size="11">{label}</text>')
        for i, context in enumerate(columns):
            count = requests_at(s, context)
            x = LABEL_W + CELL_W * i
            # Shade by the logarithm: 1 and 2 requests must look different, 200 and 400 barely.
            shade = 0.08 + 0.8 * (math.log1p(count) / math.log1p(peak)) if count and peak else 0.0
            tip = html.escape(f"{s.label}: {count} request(s) of {context:,} tokens at once", quote=False)
            parts.append(
                f'<rect x="{x + 1}" y="{y + 1}" width="{CELL_W - 2}" height="{CELL_H - 2}" '
                f'fill="{COLOURS["kv"]}" fill-opacity="{shade:.2f}" stroke="currentColor" stroke-opacity="0.15">'
                f"<title>{tip}</title></rect>"
                f'<text x="{x + CELL_W / 2:.0f}" y="{y + 15}" font-size="11" text-anchor="middle">'
                f"{count if count else '–'}</text>"
            )
    summary = html.escape("Concurrent requests that fit, by context length (columns) and GPU type (rows)", quote=True)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="aim-chart" role="img" aria-label="{summary}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="system-ui, sans-serif" fill="currentColor">'
        f"<title>{summary}</title>{''.join(parts)}</svg>"
    )
