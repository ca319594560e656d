"""The audit log's records, their chain, and checkpoints of it (pure: no I/O).

Each record carries an HMAC-SHA256, with a key kept outside the database (`_audit_keys`),
over its own content and the hash of the record before it in the same chain (one chain per
workspace, and one for calls that named no workspace they could prove theirs): editing,
removing or reordering a stored record breaks every hash after it, and nobody without the key
can re-chain what follows. A signed checkpoint (a chain's length and head hash, kept outside
the database) shows what no chain can: that its newest records, or all of it, were removed.

Records written before keys were used carry a plain SHA-256 and no signer; they verify as a
hash chain, and only before a chain's first signed record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, final

from .._tenancy_records import GENESIS, AuditRecord

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._audit_keys import AuditKeyring

#: The chain of calls that proved no workspace (no key, or a key that does not work).
SERVER_CHAIN: Final = ""


def chain_hash(
    previous_hash: str, content: bytes, keys: AuditKeyring | None, signer: str | None = None
) -> str:
    """The hash of a record: with the key `signer` (the keyring's current one by default),
    or a plain SHA-256 when `keys` is None (records from before keys)."""
    data = previous_hash.encode() + b"\n" + content
    if keys is None:
        return hashlib.sha256(data).hexdigest()
    return keys.sign(data, signer)


@final
class ChainVerifier:
    """Checks a chain's records fed oldest first, a page at a time if need be, from its
    start or from a record already verified (`after`)."""

    __slots__ = (
        "_has_signed",
        "_keys",
        "_previous",
        "checked",
        "first_broken",
        "seq",
        "unsigned",
    )

    def __init__(self, keys: AuditKeyring, *, after: tuple[int, str] = (0, GENESIS)) -> None:
        self._keys = keys
        self.seq, self._previous = after
        self._has_signed = after[0] > 0  # resuming: only signed records follow verified ones
        self.checked = 0
        #: Records that fit as plain hashes (from before keys): whoever can write the database
        #: could have written those, so say how many; a checkpoint shows they were not.
        self.unsigned = 0
        self.first_broken: AuditRecord | None = None

    @property
    def head(self) -> tuple[int, str]:
        """The last record that fitted: its place and hash."""
        return self.seq, self._previous

    def feed(self, records: Iterable[AuditRecord]) -> bool:
        """Check these next records; False once one does not fit (it is `first_broken`)."""
        for record in records:
            if self.first_broken is not None:
                return False
            if not self._fits(record):
                self.first_broken = record
                return False
            self._previous, self.seq = record.hash, record.seq
            self.checked += 1
        return self.first_broken is None

    def _fits(self, record: AuditRecord) -> bool:
        if record.seq != self.seq + 1 or record.previous_hash != self._previous:
            return False
        if record.signer is None:  # a plain hash: only before the first signed record
            fits = not self._has_signed and record.hash == chain_hash(
                self._previous, record.content(), None
            )
            self.unsigned += fits
            return fits
        self._has_signed = True
        data = self._previous.encode() + b"\n" + record.content()
        return self._keys.is_signed(data, record.hash, record.signer)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AuditCheckpoint:
    """A chain's length and head hash at a moment, signed: kept outside the database (a file,
    the server's log), it shows later whether the chain still has those records."""

    chain: str
    count: int
    head: str
    at: datetime
    signer: str
    signature: str

    @staticmethod
    def signed_data(chain: str, count: int, head: str, at: datetime) -> bytes:
        return json.dumps(
            ["checkpoint", chain, count, head, at.isoformat()], separators=(",", ":")
        ).encode()

    @classmethod
    def sign(
        cls, keys: AuditKeyring, *, chain: str, count: int, head: str, at: datetime
    ) -> AuditCheckpoint:
        signature = keys.sign(cls.signed_data(chain, count, head, at))
        return cls(
            chain=chain, count=count, head=head, at=at, signer=keys.current, signature=signature
        )

    def is_signed_by(self, keys: AuditKeyring) -> bool:
        data = self.signed_data(self.chain, self.count, self.head, self.at)
        return keys.is_signed(data, self.signature, self.signer)

    def to_json(self) -> str:
        return json.dumps(
            {
                "chain": self.chain,
                "count": self.count,
                "head": self.head,
                "at": self.at.isoformat(),
                "signer": self.signer,
                "signature": self.signature,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> AuditCheckpoint:
        """Raises ValueError: not a checkpoint."""
        try:
            data = json.loads(text)
            at = datetime.fromisoformat(data["at"])
            checkpoint = cls(
                chain=str(data["chain"]),
                count=int(data["count"]),
                head=str(data["head"]),
                at=at,
                signer=str(data["signer"]),
                signature=str(data["signature"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not an audit checkpoint: {exc}") from None
        if at.tzinfo is None or not 0 <= checkpoint.count < 2**63:  # a place a BIGINT holds
            raise ValueError("not an audit checkpoint: a time without a zone, or a bad count")
        return checkpoint


def verify_chain(records: Iterable[AuditRecord], keys: AuditKeyring) -> AuditRecord | None:
    """The first record (oldest first) whose place, link or hash is wrong; None if all fit."""
    verifier = ChainVerifier(keys)
    verifier.feed(records)
    return verifier.first_broken
