"""Serving configurations published as working on AMD Instinct GPUs (vLLM's recipes, AMD's
InferenceX / InferenceMAX benchmark scripts, SGLang's AMD docs and cookbook, aim-build's
profiles, KubeAI), each written in our recipe format in tests/checks/corpus/ with its source
and the verdict established from the pinned engines' source. The validator must reach the
same verdict with the same finding codes. Published configurations that use options since
removed are expected rejects; the finding names the replacement.

A fixture whose `expected.known_gap` is set records a verdict the validator does not reach
yet (the gap names the code at fault): it runs as a strict xfail, so fixing the gap fails it
until the fixture is updated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from aim_engine.checks.diagnostics import Check, Severity
from tests import yamlio
from tests.conftest import validate_text

CORPUS = Path(__file__).with_name("corpus")
VERDICTS = ("accept", "accept-with-warnings", "reject")
# Codes that mean the engine's own argument parser refuses the command line.
PARSER_CODES = frozenset(c.slug for c in (Check.REMOVED_FLAG, Check.UNKNOWN_FLAG, Check.FLAG_VALUE, Check.FLAG_CHOICE))


@dataclass(frozen=True)
class Published:
    """One corpus fixture: a published configuration and what validating it must say."""

    path: Path
    id: str
    source: dict[str, Any]
    recipe: dict[str, Any]
    verdict: str
    findings: frozenset[str]
    why: str
    known_gap: str | None


def load_corpus() -> list[Published]:
    out = []
    for path in sorted(CORPUS.glob("*.yaml")):
        data = yamlio.safe_load(path.read_text(encoding="utf-8"))
        expected = data["expected"]
        out.append(
            Published(
                path,
                data["id"],
                data["source"],
                data["recipe"],
                expected["verdict"],
                frozenset(expected["findings"]),
                expected.get("why") or "",
                expected.get("known_gap"),
            )
        )
    return out


PUBLISHED = load_corpus()


def verdict_of(found: list) -> tuple[str, frozenset[str]]:
    """What a recipe author reads off `aim-engine validate`: the verdict and the codes."""
    codes = frozenset(d.check.slug for d in found)
    if any(d.severity is Severity.ERROR for d in found):
        return "reject", codes
    return ("accept-with-warnings" if found else "accept"), codes


def test_the_corpus_is_large_sourced_and_judged():
    assert len(PUBLISHED) >= 40
    assert len({p.id for p in PUBLISHED}) == len(PUBLISHED)
    for p in PUBLISHED:
        assert p.path.stem == p.id
        src = p.source
        pinned = bool(
            src.get("repository") and src.get("path") and re.fullmatch(r"[0-9a-f]{40}", src.get("commit", ""))
        )
        assert pinned or str(src.get("url", "")).startswith("https://"), p.id
        assert p.verdict in VERDICTS and p.why, p.id
        assert (p.verdict == "accept") == (not p.findings), p.id
    # Every kind of verdict is represented, and removed options among the rejects.
    assert {p.verdict for p in PUBLISHED} == set(VERDICTS)
    assert sum(Check.REMOVED_FLAG.slug in p.findings for p in PUBLISHED) >= 10


def _params():
    for p in PUBLISHED:
        marks = [pytest.mark.xfail(strict=True, reason=p.known_gap)] if p.known_gap else []
        yield pytest.param(p, id=p.id, marks=marks)


@pytest.mark.parametrize("published", list(_params()))
def test_the_validator_agrees_with_the_engines(tmp_path, published: Published):
    text = yaml.safe_dump(published.recipe, sort_keys=False, width=1000)
    found = validate_text(tmp_path, text)
    verdict, codes = verdict_of(found)
    lines = [d.format_text() for d in found]
    assert (verdict, codes) == (published.verdict, published.findings), (published.why, lines)
    for d in found:
        if d.check is Check.REMOVED_FLAG:
            assert "use " in d.message or "removed" in d.message, d.message  # says what replaced it, or why
