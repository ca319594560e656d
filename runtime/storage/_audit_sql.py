"""The audit log's table, reached as `SqlDatabase.audit` through the store. Records are only
ever inserted: nothing here updates or deletes one."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final, final

from .._tenancy_records import GENESIS, AuditRecord
from .._text import text
from ._rows import format_time, parse_time, where

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from ._sql import SqlDatabase

_NAMES: Final = (
    "chain",
    "seq",
    "at",
    "key_id",
    "key_name",
    "action",
    "target",
    "outcome",
    "status",
    "request_id",
    "client",
    "previous_hash",
    "hash",
    "count",
    "signer",
)
_COLUMNS: Final = ", ".join(_NAMES)


@final
class AuditTables:
    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def append(
        self, chain: str, records: Sequence[AuditRecord], *, after: tuple[int, str]
    ) -> tuple[int, str] | None:
        """Insert records at the end of `chain` if its head (the last record's place and
        hash; `(0, GENESIS)` for none) is still `after`, in one transaction, and return None;
        else insert nothing and return the head it has now, to hash the records onto.

        Appends to one chain serialize across processes: on PostgreSQL a transaction-scoped
        advisory lock of the chain, on SQLite the write lock `BEGIN IMMEDIATE` takes.
        """
        db = self._db
        async with db.atomically("append to the audit log of"):
            if db.dialect == "postgresql":
                await db.execute_rows("SELECT pg_advisory_xact_lock(?)", (_lock_id(chain),))
            head = await self.head(chain) or (0, GENESIS)
            if head != after:
                return head
            await db.execute_many_rows(
                f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({', '.join('?' * len(_NAMES))})",
                [
                    (
                        r.chain,
                        r.seq,
                        format_time(r.at),
                        r.key_id,
                        text(r.key_name),
                        r.action,
                        text(r.target),
                        r.outcome,
                        r.status,
                        text(r.request_id),
                        text(r.client),
                        r.previous_hash,
                        r.hash,
                        r.count,
                        r.signer,
                    )
                    for r in records
                ],
            )
        return None

    async def head(self, chain: str) -> tuple[int, str] | None:
        """The last record's place and hash in `chain`, if it has any."""
        rows = await self._db.fetch_rows(
            "SELECT seq, hash FROM audit_log WHERE chain = ? ORDER BY seq DESC LIMIT 1",
            (chain,),
        )
        return (int(str(rows[0][0])), str(rows[0][1])) if rows else None

    async def read_one(self, chain: str, seq: int) -> AuditRecord | None:
        """The record at place `seq` of `chain`, if there is one."""
        found = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM audit_log WHERE chain = :chain AND seq = :seq",
            {"chain": chain, "seq": seq},
        )
        return _record(found[0]) if found else None

    async def read(
        self,
        chain: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        key_id: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[AuditRecord]:
        """The chain's records in order, filtered (`since` inclusive, `until` exclusive)."""
        values: dict[str, object] = {}
        conditions = where(
            values,
            ("chain = :chain", chain),
            ("seq > :after", after_seq),
            ("at >= :since", format_time(since)),
            ("at < :until", format_time(until)),
            ("action = :action", action),
            ("key_id = :key_id", key_id),
        )
        query = f"SELECT {_COLUMNS} FROM audit_log WHERE {conditions} ORDER BY seq"
        query += self._db.page(limit, offset, values)
        return [_record(row) for row in await self._db.fetch(query, values)]


def _record(row: Mapping[str, object]) -> AuditRecord:
    get = row.__getitem__
    at = parse_time(get("at"))
    assert at is not None
    return AuditRecord(
        chain=str(get("chain")),
        seq=int(str(get("seq"))),
        at=at,
        key_id=None if get("key_id") is None else str(get("key_id")),
        key_name=None if get("key_name") is None else str(get("key_name")),
        action=str(get("action")),
        target=str(get("target")),
        outcome=str(get("outcome")),
        status=int(str(get("status"))),
        request_id=str(get("request_id")),
        client=str(get("client")),
        previous_hash=str(get("previous_hash")),
        hash=str(get("hash")),
        count=int(str(get("count"))),
        signer=None if get("signer") is None else str(get("signer")),
    )


def _lock_id(chain: str) -> int:
    """The advisory lock of a chain's appends: a signed 64-bit number from its name."""
    digest = hashlib.sha256(b"repertory audit chain\n" + chain.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
