"""How an exception answering an ask crosses the wire: as a kind, a name and a text.

Kernel errors come back as themselves; anything else as `RemoteActorError(type name, text)`.
Exceptions are never pickled.
"""

from __future__ import annotations

from typing import Final

import msgpack

from .._errors import (
    ActorNotFoundError,
    ActorStoppedError,
    RemoteActorError,
    UnhandledMessageError,
)
from ._frames import FAIL

# Error kinds in FAIL frames.
REMOTE: Final = 0  # any other exception: RemoteActorError(type name, text)
NOT_FOUND: Final = 1  # ActorNotFoundError(name)
STOPPED: Final = 2  # ActorStoppedError(name)
UNHANDLED: Final = 3  # UnhandledMessageError(name, request)

# Longer texts and names are cut (and cut further to fit the peer's frame size limit).
MAX_TEXT: Final = 4096
MAX_NAME: Final = 256


def describe_failure(error: BaseException) -> tuple[int, str, str]:
    """Return the (kind, name or type name, text) that stand for `error` on the wire."""
    # The name the peer asked for is echoed cut, in the text too.
    if isinstance(error, ActorNotFoundError):
        name = error.name[:MAX_NAME]
        kind, text = NOT_FOUND, str(ActorNotFoundError(name))
    elif isinstance(error, ActorStoppedError):
        name = error.name[:MAX_NAME]
        kind, text = STOPPED, str(ActorStoppedError(name))
    elif isinstance(error, UnhandledMessageError):
        kind, name, text = UNHANDLED, error.name, str(error)
    elif isinstance(error, RemoteActorError):  # from a node further on: keep its type
        kind, name, text = REMOTE, error.type_name, error.text
    else:
        kind, name, text = REMOTE, type(error).__qualname__, str(error)
    return kind, name[:MAX_NAME], text[:MAX_TEXT]


def encode_failure(ask_id: int, error: BaseException, max_frame_size: int) -> bytes:
    """Encode the FAIL frame payload that answers ask `ask_id` with `error`.

    The text, then the name, are cut until the payload fits in `max_frame_size` bytes (an
    empty name and text always fit the smallest limit), so that the peer never drops the
    connection for an oversize answer.
    """
    kind, name, text = describe_failure(error)
    # Lone surrogates cannot be sent as UTF-8: replace them rather than fail to answer.
    name = name.encode("utf-8", "replace").decode("utf-8")
    text = text.encode("utf-8", "replace").decode("utf-8")
    payload: bytes = msgpack.packb((FAIL, ask_id, kind, name, text))
    while len(payload) > max_frame_size:
        # Cutting `excess` characters cuts at least `excess` bytes of UTF-8.
        excess = len(payload) - max_frame_size
        if text:
            text = text[: max(0, len(text) - excess)]
        else:
            assert name, "an empty FAIL frame fits the smallest frame size limit"
            name = name[: max(0, len(name) - excess)]
        payload = msgpack.packb((FAIL, ask_id, kind, name, text))
    return payload


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
