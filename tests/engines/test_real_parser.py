"""Every published plan's engine arguments parse with the pinned engine's real parser (the
released wheel in its flag-dump venv, built as tools/flagdump builds it).
scripts/install-test-tools.sh makes the venvs (`python3 -m tools.flagdump ENGINE VERSION --venv-only`)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest
from tools.flagdump.engines import ENGINES
from tools.flagdump.outer import DEFAULT_VENV_ROOT, _package_path, inner_env

from aim_engine.catalogue.load import load_engines
from aim_engine.catalogue.records import Entry
from aim_engine.engines import backends_for
from aim_pick.contract import deploy
from tests.conftest import REPO

HELPER = Path(__file__).with_name("real_parser.py")


def venv_python(engine: str) -> Path:
    version = load_engines()[engine].version
    return DEFAULT_VENV_ROOT / f"{engine}-{version}" / "bin" / "python"


def real_parse(engine: str, argvs: list[list[str]]) -> list:
    """Per argv: None (parsed) or the parser's error."""
    py = venv_python(engine)
    assert py.exists(), (
        f"no flag-dump venv for {engine} ({py}): run scripts/install-test-tools.sh (the README's test command does)"
    )
    with tempfile.TemporaryDirectory(prefix="aim-realparse-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        done = subprocess.run(
            [str(py), "-s", str(HELPER)],
            input=json.dumps({"engine": engine, "argvs": argvs}),
            env=inner_env(ENGINES[engine], home, _package_path(Path(tmp))),
            cwd=home,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def engine_args(plan: dict) -> list[str]:
    """The plan's engine arguments without the launch words (vllm serve / python3 -m ...)."""
    engine = load_engines()[plan["backend"]]
    start = list(engine.launch) or (engine.image_entrypoint or "").split()
    argv = plan["engine_argv"]
    assert argv[: len(start)] == start, argv[:4]
    return argv[len(start) :]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_every_published_plan_parses_with_the_real_parser(built, engine):
    plans = [json.loads(p.read_text("utf-8")) for p in sorted((built / "api" / "plans").glob("*.json"))]
    mine = [p for p in plans if p["backend"] == engine]
    assert mine, f"no {engine} plans"
    if engine == "vllm":  # the model is positional: vLLM warns on every --model
        assert all(not a.startswith("--model") for p in mine for a in engine_args(p))
    # and each host's command of a multi-node plan, with a worker's rank and the leader's address filled in
    hosts = [(p, leader) for p in mine if p["nodes"] > 1 for leader in (True, False)]
    assert hosts, f"no multi-node {engine} plans"
    argvs = [engine_args(p) for p in mine] + [host_args(p, leader) for p, leader in hosts]
    results = real_parse(engine, argvs)
    names = [p["plan_id"] for p in mine] + [f"{p['plan_id']} ({'leader' if x else 'worker'})" for p, x in hosts]
    failed = [(name, r) for name, r in zip(names, results) if r is not None]
    assert not failed, f"{len(failed)}/{len(names)} {engine} commands do not parse: {failed[:5]}"


def host_args(plan: dict, leader: bool) -> list[str]:
    """One host's engine arguments of a multi-node plan (deploy.node_argv), rank 1 for a worker."""
    engine = load_engines()[plan["backend"]]
    words = deploy.node_argv(plan, leader)
    words = [w.replace(deploy.RANK_WORD, "1").replace(deploy.ADDRESS_WORD, "10.0.0.1") for w in words]
    start = list(engine.launch)
    assert words[: len(start)] == start, words[:4]
    return words[len(start) :]


@pytest.mark.slow
def test_the_forms_the_validator_accepts_parse_for_real():
    """The shorthands, special values and spellings the validator accepts, rendered as AIM renders
    them, parse with the real vLLM parser; what it refuses as unknown does not."""
    accepted = [
        ["Qwen/Qwen3-8B", "--compilation-config.pass_config.fuse_rope_kvcache=true"],
        ["Qwen/Qwen3-8B", "--compilation-config.custom_ops+=+rms_norm,-quant_fp8", "--compilation-config.mode=3"],
        ["Qwen/Qwen3-8B", "--compilation-config.use_inductor_graph_partition=true", "--max-model-len", "auto"],
        ["Qwen/Qwen3-8B", "--optimization-level", "3", "--max-model-len", "128K"],
        ["Qwen/Qwen3-8B", "--spec-method", "None", "--tool-strict-level", "None"],
        ["Qwen/Qwen3-8B", "--attention-backend", "ROCM_AITER_UNIFIED_ATTN", "--block-size", "64"],
    ]
    refused = [["Qwen/Qwen3-8B", "--cuda-graph-sizes", "8"], ["Qwen/Qwen3-8B", "--swap-space", "16"]]
    results = real_parse("vllm", accepted + refused)
    assert results[: len(accepted)] == [None] * len(accepted), results
    assert all(r is not None for r in results[len(accepted) :]), results
    sglang = real_parse(
        "sglang",
        [
            ["--model-path", "x", "--cuda-graph-max-bs-decode", "8"],
            ["--model-path", "x", "--cuda-graph-max-bs", "8"],
        ],
    )
    assert sglang[0] is None and sglang[1] is not None and "ambiguous" in str(sglang[1])


def test_helper_exists():
    assert HELPER.is_file() and (REPO / "tools" / "flagdump" / "outer.py").is_file()


def _corpus_argvs(catalogue) -> dict[str, list[tuple[str, list[str], bool]]]:
    """Per engine, each corpus entry as (fixture id, argv, whether the validator refuses its flags):
    flags it accepts rendered as AIM renders them, refused ones as the publisher wrote them."""
    from tests.checks.test_corpus import PARSER_CODES, PUBLISHED

    backends = backends_for(load_engines())
    out: dict[str, list[tuple[str, list[str], bool]]] = {"vllm": [], "sglang": []}
    for published in PUBLISHED:
        recipe = published.recipe
        refused = bool(published.findings & PARSER_CODES)
        for name, backend in backends.items():
            for key, block in (recipe.get(backend.data.recipe_key) or {}).items():
                args = block.get("args") or {}
                entry = Entry(name, key, int(key.split("_")[0]), True, args, {}, None)
                model = catalogue.models[recipe["model_id"]]
                settings = backend.settings(entry, model, catalogue.hardware[recipe["hardware"]])
                argv = (
                    _as_written(backend, args, settings.checkpoint)
                    if refused
                    else backend.engine_args(entry, settings, 8000)
                )
                out[name].append((f"{published.id}:{key}", argv, refused))
    return out


def _as_written(backend, args: dict, checkpoint: str) -> list[str]:
    """The publisher's own spellings and values (vLLM: the model positional)."""
    argv = [checkpoint] if backend.positional_model else []
    for spelling, value in args.items():
        if backend.positional_model and spelling in backend.model_flags:
            continue
        if value is None or value is True:
            argv.append(spelling)
        elif value is not False:
            argv.extend([spelling, *(str(v) for v in (value if isinstance(value, list) else [value]))])
    return argv


@pytest.mark.slow
def test_the_corpus_verdicts_on_flags_are_the_real_parsers(catalogue):
    """Every published configuration the validator passes on flags parses with the real parser as
    AIM renders it; every one it refuses on flags (removed, unknown, bad value or choice) is
    refused by the real parser as published."""
    for engine, items in _corpus_argvs(catalogue).items():
        results = real_parse(engine, [argv for _, argv, _ in items])
        wrong = [(fid, r) for (fid, _, refused), r in zip(items, results) if (r is not None) != refused]
        assert not wrong, f"{engine}: the validator and the real parser disagree on {wrong}"
        # refused by argparse itself (an error line naming the option), not by a side effect
        odd = [(fid, r) for (fid, _, refused), r in zip(items, results) if refused and "error:" not in str(r)]
        assert not odd, odd
