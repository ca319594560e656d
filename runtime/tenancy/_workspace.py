"""`WorkspaceActor`: one per tenant workspace (and one for the server's own chain), the only
writer of its audit chain (through its `ChainWriter`) and of its API keys and custom roles.
Later it takes over its deployments too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, final

import anyio

from repertory.actors import Actor, Request, Restart

from .._errors import StorageError
from .._tenancy_records import AuditRecord

# As `db.ReadApiKeys`: this module's own messages (ReadApiKeys, ...) take the plain names.
from ..storage import _requests as db
from ._audit_chain import AuditEvent, ChainWriter

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from repertory.actors import ActorRef, Clock, Supervisor

    from .._tenancy_records import ApiKey, Role
    from ..storage._requests import AskStore
    from ._audit_keys import AuditKeyring


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Audit(Request[AuditRecord]):
    """Append an event to the chain; answered with its record once it is durable."""

    event: AuditEvent


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TallyRefusal(Request[None]):
    """A refused call that proved no key: answered once it is durable when it is its
    address's first in a window, at once when it is only counted (see `ChainWriter`)."""

    event: AuditEvent


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

    def __init__(self, *, chain: str, ask: AskStore, keys: AuditKeyring, clock: Clock) -> None:
        self._chain = chain
        self._ask = ask
        self._clock = clock
        self._writer = ChainWriter(chain=chain, ask=ask, keys=keys, clock=clock)

    async def receive(self, message: object) -> object:
        try:
            return await self._handle(message)
        except StorageError as exc:  # this message's own failure: a restart would not cure it
            self.refuse(exc)

    async def _handle(self, message: object) -> object:
        match message:
            case Audit(event=event):
                return self._writer.append(event)
            case TallyRefusal(event=event):
                return self._writer.tally(event)
            case AddApiKey(key=key, secret_hash=secret_hash):
                if key.workspace != self._chain:
                    raise ValueError(f"key of workspace {key.workspace!r} sent to {self._chain!r}")
                await self._ask(db.InsertApiKey(key=key, secret_hash=secret_hash))
                return None
            case RevokeApiKey(key_id=key_id):
                await self._ask(db.RevokeApiKey(workspace=self._chain, key_id=key_id))
                keys = await self._ask(db.ReadApiKeys(workspace=self._chain))
                return next((key for key in keys if key.id == key_id), None)
            case ReadApiKeys():
                return await self._ask(db.ReadApiKeys(workspace=self._chain))
            case RotateApiKey(key_id=key_id, secret_hash=secret_hash):
                keys = await self._ask(db.ReadApiKeys(workspace=self._chain))
                now = self._clock.utc_now()  # revoked and expired keys stay as they are
                working = next((k for k in keys if k.id == key_id and k.is_valid_at(now)), None)
                if working is not None:
                    await self._ask(
                        db.RotateApiKey(
                            workspace=self._chain, key_id=key_id, secret_hash=secret_hash
                        )
                    )
                return working
            case AddRole(role=role, created=created):
                return await self._ask(
                    db.CreateRole(workspace=self._chain, role=role, created=created)
                )
            case ReadRoles():
                return await self._ask(db.ReadRoles(workspace=self._chain))
            case DeleteRole(name=name):
                return await self._ask(db.DeleteRole(workspace=self._chain, name=name))
            case _:
                return self.unhandled(message)

    async def background(self) -> None:
        await self._writer.serve()


@final
class Workspaces:
    """The runtime's `WorkspaceActor`s, one per chain, spawned on first use under the
    runtime's "workspaces" supervisor."""

    def __init__(
        self,
        *,
        supervisor: Supervisor,
        ask: AskStore,
        load_keys: Callable[[], AuditKeyring],
        clock: Clock,
    ) -> None:
        self._supervisor = supervisor
        self._ask = ask
        self._clock = clock
        self._load_keys = load_keys
        self._keys: AuditKeyring | None = None
        self._refs: dict[str, ActorRef] = {}
        self._spawning = anyio.Lock()

    async def keys(self, *, reload: bool = False) -> AuditKeyring:
        """The keys that sign the audit log, loaded on first use (a file, made if missing);
        loaded again if `reload` (another process may have started with a newer key)."""
        if self._keys is None or reload:
            async with self._spawning:
                if self._keys is None or reload:
                    self._keys = await anyio.to_thread.run_sync(self._load_keys)
        return self._keys

    async def ref(self, chain: str) -> ActorRef:
        ref = self._refs.get(chain)
        if ref is not None:
            return ref
        keys = await self.keys()
        async with self._spawning:
            ref = self._refs.get(chain)
            if ref is None:
                ref = await self._supervisor.spawn(
                    lambda: WorkspaceActor(
                        chain=chain, ask=self._ask, keys=keys, clock=self._clock
                    ),
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
