"""cache cleanup: the retention policy (pure) and applying it to hand-built caches."""

from __future__ import annotations

from aim_engine.cache.cleanup import plan_cleanup
from aim_engine.cache.index import read_index
from aim_engine.cache.inventory import list_models
from aim_engine.cache.names import iso

from .conftest import DAY, age, build_repo, commit_of, files, run, tree

C1 = commit_of("c1")


def test_plan_cleanup_by_age_then_lru():
    now = 1_000 * DAY
    rows = [
        {
            "model": m,
            "status": "complete",
            "size": size,
            "pinned": pinned,
            "downloading": busy,
            "last_used": iso(now - days * DAY),
        }
        for m, size, days, pinned, busy in (
            ("o/old", 50, 40, False, False),
            ("o/pinned-old", 70, 90, True, False),
            ("o/mid", 30, 10, False, False),
            ("o/new", 20, 1, False, False),
            ("o/busy", 10, 100, False, True),
        )
    ]
    rows.append(
        {"model": "o/gone", "status": "missing", "size": 0, "pinned": False, "downloading": False, "last_used": None}
    )
    removals, notes, total = plan_cleanup(rows, now, 30 * DAY, 105, keep_pinned=True)
    assert [r.model for r in removals] == ["o/old", "o/mid"]  # age first, then least recently used
    assert total == 100 and {"kept o/pinned-old: pinned", "kept o/busy: being downloaded"} == set(notes)
    removals, notes, total = plan_cleanup(rows, now, 30 * DAY, 75, keep_pinned=True)
    assert [r.model for r in removals] == ["o/old", "o/mid", "o/new"]
    assert total == 80 and any("over the" in n for n in notes)  # pinned + busy keep it above the limit
    removals, _, total = plan_cleanup(rows, now, None, 85, keep_pinned=False)
    assert [r.model for r in removals] == ["o/pinned-old", "o/old"] and total == 60
    assert plan_cleanup(rows, now, None, None)[0] == []


def test_cleanup_dry_run_then_for_real(root, capsys):
    for model, size, days in (("org/old", 3000, 45), ("org/recent", 2000, 2), ("org/pinned", 4000, 60)):
        build_repo(root, model, files(size), C1)
        age(root, model, days, pinned=model == "org/pinned")
    before = tree(root / "hub")
    code, out, _ = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--older-than", "30d", "--dry-run")
    assert code == 0 and "would remove org/old" in out and "org/recent" not in out.replace("kept", "")
    assert "kept org/pinned: pinned" in out and tree(root / "hub") == before
    code, out, _ = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--older-than", "30d")
    assert code == 0 and "removed org/old" in out
    assert not (root / "hub" / "models--org--old").exists()
    assert set(read_index(root)[0]) == {"org/recent", "org/pinned"}
    code, out, _ = run(capsys, "cache", "cleanup", "--cache-dir", str(root), "--max-size", "3000", "--no-keep-pinned")
    assert code == 0 and "removed org/pinned" in out and "least recently used" in out
    assert [r["model"] for r in list_models(root)] == ["org/recent"]
