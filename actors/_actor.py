"""The `Actor` base class: private state, lifecycle hooks and one message handler."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from ._ref import ActorRef
    from ._system import ActorSystem


class Unhandled(Exception):  # noqa: N818 - a control-flow signal, never seen by users
    """Raised by `Actor.unhandled` and caught by the actor's message loop."""

    def __init__(self, message: object) -> None:
        super().__init__()
        self.message = message


class Refusal(Exception):  # noqa: N818 - a control-flow signal, never seen by users
    """Raised by `Actor.refuse` and caught by the actor's message loop."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


class Actor:
    """Subclass this and override `receive` (and the hooks you need).

    An actor handles one message at a time, in its own task. What `receive` returns is the
    reply to an asked request (and is dropped for a told message). An exception raised by
    `receive` goes to the asker, if any, and crashes the actor: its supervisor decides what
    happens next. `ref` and `system` are set before `on_start` runs.

    Spawn actors with a factory (a class or any callable returning a fresh instance), so that
    a supervisor can build a new one when it restarts the actor::

        class Counter(Actor):
            def __init__(self) -> None:
                self.count = 0

            async def receive(self, message: object) -> object:
                match message:
                    case Increment():
                        self.count += 1
                    case GetCount():
                        return self.count
                    case _:
                        self.unhandled(message)
                return None

        counter = await system.spawn(Counter, name="counter")
    """

    # Slots keep the kernel's own fields out of the instance dict: idle actors are many.
    __slots__ = ("_stop_requested", "ref", "system")

    ref: ActorRef
    system: ActorSystem
    _stop_requested: bool

    async def on_start(self) -> None:
        """Run before the first message; an exception here fails the start."""

    async def receive(self, message: object) -> object:
        """Handle one message; return the reply to an ask."""
        self.unhandled(message)

    async def on_stop(self) -> None:
        """Run once the actor stops for any reason (stop, crash or shutdown)."""

    async def background(self) -> None:
        """Override to do work beside the messages, in a task that the actor owns.

        It starts once `on_start` is done and runs while the actor handles its messages (one
        at a time, as ever; both run in the same event loop, so no lock is needed between
        awaits). When it returns, the actor stops as with `stop()`; when it raises, the actor
        crashes with that error and its supervisor decides. Stopping the actor cancels it,
        before `on_stop` runs. Actors that do not override it pay nothing for it.
        """

    def unhandled(self, message: object) -> NoReturn:
        """Declare `message` unhandled: it becomes a dead letter, an asker gets
        `UnhandledMessageError`, and the actor goes on (it does not crash)."""
        raise Unhandled(message)

    def refuse(self, error: Exception) -> NoReturn:
        """Fail the message being handled with `error`, and go on (the actor does not crash).

        For failures of the message's own making, such as data the database will not take,
        which a restart would not cure: an asker gets `error` raised, a told message becomes
        a dead letter. Anything else raised in `receive` crashes the actor, for its
        supervisor to decide."""
        raise Refusal(error)

    def stop(self) -> None:
        """Stop this actor normally once the current message is handled.

        A permanent actor is restarted by its supervisor even so; a transient or temporary one
        is not.
        """
        self._stop_requested = True
