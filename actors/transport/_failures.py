"""How an exception answering an ask crosses the wire: as a kind, a name and a text.

Kernel errors come back as themselves; anything else as `RemoteActorError(type name, text)`.
Exceptions are never pickled.
"""

from __future__ import annotations

from typing import Final

from .._errors import (
    ActorNotFoundError,
    ActorStoppedError,
    RemoteActorError,
    UnhandledMessageError,
)

# Error kinds in FAIL frames.
REMOTE: Final = 0  # any other exception: RemoteActorError(type name, text)
NOT_FOUND: Final = 1  # ActorNotFoundError(name)
STOPPED: Final = 2  # ActorStoppedError(name)
UNHANDLED: Final = 3  # UnhandledMessageError(name, request)

# Longer texts are cut, so that a FAIL frame always fits in the smallest frame limit.
MAX_TEXT: Final = 4096


def describe_failure(error: BaseException) -> tuple[int, str, str]:
    """Return the (kind, name or type name, text) that stand for `error` on the wire."""
    if isinstance(error, ActorNotFoundError):
        kind, name, text = NOT_FOUND, error.name, str(error)
    elif isinstance(error, ActorStoppedError):
        kind, name, text = STOPPED, error.name, str(error)
    elif isinstance(error, UnhandledMessageError):
        kind, name, text = UNHANDLED, error.name, str(error)
    elif isinstance(error, RemoteActorError):  # from a node further on: keep its type
        kind, name, text = REMOTE, error.type_name, error.text
    else:
        kind, name, text = REMOTE, type(error).__qualname__, str(error)
    return kind, name, text[:MAX_TEXT]


def rebuild_failure(kind: object, name: str, text: str, request: object) -> BaseException | None:
    """Return the exception that (kind, name, text) stand for, or None for an unknown kind."""
    if type(kind) is not int:
        return None
    if kind == NOT_FOUND:
        return ActorNotFoundError(name)
    if kind == STOPPED:
        return ActorStoppedError(name)
    if kind == UNHANDLED:
        error = UnhandledMessageError(name, request)
        error.args = (text,)  # the remote text names the message type exactly
        return error
    if kind == REMOTE:
        return RemoteActorError(name, text)
    return None


def describe_error(error: BaseException) -> str:
    """A short text for a transport error in logs (its cause's, when it wraps one)."""
    cause = error.__cause__ or error
    return str(cause) or type(cause).__name__
