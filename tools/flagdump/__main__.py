"""``python -m tools.flagdump <engine> <version>`` (from the repository root).

Only the standard library may be imported here: the inner run executes this module with
the throw-away venv's interpreter.
"""

from __future__ import annotations

import argparse
import sys

from .engines import ENGINES


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tools.flagdump",
        description="Snapshot the real CLI parser (and the facts around it) of a released engine wheel as JSON.",
    )
    ap.add_argument("engine", choices=sorted(ENGINES))
    ap.add_argument("version", help="exact released version on PyPI, e.g. 0.33.0")
    ap.add_argument("--out", default=None, help="output directory (default: the catalogue's data/flags)")
    ap.add_argument(
        "--venv", default=None, help="virtualenv to (re)use; default /tmp/aim-engine-flags/<engine>-<version>"
    )
    ap.add_argument(
        "--venv-only", action="store_true", help="only install the venv (what the real-parser tests need); no dump"
    )
    # Hidden: set when the outer run starts the inner one inside the venv (--out is then a file).
    ap.add_argument("--_inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._inner:
        from .inner import inner_main

        return inner_main(args.engine, args.version, args.out)
    from .outer import outer_main

    return outer_main(args.engine, args.version, args.out, args.venv, args.venv_only)


if __name__ == "__main__":
    sys.exit(main())
