"""The published API against its JSON Schemas (compiler/aim_engine/publish/schemas/,
shipped as build/api/schemas/): every file of a real build validates, the schemas are valid
and agree with the planner's vocabularies and with the TypedDicts of
aim_pick/contract/records.py, and what a schema cannot say (references between records)
is checked here in Python."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import cache
from importlib import resources
from itertools import product
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest

from aim_engine.catalogue.load import PRECISIONS
from aim_engine.catalogue.records import (
    Attention,
    CheckpointSize,
    EngineServing,
    Indexer,
    LinearAttention,
    Multimodal,
    Serving,
)
from aim_engine.planning.planner import MAX_GPUS, OBJECTIVES, Reason, Source, Verdict
from aim_engine.planning.policy import HEADROOM_REQUESTS
from aim_engine.publish.api import COUNT_MODES, model_json
from aim_pick.contract import layout, records
from tests.conftest import REPO

KINDS = ("index", "model", "plan", "lookup")
SCHEMA_FOLDER = "schemas"  # api/schemas/<name>.schema.json (aim_engine.publish.api.schema_files)
# aim-pick's own reasons, never published
PICK_REASONS = ("partition-too-small", "profile", "profile-refused", "precision-not-offered", "objective-not-requested")
WORDS = {s.value: s.word for s in Source}  # plan source -> the status word shown for it
# a lookup file's key_format: the values each part of a key takes, "|"-separated
KEY_FORMAT = re.compile(r"<n>/<count mode: ([^>]*)>/<precision: ([^>]*)>/<backend: ([^>]*)>/<objective: ([^>]*)>")


@cache
def schema(kind: str) -> dict[str, Any]:
    folder = resources.files("aim_engine.publish") / "schemas"
    return json.loads((folder / f"api-{kind}.schema.json").read_text("utf-8"))


@cache
def validator(kind: str) -> jsonschema.protocols.Validator:
    spec = schema(kind)
    return jsonschema.validators.validator_for(spec)(spec)


def errors(kind: str, data: Any) -> list[str]:
    """Each problem as "<where>: [<keyword>] <message>" (messages quoting a long value are cut)."""
    return sorted(f"{e.json_path}: [{e.validator}] {e.message[:300]}" for e in validator(kind).iter_errors(data))


def kind_of(relative: str) -> str | None:
    """The record kind of a path under api/, decided by the contract's layout."""
    parts = relative.split("/")
    stem = parts[-1].removesuffix(".json")
    if relative == layout.INDEX:
        return "index"
    if relative == layout.model_path(stem):
        return "model"
    if relative == layout.plan_path(stem):
        return "plan"
    if len(parts) == 3 and relative == layout.lookup_path(parts[1], stem):
        return "lookup"
    if len(parts) == 2 and parts[0] == SCHEMA_FOLDER and parts[1].endswith(".schema.json"):
        return "schema"
    return None


