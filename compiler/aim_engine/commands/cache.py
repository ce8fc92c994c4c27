"""`aim-engine cache …`: argparse wiring and printing.

The work is in `aim_engine.cache`; this module turns arguments into calls and
results into lines. Exit status: 0 done, 1 failed or problems found, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from aim_engine.cache import store as cache
from aim_engine.cache.store import CacheError, human_size

DEFAULT_AGE = "30d"  # the seed's cleanup_old_models(days_old=30)


def _target(args: argparse.Namespace) -> tuple[Path, str]:
    return cache.cache_root(args.cache_dir), cache.model_id(args.model)


def cmd_download(args: argparse.Namespace) -> int:
    root, model = _target(args)
    revision = cache.revision_name(args.revision)
    plan, checkpoint = None, model
    if args.plan:
        plan = cache.read_plan(Path(args.api), args.plan)
        checkpoint = cache.model_id(plan["checkpoint"])
        if model not in (plan.get("model"), checkpoint):
            raise CacheError(f"plan {args.plan} serves {plan.get('model')} (checkpoint {checkpoint}), not {model}", 2)
        if checkpoint != model:
            print(
                f"plan {args.plan} serves {model} from the checkpoint {checkpoint}; downloading that", file=sys.stderr
            )
    entry, state = cache.download(root, checkpoint, revision, plan, args.all_files)
    print(
        f"cached {checkpoint} at commit {state['commit']}: {state['files']} file(s), {human_size(state['size'])} "
        f"in {state['path']}"
    )
    if entry.get("skipped"):
        print(
            f"left out: {', '.join(entry['skipped'])} (weight formats the engines do not load when safetensors "
            "exist; --all-files fetches them)"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    root = cache.cache_root(args.cache_dir)
    rows = cache.list_models(root)
    if args.json:
        print(json.dumps(rows, indent=1, sort_keys=True))
        return 0
    if not rows:
        print(f"no models in {root}")
        return 0
    print(f"{'MODEL':<44} {'STATE':<9} {'COMMIT':<12} {'SIZE':>10}  {'LAST USED':<25} {'PIN':<3} PLAN")
    for row in rows:
        print(
            f"{row['model']:<44} {row['status']:<9} {(row['commit'] or '-')[:12]:<12} {human_size(row['size']):>10}  "
            f"{row['last_used'] or '-':<25} {'yes' if row['pinned'] else '-':<3} {row['source_plan'] or '-'}"
        )
        if not row["complete"]:
            print(f"    {row['reason']}")
    done = sum(r["complete"] for r in rows)
    print(
        f"{len(rows)} model(s) in {root}: {done} complete, {len(rows) - done} not "
        "(`aim-engine cache download MODEL` finishes one)"
    )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    root = cache.cache_root(args.cache_dir)
    result = cache.stats(root)
    if args.json:
        print(json.dumps(result, indent=1, sort_keys=True))
        return 0
    print(
        f"cache {result['cache_dir']}: {result['total_models']} model(s), {human_size(result['total_size'])} "
        f"({result['total_size']} bytes)"
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
        print(f"warning: {warning}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    root, model = _target(args)
    problems, notes, _ = cache.verify(root, model, cache.revision_name(args.revision))
    for note in notes:
        print(note)
    for problem in problems:
        print(f"problem: {problem}")
    print(f"{model}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def cmd_remove(args: argparse.Namespace) -> int:
    root, model = _target(args)
    on_disk = cache.repo_dir(root, model).exists() or cache.repo_dir(root, model).is_symlink()
    indexed = model in cache.read_index(root)[0]
    if not on_disk and not indexed:
        raise CacheError(f"{model} is not in the cache at {root}")
    freed = cache.remove_model(root, model)
    cache.update_index(root, lambda entries: entries.pop(model, None))
    print(f"removed {model} ({human_size(freed)})" if on_disk else f"removed the index entry of {model} (no files)")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    root = cache.cache_root(args.cache_dir)
    older = cache.parse_age(args.older_than) if args.older_than else None
    limit = cache.parse_size(args.max_size) if args.max_size else None
    if older is None and limit is None:
        older = cache.parse_age(DEFAULT_AGE)
    rows = cache.list_models(root)
    removals, notes, total = cache.plan_cleanup(rows, time.time(), older, limit, args.keep_pinned)
    verb, status = ("would remove" if args.dry_run else "removed"), 0
    for removal in removals:
        if not args.dry_run:
            try:
                cache.remove_model(root, removal.model)
                cache.update_index(root, lambda entries, m=removal.model: entries.pop(m, None))
            except CacheError as exc:
                print(f"aim-engine: {exc}", file=sys.stderr)
                status = 1
                continue
        print(f"{verb} {removal.model} ({human_size(removal.size)}): {removal.reason}")
    gone = {r.model for r in removals}
    for row in rows:
        if row["status"] == "missing":
            if not args.dry_run:
                cache.update_index(root, lambda entries, m=row["model"]: entries.pop(m, None))
            print(f"{'would drop' if args.dry_run else 'dropped'} the index entry of {row['model']}: not in the cache")
        elif row["model"] not in gone:
            orphans = cache.partial_files(root, row["model"])[1]
            if orphans:
                size = (
                    cache.remove_orphans(root, row["model"])
                    if not args.dry_run
                    else sum(p.stat().st_size for p in orphans if p.exists())
                )
                print(
                    f"{verb} {len(orphans)} partial download file(s) of {row['model']} ({human_size(size)}) left by "
                    "an interrupted download"
                )
    for note in notes:
        print(note)
    if not removals:
        print("no model to remove")
    print(f"cache size {'would be' if args.dry_run else 'is now'} {human_size(total)}")
    return status


def cmd_pin(args: argparse.Namespace) -> int:
    root, model = _target(args)
    cache.pin(root, model, args.pinned)
    print(f"{'pinned' if args.pinned else 'unpinned'} {model}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    root, model = _target(args)
    values, by_name, state = cache.model_environment(root, model, host=args.host)
    if args.json:
        print(
            json.dumps(
                {
                    "env": values,
                    "pass_through": by_name,
                    "complete": state["complete"],
                    "commit": state["commit"],
                    "reason": state["reason"],
                },
                indent=1,
                sort_keys=True,
            )
        )
        return 0
    for key, value in values.items():
        print(f"{key}={value}")
    for name in by_name:  # as the generated .env files do: a comment, so `set -a; . file` still works
        print(f"# {model} is gated: also export {name} (never stored here)")
    if state["complete"]:
        print(
            f"# {model} is complete at commit {state['commit'][:12]}: HF_HUB_OFFLINE=1 keeps the engine off the "
            "network",
            file=sys.stderr,
        )
    else:
        print(
            f"# {model} is not complete in the cache ({state['reason']}): the engine will download it; "
            f"`aim-engine cache download {model}` fetches it ahead",
            file=sys.stderr,
        )
    return 0


def cmd_volumes(args: argparse.Namespace) -> int:
    root, model = _target(args)
    volumes = cache.model_volumes(root)
    print(json.dumps(volumes) if args.json else "\n".join(volumes))
    state = cache.snapshot_state(str(root), model)
    if not state["complete"]:
        print(f"# {model} is not complete in {root} ({state['reason']})", file=sys.stderr)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `cache` to the `aim-engine` command line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache-dir", help=f"cache root (default: ${cache.ENV_ROOT}, else {cache.CACHE_ROOT})")
    one = argparse.ArgumentParser(add_help=False, parents=[common])
    one.add_argument("model", help="Hugging Face id (org/name) or its slug (org--name)")

    c = subparsers.add_parser(
        "cache",
        help="the shared model cache (Hugging Face layout under <root>/hub)",
        description=f"Manage the model cache that generated containers mount at {cache.CACHE_ROOT}.",
    )
    sub = c.add_subparsers(dest="cache_command", required=True, metavar="COMMAND")

    p = sub.add_parser("download", parents=[one], help="download a checkpoint into the cache")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.add_argument("--plan", metavar="PLAN_ID", help="download the checkpoint this plan serves (e.g. its FP8 variant)")
    p.add_argument("--api", default="build/api", help="the built API folder holding plans/ (default: build/api)")
    p.add_argument(
        "--all-files",
        action="store_true",
        help="also fetch .bin/.pth/... weights that the engines skip when safetensors exist",
    )
    p.set_defaults(func=(cmd_download))

    for name, func, text in (
        ("list", cmd_list, "cached models and whether each is complete"),
        ("stats", cmd_stats, "count, total size and per-model sizes from a scan of the cache"),
    ):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=(func))

    p = sub.add_parser("verify", parents=[one], help="check files against the hub's sizes and checksums (network)")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.set_defaults(func=(cmd_verify))

    p = sub.add_parser("remove", parents=[one], help="delete a model from the cache")
    p.set_defaults(func=(cmd_remove))

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
    p.set_defaults(func=(cmd_cleanup))

    for name, pinned in (("pin", True), ("unpin", False)):
        p = sub.add_parser(name, parents=[one], help=f"{name} a model (pinned models survive cleanup)")
        p.set_defaults(func=(cmd_pin), pinned=pinned)

    p = sub.add_parser("env", parents=[one], help="the environment an engine container needs for this model")
    p.add_argument("--host", action="store_true", help="for an engine run on the host: HF_HOME is the cache root")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=(cmd_env))

    p = sub.add_parser("volumes", parents=[one], help="the volume that mounts the cache into an engine container")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=(cmd_volumes))
