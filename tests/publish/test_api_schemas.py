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
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest

from aim_engine.catalogue.load import PRECISIONS
from aim_engine.planning.planner import MAX_GPUS, Reason, Verdict
from aim_engine.publish.api import COUNT_MODES
from aim_pick.contract import layout, records
from tests.conftest import REPO

KINDS = ("index", "model", "plan", "lookup")
SCHEMA_FOLDER = "schemas"  # api/schemas/<name>.schema.json (aim_engine.publish.api.schema_files)
PICK_REASONS = ("partition-too-small", "profile", "profile-refused")  # aim-pick's own, never published


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
    # the key pattern spells the same vocabularies: <n>/<count mode>/<precision>/<backend>
    match = re.fullmatch(r"\^\[1-(\d)\]/\(([^)]*)\)/\(([^)]*)\)/\(([^)]*)\)\$", lookup["lookupKey"]["pattern"])
    assert match, lookup["lookupKey"]["pattern"]
    top, modes, precisions, backends = match.groups()
    assert int(top) == MAX_GPUS
    assert modes.split("|") == list(COUNT_MODES)
    assert precisions.split("|") == ["auto", *PRECISIONS]
    assert backends.split("|") == ["auto", *sorted(catalogue.engines)]
    assert schema("model")["$defs"]["matrixRow"]["minProperties"] == MAX_GPUS


def test_lookup_keys_follow_the_published_key_format(built):
    """Every key a lookup file lists, and every key aim-pick can ask for, matches $defs/lookupKey."""
    pattern = re.compile(schema("lookup")["$defs"]["lookupKey"]["pattern"])
    lookup = read(built / "api" / layout.lookup_path("MI300X", layout.slug("Qwen/Qwen3-32B")))
    fmt = re.fullmatch(r"<n>/<count mode: ([^>]*)>/<precision: ([^>]*)>/<backend: ([^>]*)>", lookup["key_format"])
    assert fmt, lookup["key_format"]
    modes, precisions, backends = (part.split("|") for part in fmt.groups())
    wanted = {
        layout.lookup_key(n, m, p, b)
        for n in range(1, MAX_GPUS + 1)
        for m in modes
        for p in precisions
        for b in backends
    }
    assert set(lookup["keys"]) == wanted
    assert all(pattern.match(key) for key in wanted)
    assert not pattern.match(layout.lookup_key(MAX_GPUS + 1, "auto", "auto", "auto"))


# --- the TypedDicts mirror the schemas ---------------------------------------------------------

# (schema, path to an object schema: a $defs name, then properties, "[]" for array items) -> record
MIRRORS = [
    ("plan", "plan", records.PlanRecord),
    ("plan", "memoryEstimate", records.MemoryRecord),
    ("plan", "plan/engine", records.PlanEngine),
    ("lookup", "lookup", records.LookupRecord),
    ("lookup", "decision", records.DecisionRecord),
    ("lookup", "target", records.TargetRecord),
    ("lookup", "candidate", records.CandidateRecord),
    ("model", "model", records.ModelRecord),
    ("model", "modelSummary", records.ModelSummary),
    ("model", "matrixCell", records.MatrixCell),
    ("model", "planSummary", records.PlanSummary),
    ("model", "model/parameters", records.ParametersRecord),
    ("model", "model/architecture_config", records.ArchitectureConfig),
    ("model", "model/attention", records.AttentionRecord),
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
    assert list(get_args(records.MatrixStatus)) == model["matrixCell"]["properties"]["status"]["enum"]
    assert list(get_args(records.CountMode)) == list(COUNT_MODES)
    assert list(get_args(records.PickReason)) == [*lookup["reason"]["enum"], *PICK_REASONS]
    shim = "".join((REPO / "compiler" / "aim_pick" / name).read_text() for name in ("pick.py", "cli.py"))
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
def test_index_models_and_one_gpus_files_match_their_schemas(built):
    """The fast tier's share: the index, every model, and every plan and lookup of MI300X."""
    files = api_files(built)
    plans = [p for p in files["plan"] if read(p)["hardware"] == "MI300X"]
    lookups = [p for p in files["lookup"] if p.parent.name == "MI300X"]
    assert plans and lookups
    jobs = [("index", files["index"]), ("model", files["model"]), ("plan", plans), ("lookup", lookups)]
    assert validate_all(jobs) == []


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
        assert (built / plan["compose"]).is_file() and (built / plan["k8s"]).is_file()
        assert (built / plan["env_file"]).is_file() and (built / plan["run_script"]).is_file()
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


# --- the schemas catch real mistakes ------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(built):
    """A derived plan, a verified one, a lookup with a chosen plan, a model and the index."""
    api = built / "api"
    return {
        "plan": read(api / layout.plan_path("qwen3-32b-mi300x-bf16-vllm-tp4")),
        "derived": read(api / layout.plan_path("qwen3-32b-mi308x-bf16-vllm-tp4-from-mi300x")),
        "lookup": read(api / layout.lookup_path("MI300X", layout.slug("Qwen/Qwen3-32B"))),
        "model": read(api / layout.model_path(layout.slug("Qwen/Qwen3-32B"))),
        "index": read(api / layout.INDEX),
    }


@pytest.mark.slow
def test_the_samples_are_valid(samples):
    for name, kind in (
        ("plan", "plan"),
        ("derived", "plan"),
        ("lookup", "lookup"),
        ("model", "model"),
        ("index", "index"),
    ):
        assert errors(kind, samples[name]) == [], name


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
        (lambda p: p.update(replicas=2), "Additional properties are not allowed ('replicas' was unexpected)"),
        (lambda p: p.update(docker_argv=["podman", "run"]), "'docker' was expected"),
        (lambda p: p.update(docker_argv="docker run x"), "is not of type 'array'"),
        (lambda p: p.update(gpu_count="4"), "is not of type 'integer'"),
        (lambda p: p.update(status="measured"), "is not one of ['verified', 'derived']"),
        (lambda p: p.update(backend="tgi"), "is not one of ['sglang', 'vllm']"),
        (lambda p: p.update(plan_id="../../etc/passwd"), "does not match"),
        (lambda p: p.update(memory=None), "None is not of type 'object'"),
        (lambda p: p["memory"].update(fits=False), "True was expected"),
        (lambda p: p["memory"].pop("total_bytes_per_gpu"), "'total_bytes_per_gpu' is a required property"),
        (lambda p: p["memory"].update(total_gib=12.0), "('total_gib' was unexpected)"),
        (lambda p: p.update(status="derived"), "None is not of type 'string'"),  # derived without derived_from
        (lambda p: p.update(env={"HF_TOKEN": None}), "None is not of type 'string'"),
    ],
)
def test_plan_mistakes_are_caught(samples, change, expected):
    found = errors("plan", broken(samples["plan"], change))
    assert any(expected in problem for problem in found), found