def api_files(built: Path) -> dict[str, list[Path]]:
    """Every file under api/ by kind; a file of no known kind fails the test."""
    root = built / "api"
    out: dict[str, list[Path]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        kind = kind_of(path.relative_to(root).as_posix())
        assert kind is not None, f"{path.relative_to(root)} has no schema (a new kind of file?)"
        out.setdefault(kind, []).append(path)
    return out


def read(path: Path) -> Any:
    return json.loads(path.read_bytes())


def _problems(job: tuple[str, list[str]]) -> list[str]:
    kind, paths = job
    return [f"{path}: {problem}" for path in paths for problem in errors(kind, read(Path(path)))]


def validate_all(jobs: list[tuple[str, list[Path]]]) -> list[str]:
    """Schema problems of every file, spread over the CPUs (jsonschema is pure Python)."""
    chunks = [(kind, [str(p) for p in paths[i : i + 40]]) for kind, paths in jobs for i in range(0, len(paths), 40)]
    workers = min(os.cpu_count() or 1, 8)
    if workers == 1:
        return [p for chunk in chunks for p in _problems(chunk)]
    with ProcessPoolExecutor(workers) as pool:
        return [p for found in pool.map(_problems, chunks) for p in found]


# --- the schemas themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_schema_is_a_valid_2020_12_schema(kind):
    spec = schema(kind)
    assert spec["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert spec["$id"] == f"aim-engine/api-{kind}.schema.json"
    jsonschema.Draft202012Validator.check_schema(spec)
    for name, definition in spec["$defs"].items():
        assert definition.get("description"), f"$defs/{name} has no description"


def _properties_without_description(node: Any, where: str) -> list[str]:
    """Properties (and tuple items) without a description; the schema fragments of
    if/then/else/not/contains restate constraints and are skipped."""
    missing: list[str] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            missing += _properties_without_description(item, f"{where}/{i}")
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("if", "then", "else", "not", "contains", "allOf"):
                continue
            if key in ("properties", "prefixItems"):
                named = value.items() if key == "properties" else enumerate(value)
                missing += [f"{where}/{key}/{n}" for n, sub in named if not sub.get("description")]
            missing += _properties_without_description(value, f"{where}/{key}")
    return missing


@pytest.mark.parametrize("kind", KINDS)
def test_every_property_is_described(kind):
    assert _properties_without_description(schema(kind), f"api-{kind}") == []


def test_shared_definitions_are_the_same_in_every_schema():
    """Each schema stands alone (no cross-file $ref); a definition two of them share is
    spelled the same in both, so a vocabulary change cannot reach only some files."""
    seen: dict[str, tuple[str, Any]] = {}
    for kind in KINDS:
        for name, definition in schema(kind)["$defs"].items():
            if name in seen:
                assert definition == seen[name][1], f"$defs/{name} differs between api-{seen[name][0]} and api-{kind}"
            else:
                seen[name] = (kind, definition)


def test_vocabularies_are_the_planners_and_the_catalogues(catalogue):
    lookup = schema("lookup")["$defs"]
    assert lookup["reason"]["enum"] == [r.code for r in Reason]
    assert lookup["verdict"]["enum"] == [v.value for v in Verdict]
    assert schema("index")["$defs"]["precision"]["enum"] == list(PRECISIONS)
    assert schema("index")["$defs"]["backend"]["enum"] == sorted(catalogue.engines)
    assert lookup["gpuCount"]["maximum"] == MAX_GPUS
    assert schema("plan")["$defs"]["planSource"]["enum"] == [s.value for s in Source]
    assert schema("plan")["$defs"]["planStatus"]["enum"] == [s.word for s in Source]
    assert schema("index")["$defs"]["objective"]["enum"] == list(OBJECTIVES) == list(layout.OBJECTIVES)
    assert schema("plan")["$defs"]["plan"]["properties"]["replicas"]["maximum"] == MAX_GPUS
    # the key pattern spells the same vocabularies: <n>/<count mode>/<precision>/<backend>/<objective>
    match = re.fullmatch(
        r"\^\[1-(\d)\]/\(([^)]*)\)/\(([^)]*)\)/\(([^)]*)\)/\(([^)]*)\)\$", lookup["lookupKey"]["pattern"]
    )
    assert match, lookup["lookupKey"]["pattern"]
    top, modes, precisions, backends, objectives = match.groups()
    assert int(top) == MAX_GPUS
    assert modes.split("|") == list(COUNT_MODES)
    assert precisions.split("|") == ["auto", *PRECISIONS]
    assert backends.split("|") == ["auto", *sorted(catalogue.engines)]
    assert objectives.split("|") == list(OBJECTIVES)
    assert schema("model")["$defs"]["matrixRow"]["minProperties"] == MAX_GPUS


def key_format_problems(text: str, precisions: list[str], backends: list[str]) -> list[str]:
    """A key_format that does not list exactly these values for each part."""
    fmt = KEY_FORMAT.fullmatch(text)
    if not fmt:
        return [f"key_format {text!r} is not <n>/<count mode>/<precision>/<backend>/<objective>"]
    listed = [part.split("|") for part in fmt.groups()]
    wanted = [list(COUNT_MODES), ["auto", *precisions], ["auto", *backends], list(OBJECTIVES)]
    return [f"key_format {text!r} lists {got}, not {want}" for got, want in zip(listed, wanted) if got != want]


def lookup_key_problems(lookup: dict, backends: list[str]) -> list[str]:
    """The keys are exactly the grid: n 1..MAX_GPUS x count modes x (auto + the lookup's precisions)
    x (auto + every engine) x objectives; the precisions are those some candidate offers, and
    key_format says so."""
    offered = {c["precision"] for c in lookup["candidates"].values() if c["recipe"] is not None}
    problems = []
    if lookup["precisions"] != [p for p in PRECISIONS if p in offered]:
        problems.append(f"precisions {lookup['precisions']} are not those the candidates offer: {sorted(offered)}")
    problems += key_format_problems(lookup["key_format"], lookup["precisions"], backends)
    parts = [list(COUNT_MODES), ["auto", *lookup["precisions"]], ["auto", *backends], list(OBJECTIVES)]
    wanted = {layout.lookup_key(n, *rest) for n in range(1, MAX_GPUS + 1) for rest in product(*parts)}
    missing, extra = sorted(wanted - set(lookup["keys"])), sorted(set(lookup["keys"]) - wanted)
    problems += [f"{len(missing)} keys missing, e.g. {missing[:3]}"] if missing else []
    problems += [f"{len(extra)} keys not in the grid, e.g. {extra[:3]}"] if extra else []
    return problems


def test_every_lookup_has_exactly_the_keys_of_its_key_format(built, catalogue):
    """Every lookup file: keys are exactly the product its key_format (and precisions) says,
    no key missing and none extra; every key matches $defs/lookupKey; the index's format lists
    every precision."""
    backends = sorted(catalogue.engines)
    pattern = re.compile(schema("lookup")["$defs"]["lookupKey"]["pattern"])
    problems = []
    for path in api_files(built)["lookup"]:
        lookup = read(path)
        where = path.relative_to(built / "api").as_posix()
        problems += [f"{where}: {p}" for p in lookup_key_problems(lookup, backends)]
        problems += [f"{where}: key {k} does not match $defs/lookupKey" for k in lookup["keys"] if not pattern.match(k)]
    assert problems == []
    index = read(built / "api" / layout.INDEX)
    assert key_format_problems(index["lookup_key_format"], list(PRECISIONS), backends) == []
    assert index["objectives"] == list(OBJECTIVES)
    assert not pattern.match(layout.lookup_key(MAX_GPUS + 1, "auto", "auto", "auto", "latency"))
    assert not pattern.match("8/auto/auto/auto")  # the four-part key of API version 1 before objectives


def test_the_key_check_catches_a_missing_an_extra_and_a_misspelled_key(samples, catalogue):
    backends = sorted(catalogue.engines)
    lookup = samples["lookup"]
    assert lookup_key_problems(lookup, backends) == []
    some = next(iter(lookup["keys"]))
    missing = broken(lookup, lambda d: d["keys"].pop(some))
    assert lookup_key_problems(missing, backends) == [f"1 keys missing, e.g. {[some]}"]
    extra = broken(lookup, lambda d: d["keys"].update({"8/auto/int4/auto/latency": "d1"}))  # int4: no candidate
    assert lookup_key_problems(extra, backends) == ["1 keys not in the grid, e.g. ['8/auto/int4/auto/latency']"]
    claimed = broken(lookup, lambda d: d.update(precisions=[*d["precisions"], "int4"]))
    assert any("are not those the candidates offer" in p for p in lookup_key_problems(claimed, backends))
    assert any("keys missing" in p for p in lookup_key_problems(claimed, backends))
    wrong_format = broken(lookup, lambda d: d.update(key_format=d["key_format"].replace("auto|", "", 1)))
    assert any("lists" in p for p in lookup_key_problems(wrong_format, backends))
    assert key_format_problems("<n>/<count mode: auto|exact>/<precision: auto|>/<backend: auto|vllm>", [], ["vllm"])


# --- the TypedDicts mirror the schemas ---------------------------------------------------------

# (schema, path to an object schema: a $defs name, then properties, "[]" for array items) -> record
MIRRORS = [
    ("plan", "plan", records.PlanRecord),
    ("plan", "memoryEstimate", records.MemoryRecord),
    ("plan", "plan/engine", records.PlanEngine),
    ("plan", "plan/multi_node", records.MultiNodeRecord),
    ("plan", "plan/node_scripts", records.NodeScripts),
    ("lookup", "lookup", records.LookupRecord),
    ("lookup", "decision", records.DecisionRecord),
    ("lookup", "target", records.TargetRecord),
    ("lookup", "candidate", records.CandidateRecord),
    ("model", "model", records.ModelRecord),
    ("model", "modelSummary", records.ModelSummary),
    ("model", "matrixCell", records.MatrixCell),
    ("model", "planSummary", records.PlanSummary),
    ("model", "multiNodeCell", records.MultiNodeCell),
    ("model", "model/parameters", records.ParametersRecord),
    ("model", "model/architecture_config", records.ArchitectureConfig),
    ("model", "model/attention", records.AttentionRecord),
    ("model", "model/attention/linear", records.LinearAttentionRecord),
    ("model", "model/attention/indexer", records.IndexerRecord),
    ("model", "checkpointSize", records.CheckpointSizeRecord),
    ("model", "model/multimodal", records.MultimodalRecord),
    ("model", "model/serving", records.ServingRecord),
    ("model", "engineServing", records.EngineServingRecord),
    ("model", "model/moe", records.MoeRecord),
    ("model", "model/variants[]", records.VariantRecord),
    ("model", "model/provenance[]", records.ProvenanceRecord),
    ("index", "index", records.IndexRecord),
    ("index", "modelSummary", records.ModelSummary),
    ("index", "hardware", records.HardwareRecord),
    ("index", "engine", records.EngineRecord),
    ("index", "counts", records.CountsRecord),
]


def object_keys(kind: str, path: str) -> tuple[set[str], set[str]]:
    """(every key, required keys) of an object schema, following a $ref to another object."""
    defs = schema(kind)["$defs"]
    first, *rest = path.split("/")
    node = defs[first]
    for part in rest:
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node["items"]
    keys, required = set(node.get("properties", {})), set(node.get("required", []))
    ref = node.get("$ref", "")
    if ref.startswith("#/$defs/"):
        more, more_required = object_keys(kind, ref.removeprefix("#/$defs/"))
        keys, required = keys | more, required | more_required
    return keys, required


@pytest.mark.parametrize(("kind", "path", "record"), MIRRORS, ids=[f"{k}:{p}" for k, p, _ in MIRRORS])
def test_records_have_their_schema_objects_keys(kind, path, record):
    keys, required = object_keys(kind, path)
    assert record.__required_keys__ | record.__optional_keys__ == keys
    assert record.__required_keys__ == required


def test_record_literals_are_the_schema_enums():
    lookup, model, plan = (schema(k)["$defs"] for k in ("lookup", "model", "plan"))
    assert list(get_args(records.Verdict)) == lookup["verdict"]["enum"]
    assert list(get_args(records.ReasonCode)) == lookup["reason"]["enum"]
    assert list(get_args(records.CandidateVerdict)) == [v for v in lookup["verdict"]["enum"] if v != "chosen"]
    assert list(get_args(records.PlanStatus)) == plan["planStatus"]["enum"]
    assert list(get_args(records.PlanSource)) == plan["planSource"]["enum"]
    assert list(get_args(records.Objective)) == plan["objective"]["enum"]
    assert list(get_args(records.MatrixStatus)) == model["matrixCell"]["properties"]["status"]["enum"]
    assert list(get_args(records.CountMode)) == list(COUNT_MODES)
    assert list(get_args(records.PickReason)) == [*lookup["reason"]["enum"], *PICK_REASONS]
    shim = "".join(
        (REPO / "compiler" / "aim_pick" / name).read_text() for name in ("pick.py", "cli.py", "contract/listing.py")
    )
    for reason in PICK_REASONS:  # still the shim's own words
        assert f'"{reason}"' in shim


def test_records_are_standard_library_only_and_never_imported_by_the_shim_at_run_time():
    source = REPO / "compiler" / "aim_pick" / "contract" / "records.py"
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(ast.parse(source.read_text()))
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }
    assert imported == {"typing"}
    # statically: every aim_pick import of the records sits under `if TYPE_CHECKING:`
    for path in sorted((REPO / "compiler" / "aim_pick").rglob("*.py")):
        tree = ast.parse(path.read_text())
        guarded = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and "records" in (node.module, *(a.name for a in node.names))
            ):
                assert id(node) in guarded, f"{path.name}:{node.lineno} imports the records at run time"
    # and at run time: importing the whole shim loads neither the records nor typing
    probe = (
        "import sys; import aim_pick.cli, aim_pick.pick, aim_pick.contract.reader, aim_pick.output, aim_pick.detect; "
        "print(sorted(m for m in ('aim_pick.contract.records', 'typing') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(REPO / 'compiler')!r}); {probe}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- a real build -------------------------------------------------------------------------------


def test_the_build_ships_the_schemas(built):
    files = api_files(built)
    folder = resources.files("aim_engine.publish") / "schemas"
    shipped = {p.name: p.read_bytes() for p in files["schema"]}
    assert shipped == {f"api-{k}.schema.json": (folder / f"api-{k}.schema.json").read_bytes() for k in KINDS}
    for data in shipped.values():
        jsonschema.Draft202012Validator.check_schema(json.loads(data))


@pytest.mark.slow
def test_every_published_file_matches_its_schema(built):
    files = api_files(built)
    assert {k: bool(files.get(k)) for k in KINDS} == dict.fromkeys(KINDS, True)
    assert validate_all([(kind, files[kind]) for kind in KINDS]) == []


def lookup_reference_problems(lookup: dict, plan_ids: set[str]) -> list[str]:
    """What a schema cannot check: every key names a decision, every step of a path a
    candidate, a decision's plan is its chosen candidate's plan, and every plan exists."""
    problems = []
    decisions, candidates = lookup["decisions"], lookup["candidates"]
    for key, did in lookup["keys"].items():
        if did not in decisions:
            problems.append(f"key {key} names decision {did}, which is not in decisions")
    for did, decision in decisions.items():
        for cid, _verdict in decision["path"]:
            if cid not in candidates:
                problems.append(f"decision {did} walks candidate {cid}, which is not in candidates")
        chosen = [cid for cid, verdict in decision["path"] if verdict == "chosen"]
        if decision["plan"] is not None:
            if decision["plan"] not in plan_ids:
                problems.append(f"decision {did} chooses plan {decision['plan']}, which is not published")
            if chosen and chosen[0] in candidates and candidates[chosen[0]]["plan"] != decision["plan"]:
                problems.append(f"decision {did} chooses {decision['plan']} but its chosen step is {chosen[0]}")
    for cid, candidate in candidates.items():
        if candidate["plan"] is not None and candidate["plan"] not in plan_ids:
            problems.append(f"candidate {cid} becomes plan {candidate['plan']}, which is not published")
    unused = set(decisions) - set(lookup["keys"].values())
    problems += [f"decision {did} is answered by no key" for did in sorted(unused)]
    return problems


@pytest.mark.slow
def test_references_between_records_resolve(built):
    api = built / "api"
    files = api_files(built)
    plans = {p.stem: read(p) for p in files["plan"]}
    index = read(api / layout.INDEX)
    for pid, plan in plans.items():
        assert plan["plan_id"] == pid and layout.PLAN_ID.match(pid)  # aim-pick --profile accepts every id
        assert (built / plan["k8s"]).is_file() and (built / plan["env_file"]).is_file()
        assert (built / plan["k8s_bundle"] / "kustomization.yaml").is_file()
        if plan["nodes"] == 1:
            assert (built / plan["compose"]).is_file() and (built / plan["run_script"]).is_file()
        else:
            assert all((built / path).is_file() for path in plan["node_scripts"].values())
        assert plan["model_slug"] == layout.slug(plan["model"]) and plan["hardware"] in index["hardware"]
        assert plan["gfx_target"] == index["hardware"][plan["hardware"]]["gfx_target"]
        assert plan["image"] == index["engines"][plan["backend"]]["images"][plan["gfx_target"]]
    for summary in index["models"]:
        assert summary["slug"] == layout.slug(summary["model_id"])
        model = read(api / layout.model_path(summary["slug"]))
        assert {k: model[k] for k in summary} == summary
        assert set(model["support_matrix"]) == set(index["hardware"])
        cells = [cell for row in model["support_matrix"].values() for cell in row.values()]
        assert all(cell["plan"] is None or cell["plan"] in plans for cell in cells)
        assert all(plans[p["plan_id"]]["model"] == summary["model_id"] for p in model["plans"])
        for hardware in index["hardware"]:
            lookup = read(api / layout.lookup_path(hardware, summary["slug"]))
            assert (lookup["model"], lookup["model_slug"], lookup["hardware"]) == (
                summary["model_id"],
                summary["slug"],
                hardware,
            )
            assert lookup_reference_problems(lookup, set(plans)) == []
    counts = index["counts"]
    assert (counts["models"], counts["plans"], counts["lookups"]) == (
        len(files["model"]),
        len(files["plan"]),
        len(files["lookup"]),
    )


# --- what the statuses, objectives and replicas promise --------------------------------------------


def plan_problems(plan: dict, dp_flags: dict[str, str]) -> list[str]:
    """The rules between a plan's status fields a reader relies on (the schema says some of them;
    the arithmetic and the command line it cannot). `dp_flags`: engine -> its data-parallel flag."""
    problems = []
    source, measured = plan["source"], plan["measured"]
    if measured and (source, plan["recipe_status"]) != ("recipe", "verified"):
        problems.append(f"measured, but source {source} and recipe_status {plan['recipe_status']}")
    if not measured and (source, plan["recipe_status"]) == ("recipe", "verified"):
        problems.append("a verified recipe for this GPU, but not measured")
    if (plan["recipe_status"] is None) != (source != "recipe"):
        problems.append(f"recipe_status {plan['recipe_status']} with source {source}")
    if plan["status"] != WORDS[source] or (plan["status"] == "generic") != (source == "generic"):
        problems.append(f"status {plan['status']} with source {source}")
    if (plan["derived_from"] is None) != (source != "sibling"):
        problems.append(f"derived_from {plan['derived_from']} with source {source}")
    if (source == "generic") != plan["recipe_id"].startswith("generic-"):
        problems.append(f"recipe {plan['recipe_id']} with source {source}")
    if (plan["objective"] == "throughput") != (plan["replicas"] > 1):
        problems.append(f"objective {plan['objective']} with {plan['replicas']} replica(s)")
    if plan["gpu_count"] != plan["replicas"] * plan["gpus_per_replica"]:
        problems.append(f"{plan['gpu_count']} GPUs != {plan['replicas']} replicas x {plan['gpus_per_replica']}")
    if plan["gpus_per_replica"] % plan["tensor_parallel_size"]:
        problems.append(f"TP {plan['tensor_parallel_size']} does not divide {plan['gpus_per_replica']} GPUs")
    if plan["entry"] != f"{plan['gpu_count']}_gpu":
        problems.append(f"entry {plan['entry']} for {plan['gpu_count']} GPUs")
    if plan["tight"] != (plan["memory"]["max_concurrency"] < HEADROOM_REQUESTS):
        problems.append(f"tight {plan['tight']} with room for {plan['memory']['max_concurrency']} requests")
    if bool(plan["warnings"]) != (plan["tight"] or source != "recipe"):
        problems.append(f"warnings {plan['warnings']} for a {'tight ' if plan['tight'] else ''}{source} plan")
    if plan["replicas"] > 1:
        argv, flag = plan["engine_argv"], dp_flags[plan["backend"]]
        if flag not in argv or argv[argv.index(flag) + 1 : argv.index(flag) + 2] != [str(plan["replicas"])]:
            problems.append(
                f"{plan['replicas']} replicas, but the engine is not started with {flag} {plan['replicas']}"
            )
    return problems


def parse_key(key: str) -> tuple[int, str, str, str, str]:
    n, mode, precision, backend, objective = key.split("/")
    return int(n), mode, precision, backend, objective


def decision_problems(lookup: dict, plans: dict[str, dict]) -> list[str]:
    """What each key's decision promises: a plan within the request (at most n GPUs, the precision
    and engine asked for), one server for latency, n // gpus_per_replica replicas for throughput,
    the plan's warnings, and a chosen step that names the plan (with /dp<R> for R replicas)."""
    problems = []
    for key, did in sorted(lookup["keys"].items()):
        n, _mode, precision, backend, objective = parse_key(key)
        decision = lookup["decisions"][did]
        if decision["target"]["objective"] != objective:
            problems.append(f"{key}: decision {did} is for objective {decision['target']['objective']}")
        if decision["plan"] is None:
            continue
        plan = plans[decision["plan"]]
        asked = {"precision": precision, "backend": backend}
        wrong = [f"{k} {plan[k]}" for k, v in asked.items() if v != "auto" and plan[k] != v]
        if plan["gpu_count"] > n or wrong:
            problems.append(f"{key}: plan {plan['plan_id']} has {plan['gpu_count']} GPUs {' '.join(wrong)}")
        replicas = n // plan["gpus_per_replica"] if objective == "throughput" else 1
        if plan["replicas"] != replicas:
            problems.append(f"{key}: plan {plan['plan_id']} has {plan['replicas']} replica(s), not {replicas}")
        if decision["warnings"] != plan["warnings"]:
            problems.append(f"{key}: decision {did} warns {decision['warnings']}, its plan {plan['warnings']}")
        chosen = [cid for cid, verdict in decision["path"] if verdict == "chosen"]
        dp = re.search(r"/dp([0-9]+)$", chosen[0]) if len(chosen) == 1 else None
        if len(chosen) != 1 or (int(dp.group(1)) if dp else 1) != plan["replicas"]:
            problems.append(f"{key}: chosen steps {chosen} for a plan of {plan['replicas']} replica(s)")
    return problems


def candidate_problems(lookup: dict, plans: dict[str, dict]) -> list[str]:
    """How a candidate id is made (<recipe>/<backend>/<entry>[@<GPU>][/dp<R>], or
    none/<backend>/<precision>[/<n>_gpu][@sibling|@generic]) agrees with its fields, and a
    runnable candidate with the plan it becomes."""
    problems = []
    hardware = lookup["hardware"]
    for cid, c in sorted(lookup["candidates"].items()):
        source = c["source"]
        if c["recipe"] is None:
            suffix = "" if source == "recipe" else f"@{source}"
            count = "" if c["reason"] == "no-recipe" else f"/{c['gpus']}_gpu"
            if cid != f"none/{c['backend']}/{c['precision']}{count}{suffix}":
                problems.append(f"{cid}: an empty {source} step for {c['gpus']} GPU(s), {c['reason']}")
            continue
        replicas = int(cid.rsplit("/dp", 1)[1]) if re.search(r"/dp[0-9]+$", cid) else 1
        at = f"@{hardware}" if source == "sibling" else ""
        entry = f"{c['gpus']}_gpu"
        made = f"{c['recipe']}/{c['backend']}/{entry}{at}" + (f"/dp{replicas}" if replicas > 1 else "")
        if cid != made or c["entry"] != f"{c['gpus'] * replicas}_gpu":
            problems.append(f"{cid}: the id of a {source} candidate of {c['recipe']} is {made}, entry {c['entry']}")
        if (source == "generic") != c["recipe"].startswith("generic-"):
            problems.append(f"{cid}: a {source} candidate of recipe {c['recipe']}")
        if (c["source_hardware"] == hardware) == (source == "sibling"):
            problems.append(f"{cid}: a {source} candidate from a {c['source_hardware']} recipe")
        if c["plan"] is None:
            continue
        plan = plans[c["plan"]]
        fields = {
            "recipe_id": c["recipe"],
            "entry": c["entry"],
            "hardware": hardware,
            "precision": c["precision"],
            "backend": c["backend"],
            "source": source,
            "tight": c["tight"],
            "replicas": replicas,
            "gpus_per_replica": c["gpus"],
        }
        differ = {k: (v, plan[k]) for k, v in fields.items() if plan[k] != v}
        if plan["memory"]["total_bytes_per_gpu"] != c["total_bytes_per_gpu"]:
            differ["total_bytes_per_gpu"] = (c["total_bytes_per_gpu"], plan["memory"]["total_bytes_per_gpu"])
        if differ:
            problems.append(f"{cid}: candidate and plan {plan['plan_id']} differ (candidate, plan): {differ}")
    return problems


def matrix_problems(model: dict, plans: dict[str, dict]) -> list[str]:
    """A support-matrix cell says what its plan is (the cell asks for exactly n GPUs, latency)."""
    problems = []
    for hardware, row in sorted(model["support_matrix"].items()):
        for n, cell in sorted(row.items()):
            if cell["plan"] is None:
                continue
            plan = plans[cell["plan"]]
            word = "tight" if plan["tight"] else plan["status"]
            fields = ("source", "measured", "tight", "gpu_count", "precision", "backend", "hardware")
            says = {**cell, "hardware": hardware}
            differ = {k: (says[k], plan[k]) for k in fields if says[k] != plan[k]}
            if cell["status"] != word or differ or plan["gpu_count"] > int(n) or plan["objective"] != "latency":
                problems.append(f"{hardware} x {n}: cell {cell['status']} {differ} for plan {plan['plan_id']}")
    return problems


@pytest.fixture(scope="module")
def published(built) -> dict[str, Any]:
    """Every plan by id, every model by slug and every lookup by (GPU, slug) of the build."""
    files = api_files(built)
    return {
        "plans": {p.stem: read(p) for p in files["plan"]},
        "models": {p.stem: read(p) for p in files["model"]},
        "lookups": {(p.parent.name, p.stem): read(p) for p in files["lookup"]},
        "index": read(files["index"][0]),
    }


@pytest.fixture(scope="module")
def dp_flags(catalogue) -> dict[str, str]:
    return {name: engine.generic["flags"]["data_parallel"] for name, engine in catalogue.engines.items()}


@pytest.mark.slow
def test_every_plan_keeps_the_status_rules(published, dp_flags):
    problems = [f"{pid}: {p}" for pid, plan in published["plans"].items() for p in plan_problems(plan, dp_flags)]
    assert problems == [], f"{len(problems)} problems, e.g. {problems[:10]}"
    sources = {(p["source"], p["objective"]) for p in published["plans"].values()}
    assert sources == {(s.value, o) for s in Source for o in OBJECTIVES}  # the build has every kind of plan


@pytest.mark.slow
def test_every_decision_and_candidate_agrees_with_its_plan(published):
    plans = published["plans"]
    problems = []
    for (hardware, slug), lookup in sorted(published["lookups"].items()):
        found = decision_problems(lookup, plans) + candidate_problems(lookup, plans)
        problems += [f"{hardware}/{slug}: {p}" for p in found]
    assert problems == [], f"{len(problems)} problems, e.g. {problems[:10]}"


@pytest.mark.slow
def test_every_matrix_cell_and_plan_summary_agrees_with_its_plan(published):
    plans = published["plans"]
    problems = []
    for slug, model in sorted(published["models"].items()):
        problems += [f"{slug}: {p}" for p in matrix_problems(model, plans)]
        summaries = {s["plan_id"]: s for s in model["plans"]}
        own = {pid for pid, plan in plans.items() if plan["model"] == model["model_id"]}
        if set(summaries) != own:
            problems.append(f"{slug}: lists {len(summaries)} plans, the build has {len(own)} of it")
        for pid, summary in summaries.items():
            differ = {k: (v, plans[pid][k]) for k, v in summary.items() if plans[pid][k] != v}
            problems += [f"{slug}: summary of {pid} differs (summary, plan): {differ}"] if differ else []
    assert problems == [], f"{len(problems)} problems, e.g. {problems[:10]}"
    cells = [
        cell for m in published["models"].values() for row in m["support_matrix"].values() for cell in row.values()
    ]
    assert {"tuned", "derived", "generic"} <= {cell["status"] for cell in cells}  # the build has every source


# --- the schemas catch real mistakes ------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(built):
    """A tuned plan, a derived one, a generic one and a replicated (throughput) one; a lookup
    with a chosen plan, a model and the index."""
    api = built / "api"
    return {
        "plan": read(api / layout.plan_path("qwen3-32b-mi300x-bf16-vllm-tp4")),
        "derived": read(api / layout.plan_path("qwen3-32b-mi308x-bf16-vllm-tp4-from-mi300x")),
        "generic": read(api / layout.plan_path("qwen3-32b-mi308x-bf16-vllm-tp4-generic")),
        "replicated": read(api / layout.plan_path("qwen3-32b-mi300x-bf16-vllm-tp1-dp6")),
        "lookup": read(api / layout.lookup_path("MI300X", layout.slug("Qwen/Qwen3-32B"))),
        "model": read(api / layout.model_path(layout.slug("Qwen/Qwen3-32B"))),
        "index": read(api / layout.INDEX),
    }


@pytest.mark.slow
def test_the_samples_are_valid(samples):
    kinds = {"plan": "plan", "derived": "plan", "generic": "plan", "replicated": "plan"}
    for name in samples:
        assert errors(kinds.get(name, name), samples[name]) == [], name
    assert [samples[k]["source"] for k in ("plan", "derived", "generic")] == ["recipe", "sibling", "generic"]
    assert (samples["replicated"]["objective"], samples["replicated"]["replicas"]) == ("throughput", 6)


def broken(sample: dict, change) -> dict:
    copied = copy.deepcopy(sample)
    change(copied)
    return copied


def test_a_plan_without_docker_argv_is_caught(samples):
    plan = broken(samples["plan"], lambda p: p.pop("docker_argv"))
    assert errors("plan", plan) == ["$: [required] 'docker_argv' is a required property"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p.update(replica_count=2), "Additional properties are not allowed ('replica_count' was unexpected)"),
        (lambda p: p.update(docker_argv=["podman", "run"]), "is not valid under any of the given schemas"),
        (lambda p: p.update(docker_argv="docker run x"), "is not valid under any of the given schemas"),
        (lambda p: p.update(gpu_count="4"), "is not of type 'integer'"),
        (lambda p: p.update(status="verified"), "is not one of ['tuned', 'derived', 'generic']"),
        (lambda p: p.update(status="generic"), "'tuned' was expected"),  # a recipe plan is tuned
        (lambda p: p.update(source="measured"), "is not one of ['recipe', 'sibling', 'generic']"),
        (lambda p: p.update(measured=True), "False was expected"),  # its recipe is not verified
        (lambda p: p.update(recipe_status=None), "None is not one of ['verified', 'preview', 'untested']"),
        (lambda p: p.update(replicas=2), "'throughput' was expected"),
        (lambda p: p.update(objective="throughput"), "'latency' was expected"),
        (lambda p: p.update(replicas=MAX_GPUS + 1), f"{MAX_GPUS + 1} is greater than the maximum of {MAX_GPUS}"),
        (lambda p: p.update(gpus_per_replica=0), "0 is less than the minimum of 1"),
        (lambda p: p.update(nodes=0), "0 is not one of [1, 2, 4]"),
        (lambda p: p.update(nodes=2), "None is not of type 'object'"),  # no multi-node flags or scripts
        (lambda p: p.update(compose=None), "None is not of type 'string'"),  # one host has a compose file
        (lambda p: p.update(tight="no"), "'no' is not of type 'boolean'"),
        (lambda p: p.update(warnings="tight plan"), "is not of type 'array'"),
        (lambda p: p.update(warnings=[""]), "should be non-empty"),
        (lambda p: p.pop("measured"), "'measured' is a required property"),
        (lambda p: p.update(backend="tgi"), "is not one of ['sglang', 'vllm']"),
        (lambda p: p.update(plan_id="../../etc/passwd"), "does not match"),
        (lambda p: p.update(memory=None), "None is not of type 'object'"),
        (lambda p: p["memory"].update(fits=False), "True was expected"),
        (lambda p: p["memory"].pop("total_bytes_per_gpu"), "'total_bytes_per_gpu' is a required property"),
        (lambda p: p["memory"].update(total_gib=12.0), "('total_gib' was unexpected)"),
        (lambda p: p.update(source="sibling", status="derived"), "None is not of type 'string'"),  # no derived_from
        (lambda p: p.update(env={"HF_TOKEN": None}), "None is not of type 'string'"),
    ],
)
def test_plan_mistakes_are_caught(samples, change, expected):
    found = errors("plan", broken(samples["plan"], change))
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    ("sample", "change", "expected"),
    [
        ("derived", lambda p: p.update(source="recipe", status="tuned", recipe_status="preview"), "is not of type"),
        ("derived", lambda p: p.update(recipe_status="verified"), "'verified' is not of type 'null'"),
        ("derived", lambda p: p.update(measured=True), "False was expected"),
        ("generic", lambda p: p.update(measured=True), "False was expected"),
        ("generic", lambda p: p.update(status="tuned"), "'generic' was expected"),
        ("generic", lambda p: p.update(derived_from="MI300X"), "'MI300X' is not of type 'null'"),
        ("replicated", lambda p: p.update(objective="latency"), "'throughput' was expected"),
        ("replicated", lambda p: p.update(replicas=1), "'latency' was expected"),
    ],
)
def test_status_and_objective_mistakes_are_caught(samples, sample, change, expected):
    found = errors("plan", broken(samples[sample], change))
    assert any(expected in problem for problem in found), found


