"""`aim-engine`: the parser, made of one module per subcommand, and the one error handler.

Every expected failure is an `AimError` (aim_engine.errors) carrying its sentence and exit
status; anything else is a bug and ends with the internal-error status, never a traceback
(set AIM_ENGINE_DEBUG=1 to see it).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from aim_engine import __version__
from aim_engine.build import CatalogueInvalid
from aim_engine.checks.diagnostics import Severity
from aim_engine.commands import build, cache, estimate, models, plan, validate
from aim_engine.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, AimError

SHOWN_ERRORS = 20  # a broken catalogue prints its first findings, then points at validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aim-engine", description="Validate, plan and build the AIM Engine catalogue."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (validate, plan, estimate, build, cache, models):
        command.add_parser(sub)
    return parser


def report_failure(exc: AimError) -> None:
    if isinstance(exc, CatalogueInvalid):
        errors = [d for d in exc.report.sorted() if d.severity is Severity.ERROR]
        for diagnostic in errors[:SHOWN_ERRORS]:
            print(diagnostic.format_text(), file=sys.stderr)
        if len(errors) > SHOWN_ERRORS:
            print(f"aim-engine: ... first {SHOWN_ERRORS} of {len(errors)} shown", file=sys.stderr)
    print(f"aim-engine: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AimError as exc:
        report_failure(exc)
        return exc.exit_code
    except BrokenPipeError:  # `aim-engine ... | head`: the reader left, nothing is wrong
        return EXIT_OK
    except OSError as exc:  # permissions, full disks, vanished files: say which file
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"aim-engine: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("aim-engine: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line, a distinct status, the traceback on request
        if os.environ.get("AIM_ENGINE_DEBUG"):
            traceback.print_exc()
        print(
            f"aim-engine: internal error ({type(exc).__name__}: {exc}); please report it "
            "(AIM_ENGINE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
