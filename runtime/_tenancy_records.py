"""The records of tenancy that users read: a `Workspace`, an `ApiKey`, a `Role`, an
`AuditRecord` (pure data, below both the store that keeps them and the code that uses them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from datetime import datetime

#: The hash before a chain's first record.
GENESIS: Final = "0" * 64


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Workspace:
    """A tenant workspace: every run, key, cache entry and audit record belongs to one."""

    name: str
    created: datetime


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """An API key as stored: never its secret."""

    id: str
    workspace: str
    name: str
    role: str
    created: datetime
    expires: datetime | None = None
    revoked: datetime | None = None
    #: It may also manage workspaces, server-wide (the bootstrap key is one).
    is_server_admin: bool = False

    def is_valid_at(self, now: datetime) -> bool:
        """Whether the key may be used at `now`: not revoked and not expired."""
        return self.revoked is None and (self.expires is None or now < self.expires)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Role:
    """A named set of scopes: built in, or a custom role of one workspace."""

    name: str
    scopes: frozenset[str]
    is_builtin: bool = False


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One audited call: who (key id and name, never the secret), what, on what, how it ended;
    or, with a `count` above 1, that many refused calls of one address summed up."""

    chain: str  # the workspace, or SERVER_CHAIN
    seq: int  # its place in the chain, from 1
    at: datetime
    key_id: str | None
    key_name: str | None
    action: str  # the operation, e.g. "create_flow_run"
    target: str  # what it acted on: a path, a run id, a key id
    outcome: str  # "ok", "denied", "unauthenticated", "failed", "client_closed"
    status: int  # the HTTP status answered
    request_id: str
    client: str  # the caller's address
    previous_hash: str
    hash: str
    count: int = 1
    signer: str | None = None  # the id of the key whose HMAC `hash` is; None: a plain SHA-256

    def content(self) -> bytes:
        """What the hash covers besides the previous hash: every field but the hashes, the
        signer and the chain's name (a workspace may be renamed; its records' places and
        links stay). A count of 1 is left out, as records before counts had it."""
        fields: list[object] = [
            self.seq,
            self.at.isoformat(),
            self.key_id,
            self.key_name,
            self.action,
            self.target,
            self.outcome,
            self.status,
            self.request_id,
            self.client,
        ]
        if self.count != 1:
            fields.append(self.count)
        return json.dumps(fields, separators=(",", ":")).encode()