def test_a_measured_plan_must_be_a_verified_recipe_for_this_gpu(samples):
    measured = broken(samples["plan"], lambda p: p.update(measured=True, recipe_status="verified"))
    assert errors("plan", measured) == []
    assert errors("plan", broken(measured, lambda p: p.update(measured=False))) != []  # verified is measured
    assert errors("plan", broken(measured, lambda p: p.update(source="sibling", derived_from="MI325X"))) != []


@pytest.mark.parametrize(
    ("sample", "change", "expected"),
    [
        ("plan", lambda p: p.update(gpu_count=8), "8 GPUs != 1 replicas x 4"),
        ("plan", lambda p: p.update(measured=True), "measured, but source recipe and recipe_status "),
        ("plan", lambda p: p.update(recipe_status="verified"), "a verified recipe for this GPU, but not measured"),
        ("plan", lambda p: p.update(tight=True), "tight True with room for"),
        ("plan", lambda p: p.update(warnings=["x"]), "warnings ['x'] for a recipe plan"),
        ("plan", lambda p: p.update(entry="8_gpu"), "entry 8_gpu for 4 GPUs"),
        ("plan", lambda p: p.update(recipe_id="generic-qwen3-32b-mi300x-bf16"), "with source recipe"),
        ("derived", lambda p: p.update(warnings=[]), "warnings [] for a sibling plan"),
        ("generic", lambda p: p.update(status="tuned"), "status tuned with source generic"),
        ("replicated", lambda p: p.update(replicas=3), "6 GPUs != 3 replicas x 1"),
        ("replicated", lambda p: p.update(objective="latency"), "objective latency with 6 replica(s)"),
        ("replicated", lambda p: p["engine_argv"].remove("--data-parallel-size"), "not started with"),
    ],
)
def test_the_status_rule_check_catches_mistakes(samples, dp_flags, sample, change, expected):
    assert plan_problems(samples[sample], dp_flags) == []
    found = plan_problems(broken(samples[sample], change), dp_flags)
    assert any(expected in problem for problem in found), found


