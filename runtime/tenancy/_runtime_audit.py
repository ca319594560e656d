"""The runtime's methods over the audit log: a part of `Runtime` (see `RuntimeBase`). A chain is
written only by its workspace's actor; verifying reads it beside the writer, never in its way."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from .._parts import RuntimeBase
from .._tenancy_records import GENESIS
from .._text import check_text
from ..storage._requests import ReadAudit, ReadAuditHead
from ._audit import AuditCheckpoint
from ._audit_chain import verify_chain_of
from ._workspace import Audit, TallyRefusal

if TYPE_CHECKING:
    from datetime import datetime

    from .._tenancy_records import AuditRecord
    from ._audit_chain import AuditEvent, AuditVerdict
    from ._audit_keys import AuditKeyring


class AuditAccess(RuntimeBase):
    """Appending to, reading, verifying and checkpointing the audit log."""

    def __init__(self) -> None:
        super().__init__()
        #: Per chain, the last record a full verification found fitting: where the next starts.
        self._verified: dict[str, tuple[int, str]] = {}
        self._verifying = anyio.Lock()

    async def audit(self, event: AuditEvent, *, workspace: str | None = None) -> AuditRecord:
        """Append `event` to the workspace's audit chain (`SERVER_CHAIN` for calls that proved
        no workspace); return its record once it is durable (blocks)."""
        ref = await self._workspace_ref(self.workspace if workspace is None else workspace)
        return await ref.ask(Audit(event=event))

    async def audit_refusal(self, event: AuditEvent, *, workspace: str) -> None:
        """Record a refused call that proved no key, summed up per address: the first of an
        address in a window is durable before this returns, the rest are counted and written
        as one record when the window ends (blocks)."""
        ref = await self._workspace_ref(workspace)
        await ref.ask(TallyRefusal(event=event))

    async def read_audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        key_id: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        offset: int = 0,
        workspace: str | None = None,
    ) -> list[AuditRecord]:
        """The workspace's audit records, oldest first, filtered: `since` inclusive, `until`
        exclusive, by action and by key; those after place `after_seq` (the last of the page
        before: found by index, however deep) (blocks)."""
        check_text(action, "an action")
        check_text(key_id, "a key's id")
        chain = self.workspace if workspace is None else workspace
        return await self._read(  # beside the chain's writer, never in its way
            ReadAudit(
                chain=chain,
                since=since,
                until=until,
                action=action,
                key_id=key_id,
                after_seq=after_seq,
                limit=limit,
                offset=offset,
            )
        )

    async def verify_audit(
        self,
        *,
        workspace: str | None = None,
        full: bool = False,
        checkpoint: AuditCheckpoint | None = None,
    ) -> AuditVerdict:
        """Check the workspace's audit chain: how many records fit, and the first that was
        edited, removed or moved; given a checkpoint (`audit_checkpoint`), also whether the
        chain still holds the records it saw (blocks).

        Verifying goes on from where this runtime's last one ended (that record must still
        have the hash it had), unless `full`: then from the first record.
        """
        chain = self.workspace if workspace is None else workspace
        after = (0, GENESIS) if full else self._verified.get(chain, (0, GENESIS))
        async with self._verifying:  # one at a time: callers looping full checks wait in line
            return await self._verify(chain, after, checkpoint)

    async def _verify(
        self, chain: str, after: tuple[int, str], checkpoint: AuditCheckpoint | None
    ) -> AuditVerdict:
        keys = await self._audit_keys()
        verdict, head = await verify_chain_of(
            self._read, keys, chain, after=after, checkpoint=checkpoint
        )
        broken = verdict.first_broken
        if broken is not None and broken.signer is not None and not keys.has(broken.signer):
            # Signed by a key added since this runtime loaded its keys? Look again, once.
            keys = await self._audit_keys(reload=True)
            verdict, head = await verify_chain_of(
                self._read, keys, chain, after=after, checkpoint=checkpoint
            )
        if verdict.first_broken is None:
            self._verified[chain] = head
        return verdict

    async def audit_checkpoint(self, *, workspace: str | None = None) -> AuditCheckpoint:
        """The chain's length and head hash now, signed: keep it outside the database, and
        `verify_audit(checkpoint=...)` later shows whether records were removed (blocks)."""
        chain = self.workspace if workspace is None else workspace
        head = await self._read(ReadAuditHead(chain=chain)) or (0, GENESIS)
        return AuditCheckpoint.sign(
            await self._audit_keys(),
            chain=chain,
            count=head[0],
            head=head[1],
            at=self.clock.utc_now(),
        )

    async def _audit_keys(self, *, reload: bool = False) -> AuditKeyring:
        return await self._running_workspaces().keys(reload=reload)
