"""Log lines on the terminal: `12:01:03 | INFO    | flow run 'crimson-otter' - fetched 3 pages`.

A runtime shows its runs' lines from the console's level (INFO) and its own from WARNING (all
at DEBUG) on stderr, unless the program has configured logging itself (its root logger has
handlers): then its configuration decides, and our lines reach it as any library's do.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from typing import TextIO

__all__ = [
    "LEVEL_VARIABLE",
    "RUN_LABEL",
    "RUN_LOGGERS",
    "ConsoleFormatter",
    "console_level",
    "show_logs",
]

#: The attribute of a log record that names the run it belongs to ("flow run 'crimson-otter'").
RUN_LABEL: Final = "repertory_run"

#: The environment variable that sets the console's level (DEBUG, INFO, WARNING, ERROR or OFF).
LEVEL_VARIABLE: Final = "REPERTORY_LOGGING_LEVEL"

_LEVELS: Final = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
                  "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL, "OFF": None}  # fmt: skip


def console_level(console: int | str | bool = True) -> int | None:
    """The console's level, or None for no console lines: for True, the environment's
    (`REPERTORY_LOGGING_LEVEL`) or INFO; for False, None; else the level given (a number or
    a name such as "DEBUG"; "OFF" is None).

    Raises:
        ValueError: an unknown level name (the message lists the known ones).
    """
    if console is False:
        return None
    if console is True:
        name, source = os.environ.get(LEVEL_VARIABLE) or "INFO", LEVEL_VARIABLE
    elif isinstance(console, int):
        return console
    else:
        name, source = console, "a console log level"
    if name.strip().upper() not in _LEVELS:
        raise ValueError(f"{source} is one of {', '.join(_LEVELS)}, not {name!r}")
    return _LEVELS[name.strip().upper()]


@final
class ConsoleFormatter(logging.Formatter):
    """`HH:MM:SS | LEVEL | who - message`, in local time; who is the run, else the logger."""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(record.created))
        who = getattr(record, RUN_LABEL, None) or record.name
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return f"{when} | {record.levelname:<7} | {who} - {text}"


#: The loggers of run lines (a run's logger, its prints, the engine's word on its states).
RUN_LOGGERS: Final = ("repertory.flow_runs", "repertory.task_runs", "repertory.prints")


@final
class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]  # stream type varies
    """The handler a runtime installs (one per process, found again by its class)."""

    #: Whether the runtime's own INFO and DEBUG lines (a restart, a purge) are shown too.
    verbose = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and not self.verbose and not hasattr(record, RUN_LABEL):
            return False
        return bool(super().filter(record))


def show_logs(level: int | None, *, stream: TextIO | None = None) -> bool:
    """Show run lines at `level` and above (none for None) and the runtime's own warnings on
    `stream` (stderr), once per process; a later call changes the level.

    Does nothing when the program configured logging itself (its root logger has handlers).
    Returns whether run lines are shown.
    """
    logger = logging.getLogger("repertory")
    handler = next((h for h in logger.handlers if isinstance(h, _ConsoleHandler)), None)
    if handler is None:
        if logging.getLogger().handlers:
            return False
        handler = _ConsoleHandler(stream or sys.stderr)
        handler.setFormatter(ConsoleFormatter())
        logger.addHandler(handler)
    handler.verbose = level is not None and level <= logging.DEBUG
    if handler.verbose:
        logger.setLevel(logging.DEBUG)
    for name in RUN_LOGGERS:
        # Off, a run line costs nothing: the logger is disabled before any record is made.
        logging.getLogger(name).setLevel(logging.CRITICAL + 1 if level is None else level)
    return level is not None