def _chosen_decision(lookup: dict) -> str:
    return next(did for did, d in lookup["decisions"].items() if d["plan"] is not None)


def _throughput_key(lookup: dict) -> str:
    """A throughput key whose plan has several replicas."""
    return next(
        key
        for key, did in sorted(lookup["keys"].items())
        if key.endswith("/throughput") and re.search(r"/dp[0-9]+$", _chosen_step(lookup["decisions"][did]))
    )


def _chosen_step(decision: dict) -> str:
    return next((cid for cid, verdict in decision["path"] if verdict == "chosen"), "")


def test_the_decision_and_candidate_checks_catch_mistakes(samples, published):
    plans, lookup = published["plans"], samples["lookup"]
    assert decision_problems(lookup, plans) == [] and candidate_problems(lookup, plans) == []
    key = _throughput_key(lookup)
    did = lookup["keys"][key]
    single = next(c["plan"] for c in lookup["candidates"].values() if c["plan"] and plans[c["plan"]]["replicas"] == 1)

    def latency_plan_for_throughput(doc):
        doc["decisions"][did]["plan"] = single

    found = decision_problems(broken(lookup, latency_plan_for_throughput), plans)
    assert any(f"{key}: plan {single} has 1 replica(s), not" in p for p in found), found
    found = decision_problems(broken(lookup, lambda d: d["decisions"][did].update(warnings=["x"])), plans)
    assert any(f"decision {did} warns ['x']" in p for p in found), found
    found = decision_problems(
        broken(lookup, lambda d: d["decisions"][did]["target"].update(objective="latency")), plans
    )
    assert any(f"{key}: decision {did} is for objective latency" in p for p in found), found
    cid = _chosen_step(lookup["decisions"][did])
    found = candidate_problems(broken(lookup, lambda d: d["candidates"][cid].update(gpus=2)), plans)
    assert any(cid in p and "differ" in p for p in found), found
    sibling = next(c for c, x in lookup["candidates"].items() if x["source"] == "sibling" and x["recipe"])
    found = candidate_problems(
        broken(lookup, lambda d: d["candidates"][sibling].update(source_hardware="MI300X")), plans
    )
    assert any(f"{sibling}: a sibling candidate from a MI300X recipe" in p for p in found), found
    empty = next(c for c, x in lookup["candidates"].items() if x["recipe"] is None)
    found = candidate_problems(broken(lookup, lambda d: d["candidates"][empty].update(source="generic")), plans)
    assert any(f"{empty}: an empty generic step" in p for p in found), found