def test_a_verified_plan_must_not_name_a_source_gpu(samples):
    assert errors("plan", broken(samples["derived"], lambda p: p.update(status="verified")))


def _chosen_decision(lookup: dict) -> str:
    return next(did for did, d in lookup["decisions"].items() if d["plan"] is not None)


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
        (lambda d, did: d["keys"].update({"9/auto/auto/auto": did}), "'9/auto/auto/auto' does not match"),
        (lambda d, did: d["keys"].update({"1/any/auto/auto": did}), "'1/any/auto/auto' does not match"),
        (lambda d, did: d["keys"].update({"1/auto/auto/tgi": did}), "'1/auto/auto/tgi' does not match"),
        (lambda d, did: d["decisions"][did]["path"][0].__setitem__(1, "maybe"), "'maybe' is not one of"),
        (lambda d, did: d["decisions"][did]["path"][0].append("extra"), "Expected at most 2 items"),
        (lambda d, did: d["decisions"][did].update(objective="latency"), "('objective' was unexpected)"),
        (lambda d, did: d["decisions"][did]["target"].update(objective="latency"), "('objective' was unexpected)"),
        (lambda d, did: d["decisions"][did].update(plan=None), "[not]"),  # a chosen step, no plan
        (lambda d, did: d["decisions"][did].update(path=[]), "should be non-empty"),
    ],
)
@pytest.mark.slow
def test_lookup_mistakes_are_caught(samples, change, expected):
    lookup = samples["lookup"]
    found = errors("lookup", broken(lookup, lambda d: change(d, _chosen_decision(lookup))))
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.update(plan=None), "None is not of type 'string'"),  # runnable without a plan
        (lambda c: c.update(verdict="chosen"), "[not]"),  # chosen is a request's verdict
        (lambda c: c.update(reason="too-many-gpus"), "[not]"),  # so is too-many-gpus
        (lambda c: c.update(reason="fits"), "'fits' is not one of"),
        (lambda c: c.update(recipe=None), "None is not of type 'string'"),  # a real entry has a recipe
        (lambda c: c.pop("total_bytes_per_gpu"), "'total_bytes_per_gpu' is a required property"),
    ],
)
def test_candidate_mistakes_are_caught(samples, change, expected):
    lookup = samples["lookup"]
    cid = next(cid for cid, c in lookup["candidates"].items() if c["verdict"] == "runnable")
    found = errors("lookup", broken(lookup, lambda d: change(d["candidates"][cid])))
    assert any(expected in problem for problem in found), found


def test_model_and_index_mistakes_are_caught(samples):
    def cell(doc):
        doc["support_matrix"]["MI300X"]["4"]["plan"] = None  # verified, but no plan

    assert any("None is not of type 'string'" in p for p in errors("model", broken(samples["model"], cell)))
    assert errors("model", broken(samples["model"], lambda m: m["support_matrix"]["MI300X"].pop("8")))
    assert any("was unexpected" in p for p in errors("model", broken(samples["model"], lambda m: m.update(x=1))))
    summary_extra = broken(samples["index"], lambda i: i["models"][0].update(description="x"))
    assert any("'description' was unexpected" in p for p in errors("index", summary_extra))
    bad_hardware = broken(samples["index"], lambda i: i["hardware"]["MI300X"].update(device_ids=["74a1"]))
    assert any("does not match" in p for p in errors("index", bad_hardware))
    assert errors("index", broken(samples["index"], lambda i: i.update(api_version=2)))
