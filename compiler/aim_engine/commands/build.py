"""`aim-engine build`: validate, plan the whole grid, write the API, artifacts and site."""

from __future__ import annotations

import argparse
from pathlib import Path

from aim_engine.build import build
from aim_engine.errors import EXIT_OK
from aim_engine.publish import parallel


def add_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("build", help="validate, plan the whole grid and write the static API")
    b.add_argument("--out", default="build", help="output folder (default: build/); replaced as a whole")
    b.add_argument("--root", default=".", help="catalogue root (default: .)")
    b.add_argument("--no-site", action="store_true", help="skip the catalogue site (API and artifacts only)")
    b.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help="worker processes that plan and render models side by side (default: one per CPU; 1: none)",
    )
    b.set_defaults(func=run)


def positive_int(text: str) -> int:
    value = int(text) if text.isascii() and text.strip().isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    jobs = args.jobs if args.jobs is not None else parallel.default_jobs()
    result = build(Path(args.root), Path(args.out), site=not args.no_site, jobs=jobs)
    print(
        f"built {result.plans} plans, {result.lookups} lookup files ({result.decisions} distinct decisions), "
        f"{result.files} files into {result.out} in {result.seconds:.1f} s"
    )
    if not args.no_site:
        print(
            f"catalogue site: python3 -m http.server -d {Path(args.out) / 'site'} 8080, then open http://localhost:8080"
        )
    return EXIT_OK