def test_the_matrix_check_catches_a_cell_that_misstates_its_plan(samples, published):
    plans, model = published["plans"], samples["model"]
    assert matrix_problems(model, plans) == []
    found = matrix_problems(broken(model, lambda m: m["support_matrix"]["MI300X"]["4"].update(gpu_count=2)), plans)
    assert found and found[0].startswith("MI300X x 4: cell tuned {'gpu_count': (2, 4)}"), found
    found = matrix_problems(broken(model, lambda m: m["support_matrix"]["MI300X"]["4"].update(status="derived")), plans)
    assert found and found[0].startswith("MI300X x 4: cell derived"), found


def test_a_decision_naming_a_missing_candidate_passes_the_schema_but_not_the_reference_check(samples, built):
    """JSON Schema cannot check that a value is a key elsewhere in the document: the
    candidate id is well formed, so the schema accepts it; the Python check does not."""
    lookup = samples["lookup"]
    did = _chosen_decision(lookup)

    def change(doc):
        doc["decisions"][did]["path"][0][0] = "qwen3-32b-mi300x-bf16/vllm/3_gpu"

    bad = broken(lookup, change)
    assert errors("lookup", bad) == []
    plan_ids = {p.stem for p in (built / "api" / "plans").iterdir()}
    assert lookup_reference_problems(lookup, plan_ids) == []
    problems = lookup_reference_problems(bad, plan_ids)
    assert f"decision {did} walks candidate qwen3-32b-mi300x-bf16/vllm/3_gpu, which is not in candidates" in problems


