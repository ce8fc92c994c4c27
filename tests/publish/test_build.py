"""`aim-engine build`: the API files of the design contract, complete, consistent and
byte-reproducible."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from aim_engine.build import CatalogueInvalid, build
from aim_engine.catalogue.load import PRECISIONS
from aim_engine.cli import main
from aim_engine.publish.fsutil import BUILD_MARKER, OutputDirError
from aim_pick.contract.layout import slug
from tests.catalogues import copy_models
from tests.conftest import REPO, SMALL_MODELS


def read(path: Path):
    return json.loads(path.read_text())


def test_index_lists_everything(built, catalogue):
    index = read(built / "api" / "index.json")
    assert {m["model_id"] for m in index["models"]} == set(catalogue.models)
    assert set(index["hardware"]) == set(catalogue.hardware)
    assert index["engines"]["vllm"]["version"] == "0.33.0" and index["engines"]["sglang"]["version"] == "0.5.23"
    assert index["counts"]["plans"] == len(list((built / "api" / "plans").iterdir()))
    assert len(index["catalogue_digest"]) == 64


@pytest.mark.slow
def test_lookup_files_answer_every_key_consistently(built, catalogue):
    index = read(built / "api" / "index.json")
    plans_dir = built / "api" / "plans"
    plan_cache = {}
    checked = 0
    for model in catalogue.models.values():
        for hw in catalogue.hardware:
            lookup = read(built / "api" / "lookup" / hw / f"{slug(model.model_id)}.json")
            assert lookup["model"] == model.model_id and lookup["hardware"] == hw
            assert set(lookup["precisions"]) <= set(PRECISIONS)
            # a key for every request aim-pick can make: precisions no candidate offers have no key
            # (aim-pick says "precision-not-offered" for them)
            expected = {
                f"{n}/{mode}/{precision}/{backend}/{objective}"
                for n in range(1, 9)
                for mode in ("auto", "exact")
                for precision in ("auto", *lookup["precisions"])
                for backend in ("auto", "sglang", "vllm")
                for objective in index["objectives"]
            }
            assert set(lookup["keys"]) == expected
            for key, decision_id in lookup["keys"].items():
                n, _mode, precision, backend, objective = key.split("/")
                decision = lookup["decisions"][decision_id]
                for cid, _verdict in decision["path"]:
                    assert cid in lookup["candidates"]
                    referenced = lookup["candidates"][cid]["plan"]
                    if referenced:
                        assert (plans_dir / f"{referenced}.json").exists()
                plan_id = decision["plan"]
                checked += 1
                if plan_id is None:
                    assert all(v != "chosen" for _, v in decision["path"])
                    continue
                assert [v for _, v in decision["path"]].count("chosen") == 1
                if plan_id not in plan_cache:
                    plan_cache[plan_id] = read(plans_dir / f"{plan_id}.json")
                plan = plan_cache[plan_id]
                assert plan["model"] == model.model_id and plan["hardware"] == hw
                assert plan["gpu_count"] <= int(n)
                assert precision == "auto" or plan["precision"] == precision
                assert backend == "auto" or plan["backend"] == backend
                assert objective == "throughput" or plan["replicas"] == 1
                # SGLang starts with a pool shorter than one full request (a tight plan, with a warning)
                assert plan["memory"]["fits"] or (plan["backend"] == "sglang" and plan["tight"])
    assert checked == sum(len(read(f)["keys"]) for f in (built / "api" / "lookup").glob("*/*.json"))


def test_plan_json_has_the_contract_fields(built, catalogue):
    plan = read(built / "api" / "plans" / "qwen3-32b-mi300x-bf16-vllm-tp4.json")
    for field in (
        "recipe_id",
        "entry",
        "model",
        "checkpoint",
        "hardware",
        "gpu_count",
        "precision",
        "backend",
        "image",
        "engine_argv",
        "env",
        "memory",
        "status",
        "source",
        "measured",
        "tight",
        "objective",
        "replicas",
        "gpus_per_replica",
        "warnings",
        "recipe_status",
    ):
        assert field in plan
    for field in (
        "weights_bytes_per_gpu",
        "kv_bytes_per_token_per_gpu",
        "overhead_bytes_per_gpu",
        "total_bytes_per_gpu",
        "budget_bytes_per_gpu",
        "max_model_len_that_fits",
    ):
        assert isinstance(plan["memory"][field], int)
    assert plan["engine_argv"][:2] == ["vllm", "serve"]
    assert plan["image"] == "vllm/vllm-openai-rocm:v0.33.0"
    recipe = catalogue.recipes[plan["recipe_id"]]
    # a recipe's plan is "tuned"; the recipe's own word is kept, and only a measured one counts as measured
    assert plan["source"] == "recipe" and plan["status"] == "tuned" and plan["recipe_status"] == recipe.status
    assert plan["measured"] == (recipe.status == "verified")
    assert plan["objective"] == "latency" and plan["replicas"] == 1 and plan["gpus_per_replica"] == 4
    sglang = read(built / "api" / "plans" / "qwen3-32b-mi355x-bf16-sglang-tp2.json")
    assert sglang["container_argv"][:3] == ["python3", "-m", "sglang.launch_server"]
    assert sglang["image"].endswith("-mi35x")
    assert "--tp-size" in sglang["container_argv"]


VERIFIED = re.compile(r"(?<![a-z])verified", re.IGNORECASE)  # "unverified" figures are another matter


@pytest.mark.slow
def test_nothing_unmeasured_is_called_verified(built):
    """Only a plan whose own recipe was measured on its GPU may say "verified", in its JSON or
    in any artifact rendered from it; lookups and support matrices never say it."""
    measured = set()
    for path in (built / "api" / "plans").glob("*.json"):
        plan = read(path)
        text = path.read_text()
        if plan["measured"]:
            assert plan["source"] == "recipe" and plan["recipe_status"] == "verified"
            measured.add(plan["plan_id"])
        else:
            assert not VERIFIED.search(text), path.name
    for folder in ("compose", "k8s", "env", "docker"):
        for path in (p for p in (built / folder).rglob("*") if p.is_file()):
            # compose/<id>.yaml, env/<id>.env, docker/<id>[-leader|-worker].sh, k8s/<id>/<file>
            top = path.relative_to(built / folder).parts[0]
            plan_id = top.split(".")[0].removesuffix("-leader").removesuffix("-worker")
            if plan_id not in measured:
                assert not VERIFIED.search(path.read_text()), path
    for path in (built / "api" / "lookup").glob("*/*.json"):
        assert not VERIFIED.search(path.read_text()), path
    for path in (built / "api" / "models").glob("*.json"):
        assert not VERIFIED.search(json.dumps(read(path)["support_matrix"])), path


def test_support_matrix(built):
    model = read(built / "api" / "models" / "Qwen--Qwen3-32B.json")
    matrix = model["support_matrix"]
    assert matrix["MI300X"]["4"]["status"] == "tuned"
    assert matrix["MI308X"]["4"]["status"] == "derived"  # the MI300X recipe, on a sibling GPU
    assert matrix["MI210"]["8"]["status"] == "generic"  # no recipe names MI210 or a sibling of it
    assert matrix["MI210"]["8"]["plan"].endswith("-generic")
    big = read(built / "api" / "models" / "meta-llama--Llama-3.1-405B-Instruct.json")["support_matrix"]
    assert big["MI300X"]["1"]["status"] == "does-not-fit"
    assert big["MI300X"]["8"]["status"] == "tuned"


# One model of each kind the planner and renderers treat differently: dense GQA, MLA with
# multi-node plans, MXFP4 MoE, a 405B that needs several hosts, hybrid linear attention,
# sliding windows with a vision encoder.
VARIED_MODELS = (
    *SMALL_MODELS,
    "deepseek-r1",
    "gpt-oss-120b",
    "llama-3.1-405b-instruct",
    "qwen3-next-80b-a3b-instruct",
    "gemma-3-27b-it",
)


@pytest.mark.slow
def test_two_builds_are_byte_identical_with_or_without_workers(tmp_path):
    """One build in one process and one with two worker processes (publish/parallel.py) write
    the same bytes, the zipapp's compiled modules included."""
    root = copy_models(REPO, tmp_path / "cat", VARIED_MODELS)
    built, again = tmp_path / "first", tmp_path / "again"
    build(root, built, site=False, jobs=1)
    build(root, again, site=False, jobs=2)

    def contents(root):  # every published file; the marker records the folder's own identity
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != BUILD_MARKER}

    first, second = contents(built), contents(again)
    assert first.keys() == second.keys()
    assert first == second


