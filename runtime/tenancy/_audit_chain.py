"""Writing one audit chain (for its `WorkspaceActor`), and verifying chains (for anyone).

Appends arrive as events and are written in batches, each batch one transaction, signed onto
the chain in the order they arrived; every asker is answered once its record is durable. Two
processes appending to one chain serialize on the chain's lock; one that finds the head moved
signs its batch onto the new head.

Refused calls that proved no key are summed up: the first of an address in a window is
written as it comes, the rest of that window as one record with their count when the window
ends, so that a flood of bad keys writes a bounded number of records.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

import anyio

from repertory.actors import DeferredReply, SystemClock

from .._errors import StorageError
from .._tenancy_records import GENESIS, AuditRecord
from ..storage._requests import AppendAudit, ReadAudit, ReadAuditHead, ReadAuditRecord
from ._audit import AuditCheckpoint, ChainVerifier, chain_hash

if TYPE_CHECKING:
    from datetime import datetime

    from repertory.actors import Clock

    from ..storage._requests import AskStore
    from ._audit_keys import AuditKeyring

#: Tries to append a batch when other writers keep taking the chain's next places (each
#: failed try means another process appended: the chain moved on).
APPEND_TRIES: Final = 50
#: Records read per page while verifying a chain.
VERIFY_PAGE: Final = 500
#: The window over which one address's refused calls are summed up.
REFUSALS_WINDOW: Final = 60.0
#: Addresses whose refusals are being summed up at once; beyond, the oldest is written early.
MAX_TALLIES: Final = 10_000


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """What happened, as the gateway saw it; the chain's writer places and signs it."""

    at: datetime
    key_id: str | None
    key_name: str | None
    action: str
    target: str
    outcome: str
    status: int
    request_id: str
    client: str
    count: int = 1


@final
@dataclass(slots=True)
class _Tally:
    """Refusals of one address in its window, after the first (which was written at once)."""

    ends: float
    count: int = 0
    last: AuditEvent | None = None


@final
class ChainWriter:
    """Appends events to one chain; see the module's docstring."""

    def __init__(
        self,
        *,
        chain: str,
        ask: AskStore,
        keys: AuditKeyring,
        clock: Clock | None = None,
    ) -> None:
        self._chain = chain
        self._ask = ask
        self._keys = keys
        self._clock = clock or SystemClock()
        self._pending: list[tuple[AuditEvent, DeferredReply | None]] = []
        self._has_pending = anyio.Event()
        self._head: tuple[int, str] | None = None  # (seq, hash) of the last record written
        self._tallies: dict[str, _Tally] = {}

    def append(self, event: AuditEvent) -> DeferredReply:
        """Answered with the event's record once it is durable."""
        reply = DeferredReply()
        self._queue(event, reply)
        return reply

    def tally(self, event: AuditEvent) -> DeferredReply | None:
        """A refusal: written like `append` when it is its address's first in a window (the
        reply), else counted for the window's summary (None: nothing to wait for)."""
        tally = self._tallies.get(event.client)
        if tally is not None and tally.ends > self._clock.now():
            tally.count += 1
            tally.last = event
            return None
        if tally is not None:
            self._summarize(event.client)
        elif len(self._tallies) >= MAX_TALLIES:
            self._summarize(next(iter(self._tallies)))  # the oldest, early
        self._tallies[event.client] = _Tally(ends=self._clock.now() + REFUSALS_WINDOW)
        return self.append(event)

    async def serve(self) -> None:
        """Write what was appended, a batch at a time, and answer each asker; sum up each
        window of refusals as it ends. Runs until cancelled."""
        while True:
            await self._wait_for_work()
            now = self._clock.now()
            for client in [c for c, tally in self._tallies.items() if tally.ends <= now]:
                self._summarize(client)
            if not self._pending:
                continue
            self._has_pending = anyio.Event()
            batch, self._pending = self._pending, []
            try:
                records = await self._write([event for event, _ in batch])
            except Exception as exc:  # each asker learns it; the writer goes on
                for _, reply in batch:
                    if reply is not None:
                        reply.set_exception(exc)
                continue
            for (_, reply), record in zip(batch, records, strict=True):
                if reply is not None:
                    reply.set_result(record)

    def _queue(self, event: AuditEvent, reply: DeferredReply | None) -> None:
        self._pending.append((event, reply))
        self._has_pending.set()

    async def _wait_for_work(self) -> None:
        """Until something is appended, or the first window of refusals ends (on the clock,
        which a test may move by hand) (blocks)."""
        if not self._tallies:
            await self._has_pending.wait()
            return
        async with anyio.create_task_group() as tasks:

            async def until_a_window_ends() -> None:
                ends = min(t.ends for t in self._tallies.values())
                await self._clock.sleep(max(0.0, ends - self._clock.now()))
                tasks.cancel_scope.cancel()

            tasks.start_soon(until_a_window_ends)
            await self._has_pending.wait()
            tasks.cancel_scope.cancel()

    def _summarize(self, client: str) -> None:
        tally = self._tallies.pop(client)
        last = tally.last
        if last is None:
            return  # one refusal in the window: written already
        self._queue(
            dataclasses.replace(
                last,
                action="refused_calls",
                target=f"{tally.count} more refused calls from {client} in "
                f"{REFUSALS_WINDOW:g} s (the last: {last.action} {last.target})"[:500],
                count=tally.count,
            ),
            None,
        )

    async def _write(self, events: list[AuditEvent]) -> list[AuditRecord]:
        chain, keys = self._chain, self._keys
        for _ in range(APPEND_TRIES):
            if self._head is None:
                self._head = await self._ask(ReadAuditHead(chain=chain)) or (0, GENESIS)
            seq, previous = self._head
            records = []
            for event in events:
                seq += 1
                unsigned = AuditRecord(
                    chain=chain,
                    seq=seq,
                    at=event.at,
                    key_id=event.key_id,
                    key_name=event.key_name,
                    action=event.action,
                    target=event.target,
                    outcome=event.outcome,
                    status=event.status,
                    request_id=event.request_id,
                    client=event.client,
                    previous_hash=previous,
                    hash="",
                    count=event.count,
                    signer=keys.current,
                )
                previous = chain_hash(previous, unsigned.content(), keys)
                records.append(dataclasses.replace(unsigned, hash=previous))
            try:
                with anyio.CancelScope(shield=True):  # written whole, or not at all
                    moved = await self._append(records, self._head)
            except StorageError:
                self._head = None  # whatever happened, read the head again next time
                raise
            if moved is None:
                self._head = (seq, previous)
                return records
            self._head = moved  # another process appended: sign onto its head
        raise StorageError(
            f"cannot append to the audit log of {chain!r}: other writers took its next "
            f"places {APPEND_TRIES} times in a row"
        )

    async def _append(
        self, records: list[AuditRecord], after: tuple[int, str]
    ) -> tuple[int, str] | None:
        return await self._ask(AppendAudit(chain=self._chain, records=records, after=after))


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AuditVerdict:
    """What verifying a chain found: how many records fit (from the first), the first that
    does not, and what a checkpoint given showed."""

    checked: int
    first_broken: AuditRecord | None
    #: Why the chain does not hold what the checkpoint saw (records removed, a bad signature).
    checkpoint_problem: str | None = None
    #: Records checked this time that carry a plain hash (from before audit keys): they link,
    #: but whoever could write the database could have made them; a checkpoint vouches.
    unsigned: int = 0
    #: The records before this place were verified by an earlier check, and not read again.
    resumed_after: int = 0

    @property
    def is_intact(self) -> bool:
        return self.first_broken is None and self.checkpoint_problem is None


