"""`aim-engine` command line: a thin layer over the library's load/validate functions."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from aim_engine import __version__
from aim_engine.build import BuildError, build
from aim_engine.catalogue.load import Loaded, catalogue_files, classify, load, yaml_files
from aim_engine.catalogue.records import PRECISIONS, Catalogue, Hardware, Model
from aim_engine.checks.diagnostics import Report
from aim_engine.checks.rules import validate
from aim_engine.commands import cache as cache_cli
from aim_engine.planning import explain
from aim_engine.planning.planner import Planner
from aim_engine.publish.fsutil import OutputDirError

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_NO_PLAN = 0, 1, 2, 3


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
    return report, (shown if paths else set(models + recipes))


def cmd_validate(args: argparse.Namespace) -> int:
    root = Path(args.root)
    if not (root / "models").is_dir():
        # Files given on the command line are checked against this catalogue's models.
        print(
            f"aim-engine: {root.resolve()} has no models/ folder; run it from the catalogue root or pass --root",
            file=sys.stderr,
        )
        return EXIT_USAGE
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"aim-engine: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    report, shown = run_validate(root, [Path(p) for p in args.paths])
    if args.paths and not shown:
        print(f"aim-engine: no .yaml or .yml files in {', '.join(args.paths)}", file=sys.stderr)
        return EXIT_USAGE
    items = [d for d in report.sorted() if d.path in shown]
    for diagnostic in items:
        print(diagnostic.format_github() if args.format == "github" else diagnostic.format_text())
    errors = sum(1 for d in items if d.severity.value == "error")
    warnings = len(items) - errors
    print(
        f"{len(shown)} file(s) checked: {errors} error(s), {warnings} warning(s)",
        file=sys.stderr if args.format == "github" else sys.stdout,
    )
    return EXIT_ERRORS if errors else EXIT_OK


def _load_valid(root: Path) -> tuple[Loaded | None, Report]:
    models, recipes = catalogue_files(root)
    report = Report()
    loaded = load(models, recipes, report)
    validate(loaded, report)
    return (None if report.errors else loaded), report


def _print_errors(report: Report, limit: int = 20) -> None:
    errors = [d for d in report.sorted() if d.severity.value == "error"]
    for diagnostic in errors[:limit]:
        print(diagnostic.format_text(), file=sys.stderr)
    more = f" (first {limit} shown)" if len(errors) > limit else ""
    print(
        f"aim-engine: the catalogue has {len(errors)} validation error(s){more}; run aim-engine validate",
        file=sys.stderr,
    )


def find_model(catalogue: Catalogue, text: str) -> Model | None:
    """Accept the HF id, its slug, the model name or the model file's name."""
    wanted = text.strip().lower()
    for model in catalogue.models.values():
        if wanted in {model.model_id.lower(), model.slug.lower(), model.name.lower(), model.path.stem.lower()}:
            return model
    return None


def find_hardware(catalogue: Catalogue, text: str) -> Hardware | None:
    return {name.lower(): h for name, h in catalogue.hardware.items()}.get(text.strip().lower())


def cmd_plan(args: argparse.Namespace) -> int:
    loaded, report = _load_valid(Path(args.root))
    if loaded is None:
        _print_errors(report)
        return EXIT_ERRORS
    catalogue = loaded.catalogue
    model = find_model(catalogue, args.model)
    if model is None:
        print(
            f"aim-engine: unknown model {args.model!r}; known: {', '.join(sorted(catalogue.models))}", file=sys.stderr
        )
        return EXIT_USAGE
    hardware = find_hardware(catalogue, args.gpu)
    if hardware is None:
        print(f"aim-engine: unknown GPU {args.gpu!r}; known: {', '.join(catalogue.hardware)}", file=sys.stderr)
        return EXIT_USAGE
    planner = Planner(catalogue)
    try:
        decision = planner.plan(
            model, hardware, args.gpus, "exact" if args.exact else "auto", args.precision, args.backend
        )
    except ValueError as exc:
        print(f"aim-engine: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(explain.decision_dict(decision), indent=1, sort_keys=True))
    else:
        print(explain.render_text(decision, model, hardware))
    return EXIT_OK if decision.chosen else EXIT_NO_PLAN


def cmd_build(args: argparse.Namespace) -> int:
    try:
        result = build(Path(args.root), Path(args.out), site=not args.no_site)
    except BuildError as exc:
        _print_errors(exc.report)
        return EXIT_ERRORS
    except OutputDirError as exc:
        print(f"aim-engine: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"built {result.plans} plans, {result.lookups} lookup files ({result.decisions} distinct decisions), "
        f"{result.files} files into {result.out} in {result.seconds:.1f} s"
    )
    if not args.no_site:
        print(
            f"catalogue site: python3 -m http.server -d {Path(args.out) / 'site'} 8080, then open http://localhost:8080"
        )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aim-engine", description="Validate, plan and build the AIM Engine catalogue."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check models and recipes (schema, engine flags, TP, memory fit)")
    v.add_argument("paths", nargs="*", help="recipe/model files or folders (default: the whole catalogue)")
    v.add_argument("--root", default=".", help="catalogue root holding models/ and recipes/ (default: .)")
    v.add_argument("--format", choices=("text", "github"), default="text", help="github prints Actions annotations")
    v.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="show which plan serves MODEL on a GPU type, and why not the others")
    p.add_argument("model", help="Hugging Face id (Qwen/Qwen3-32B), slug or name")
    p.add_argument("--gpu", required=True, help="GPU type, e.g. MI300X")
    p.add_argument("--gpus", type=int, default=8, help="GPUs available (default 8); the plan never uses more")
    p.add_argument("--exact", action="store_true", help="ask for exactly --gpus GPUs instead of the size-tier default")
    p.add_argument("--precision", default="auto", choices=("auto", *PRECISIONS))
    p.add_argument("--backend", default="auto", help="auto, vllm or sglang")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.add_argument("--root", default=".", help="catalogue root (default: .)")
    p.set_defaults(func=cmd_plan)

    b = sub.add_parser("build", help="validate, plan the whole grid and write the static API")
    b.add_argument("--out", default="build", help="output folder (default: build/); replaced as a whole")
    b.add_argument("--root", default=".", help="catalogue root (default: .)")
    b.add_argument("--no-site", action="store_true", help="skip the catalogue site (API and artifacts only)")
    b.set_defaults(func=cmd_build)
    cache_cli.add_parsers(sub)
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