def test_build_refuses_a_folder_it_did_not_make(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(OutputDirError):
        build(REPO, precious)
    assert (precious / "thesis.txt").read_text() == "do not delete"


@pytest.mark.slow
def test_build_stops_on_validation_errors(small_catalogue, tmp_path):
    recipe = small_catalogue / "recipes" / "qwen3-8b-mi300x-bf16.yaml"
    recipe.write_text(recipe.read_text().replace("--max-model-len", "--max-modle-len", 1))
    with pytest.raises(CatalogueInvalid) as err:
        build(small_catalogue, tmp_path / "out")
    assert err.value.report.errors
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_rebuild_replaces_previous_output(small_catalogue, tmp_path):
    out = tmp_path / "out"
    build(small_catalogue, out)
    (out / "api" / "plans" / "stale.json").write_text("{}")
    build(small_catalogue, out)
    assert not (out / "api" / "plans" / "stale.json").exists()


@pytest.mark.slow
def test_cli_build_and_plan(small_catalogue, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(small_catalogue)
    assert main(["build", "--out", str(tmp_path / "o")]) == 0
    assert "plans" in capsys.readouterr().out
    assert main(["plan", "Qwen/Qwen3-32B", "--gpu", "MI300X", "--gpus", "4"]) == 0
    out = capsys.readouterr().out
    assert out.index("CHOSEN") < out.index("RUNNABLE ALTERNATIVES") < out.index("INCOMPATIBLE")
    assert "Qwen3-32B vllm bf16 TP4 (tuned)  qwen3-32b-mi300x-bf16-vllm-tp4  [chosen]" in out.split("RUNNABLE")[0]
    assert main(["plan", "Qwen/Qwen3-32B", "--gpu", "MI300X", "--gpus", "4", "--all"]) == 0
    assert len(capsys.readouterr().out) > len(out)  # every candidate, one line each
    assert main(["plan", "qwen3-32b", "--gpu", "mi300x", "--gpus", "4", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["plan"] == "qwen3-32b-mi300x-bf16-vllm-tp4"
    assert all(c["verdict"] and c["reason"] and c["message"] for c in decision["candidates"])
    assert main(["plan", "Qwen/Qwen3-32B", "--gpu", "MI210", "--gpus", "1"]) == 3  # 61 GiB of bf16 weights
    assert "No plan" in capsys.readouterr().out
    # --nodes: a multi-node plan even where one host would do (a dense model: TP inside a host, PP across hosts)
    assert main(["plan", "Qwen/Qwen3-8B", "--gpu", "MI300X", "--nodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "TP8 x PP2 (2 hosts)" in out and "warning: multi-node plan: 2 hosts x 8 MI300X" in out
    with pytest.raises(SystemExit) as usage:
        main(["plan", "Qwen/Qwen3-8B", "--gpu", "MI300X", "--nodes", "3"])
    assert usage.value.code == 2 and "invalid choice: 3 (choose from 2, 4)" in capsys.readouterr().err
    assert main(["plan", "nope/nope", "--gpu", "MI300X"]) == 2
    assert main(["plan", "Qwen/Qwen3-8B", "--gpu", "MI999X"]) == 2


# --- build output safety ------------------------------------------------------------------


def test_out_may_not_hold_or_sit_in_the_catalogue(copy_catalogue):
    for out in (
        copy_catalogue,
        copy_catalogue.parent,
        copy_catalogue / "models" / "build",
        copy_catalogue / "recipes" / "x",
    ):
        with pytest.raises(OutputDirError):
            build(copy_catalogue, out, site=False)
    assert sorted(p.name for p in copy_catalogue.iterdir()) == ["models", "recipes"]


@pytest.mark.slow
def test_an_earlier_build_holding_the_catalogue_is_not_replaced(small_catalogue, tmp_path):
    out = tmp_path / "x"
    build(small_catalogue, out, site=False)
    shutil.copytree(small_catalogue, out / "cat")  # the catalogue now lives inside an earlier build
    with pytest.raises(OutputDirError, match="contains"):
        build(out / "cat", out, site=False)
    assert (out / "cat" / "models").is_dir()


def test_a_copied_marker_does_not_make_a_folder_replaceable(built, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    shutil.copy2(built / BUILD_MARKER, mine / BUILD_MARKER)
    with pytest.raises(OutputDirError, match="not made by aim-engine build"):
        build(REPO, mine, site=False)
    assert (mine / "notes.txt").read_text() == "keep"


@pytest.mark.slow
def test_leftovers_of_killed_builds_are_removed_and_output_is_readable(small_catalogue, tmp_path):
    out = tmp_path / "out"
    stale = tmp_path / ".out.new-killed"
    (stale / "api").mkdir(parents=True)
    (stale / ".aim-engine-owner").write_text("999999999\n")  # above Linux's pid limit: no such process
    old = tmp_path / ".out.old-killed"
    (old / "tree").mkdir(parents=True)
    previous = os.umask(0o022)
    try:
        build(small_catalogue, out, site=False)
    finally:
        os.umask(previous)
    assert not stale.exists() and not old.exists()
    assert stat.S_IMODE(out.stat().st_mode) == 0o755  # the umask's mode, not mkdtemp's 0700


def test_path_problems_are_one_line(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OutputDirError, match="is a file, not a folder"):
        build(REPO, a_file / "out", site=False)
    with pytest.raises(OutputDirError, match="is a file, not a folder"):
        build(REPO, a_file, site=False)


def test_a_matrix_cell_of_entries_disabled_for_memory_says_does_not_fit(catalogue):
    # DeepSeek-R1's MI300X recipe disables 1_gpu and 2_gpu because they cannot hold it: the cell
    # says "does not fit" (as on MI308X, same memory), not "not supported"
    from aim_engine.planning.planner import Planner
    from aim_engine.publish.api import matrix_cell

    planner, model = Planner(catalogue), catalogue.models["deepseek-ai/DeepSeek-R1"]
    for n in (1, 2):
        cell = matrix_cell(planner.plan(model, catalogue.hardware["MI300X"], n, "exact"))
        assert cell["status"] == "does-not-fit" and "does not fit" in cell["reason"], (n, cell)
    assert matrix_cell(planner.plan(model, catalogue.hardware["MI300X"], 8, "exact"))["status"] == "tuned"
