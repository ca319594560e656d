"""Text that every database stores as given (pure).

PostgreSQL refuses a NUL character in text, and no database takes a lone surrogate (it is not
UTF-8), though Python strings and SQLite hold both. Names and filters that callers give are
refused (`check_text`); free text that runs produce (state messages, log lines) is spelled out
instead (`text`), so that no run's write can fail a commit that other runs share. Text shown
on a terminal has its control characters spelled out too (`printable`).
"""

from __future__ import annotations

import re
from typing import Final

_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")
#: Characters that would move a terminal's cursor or restyle it (tab and newline apart).
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_BREAK: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_storable(value: str) -> bool:
    """Whether `value` holds neither a NUL character nor a lone surrogate."""
    return (value.isascii() and "\x00" not in value) or _UNSTORABLE.search(value) is None


def check_text(value: str | None, what: str) -> None:
    """Raises ValueError naming `what` when `value` holds a NUL or a lone surrogate."""
    if value is not None and not is_storable(value):
        raise ValueError(
            f"{what} holds a NUL character or a lone surrogate, which no database stores"
        )


def text(value: str | None) -> str | None:
    """`value` with each NUL and lone surrogate spelled out (`\\x00`, `\\ud800`)."""
    if value is None or is_storable(value):
        return value
    return _UNSTORABLE.sub(lambda found: found[0].encode("unicode_escape").decode(), value)


def printable(value: str, *, keep_lines: bool = False) -> str:
    """`value` with its control characters spelled out (`\\x1b`), so that what a run or a
    user wrote cannot restyle a terminal or pass for another line; tabs and newlines too,
    unless `keep_lines`."""
    pattern = _CONTROL if keep_lines else _CONTROL_OR_BREAK
    return pattern.sub(lambda found: repr(found[0])[1:-1], value)
