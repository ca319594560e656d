"""The actor cell: an actor's mailbox and ref, which outlive restarts, and its message loop."""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, final

import anyio
from anyio.lowlevel import checkpoint

from ._actor import Actor, Refusal, Unhandled
from ._envelope import Ask, DeferredReply
from ._errors import ActorStoppedError, UnhandledMessageError
from ._mailbox import Mailbox
from ._ref import LocalActorRef

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._slot import ChildSlot
    from ._supervisor import Supervisor
    from ._system import ActorSystem

# A busy actor never waits on its mailbox, so it yields on purpose every so many messages:
# one hot actor must not starve the others.
YIELD_EVERY = 256

# Put in the mailbox to wake an idle actor that is asked to stop. (A cancel scope around each
# idle wait would do it too, but costs 2-5 us per message on the ask path.)
_WAKE = object()
# What the loop holds when the mailbox was empty; never sent.
_NOTHING = object()
# Stands in for the task group of background work, for the many actors that have none.
_NO_GROUP: contextlib.nullcontext[None] = contextlib.nullcontext()


@final
class ActorCell:
    """Hosts successive incarnations of one actor behind one mailbox and one ref.

    The supervisor runs an incarnation with `run`, asks it to finish with `request_stop` and,
    when the actor will not come back, retires the mailbox with `close`.
    """

    __slots__ = (
        "_actor",
        "_background_error",
        "_deferred",
        "_factory",
        "_is_stop_requested",
        "_mailbox",
        "_start_scope",
        "_system",
        "name",
        "ref",
        "slot",
        "supervisor",
    )

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        factory: Callable[[], Actor],
        mailbox_size: int,
    ) -> None:
        if mailbox_size < 1 and mailbox_size != math.inf:
            raise ValueError(f"mailbox_size must be >= 1, got {mailbox_size}")
        mailbox = Mailbox(mailbox_size)
        self.name = name
        self.ref = LocalActorRef(name, mailbox, system.dead_letters)
        self._system = system
        self._factory = factory
        self._mailbox = mailbox
        self._actor: Actor | None = None
        self._is_stop_requested = False  # for this run, even before its actor exists
        self._start_scope: anyio.CancelScope | None = None  # only while on_start runs
        self.supervisor: Supervisor | None = None  # set by the supervisor that adopts it
        self._background_error: Exception | None = None
        self._deferred: set[DeferredReply] | None = None  # answers owed, made when first needed
        self.slot: ChildSlot | None = None

    def request_stop(self, *, is_final: bool = False) -> None:
        """Ask the current run to finish after its current message (or right after starting)."""
        self._is_stop_requested = True
        if self._actor is not None:
            self._actor.stop()
        # A full mailbox means a busy actor, which sees the request after its current message.
        with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError):
            self._mailbox.put_nowait(_WAKE)

    def cancel_start(self) -> None:
        """Cancel an `on_start` that is taking too long (the spawner gets ActorStoppedError)."""
        if self._start_scope is not None:
            self._start_scope.cancel()

    async def run(self, slot: ChildSlot) -> None:
        """Run once: build the actor, start it, handle messages until it stops.

        One frame on purpose: every coroutine level adds to each idle actor's memory and to
        every wake-up's cost.
        """
        with slot:
            try:
                actor = self._factory()
                actor.ref = self.ref
                actor.system = self._system
                actor._stop_requested = self._is_stop_requested  # quicker as an instance attr
                self._actor = actor
                # A start that outlasts a stop is cancelled through this scope.
                with anyio.CancelScope() as start_scope:
                    self._start_scope = start_scope
                    await actor.on_start()
                self._start_scope = None
                is_start_cancelled = start_scope.cancelled_caught
                del start_scope  # this frame lives as long as the actor: keep it lean
                if is_start_cancelled:
                    raise ActorStoppedError(self.name)  # stopped before it finished starting
                slot.started()
                # Only an actor with background work gets a task group to hold it.
                has_work = type(actor).background is not Actor.background
                # The two calls of the hot path are bound once. (Each bound method costs every
                # idle actor 64 bytes, and module globals are as quick to load as locals.)
                receive_nowait = self._mailbox.get_nowait
                handle = actor.receive
                budget = YIELD_EVERY
                # The first wait goes straight to `receive`: an exception that passes through
                # a frame gives it a frame object for good (~0.35 KiB), and an actor that
                # never gets a message should cost no more than its task and mailbox.
                item = _WAKE if actor._stop_requested else _NOTHING  # stopped while starting?
                error: Exception | None = None
                try:
                    async with anyio.create_task_group() if has_work else _NO_GROUP as group:
                        if group is not None:
                            group.start_soon(self._run_background, actor)
                        try:
                            while True:
                                if item is _NOTHING:
                                    # Awaited outside the handler: a task parked in `except`
                                    # keeps the exception and its traceback alive, and idle
                                    # actors are many.
                                    budget = YIELD_EVERY
                                    item = await self._mailbox.get()
                                if type(item) is Ask:
                                    reply = item.reply
                                    replied = False
                                    try:
                                        result = await handle(item.message)
                                        replied = True
                                        if type(result) is DeferredReply:
                                            result.bind(reply, self._owed_replies())
                                        else:
                                            reply.set_result(result)
                                    except Unhandled:
                                        replied = True
                                        reply.set_exception(
                                            UnhandledMessageError(self.name, item.message)
                                        )
                                        self._system.dead_letters.record(
                                            self.name, item.message, "unhandled"
                                        )
                                    except Refusal as refusal:
                                        replied = True
                                        reply.set_exception(refusal.error)
                                    except Exception as exc:
                                        replied = True
                                        reply.set_exception(exc)
                                        raise
                                    finally:
                                        if not replied:  # cancelled mid-handler: never hang
                                            reply.set_exception(ActorStoppedError(self.name))
                                elif item is not _WAKE:
                                    try:
                                        await handle(item)
                                    except Unhandled:
                                        self._system.dead_letters.record(
                                            self.name, item, "unhandled"
                                        )
                                    except Refusal as refusal:
                                        self._system.dead_letters.record(
                                            self.name, item, f"refused: {refusal.error}"
                                        )
                                if actor._stop_requested:
                                    break  # before taking the next message, which would be lost
                                if not budget:
                                    budget = YIELD_EVERY
                                    await checkpoint()
                                try:
                                    item = receive_nowait()
                                    budget -= 1
                                except anyio.WouldBlock:
                                    item = _NOTHING
                        except Exception as exc:
                            error = exc  # raised below: a task group would wrap it in a group
                        finally:
                            if group is not None:
                                group.cancel_scope.cancel()  # the background work ends first
                    error = error or self._background_error
                    if error is not None:
                        raise error
                finally:
                    # on_stop runs even when the run is being cancelled, but bounded.
                    with (
                        anyio.CancelScope(shield=True),
                        anyio.move_on_after(slot.shutdown_timeout),
                    ):
                        await actor.on_stop()
                    for owed in list(self._deferred or ()):  # answers the actor never gave
                        owed.set_exception(ActorStoppedError(self.name))
            finally:
                self._actor = None
                self._start_scope = None
                self._background_error = None
                self._is_stop_requested = False

    def _owed_replies(self) -> set[DeferredReply]:
        if self._deferred is None:
            self._deferred = set()
        return self._deferred

    async def _run_background(self, actor: Actor) -> None:
        """Run the actor's background work; when it ends, the actor stops (or crashes)."""
        try:
            await actor.background()
        except Exception as exc:
            self._background_error = exc  # raised by the message loop, once it has stopped
        self.request_stop()

    def close(self) -> None:
        """Retire the mailbox for good: fail queued asks, record queued tells as dead letters.

        Synchronous on purpose: no other task can slip a message in between the drain and
        the close, and every later send finds the mailbox closed.
        """
        dead_letters = self._system.dead_letters
        while True:
            try:
                item = self._mailbox.get_nowait()
            except anyio.WouldBlock:
                break
            if type(item) is Ask:
                item.reply.set_exception(ActorStoppedError(self.name))
            elif item is not _WAKE:
                dead_letters.record(self.name, item, "stopped")
        self._mailbox.close()
        self.ref.close()
        # The slot refers to this cell too: without the cycle, a retired actor and all it
        # held are freed at once rather than by a garbage collection.
        self.slot = None
