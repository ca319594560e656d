"""Log lines on the terminal: `12:01:03 | INFO    | flow run 'crimson-otter' - fetched 3 pages`.

While a runtime runs, its runs' lines show on stderr from the console's level (INFO), and its
own from WARNING (all at DEBUG), unless the program has configured logging itself (its root
logger has handlers): then its configuration decides, and our lines reach it as any
library's do. What a runtime changes in logging, it undoes when the last one stops.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Final, final

from ._text import printable

if TYPE_CHECKING:
    from typing import TextIO

__all__ = [
    "LEVEL_VARIABLE",
    "RUN_LABEL",
    "ConsoleFormatter",
    "console_level",
    "hide_logs",
    "show_logs",
]

#: The attribute of a log record that names the run it belongs to ("flow run 'crimson-otter'").
RUN_LABEL: Final = "repertory_run"

#: The environment variable that sets the console's level (DEBUG, INFO, WARNING, ERROR or OFF).
LEVEL_VARIABLE: Final = "REPERTORY_LOGGING_LEVEL"

_LEVELS: Final = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
                  "WARN": logging.WARNING, "ERROR": logging.ERROR,
                  "CRITICAL": logging.CRITICAL, "OFF": None}  # fmt: skip
_lock: Final = threading.Lock()  # runtimes may start at once, in their own threads
logger = logging.getLogger("repertory.console")
#: The loggers of run lines: a run's logger, its prints, the engine's word on its states.
_RUN_LOGGERS: Final = ("repertory.flow_runs", "repertory.task_runs", "repertory.prints")


def console_level(console: int | str | bool = True) -> int | None:
    """The console's level, or None for no run lines: for True, the environment's
    (`REPERTORY_LOGGING_LEVEL`; INFO, with a warning, when it names no level) or INFO; for
    False, None; else the level given (a number or a name such as "DEBUG"; "OFF" is None).

    Raises:
        ValueError: an unknown level name given as `console` (the message lists the known).
    """
    if console is False:
        return None
    if isinstance(console, int) and console is not True:
        return console
    if console is True:
        given = os.environ.get(LEVEL_VARIABLE) or "INFO"
        if given.strip().isdigit():
            return int(given)
        if given.strip().upper() not in _LEVELS:
            logger.warning("%s=%r is not a level (%s): INFO", LEVEL_VARIABLE, given, _names())
            return logging.INFO
        return _LEVELS[given.strip().upper()]
    if console.strip().upper() not in _LEVELS:
        raise ValueError(f"a console log level is one of {_names()}, not {console!r}")
    return _LEVELS[console.strip().upper()]


def _names() -> str:
    return ", ".join(name for name in _LEVELS if name != "WARN")


@final
class ConsoleFormatter(logging.Formatter):
    """`HH:MM:SS | LEVEL | who - message`, in local time; who is the run, else the logger.

    Control characters are shown escaped and continuation lines indented, so that a message
    cannot pass for another line.
    """

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(record.created))
        who = getattr(record, RUN_LABEL, None)
        text = record.getMessage()
        if who is None:
            who = record.name
        elif text.startswith(f"{who} "):  # the engine's lines name their run themselves
            text = text[len(who) + 1 :]
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        text = printable(text, keep_lines=True).replace("\n", "\n    ")
        return f"{when} | {record.levelname:<7} | {who} - {text}"


@final
class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]  # stream type varies
    """The handler runtimes share (one per process, found again by its class): it shows run
    lines from the most verbose level the running runtimes asked for."""

    def __init__(self, stream: TextIO, saved_level: int) -> None:
        super().__init__(stream)
        self.setFormatter(ConsoleFormatter())
        #: The level each running runtime asked for (None: no run lines), in start order.
        self.levels: list[int | None] = []
        #: The `repertory` logger's level before the first runtime changed it, and the run
        #: loggers' (silenced while every runtime asks for no run lines).
        self.saved_level = saved_level
        self.saved_run_levels = {name: logging.getLogger(name).level for name in _RUN_LOGGERS}

    @property
    def run_level(self) -> int | None:
        asked = [level for level in self.levels if level is not None]
        return min(asked) if asked else None

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().handlers:  # the program configured logging since: it shows them
            return False
        run_level = self.run_level
        if hasattr(record, RUN_LABEL):
            # Printed lines are on stdout already (with log_prints, stored too).
            if run_level is None or record.name == "repertory.prints":
                return False
            return record.levelno >= run_level
        is_verbose = run_level is not None and run_level <= logging.DEBUG
        return record.levelno >= logging.WARNING or is_verbose


def show_logs(level: int | None) -> bool:
    """A runtime starts: show its runs' lines from `level` (none for None) and the runtime's
    own warnings on stderr, until `hide_logs(level)`.

    Does nothing when the program configured logging itself (its root logger has handlers).
    Returns whether it installed or joined the console (and so must call `hide_logs`).
    """
    package = logging.getLogger("repertory")
    with _lock:
        handler = _handler()
        if handler is None:
            if logging.getLogger().handlers:
                return False
            handler = _ConsoleHandler(sys.stderr, package.level)
            package.addHandler(handler)
        handler.levels.append(level)
        _set_level(package, handler)
    return True


def hide_logs(level: int | None) -> None:
    """The runtime that called `show_logs(level)` stops: the last one removes the console
    and gives the `repertory` logger its level back."""
    package = logging.getLogger("repertory")
    with _lock:
        handler = _handler()
        if handler is None or level not in handler.levels:
            return
        handler.levels.remove(level)
        if handler.levels:
            _set_level(package, handler)
            return
        package.removeHandler(handler)
        package.setLevel(handler.saved_level)
        for name, level in handler.saved_run_levels.items():
            logging.getLogger(name).setLevel(level)


def _handler() -> _ConsoleHandler | None:
    handlers = logging.getLogger("repertory").handlers
    return next((h for h in handlers if isinstance(h, _ConsoleHandler)), None)


def _set_level(package: logging.Logger, handler: _ConsoleHandler) -> None:
    """Let the records the console shows be made (INFO lines stop at the root's WARNING),
    and no more than the program's own setting would."""
    run_level, saved = handler.run_level, handler.saved_level
    wanted = saved
    if run_level is not None and (saved == logging.NOTSET or saved > run_level):
        wanted = run_level
    if package.level != wanted:
        package.setLevel(wanted)
    for name, level in handler.saved_run_levels.items():
        # No run line wanted: none is even made (a retry's line would cost it ~10 us).
        silenced = logging.CRITICAL + 1 if run_level is None else level
        if logging.getLogger(name).level != silenced:
            logging.getLogger(name).setLevel(silenced)
