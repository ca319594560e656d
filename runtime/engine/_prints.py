"""`log_prints=True`: `print` inside such a run is also stored as an INFO line of the run.

`builtins.print` is replaced once, on the first run that asks, by a wrapper that looks at the
current run: everywhere else it behaves exactly as `print` does.
"""

from __future__ import annotations

import builtins
import logging
import sys
from typing import IO, Final

from ._context import RunLogger, current_run

_print: Final = builtins.print


def _print_and_log(
    *values: object,
    sep: str | None = " ",
    end: str | None = "\n",
    file: IO[str] | None = None,
    flush: bool = False,
) -> None:
    _print(*values, sep=sep, end=end, file=file, flush=flush)
    context = current_run.get()
    if context is None or not context.log_prints or file not in {None, sys.stdout}:
        return
    message = (" " if sep is None else sep).join(str(value) for value in values)
    RunLogger(logging.getLogger("repertory.prints"), context).info(message)


def capture_prints() -> None:
    """Make `print` store its lines for runs with `log_prints=True` (idempotent)."""
    if builtins.print is _print:
        builtins.print = _print_and_log  # type: ignore[assignment]  # same calls, one signature
