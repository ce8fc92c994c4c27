"""`aim-engine validate [PATH ...]`: print the findings, one line each, then a summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aim_engine.build import check
from aim_engine.checks.diagnostics import Check, Severity
from aim_engine.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("validate", help="check models and recipes (schema, engine flags, TP, memory fit)")
    v.add_argument("paths", nargs="*", help="recipe/model files or folders (default: the whole catalogue)")
    v.add_argument("--root", default=".", help="catalogue root holding models/ and recipes/ (default: .)")
    v.add_argument("--format", choices=("text", "github"), default="text", help="github prints Actions annotations")
    v.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checked = check(Path(args.root), [Path(p) for p in args.paths])
    findings = checked.findings
    for diagnostic in findings:
        print(diagnostic.format_github() if args.format == "github" else diagnostic.format_text())
    errors = sum(1 for d in findings if d.severity is Severity.ERROR)
    summary = f"{len(checked.shown)} file(s) checked: {errors} error(s), {len(findings) - errors} warning(s)"
    print(summary, file=sys.stderr if args.format == "github" else sys.stdout)
    if any(d.check is Check.INTERNAL for d in findings):
        return EXIT_INTERNAL  # a bug in AIM Engine, reported on the file it happened on
    return EXIT_FAILED if errors else EXIT_OK
