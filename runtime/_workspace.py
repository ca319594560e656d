"""`WorkspaceActor`: one per tenant workspace (and one for the server's own chain), the only
writer of its audit trail and of its API keys. Later it takes over its deployments too.

Appends arrive as messages and are written in batches, each batch one transaction, hashed
onto the chain in the order they arrived; every asker is answered once its record is
durable. Two runtimes appending to one chain on a shared database collide on the chain's
(chain, seq) key; the loser reads the chain's head again and rehashes its batch onto it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

import anyio

from repertory.actors import Actor, DeferredReply, Request, Restart

from ._audit import GENESIS, AuditRecord, ChainVerifier, chain_hash
from ._errors import StorageError
from ._records import utc_now

if TYPE_CHECKING:
    from datetime import datetime

    from repertory.actors import ActorRef, Supervisor

    from ._api_keys import ApiKey
    from ._result_storage import QueryFn
    from ._roles import Role

#: Tries to append a batch when other writers keep taking the chain's next places (each
#: failed try means another process appended: the chain moved on).
APPEND_TRIES: Final = 50
#: Records read per page while verifying a chain.
VERIFY_PAGE: Final = 1_000


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """What happened, as the gateway saw it; the workspace's actor places and hashes it."""

    at: datetime
    key_id: str | None
    key_name: str | None
    action: str
    target: str
    outcome: str
    status: int
    request_id: str
    client: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Audit(Request[AuditRecord]):
    """Append an event to the chain; answered with its record once it is durable."""

    event: AuditEvent


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadAudit(Request[list[AuditRecord]]):
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    key_id: str | None = None
    limit: int | None = None
    offset: int = 0


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AuditVerdict:
    """What verifying a chain found: how many records fit, and the first that does not."""

    checked: int
    first_broken: AuditRecord | None

    @property
    def is_intact(self) -> bool:
        return self.first_broken is None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyAudit(Request[AuditVerdict]):
    pass


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AddApiKey(Request[None]):
    """Store a new key of the workspace (its secret only as a hash)."""

    key: ApiKey
    secret_hash: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeApiKey(Request["ApiKey | None"]):
    """Revoke a key of the workspace; answers it as it now is, or None if it has none such."""

    key_id: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadApiKeys(Request["list[ApiKey]"]):
    pass


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RotateApiKey(Request["ApiKey | None"]):
    """Give a key of the workspace that works (neither revoked nor expired) a new secret (as
    its hash); answers the key, or None if the workspace has no such key that works."""

    key_id: str
    secret_hash: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AddRole(Request[bool]):
    """Add a custom role; answers False if the workspace has one of that name."""

    role: Role
    created: datetime


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadRoles(Request["list[Role]"]):
    """The workspace's custom roles, by name."""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRole(Request[str]):
    """Delete a custom role: "deleted", "missing", or "in use" by a key not revoked."""

    name: str