def test_a_decision_whose_plan_is_not_its_chosen_candidates_is_caught_by_the_reference_check(samples, built):
    lookup = samples["lookup"]
    did = _chosen_decision(lookup)
    other = next(
        c["plan"] for c in lookup["candidates"].values() if c["plan"] not in (None, lookup["decisions"][did]["plan"])
    )
    bad = broken(lookup, lambda doc: doc["decisions"][did].update(plan=other))
    plan_ids = {p.stem for p in (built / "api" / "plans").iterdir()}
    assert errors("lookup", bad) == []
    assert any("but its chosen step is" in p for p in lookup_reference_problems(bad, plan_ids))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d, did: d["keys"].update({"9/auto/auto/auto/latency": did}), "'9/auto/auto/auto/latency' does not"),
        (lambda d, did: d["keys"].update({"1/any/auto/auto/latency": did}), "'1/any/auto/auto/latency' does not"),
        (lambda d, did: d["keys"].update({"1/auto/auto/tgi/latency": did}), "'1/auto/auto/tgi/latency' does not"),
        (lambda d, did: d["keys"].update({"1/auto/auto/auto/fast": did}), "'1/auto/auto/auto/fast' does not"),
        (lambda d, did: d["keys"].update({"1/auto/auto/auto": did}), "'1/auto/auto/auto' does not match"),
        (lambda d, did: d.update(key_format="<n>/<precision>"), "'<n>/<precision>' does not match"),
        (lambda d, did: d.update(precisions=["fp32"]), "'fp32' is not one of"),
        (lambda d, did: d.pop("precisions"), "'precisions' is a required property"),
        (lambda d, did: d["decisions"][did]["path"][0].__setitem__(1, "maybe"), "'maybe' is not one of"),
        (lambda d, did: d["decisions"][did]["path"][0].append("extra"), "Expected at most 2 items"),
        (lambda d, did: d["decisions"][did].update(objective="latency"), "('objective' was unexpected)"),
        (lambda d, did: d["decisions"][did]["target"].update(objective="fast"), "'fast' is not one of"),
        (lambda d, did: d["decisions"][did]["target"].pop("objective"), "'objective' is a required property"),
        (lambda d, did: d["decisions"][did].pop("warnings"), "'warnings' is a required property"),
        (lambda d, did: d["decisions"][did].update(plan=None), "[not]"),  # a chosen step, no plan
        (lambda d, did: d["decisions"][did].update(path=[]), "should be non-empty"),
        (lambda d, did: d["candidates"].update({"none/vllm/bf16@MI300X": {}}), "'none/vllm/bf16@MI300X' does not"),
        (lambda d, did: d["candidates"].update({"q/vllm/1_gpu/dp1": {}}), "'q/vllm/1_gpu/dp1' does not match"),
    ],
)
@pytest.mark.slow
def test_lookup_mistakes_are_caught(samples, change, expected):
    lookup = samples["lookup"]
    found = errors("lookup", broken(lookup, lambda d: change(d, _chosen_decision(lookup))))
    assert any(expected in problem for problem in found), found


