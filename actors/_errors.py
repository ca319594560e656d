"""Errors of the actor kernel, one root for the package.

ActorError
├── ActorNotFoundError (LookupError)      no actor by that name
├── ActorNameTakenError (ValueError)      spawn with a name already in use
├── ActorStoppedError                     the actor stopped before it could answer
├── MailboxFullError                      tell_nowait on a full mailbox
├── UnhandledMessageError (TypeError)     the actor has no handler for the message
├── RestartIntensityError                 a supervisor gave up after too many restarts
├── TransientError                        an actor's failure that is nobody's bug
├── CodecError (ValueError)               a frame or message cannot be encoded or decoded
└── TransportError                        anything that goes wrong between nodes
    ├── HandshakeError                    the peer failed authentication
    ├── ConnectionLostError               the connection broke; pending asks fail with it
    └── RemoteActorError                  a remote handler raised a non-kernel exception
"""

from __future__ import annotations


class ActorError(Exception):
    """Root of every error the actor kernel raises."""


class ActorNotFoundError(ActorError, LookupError):
    """Raised when no actor is registered under a name (locally or on a remote node).

    Differs from `ActorStoppedError`: the name was never known, or is known no longer.
    """

    def __init__(self, name: str) -> None:
        super().__init__(f"no actor named {name!r}")
        self.name = name


class ActorNameTakenError(ActorError, ValueError):
    """Raised by `spawn` when another live actor already has the requested name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"an actor named {name!r} already exists")
        self.name = name


class ActorStoppedError(ActorError):
    """Raised by `ask` when the actor has stopped, or stops before it answers.

    It is raised at once for an actor that is already stopped: an ask never hangs on it.
    """

    def __init__(self, name: str) -> None:
        super().__init__(f"actor {name!r} has stopped")
        self.name = name


class MailboxFullError(ActorError):
    """Raised by `tell_nowait` when the mailbox is full; `tell` would wait instead."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the mailbox of actor {name!r} is full")
        self.name = name


class UnhandledMessageError(ActorError, TypeError):
    """Raised to an asker when the actor had no handler for its message.

    The actor itself does not crash: the message is recorded as a dead letter.
    """

    def __init__(self, name: str, message: object) -> None:
        super().__init__(f"actor {name!r} does not handle {type(message).__name__} messages")
        self.name = name


class RestartIntensityError(ActorError):
    """Raised by a supervisor that restarted its children too often.

    It stops all its children first; its own supervisor then handles it as a crash, and the
    root supervisor's failure ends `open_actor_system` with this error.
    """

    def __init__(self, supervisor: str, max_restarts: int, within_seconds: float) -> None:
        super().__init__(
            f"supervisor {supervisor!r} exceeded {max_restarts} restarts in {within_seconds} s"
        )
        self.supervisor = supervisor


class TransientError(ActorError):
    """Raised by an actor for a failure that is nobody's bug and that time may cure (another
    process held the database's lock too long, say).

    Its supervisor handles it as any crash (a restart, or giving up), but logs one line
    saying what happened, without a traceback: an operator has nothing to debug.
    """


class CodecError(ActorError, ValueError):
    """Raised when a message cannot be encoded, or a frame cannot be decoded."""


class TransportError(ActorError):
    """Root of the errors between nodes."""


class HandshakeError(TransportError):
    """Raised when a peer fails the authenticated handshake (wrong secret or protocol)."""


class ConnectionLostError(TransportError):
    """Raised for asks pending on, or sent over, a connection that broke or was closed."""


class RemoteActorError(TransportError):
    """Raised to an asker when a remote handler raised an exception of a non-kernel type.

    The exception cannot cross the wire itself (messages are never pickled), so its type
    name and text come instead.
    """

    def __init__(self, type_name: str, text: str) -> None:
        super().__init__(f"{type_name}: {text}" if text else type_name)
        self.type_name = type_name
        self.text = text
