"""A supervisor's record of one child, which also brackets every run of that child.

The child runs inside `with slot:` so that however a run ends, the supervisor hears of it.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol, final

import anyio

from ._errors import ActorStoppedError

if TYPE_CHECKING:
    from types import TracebackType

    from anyio import TaskHandle


class Restart(enum.Enum):
    """When a child that exited is started again."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after a crash, not after a normal stop
    TEMPORARY = "temporary"  # never


class SlotOwner(Protocol):
    """Who hears of the end of each run of a child: its supervisor."""

    def on_child_exit(self, slot: ChildSlot, error: Exception | None) -> None:
        """Called once per run that had started; `error` is what crashed it, if anything."""
        ...


class Child(Protocol):
    """What a supervisor supervises: an actor cell or a nested supervisor."""

    name: str

    async def run(self, slot: ChildSlot) -> None:
        """Run once inside `with slot:`, calling `slot.started()` once started."""
        ...

    def request_stop(self, *, is_final: bool = False) -> None:
        """Ask the current run to finish soon, gracefully (also while it is still starting).

        `is_final`: the system is shutting down, nothing will be restarted.
        """
        ...

    def cancel_start(self) -> None:
        """Cancel a start that is taking too long (its task is not cancellable otherwise)."""
        ...

    def close(self) -> None:
        """Retire for good: nothing will run again."""
        ...


@final
class ChildSlot:
    """A child, its restart policy, and the state of its current run.

    A run is active from the moment the supervisor starts it (`begin`) until it has ended,
    whether it ended after starting or failed to start.
    """

    __slots__ = (
        "_exit_waiter",
        "_is_started",
        "_owner",
        "_start_error",
        "_start_waiter",
        "attempt",
        "child",
        "handle",
        "handled_runs",
        "is_active",
        "is_retiring",
        "is_stopping",
        "restart",
        "runs",
        "shutdown_timeout",
        "started_at",
    )

    def __init__(
        self,
        child: Child,
        restart: Restart,
        shutdown_timeout: float | None,
        owner: SlotOwner,
    ) -> None:
        self.child = child
        self.restart = restart
        self.shutdown_timeout = shutdown_timeout
        self.handle: TaskHandle[None] | None = None  # the task of the current run
        self.is_active = False
        self.is_stopping = False  # the supervisor is stopping this run on purpose
        self.is_retiring = False  # once this run ends, the child is removed for good
        self.attempt = 0  # backoff attempt of the next restart
        self.started_at = 0.0
        self.runs = 0  # how many runs have begun
        self.handled_runs = 0  # the exits of runs up to this one are dealt with
        self._owner = owner  # an object, not a bound method: one less per idle actor
        self._is_started = False
        self._exit_waiter: anyio.Event | None = None  # made only when someone waits
        self._start_waiter: anyio.Event | None = None  # only while a run is starting
        self._start_error: Exception | None = None

    def begin(self, now: float) -> None:
        """Mark a new run as under way (the supervisor calls this before starting it)."""
        self.runs += 1
        self.is_active = True
        self.is_stopping = False
        self.handle = None
        self.started_at = now
        self._is_started = False
        self._start_waiter = anyio.Event()
        self._start_error = None

    def stop_on_purpose(self) -> None:
        """Mark the current run as being stopped by its supervisor: its exit is no crash and
        calls for no restart."""
        self.is_stopping = True
        self.handled_runs = self.runs

    def started(self) -> None:
        """Called by the child once it has started: its spawner may go on."""
        self._is_started = True
        if self._start_waiter is not None:
            self._start_waiter.set()

    async def wait_started(self) -> None:
        """Wait until the run has started (blocks); raise what made its start fail, if any."""
        waiter = self._start_waiter
        if waiter is not None:
            await waiter.wait()
            self._start_waiter = None  # an idle actor keeps nothing of its start
        error, self._start_error = self._start_error, None
        if error is not None:
            raise error

    async def wait_exited(self) -> None:
        """Wait until the current run has ended, started or not (blocks)."""
        if self.is_active:
            if self._exit_waiter is None:
                self._exit_waiter = anyio.Event()
            await self._exit_waiter.wait()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        self.is_active = False
        if self._exit_waiter is not None:
            self._exit_waiter.set()
            self._exit_waiter = None
        error = exc if isinstance(exc, Exception) else None
        if not self._is_started:
            # A failed start goes to whoever waits for it, not to the task group.
            self._start_error = error or ActorStoppedError(self.child.name)
            if self._start_waiter is not None:
                self._start_waiter.set()
            return error is not None
        self._owner.on_child_exit(self, error)
        return error is not None  # the supervisor handles crashes; cancellation goes on
