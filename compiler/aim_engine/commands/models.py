"""`aim-engine models import ORG/NAME`: write a catalogue model file from the hub."""

from __future__ import annotations

import argparse
from pathlib import Path

from aim_engine.cache.names import model_id, printable, revision_name


def run(args: argparse.Namespace) -> int:
    from aim_engine.cache.hub_import import import_model  # jsonschema and yaml only when importing

    model = model_id(args.model)
    path, doc, commit = import_model(model, revision_name(args.revision), Path(args.out), args.force)
    print(
        f"wrote {printable(str(path))}: {doc['architecture']}, {doc['size']} "
        f"({doc['parameters']['total']:,} parameters), {doc['native_precision']}, license {doc['license']}"
        f"{', gated' if doc['gated'] else ''}, commit {commit}"
    )
    print("next: write recipes for it, list them in aim_recipes, then run `aim-engine validate`")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    m = subparsers.add_parser("models", help="catalogue models: import one from the Hugging Face Hub")
    msub = m.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    p = msub.add_parser("import", help="write models/<name>.yaml from a hub repo's config and safetensors headers")
    p.add_argument("model", help="Hugging Face id (org/name)")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.add_argument("--out", default="models", help="folder of model files (default: models/)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file for this model")
    p.set_defaults(func=run)
