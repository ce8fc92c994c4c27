"""`aim-engine estimate MODEL (--gpu X | --gpu-memory SIZE)`: the memory model as a VRAM calculator.

Parsing and printing only; the figures come from planning/estimate.py, which sizes the request
exactly as the planner sizes an entry."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aim_engine.cache import CacheError
from aim_engine.catalogue.load import catalogue_files, load_engines, model_from
from aim_engine.catalogue.records import Model
from aim_engine.checks.diagnostics import Report
from aim_engine.checks.loading import load
from aim_engine.engines import backends_for
from aim_engine.errors import EXIT_NO_PLAN, EXIT_OK, UsageError
from aim_engine.planning.estimate import EstimateRequest, custom_gpu, parse_size, run_estimate


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "estimate",
        help="VRAM calculator: weights, KV memory and tokens, concurrency and the longest context that fits",
        description="Size MODEL on a catalogue GPU type (--gpu) or any memory size (--gpu-memory) with the "
        "planner's own memory model and the pinned engine's defaults. Exit status 0 when one request of "
        "--max-model-len fits, 3 when it does not.",
    )
    p.add_argument("model", nargs="?", help="catalogue model: Hugging Face id, slug or name (not with --config)")
    p.add_argument(
        "--config",
        metavar="PATH",
        help="a checkpoint folder (config.json plus safetensors headers or index) instead of a catalogue model",
    )
    p.add_argument("--checkpoint", metavar="ID", help="serve this variant's checkpoint (default: the model's own)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--gpu", help="catalogue GPU type, e.g. MI300X")
    where.add_argument("--gpu-memory", metavar="SIZE", help="memory of one GPU: 80GiB, 192GB, 64G or bytes")
    p.add_argument("--platform", choices=("rocm", "cuda"), help="runtime figures for --gpu-memory (default rocm)")
    p.add_argument("--tp", type=int, default=1, help="tensor-parallel size (default 1)")
    p.add_argument("--pp", type=int, default=1, help="pipeline-parallel size (default 1)")
    p.add_argument("--max-model-len", type=int, help="context length (default: the model's maximum)")
    p.add_argument(
        "--gpu-memory-utilization",
        type=float,
        help="memory fraction (vLLM's utilization, SGLang's --mem-fraction-static)",
    )
    p.add_argument("--kv-cache-dtype", help="KV cache dtype (auto, fp8, fp8_e4m3, ...)")
    p.add_argument("--max-num-seqs", type=int, help="sequences per batch (SGLang: --max-running-requests)")
    p.add_argument("--max-num-batched-tokens", type=int, help="tokens per batch (SGLang: --chunked-prefill-size)")
    p.add_argument("--enforce-eager", action="store_true", help="no CUDA/HIP graphs")
    p.add_argument("--backend", default="vllm", choices=("vllm", "sglang"))
    p.add_argument("--json", action="store_true", help="print the figures as JSON (field names are stable)")
    p.add_argument("--root", default=".", help="catalogue root (default: .)")
    p.set_defaults(func=run)


def config_model(path: Path) -> Model:
    """A model record from a checkpoint folder, as `aim-engine models import --from-dir` reads it."""
    from aim_engine.cache.hub_import import Card, Origin, _identity, _json_file, model_document, weights_from_dir

    folder = path if path.is_dir() else path.parent
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UsageError(f"--config: {path} has no config.json")
    config = _json_file(config_path)
    if not isinstance(config, dict):
        raise UsageError(f"--config: {config_path} is not a JSON object")
    try:
        repo_id, commit = _identity(folder, None, config)
    except CacheError:  # a folder that does not say which hub id it holds
        repo_id, commit = "local/model", None
    origin = Origin(repo_id, commit, local=folder.resolve())
    doc = model_document(origin, Card(None, None, "", False), config, weights_from_dir(folder)).doc
    return model_from(doc, config_path)


def run(args: argparse.Namespace) -> int:
    if (args.model is None) == (args.config is None):
        raise UsageError("name one MODEL from the catalogue, or give --config PATH")
    if args.platform and args.gpu:
        raise UsageError("--platform goes with --gpu-memory; a catalogue GPU has its own runtime figures")
    root = Path(args.root)
    report = Report()
    # Only the model files: recipes play no part in a calculation (and loading them doubles the time).
    catalogue = load(catalogue_files(root)[0], [], report).catalogue if args.model or args.gpu else None
    if args.config:
        model = config_model(Path(args.config))
    else:
        assert catalogue is not None
        model = catalogue.find_model(args.model)
    if args.gpu:
        assert catalogue is not None
        gpu = catalogue.find_hardware(args.gpu)
    else:
        gpu = custom_gpu(parse_size(args.gpu_memory))
    for flag, value in (("--tp", args.tp), ("--pp", args.pp)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    request = EstimateRequest(
        model=model,
        gpu=gpu,
        backend=args.backend,
        platform=args.platform,
        checkpoint=args.checkpoint,
        tp=args.tp,
        pp=args.pp,
        max_model_len=args.max_model_len,
        utilization=args.gpu_memory_utilization,
        kv_cache_dtype=args.kv_cache_dtype,
        max_num_seqs=args.max_num_seqs,
        max_num_batched_tokens=args.max_num_batched_tokens,
        eager=args.enforce_eager,
    )
    result = run_estimate(request, backends_for(load_engines()))
    if args.json:
        print(json.dumps(result.as_json(), indent=1))
    else:
        print(result.text())
    return EXIT_OK if result.memory.fits else EXIT_NO_PLAN
