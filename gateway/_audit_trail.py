"""The audit trail of the REST API: every mutating call, and every refused or unauthenticated
one, becomes a record of the audit log before its answer leaves.

The endpoint notes what it knows (the operation, the key once checked) in the request's
state; this middleware sees the final status, writes the record through the runtime (its
workspace's actor hashes it onto the chain) and only then lets the answer go. Calls that
proved no workspace (no key, a key that does not work) go to the server's own chain, so
that nobody can write into a workspace's trail without a key of it; there, the refusals of
one address are summed up (its first in a window written at once, the rest as one record with
their count when the window ends), so that a flood of bad keys writes a bounded number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from repertory.runtime import SERVER_CHAIN, AuditEvent, WorkflowError

from ._errors import CLIENT_CLOSED

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from repertory.runtime import ApiKey, Runtime

logger = logging.getLogger("repertory.gateway.audit")
#: Where the endpoint leaves its `AuditContext` in `scope["state"]`.
STATE_KEY: Final = "audit"
#: The longest target kept (a path, and the id of what a call created).
MAX_TARGET: Final = 500


@final
@dataclass(slots=True, kw_only=True)
class AuditContext:
    """What the endpoint learned of a call, for its audit record."""

    action: str
    is_mutating: bool
    target: str
    key: ApiKey | None = None
    #: It asked for another workspace than its key's: refused, whatever the status says.
    is_foreign: bool = False


def outcome_of(context: AuditContext, status: int) -> str | None:
    """How the call ended for the audit log, or None when it is not audited (a read that
    was allowed, whatever it found)."""
    if status == 401 or (status == 429 and context.key is None):
        return "unauthenticated"
    if status == CLIENT_CLOSED:
        return "client_closed"
    if status in {403, 429} or context.is_foreign:
        return "denied"
    if not context.is_mutating:
        return None
    return "ok" if status < 400 else "failed"


@final
class AuditTrail:
    """ASGI middleware: see the module's docstring. Sits inside the request-id middleware."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        recorded = False

        async def send_after_record(message: Message) -> None:
            nonlocal start, recorded
            if message["type"] == "http.response.start":
                start = message  # held until the record is durable
                return
            if not recorded and message["type"] == "http.response.body":
                recorded = True
                assert start is not None
                await self._record(scope, int(start["status"]))
                await send(start)
            await send(message)

        try:
            await self.app(scope, receive, send_after_record)
        except Exception:
            if not recorded:  # the bare 500 is answered from outside: record it here
                recorded = True
                await self._record(scope, 500)
            raise

    async def _record(self, scope: Scope, status: int) -> None:
        state = scope.get("state", {})
        context: AuditContext | None = state.get(STATE_KEY)
        if context is None:
            return  # not an operation of the API (the schema, the docs, an unknown path)
        outcome = outcome_of(context, status)
        if outcome is None:
            return
        key = context.key if outcome != "unauthenticated" else None
        client = scope.get("client")
        event = AuditEvent(
            at=self.runtime.clock.utc_now(),
            key_id=key.id if key else None,
            key_name=key.name if key else None,
            action=context.action,
            target=context.target[:MAX_TARGET],
            outcome=outcome,
            status=status,
            request_id=str(state.get("request_id", "-")),
            client=str(client[0]) if client else "-",
        )
        try:
            if outcome == "unauthenticated":  # summed up per address: floods stay small
                await self.runtime.audit_refusal(event, workspace=SERVER_CHAIN)
            else:
                await self.runtime.audit(event, workspace=key.workspace if key else SERVER_CHAIN)
        except WorkflowError as exc:  # a stopped runtime, a database down: said loudly
            logger.error("cannot write the audit record of request %s: %s", event.request_id, exc)