def test_a_decision_without_a_plan_has_no_warnings(samples):
    lookup = samples["lookup"]
    did = _chosen_decision(lookup)
    step = [_chosen_step(lookup["decisions"][did]), "runnable"]
    nothing = broken(lookup, lambda d: d["decisions"][did].update(plan=None, path=[step], warnings=[]))
    assert errors("lookup", nothing) == []
    warned = broken(nothing, lambda d: d["decisions"][did].update(warnings=["generic plan: no tuned recipe"]))
    assert any("[maxItems]" in p for p in errors("lookup", warned)), errors("lookup", warned)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.update(plan=None), "None is not of type 'string'"),  # runnable without a plan
        (lambda c: c.update(verdict="chosen"), "[not]"),  # chosen is a request's verdict
        (lambda c: c.update(reason="too-many-gpus"), "[not]"),  # so is too-many-gpus
        (lambda c: c.update(reason="tight"), "[not]"),  # and tight: a candidate says runnable, with tight true
        (lambda c: c.update(reason="fits"), "'fits' is not one of"),
        (lambda c: c.update(recipe=None), "None is not of type 'string'"),  # a real entry has a recipe
        (lambda c: c.pop("total_bytes_per_gpu"), "'total_bytes_per_gpu' is a required property"),
        (lambda c: c.update(source="sibling"), "True was expected"),  # derived is source sibling
        (lambda c: c.update(derived=True), "False was expected"),
        (lambda c: c.update(source="tuned"), "'tuned' is not one of ['recipe', 'sibling', 'generic']"),
        (lambda c: c.update(tight=True, verdict="rejected", reason="does-not-fit", plan=None), "'runnable' was"),
        (lambda c: c.pop("tight"), "'tight' is a required property"),
    ],
)
def test_candidate_mistakes_are_caught(samples, change, expected):
    lookup = samples["lookup"]
    cid = next(cid for cid, c in lookup["candidates"].items() if c["verdict"] == "runnable" and c["source"] == "recipe")
    found = errors("lookup", broken(lookup, lambda d: change(d["candidates"][cid])))
    assert any(expected in problem for problem in found), found


