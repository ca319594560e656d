"""The audit log's records and their hash chain (pure: no I/O).

Each record carries a SHA-256 over its own content and the hash of the record before it in
the same chain (one chain per workspace, and one for calls that named no workspace they
could prove theirs), so that editing, removing or reordering a stored record breaks every
hash after it. `verify_chain` finds the first record that does not fit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

#: The hash before a chain's first record.
GENESIS: Final = "0" * 64
#: The chain of calls that proved no workspace (no key, or a key that does not work).
SERVER_CHAIN: Final = ""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One audited call: who (key id and name, never the secret), what, on what, how it ended."""

    chain: str  # the workspace, or SERVER_CHAIN
    seq: int  # its place in the chain, from 1
    at: datetime
    key_id: str | None
    key_name: str | None
    action: str  # the operation, e.g. "create_flow_run"
    target: str  # what it acted on: a path, a run id, a key id
    outcome: str  # "ok", "denied", "unauthenticated", "failed"
    status: int  # the HTTP status answered
    request_id: str
    client: str  # the caller's address
    previous_hash: str
    hash: str

    def content(self) -> bytes:
        """What the hash covers besides the previous hash: every field but the hashes and the
        chain's name (a workspace may be renamed; its records' places and links stay)."""
        return json.dumps(
            [
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
            ],
            separators=(",", ":"),
        ).encode()


def chain_hash(previous_hash: str, content: bytes) -> str:
    return hashlib.sha256(previous_hash.encode() + b"\n" + content).hexdigest()


@final
class ChainVerifier:
    """Checks a chain's records fed oldest first, a page at a time if need be."""

    __slots__ = ("_previous", "checked", "first_broken")

    def __init__(self) -> None:
        self._previous = GENESIS
        self.checked = 0
        self.first_broken: AuditRecord | None = None

    def feed(self, records: Iterable[AuditRecord]) -> bool:
        """Check these next records; False once one does not fit (it is `first_broken`)."""
        for record in records:
            if self.first_broken is not None:
                return False
            previous = self._previous
            if (
                record.seq != self.checked + 1
                or record.previous_hash != previous
                or record.hash != chain_hash(previous, record.content())
            ):
                self.first_broken = record
                return False
            self._previous, self.checked = record.hash, self.checked + 1
        return self.first_broken is None


def verify_chain(records: Iterable[AuditRecord]) -> AuditRecord | None:
    """The first record (oldest first) whose place, link or hash is wrong; None if all fit."""
    verifier = ChainVerifier()
    verifier.feed(records)
    return verifier.first_broken