async def verify_chain_of(
    ask: AskStore,
    keys: AuditKeyring,
    chain: str,
    *,
    after: tuple[int, str] = (0, GENESIS),
    checkpoint: AuditCheckpoint | None = None,
) -> tuple[AuditVerdict, tuple[int, str]]:
    """Verify `chain` from its start, or on from a record already verified (`after`: its
    place and hash, which it must still have); and, given a checkpoint, that the chain still
    holds the records it saw. Returns the verdict and the head verified (blocks)."""
    if after[0] > 0:
        kept = await ask(ReadAuditRecord(chain=chain, seq=after[0]))
        if kept is None or kept.hash != after[1]:
            after = (0, GENESIS)  # changed since: verify it all again
    verifier = ChainVerifier(keys, after=after)
    while True:
        page = await ask(ReadAudit(chain=chain, after_seq=verifier.seq, limit=VERIFY_PAGE))
        # Hashing a page is CPU work (~10 us a record): in a worker thread, so that the event
        # loop goes on answering between the interpreter's switches.
        fits = await anyio.to_thread.run_sync(verifier.feed, page)
        if not fits or len(page) < VERIFY_PAGE:
            break
    problem = None
    if checkpoint is not None:
        problem = await _checkpoint_problem(ask, keys, chain, checkpoint)
    verdict = AuditVerdict(
        checked=verifier.seq,
        first_broken=verifier.first_broken,
        checkpoint_problem=problem,
        unsigned=verifier.unsigned,
        resumed_after=after[0],
    )
    return verdict, verifier.head


async def _checkpoint_problem(
    ask: AskStore, keys: AuditKeyring, chain: str, checkpoint: AuditCheckpoint
) -> str | None:
    when = checkpoint.at.isoformat(timespec="seconds")
    if checkpoint.chain != chain:
        return f"the checkpoint is of chain {checkpoint.chain!r}, not {chain!r}"
    if not checkpoint.is_signed_by(keys):
        return "the checkpoint's signature does not fit (it was not made with these keys)"
    if checkpoint.count == 0:
        return None
    record = await ask(ReadAuditRecord(chain=chain, seq=checkpoint.count))
    if record is None:
        head = await ask(ReadAuditHead(chain=chain))
        count = head[0] if head else 0
        return (
            f"records were removed: the checkpoint of {when} saw {checkpoint.count}, "
            f"the chain has {count}"
        )
    if record.hash != checkpoint.head:
        return f"record {checkpoint.count} is not the one the checkpoint of {when} saw"
    return None