def _cell(model: dict, **change) -> dict:
    return broken(model, lambda m: m["support_matrix"]["MI300X"]["4"].update(change))


def _gap(model: dict, **change) -> dict:
    """A cell of a GPU where nothing runs (does-not-fit or not-supported), changed."""
    hardware, n = next(
        (hw, n) for hw, row in model["support_matrix"].items() for n, c in row.items() if c["plan"] is None
    )
    return broken(model, lambda m: m["support_matrix"][hardware][n].update(change))


def test_model_and_index_mistakes_are_caught(samples):
    model, index = samples["model"], samples["index"]
    assert any("None is not of type 'string'" in p for p in errors("model", _cell(model, plan=None)))  # tuned, no plan
    assert any("is not one of" in p for p in errors("model", _cell(model, status="verified")))
    assert any("'generic' was expected" in p for p in errors("model", _cell(model, status="generic")))
    assert any("'recipe' was expected" in p for p in errors("model", _cell(model, status="tuned", source="sibling")))
    assert any("False was expected" in p for p in errors("model", _cell(model, tight=True)))  # tight is status tight
    assert any("True was expected" in p for p in errors("model", _cell(model, status="tight")))
    assert any("is not of type 'null'" in p for p in errors("model", _gap(model, source="recipe")))
    assert any("False was expected" in p for p in errors("model", _gap(model, measured=True)))
    assert errors("model", _gap(model, status="no-recipe"))  # the old word is gone
    assert errors("model", broken(model, lambda m: m["support_matrix"]["MI300X"].pop("8")))
    assert any("was unexpected" in p for p in errors("model", broken(model, lambda m: m.update(x=1))))
    summary = broken(model, lambda m: m["plans"][0].update(replicas=2, objective="latency"))
    assert any("'throughput' was expected" in p for p in errors("model", summary))
    summary_status = broken(model, lambda m: m["plans"][0].update(status="verified"))
    assert any("is not one of ['tuned', 'derived', 'generic']" in p for p in errors("model", summary_status))
    engines = broken(model, lambda m: m["serving"]["engines"].update(tgi={}))
    assert any("'tgi' is not one of" in p for p in errors("model", engines))
    assert any("'checkpoint' is a required property" in p for p in errors("model", broken(model, _no_checkpoint)))
    hybrid = broken(model, lambda m: m["attention"].update(kind="hybrid", linear={"layers": 3}))
    assert any("'num_key_heads' is a required property" in p for p in errors("model", hybrid))
    size = {"total_bytes": 1, "bytes_by_dtype": {"BF16": 1}, "source": "x", "computed": False}
    assert errors("model", broken(model, lambda m: m.update(checkpoint=size))) == []
    for bad in ({**size, "total_bytes": -1}, {**size, "bytes_by_dtype": {"bf16": 1}}, {**size, "computed": None}):
        assert any(
            "is not valid under any of the given schemas" in p for p in errors("model", {**model, "checkpoint": bad})
        )
    summary_extra = broken(index, lambda i: i["models"][0].update(description="x"))
    assert any("'description' was unexpected" in p for p in errors("index", summary_extra))
    bad_hardware = broken(index, lambda i: i["hardware"]["MI300X"].update(device_ids=["74a1"]))
    assert any("does not match" in p for p in errors("index", bad_hardware))
    assert errors("index", broken(index, lambda i: i.update(api_version=2)))
    assert any(
        "'fast' is not one of" in p for p in errors("index", broken(index, lambda i: i.update(objectives=["fast"])))
    )
    old_format = broken(index, lambda i: i.update(lookup_key_format="<n>/<count mode>/<precision>/<backend>"))
    assert any("does not match" in p for p in errors("index", old_format))


def _no_checkpoint(model: dict) -> None:
    model.pop("checkpoint")


def test_a_model_with_every_optional_part_is_published_to_the_schema(catalogue):
    """The shipped models leave checkpoint sizes, multimodal encoders, serving facts and hybrid or
    sparse attention mostly unset; a model with all of them is published to the schema too."""
    base = catalogue.models["Qwen/Qwen3-32B"]
    size = CheckpointSize(65_536_000_000, {"BF16": 65_000_000_000, "F32": 536_000_000}, "hub index", computed=True)
    vllm = EngineServing(
        reasoning_parser="qwen3",
        tool_call_parser="hermes",
        args={"--max-num-seqs": 64, "--enforce-eager": None, "--gpu-memory-utilization": 0.85},
        text_only_args={"--limit-mm-per-prompt": '{"image": 0}'},
        env={"VLLM_USE_TRITON_FLASH_ATTN": "0"},
        source="the model card",
    )
    hybrid = replace(
        base,
        model_type="qwen3_next",
        checkpoint=size,
        multimodal=Multimodal(400_000_000, ("image", "video")),
        serving=Serving(trust_remote_code=True, engines={"vllm": vllm, "sglang": EngineServing()}, notes="no system"),
        variants=tuple(replace(v, checkpoint=size, alias_of=True) for v in base.variants),
        attention=Attention("hybrid", linear=LinearAttention(36, 16, 32, 128, 128, 4)),
    )
    sparse = replace(base, attention=Attention("mla", 512, 1536, 64, indexer=Indexer(64, 128, 2048)))
    docs = [model_json(model, catalogue, {}, []) for model in (hybrid, sparse)]
    assert [errors("model", doc) for doc in docs] == [[], []]
    doc = docs[0]
    assert doc["attention"] == {
        "kind": "hybrid",
        "linear": {
            "conv_kernel": 4,
            "key_head_dim": 128,
            "layers": 36,
            "num_key_heads": 16,
            "num_value_heads": 32,
            "value_head_dim": 128,
        },
    }
    assert doc["serving"]["engines"]["vllm"]["args"]["--enforce-eager"] is None
    assert doc["checkpoint"]["bytes_by_dtype"]["F32"] == 536_000_000 and doc["variants"][0]["alias_of"] is True
    assert docs[1]["attention"]["indexer"] == {"head_dim": 128, "n_heads": 64, "topk": 2048}
    wrong = broken(doc, lambda d: d["serving"]["engines"]["vllm"].update(args={"max-num-seqs": 64}))
    assert any("'max-num-seqs' does not match" in p for p in errors("model", wrong))
