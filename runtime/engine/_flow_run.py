"""`FlowRunActor`: the authority on one flow run created through the runtime, while it is live.

It runs the flow in a task it owns (its background work), answers queries about the run,
and cancel and wait requests; when the run has ended and is durable, the actor stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, final

import anyio

from repertory.actors import Actor, DeferredReply, Request

from .._records import FlowRun

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._options import FlowOptions
    from ._engine import Engine
    from ._live_run import LiveRun


class FlowDefinition(Protocol):
    """What the runtime needs of a flow (the SDK's `Flow` is one)."""

    @property
    def fn(self) -> Callable[..., object]: ...

    @property
    def options(self) -> FlowOptions: ...


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class GetFlowRun(Request[FlowRun]):
    """The run as it is now."""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class WaitForFlowRun(Request[FlowRun]):
    """The run once it has ended, answered when its final state is durable."""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelFlowRun(Request[FlowRun]):
    """Cancel the run; answered once it has ended (Cancelled, unless it ended just before)."""


def flow_run_actor_name(workspace: str, run_id: str) -> str:
    """The name of a run's actor: looked up with the workspace asked about, so a run of
    another workspace is not found. `run_id` must be a run id (`is_run_id`): its fixed shape
    keeps the two parts apart whatever the workspace's name holds."""
    return f"flow-run:{run_id}:{workspace}"


@final
class LiveRunSlot:
    """One of the runtime's `max_live_runs` places, held by a run from its creation until its
    actor stops, and given back once, whichever way the run ends or fails to start. It also
    counts the live runs of its workspace (for `max_live_runs_per_workspace`)."""

    __slots__ = ("_counts", "_is_held", "_semaphore", "_workspace")

    def __init__(self, semaphore: anyio.Semaphore, counts: dict[str, int], workspace: str) -> None:
        self._semaphore = semaphore
        self._counts = counts
        self._workspace = workspace
        self._is_held = False

    async def acquire(self) -> int:
        """Wait for a place; return how many runs of the workspace are live with this one."""
        await self._semaphore.acquire()
        self._is_held = True
        count = self._counts[self._workspace] = self._counts.get(self._workspace, 0) + 1
        return count

    def release(self) -> None:
        if self._is_held:
            self._is_held = False
            self._semaphore.release()
            left = self._counts[self._workspace] - 1
            if left:
                self._counts[self._workspace] = left
            else:
                del self._counts[self._workspace]


@final
class FlowRunActor(Actor):
    """Runs one flow run in a task of its own; answers `GetFlowRun`, `WaitForFlowRun` and
    `CancelFlowRun`. Spawn it temporary: a run is never started twice."""

    def __init__(
        self, engine: Engine, flow: FlowDefinition, run: LiveRun[FlowRun], *, slot: LiveRunSlot
    ) -> None:
        self._engine = engine
        self._slot = slot
        self._flow = flow
        self._run = run
        self._scope = anyio.CancelScope()
        self._waiters: list[DeferredReply] = []

    async def background(self) -> None:
        flow = self._flow
        with self._scope:  # a cancelled run ends Cancelled; the cancellation stops here
            await self._engine.run_flow(flow, flow.fn, flow.options, self._run, return_state=True)
        if self._run.base.parent_flow_run_id is not None:
            await self._engine.flush()  # run_flow makes only top-level runs durable itself
        record = self._run.record.as_stored()
        for waiter in self._waiters:
            waiter.set_result(record)

    async def on_stop(self) -> None:
        self._slot.release()

    async def receive(self, message: object) -> object:
        match message:
            case GetFlowRun():
                return self._run.record.as_stored()
            case WaitForFlowRun():
                return self._wait()
            case CancelFlowRun():
                self._scope.cancel()
                return self._wait()
            case _:
                self.unhandled(message)

    def _wait(self) -> DeferredReply:
        waiter = DeferredReply()
        self._waiters.append(waiter)
        return waiter