@final
class WorkspaceActor(Actor):
    """Owns one chain of the audit log; see the module's docstring."""

    def __init__(self, *, chain: str, query: QueryFn) -> None:
        self._chain = chain
        self._query = query
        self._pending: list[tuple[AuditEvent, DeferredReply]] = []
        self._has_pending = anyio.Event()
        self._head: tuple[int, str] | None = None  # (seq, hash) of the last record written

    async def receive(self, message: object) -> object:
        try:
            return await self._handle(message)
        except StorageError as exc:  # this message's own failure: a restart would not cure it
            self.refuse(exc)

    async def _handle(self, message: object) -> object:
        match message:
            case Audit(event=event):
                reply = DeferredReply()
                self._pending.append((event, reply))
                self._has_pending.set()
                return reply
            case ReadAudit() as read:
                return await self._query(
                    lambda db: db.audit.read(
                        self._chain,
                        since=read.since,
                        until=read.until,
                        action=read.action,
                        key_id=read.key_id,
                        limit=read.limit,
                        offset=read.offset,
                    )
                )
            case VerifyAudit():
                return await self._verify()
            case AddApiKey(key=key, secret_hash=secret_hash):
                if key.workspace != self._chain:
                    raise ValueError(f"key of workspace {key.workspace!r} sent to {self._chain!r}")
                await self._query(lambda db: db.insert_api_key(key, secret_hash))
                return None
            case RevokeApiKey(key_id=key_id):
                await self._query(lambda db: db.revoke_api_key(self._chain, key_id))
                keys = await self._query(lambda db: db.read_api_keys(self._chain))
                return next((key for key in keys if key.id == key_id), None)
            case ReadApiKeys():
                return await self._query(lambda db: db.read_api_keys(self._chain))
            case RotateApiKey(key_id=key_id, secret_hash=secret_hash):
                keys = await self._query(lambda db: db.read_api_keys(self._chain))
                now = utc_now()  # revoked and expired keys stay as they are
                working = next((k for k in keys if k.id == key_id and k.is_valid_at(now)), None)
                if working is not None:
                    await self._query(
                        lambda db: db.rotate_api_key(self._chain, key_id, secret_hash)
                    )
                return working
            case AddRole(role=role, created=created):
                return await self._query(
                    lambda db: db.workspaces.create_role(self._chain, role, created)
                )
            case ReadRoles():
                return await self._query(lambda db: db.workspaces.read_roles(self._chain))
            case DeleteRole(name=name):
                return await self._query(lambda db: db.workspaces.delete_role(self._chain, name))
            case _:
                return self.unhandled(message)

    async def background(self) -> None:
        """Write what was appended, a batch at a time, and answer each asker."""
        while True:
            await self._has_pending.wait()
            self._has_pending = anyio.Event()
            batch, self._pending = self._pending, []
            try:
                records = await self._write([event for event, _ in batch])
            except Exception as exc:  # each asker learns it; the actor goes on
                for _, reply in batch:
                    reply.set_exception(exc)
                continue
            for (_, reply), record in zip(batch, records, strict=True):
                reply.set_result(record)

    async def _write(self, events: list[AuditEvent]) -> list[AuditRecord]:
        chain = self._chain
        for _ in range(APPEND_TRIES):
            if self._head is None:
                self._head = await self._query(lambda db: db.audit.head(chain)) or (0, GENESIS)
            seq, previous = self._head
            records = []
            for event in events:
                seq += 1
                unhashed = AuditRecord(
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
                )
                previous = chain_hash(previous, unhashed.content())
                records.append(dataclasses.replace(unhashed, hash=previous))
            try:
                with anyio.CancelScope(shield=True):  # written whole, or not at all
                    moved = await self._append(records, self._head)
            except StorageError:
                self._head = None  # whatever happened, read the head again next time
                raise
            if moved is None:
                self._head = (seq, previous)
                return records
            self._head = moved  # another process appended: hash onto its head
        raise StorageError(
            f"cannot append to the audit log of {chain!r}: other writers took its next "
            f"places {APPEND_TRIES} times in a row"
        )

    async def _append(
        self, records: list[AuditRecord], after: tuple[int, str]
    ) -> tuple[int, str] | None:
        return await self._query(lambda db: db.audit.append(self._chain, records, after=after))

    async def _verify(self) -> AuditVerdict:
        verifier = ChainVerifier()
        after = 0
        while True:
            page = await self._query(
                lambda db, after=after: db.audit.read(  # type: ignore[misc]
                    self._chain, after_seq=after, limit=VERIFY_PAGE
                )
            )
            if not verifier.feed(page) or len(page) < VERIFY_PAGE:
                return AuditVerdict(checked=verifier.checked, first_broken=verifier.first_broken)
            after = page[-1].seq


@final
class Workspaces:
    """The runtime's `WorkspaceActor`s, one per chain, spawned on first use under the
    runtime's "workspaces" supervisor."""

    def __init__(self, *, supervisor: Supervisor, query: QueryFn) -> None:
        self._supervisor = supervisor
        self._query = query
        self._refs: dict[str, ActorRef] = {}
        self._spawning = anyio.Lock()

    async def ref(self, chain: str) -> ActorRef:
        ref = self._refs.get(chain)
        if ref is not None:
            return ref
        async with self._spawning:
            ref = self._refs.get(chain)
            if ref is None:
                ref = await self._supervisor.spawn(
                    lambda: WorkspaceActor(chain=chain, query=self._query),
                    name=f"workspace:{chain}",
                    restart=Restart.PERMANENT,
                )
                self._refs[chain] = ref
            return ref

    async def forget(self, chain: str) -> None:
        """Stop the chain's actor (its workspace is gone)."""
        ref = self._refs.pop(chain, None)
        if ref is not None:
            await self._supervisor.stop_child(ref)
