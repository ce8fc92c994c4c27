"""`aim-engine models import`: write a catalogue model file from the hub or a local folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from aim_engine.cache import CacheError
from aim_engine.cache.names import model_id, printable, revision_name


def run(args: argparse.Namespace) -> int:
    from aim_engine.cache.hub_import import import_dir, import_model  # jsonschema and yaml only when importing

    model = model_id(args.model) if args.model else None
    variants = [model_id(v) for v in args.variant or []]
    if args.from_dir:
        if variants or args.revision:
            raise CacheError("--variant and --revision read the hub; with --from-dir import each folder on its own", 2)
        result = import_dir(Path(args.from_dir), model, Path(args.out), args.force)
    else:
        if model is None:
            raise CacheError("name the model (ORG/NAME), or give a local folder with --from-dir PATH", 2)
        result = import_model(model, revision_name(args.revision), Path(args.out), args.force, variants)
    doc = result.doc
    if result.variants_only:
        print(f"updated {printable(str(result.path))}: variants {', '.join(variants)}")
    else:
        commit = f", commit {result.commit}" if result.commit else ""
        print(
            f"wrote {printable(str(result.path))}: {doc['architecture']}, {doc['size']} "
            f"({doc['parameters']['total']:,} parameters), {doc['native_precision']}, license {doc['license']}"
            f"{', gated' if doc['gated'] else ''}{commit}"
        )
    for variant in doc.get("variants") or []:
        if variant.get("model_id") in variants:
            size = (variant.get("checkpoint") or {}).get("total_bytes")
            print(
                f"  variant {variant['model_id']}: {variant['precision']} ({variant['quantization']})"
                + (f", {size:,} bytes" if size else "")
            )
    if result.computed:
        print(f"computed (not read): {', '.join(result.computed)}")
    if result.todo and not result.variants_only:
        print("left to fill by hand:")
        for item in result.todo:
            print(f"  - {printable(item)}")
    print("next: run `aim-engine validate` on the file")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    m = subparsers.add_parser("models", help="catalogue models: import one from the Hugging Face Hub or a folder")
    msub = m.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    p = msub.add_parser(
        "import",
        help="write models/<name>.yaml from a checkpoint's config, safetensors headers and card",
        description="Online: read ORG/NAME at one commit from the hub. Offline: --from-dir PATH reads a local "
        "folder (config.json, and if present *.safetensors headers, model.safetensors.index.json, README.md).",
    )
    p.add_argument("model", nargs="?", help="Hugging Face id (org/name); optional with --from-dir")
    p.add_argument("--from-dir", metavar="PATH", help="read a local checkpoint folder instead of the hub (no network)")
    p.add_argument(
        "--variant",
        action="append",
        metavar="ORG/NAME",
        help="another checkpoint of the model (FP8, MXFP4, a bf16 up-cast, ...): listed under variants with its "
        "quantization and size; with an existing file, only the variants are added (repeatable)",
    )
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.add_argument("--out", default="models", help="folder of model files (default: models/)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file for this model")
    p.set_defaults(func=run)
