"""`aim-engine` command line: a thin layer over the library's load/validate functions."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .diagnostics import Report
from .load import catalogue_files, classify, load, yaml_files
from .validate import validate

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def _display(path: Path) -> Path:
    try:
        return Path(os.path.relpath(path))
    except ValueError:
        return path


def run_validate(root: Path, paths: list[Path]) -> tuple[Report, set[Path]]:
    """Validate the catalogue at `root`, or only `paths` checked against it.

    Returns the report and the set of files whose diagnostics should be shown.
    """
    models, recipes = catalogue_files(root)
    shown: set[Path] = set()
    unlisted_ok: set[Path] = set()
    if paths:
        in_catalogue = {p.resolve() for p in models + recipes}
        for path in paths:
            files = yaml_files(path) if path.is_dir() else [path]
            for file in files:
                file = _display(file.resolve())
                shown.add(file)
                if file.resolve() in in_catalogue:
                    continue
                (models if classify(file) == "model" else recipes).append(file)
                unlisted_ok.add(file)
    models = [_display(p) for p in models]
    recipes = [_display(p) for p in recipes]
    report = Report()
    loaded = load(models, recipes, report)
    validate(loaded, report, unlisted_ok)
    return report, shown or set(models + recipes)


def cmd_validate(args: argparse.Namespace) -> int:
    root = Path(args.root)
    if not (root / "models").is_dir() and not args.paths:
        print(f"aim-engine: {root} has no models/ folder; run it from the catalogue root or pass --root", file=sys.stderr)
        return EXIT_USAGE
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"aim-engine: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    report, shown = run_validate(root, [Path(p) for p in args.paths])
    items = [d for d in report.sorted() if d.path in shown]
    for diagnostic in items:
        print(diagnostic.format_github() if args.format == "github" else diagnostic.format_text())
    errors = sum(1 for d in items if d.severity.value == "error")
    warnings = len(items) - errors
    print(f"{len(shown)} file(s) checked: {errors} error(s), {warnings} warning(s)", file=sys.stderr if args.format == "github" else sys.stdout)
    return EXIT_ERRORS if errors else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aim-engine", description="Validate, plan and build the AIM Engine catalogue.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check models and recipes (schema, engine flags, TP, memory fit)")
    v.add_argument("paths", nargs="*", help="recipe/model files or folders (default: the whole catalogue)")
    v.add_argument("--root", default=".", help="catalogue root holding models/ and recipes/ (default: .)")
    v.add_argument("--format", choices=("text", "github"), default="text", help="github prints Actions annotations")
    v.set_defaults(func=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
