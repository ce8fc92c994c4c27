"""aim-pick's one error model: every expected failure is a `PickError` with its sentence and
exit status; `aim_pick.cli.main` is the one handler.

Exit statuses: 0 plan printed, 2 usage, 3 no plan fits (reasons printed), 4 no AMD GPU
found, 5 catalogue missing or corrupt, 70 internal error, 130 interrupted.
"""

from __future__ import annotations

# The catalogue is missing or corrupt (exit status 5): raised by the shared API reader.
from aim_pick.contract.reader import EXIT_CATALOGUE, ApiError

__all__ = ["EXIT_CATALOGUE", "ApiError"]  # re-exported for the shim's modules

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NO_PLAN = 3
EXIT_NO_GPU = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class PickError(Exception):
    exit_code = EXIT_USAGE
    prefix = ""

    def __str__(self) -> str:
        return self.prefix + super().__str__()


class Usage(PickError):
    """Bad arguments or environment (exit status 2)."""
