"""What a failed run's state keeps of its exception: type, message and traceback as text,
without the frames' locals, capped, and with secrets masked (pure: no I/O)."""

from __future__ import annotations

import os
import re
import traceback
from typing import Final

#: Characters of a traceback kept with a state: its start and its end, the middle cut.
MAX_TRACEBACK: Final = 32 * 1024
#: Of those, how many from its end (where the exception itself is said).
_TAIL: Final = 24 * 1024

# An API key's secret (`rpk_<id>_<secret>`), and a password in a URL (`scheme://user:pw@`).
# Each starts matching only where its fixed prefix is, so that both take linear time.
_API_KEY: Final = re.compile(r"\b(rpk_[0-9a-f]{8}_)[0-9A-Za-z_-]+")
_URL_PASSWORD: Final = re.compile(r"(?<=://)([^\s:/@]*:)[^\s@/]+@")


#: Where repertory's own modules lie (this file is in repertory/runtime/).
_OURS: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def mask_secrets(text: str) -> str:
    """`text` with API keys' secrets and URLs' passwords replaced by `***`."""
    return _URL_PASSWORD.sub(r"\1***@", _API_KEY.sub(r"\1***", text))


def describe_failure(error: BaseException) -> str:
    """`error` as Python prints it uncaught (its chain included), without repertory's own
    frames (those of the code that ran the user's: the user's own frames tell the story),
    masked and capped."""
    try:
        described = traceback.TracebackException.from_exception(error)
        _without_our_frames(described, set())
        text = "".join(described.format())
    except Exception:  # a __str__ that fails, say: say what is known
        text = f"{type(error).__qualname__} (its traceback cannot be formatted)\n"
    text = mask_secrets(text)
    if len(text) > MAX_TRACEBACK:
        head = MAX_TRACEBACK - _TAIL
        cut = len(text) - MAX_TRACEBACK
        text = f"{text[:head]}\n... {cut:,} characters cut ...\n{text[-_TAIL:]}"
    return text


def _without_our_frames(described: traceback.TracebackException, seen: set[int]) -> None:
    if id(described) in seen:  # a chain that loops
        return
    seen.add(id(described))
    kept = [frame for frame in described.stack if not frame.filename.startswith(_OURS)]
    described.stack = traceback.StackSummary.from_list(kept)
    for linked in (described.__cause__, described.__context__, *(described.exceptions or ())):
        if linked is not None:
            _without_our_frames(linked, seen)
