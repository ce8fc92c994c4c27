"""One error model for every `aim-engine` failure that is not a validation finding.

Library code raises an `AimError` (or a subclass) with one sentence for the user and the
exit status the command ends with; the CLI has exactly one handler (`aim_engine.cli.main`)
that prints `aim-engine: <message>` and exits with that status. Validation findings are
not errors of this kind: they are collected in a `checks.diagnostics.Report`.

Exit statuses (documented in the README):

    0   done
    1   validation errors found, or an operation failed (download, verify, ...)
    2   usage: bad arguments, a path that does not exist, a missing catalogue
    3   no plan (`aim-engine plan`)
    70  internal error: a bug in AIM Engine, never a property of the input
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_PLAN = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h
EXIT_INTERRUPTED = 130


class AimError(Exception):
    """An expected failure: one sentence for the user and the exit status."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(AimError):
    """Bad arguments or paths given by the user (exit status 2)."""

    exit_code = EXIT_USAGE
