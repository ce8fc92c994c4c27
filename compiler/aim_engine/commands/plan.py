"""`aim-engine plan MODEL --gpu X`: one decision, NIM `list-model-profiles` style."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aim_engine.build import checked_catalogue
from aim_engine.catalogue.load import PRECISIONS
from aim_engine.errors import EXIT_NO_PLAN, EXIT_OK
from aim_engine.planning import explain
from aim_engine.planning.parallelism import NODE_COUNTS
from aim_engine.planning.planner import OBJECTIVES, Planner


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="show which plan serves MODEL on a GPU type, and why not the others")
    p.add_argument("model", help="Hugging Face id (Qwen/Qwen3-32B), slug or name")
    p.add_argument("--gpu", required=True, help="GPU type, e.g. MI300X")
    p.add_argument("--gpus", type=int, default=8, help="GPUs available (default 8); the plan never uses more")
    p.add_argument("--exact", action="store_true", help="ask for exactly --gpus GPUs instead of the size-tier default")
    p.add_argument("--precision", default="auto", choices=("auto", *PRECISIONS))
    p.add_argument("--backend", default="auto", help="auto, vllm or sglang")
    p.add_argument(
        "--objective",
        default="latency",
        choices=OBJECTIVES,
        help="latency (default): the fewest GPUs that serve one request best; throughput: fill the --gpus "
        "with replicas of the best plan that fits with headroom",
    )
    p.add_argument(
        "--nodes",
        type=int,
        choices=NODE_COUNTS,
        help="plan for this many hosts of 8 GPUs (multi-node: TP inside a host; per host a pipeline stage, or for "
        "an MoE model on vLLM a data-parallel rank with the experts over every GPU)",
    )
    p.add_argument("--all", action="store_true", help="list every candidate (default: incompatible ones by reason)")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.add_argument("--root", default=".", help="catalogue root (default: .)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    catalogue = checked_catalogue(Path(args.root)).catalogue
    model = catalogue.find_model(args.model)
    hardware = catalogue.find_hardware(args.gpu)
    planner = Planner(catalogue)
    if args.nodes:
        decision = planner.plan_nodes(model, hardware, args.nodes, args.precision, args.backend)
    else:
        mode = "exact" if args.exact else "auto"
        decision = planner.plan(model, hardware, args.gpus, mode, args.precision, args.backend, args.objective)
    if args.json:
        print(json.dumps(explain.decision_dict(decision), indent=1, sort_keys=True))
    else:
        print(explain.render_text(decision, model, hardware, everything=args.all))
    return EXIT_OK if decision.chosen else EXIT_NO_PLAN
