"""`aim-engine cache …`: argparse wiring and printing.

The work is in `aim_engine.cache`; this module turns arguments into calls and
results into lines. Exit status: 0 done, 1 failed or problems found, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aim_engine.cache import CacheError
from aim_engine.cache.cleanup import DEFAULT_AGE, cleanup
from aim_engine.cache.environment import comment, model_environment, model_volumes, shell_assignment
from aim_engine.cache.hub import download, read_plan, verify
from aim_engine.cache.index import DEFAULT_LOCK_TIMEOUT, LOCK_TIMEOUT_ENV, pin
from aim_engine.cache.inventory import list_models, stats
from aim_engine.cache.names import (
    ENV_ROOT,
    cache_root,
    human_size,
    model_id,
    parse_age,
    parse_size,
    printable,
    revision_name,
)
from aim_engine.cache.removal import remove
from aim_pick.contract.cache_state import snapshot_state
from aim_pick.contract.deploy import CACHE_ROOT


def _target(args: argparse.Namespace) -> tuple[Path, str]:
    return cache_root(args.cache_dir), model_id(args.model)


def cmd_download(args: argparse.Namespace) -> int:
    root, model = _target(args)
    revision = revision_name(args.revision)
    plan, checkpoint = None, model
    if args.plan:
        plan = read_plan(args.api, args.plan)
        checkpoint = model_id(plan["checkpoint"])
        if model not in (plan.get("model"), checkpoint):
            served = printable(str(plan.get("model")))
            raise CacheError(f"plan {args.plan} serves {served} (checkpoint {checkpoint}), not {model}", 2)
        if checkpoint != model:
            print(
                f"plan {args.plan} serves {model} from the checkpoint {checkpoint}; downloading that", file=sys.stderr
            )
    entry, state = download(root, checkpoint, revision, plan, args.all_files)
    print(
        f"cached {checkpoint} at commit {state['commit']}: {state['files']} file(s), {human_size(state['size'])} "
        f"in {printable(state['path'])}"
    )
    if entry.get("skipped"):
        print(
            f"left out: {', '.join(entry['skipped'])} (weight formats the engines do not load when safetensors "
            "exist; --all-files fetches them)"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    root = cache_root(args.cache_dir)
    rows = list_models(root)
    if args.json:
        print(json.dumps(rows, indent=1, sort_keys=True))
        return 0
    if not rows:
        print(f"no models in {printable(str(root))}")
        return 0
    print(f"{'MODEL':<44} {'STATE':<9} {'COMMIT':<12} {'SIZE':>10}  {'LAST USED':<25} {'PIN':<3} PLAN")
    for row in rows:
        plan = printable(str(row["source_plan"] or "-"))
        print(
            f"{row['model']:<44} {row['status']:<9} {(row['commit'] or '-')[:12]:<12} {human_size(row['size']):>10}  "
            f"{row['last_used'] or '-':<25} {'yes' if row['pinned'] else '-':<3} {plan}"
        )
        if not row["complete"]:
            print(f"    {printable(row['reason'])}")
    done = sum(r["complete"] for r in rows)
    print(
        f"{len(rows)} model(s) in {printable(str(root))}: {done} complete, {len(rows) - done} not "
        "(`aim-engine cache download MODEL` finishes one)"
    )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    result = stats(cache_root(args.cache_dir))
    if args.json:
        print(json.dumps(result, indent=1, sort_keys=True))
        return 0
    print(
        f"cache {printable(result['cache_dir'])}: {result['total_models']} model(s), "
        f"{human_size(result['total_size'])} ({result['total_size']} bytes)"
    )
    for model in result["models"]:
        print(
            f"  {model['model']:<44} {human_size(model['size']):>10}  {model['files']:>4} file(s)  "
            f"{model['revisions']} revision(s)  {'complete' if model['complete'] else 'incomplete'}"
            f"{'  pinned' if model['pinned'] else ''}"
        )
    if result["incomplete_files"]:
        print(f"partial download files: {result['incomplete_files']} ({human_size(result['incomplete_size'])})")
    for warning in result["warnings"]:
        print(f"warning: {printable(warning)}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    root, model = _target(args)
    problems, notes, _ = verify(root, model, revision_name(args.revision))
    for note in notes:
        print(note)
    for problem in problems:
        print(f"problem: {problem}")
    print(f"{model}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def cmd_remove(args: argparse.Namespace) -> int:
    root, model = _target(args)
    freed, had_files = remove(root, model)
    print(f"removed {model} ({human_size(freed)})" if had_files else f"removed the index entry of {model} (no files)")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    root = cache_root(args.cache_dir)
    older = parse_age(args.older_than) if args.older_than else None
    limit = parse_size(args.max_size) if args.max_size else None
    result = cleanup(root, older, limit, args.keep_pinned, args.dry_run)
    verb = "would remove" if result.dry_run else "removed"
    for removal in result.removals:
        if removal.model in result.failed:
            print(f"aim-engine: {result.failed[removal.model]}", file=sys.stderr)
        else:
            print(f"{verb} {removal.model} ({human_size(removal.size)}): {removal.reason}")
    for model in result.dropped:
        print(f"{'would drop' if result.dry_run else 'dropped'} the index entry of {model}: not in the cache")
    for found in result.orphans:
        print(
            f"{verb} {found.count} partial download file(s) of {found.model} ({human_size(found.size)}) left by "
            "an interrupted download"
        )
    for note in result.notes:
        print(note)
    if not result.removals:
        print("no model to remove")
    print(f"cache size {'would be' if result.dry_run else 'is now'} {human_size(result.total)}")
    return 1 if result.failed else 0


def cmd_pin(args: argparse.Namespace) -> int:
    root, model = _target(args)
    pin(root, model, args.pinned)
    print(f"{'pinned' if args.pinned else 'unpinned'} {model}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    root, model = _target(args)
    env = model_environment(root, model, args.host, args.api, Path(args.root) if args.root is not None else None)
    state = env.state
    if args.json:
        print(
            json.dumps(
                {
                    "env": env.values,
                    "pass_through": env.pass_through,
                    "gated": env.gating.gated,
                    "complete": state["complete"],
                    "commit": state["commit"],
                    "reason": state["reason"],
                },
                indent=1,
                sort_keys=True,
            )
        )
        return 0
    for key, value in env.values.items():
        print(shell_assignment(key, value))
    for name in env.pass_through:  # as the generated .env files do: a comment, so `set -a; . file` still works
        print(comment(f"{model} is gated: also export {name} (never stored here)"))
    if env.gating.gated is None:
        print(
            comment(f"whether {model} is gated is not known: {env.gating.source}; a gated model also needs HF_TOKEN"),
            file=sys.stderr,
        )
    if state["complete"]:
        print(
            comment(
                f"{model} is complete at commit {state['commit'][:12]}: HF_HUB_OFFLINE=1 keeps the engine off the "
                "network"
            ),
            file=sys.stderr,
        )
    else:
        print(
            comment(
                f"{model} is not complete in the cache ({state['reason']}): the engine will download it; "
                f"`aim-engine cache download {model}` fetches it ahead"
            ),
            file=sys.stderr,
        )
    return 0


def cmd_volumes(args: argparse.Namespace) -> int:
    root, model = _target(args)
    volumes = model_volumes(root)
    print(json.dumps(volumes) if args.json else "\n".join(printable(v) for v in volumes))
    state = snapshot_state(str(root), model)
    if not state["complete"]:
        print(comment(f"{model} is not complete in {root} ({state['reason']})"), file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `cache` to the `aim-engine` command line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache-dir",
        help=f"cache root (default: ${ENV_ROOT}, else {CACHE_ROOT}); the index lock is waited for at most "
        f"${LOCK_TIMEOUT_ENV} seconds (default {DEFAULT_LOCK_TIMEOUT:g})",
    )
    one = argparse.ArgumentParser(add_help=False, parents=[common])
    one.add_argument("model", help="Hugging Face id (org/name) or its slug (org--name)")

    c = subparsers.add_parser(
        "cache",
        help="the shared model cache (Hugging Face layout under <root>/hub)",
        description=f"Manage the model cache that generated containers mount at {CACHE_ROOT}.",
    )
    sub = c.add_subparsers(dest="cache_command", required=True, metavar="COMMAND")

    p = sub.add_parser("download", parents=[one], help="download a checkpoint into the cache")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.add_argument("--plan", metavar="PLAN_ID", help="download the checkpoint this plan serves (e.g. its FP8 variant)")
    p.add_argument(
        "--api", default="build/api", help="the built API (folder or URL) holding plans/ (default: build/api)"
    )
    p.add_argument(
        "--all-files",
        action="store_true",
        help="also fetch .bin/.pth/... weights that the engines skip when safetensors exist",
    )
    p.set_defaults(func=cmd_download)

    for name, func, text in (
        ("list", cmd_list, "cached models and whether each is complete"),
        ("stats", cmd_stats, "count, total size and per-model sizes from a scan of the cache"),
    ):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=func)

    p = sub.add_parser("verify", parents=[one], help="check files against the hub's sizes and checksums (network)")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("remove", parents=[one], help="delete a model from the cache")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("cleanup", parents=[common], help="remove models by age, then least recently used to fit a size")
    p.add_argument(
        "--older-than",
        metavar="AGE",
        help=f"remove models not used for AGE (30d, 12h, 2w; default "
        f"{DEFAULT_AGE} when --max-size is not given either)",
    )
    p.add_argument(
        "--max-size",
        metavar="SIZE",
        help="then remove least recently used models until the cache fits "
        "(500G = 500*1000^3 bytes, 1.5TiB = 1.5*1024^4)",
    )
    p.add_argument(
        "--keep-pinned",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="never remove pinned models (default; --no-keep-pinned lets cleanup remove them)",
    )
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    p.set_defaults(func=cmd_cleanup)

    for name, pinned in (("pin", True), ("unpin", False)):
        p = sub.add_parser(name, parents=[one], help=f"{name} a model (pinned models survive cleanup)")
        p.set_defaults(func=cmd_pin, pinned=pinned)

    p = sub.add_parser("env", parents=[one], help="the environment an engine container needs for this model")
    p.add_argument("--host", action="store_true", help="for an engine run on the host: HF_HOME is the cache root")
    p.add_argument("--json", action="store_true", help="print JSON")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--root", help="catalogue root whose models/ say whether a model is gated (default: the current folder)"
    )
    where.add_argument("--api", help="or a built API (folder or URL) whose index.json says so")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("volumes", parents=[one], help="the volume that mounts the cache into an engine container")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_volumes)
