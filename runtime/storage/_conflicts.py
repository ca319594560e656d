"""Which driver errors are conflicts with another writer of the database: a lock held past the
wait (SQLite's busy timeout, PostgreSQL's lock timeout), a deadlock or a serialization
failure. They are expected when processes share a database, and trying again cures them."""

from __future__ import annotations

import sqlite3
from typing import Final

from .._errors import StorageConflictError, StorageError

__all__ = ["is_conflict", "storage_error"]

#: PostgreSQL's SQLSTATEs of a conflict: serialization failure, deadlock, lock not available.
_CONFLICT_STATES: Final = frozenset({"40001", "40P01", "55P03"})


def is_conflict(error: BaseException | None) -> bool:
    """Whether `error` (or what it was raised from) is a conflict with another writer."""
    while error is not None:
        if isinstance(error, sqlite3.OperationalError):
            text = str(error)
            return "database is locked" in text or "database is busy" in text
        if getattr(error, "sqlstate", None) in _CONFLICT_STATES:  # asyncpg's errors
            return True
        error = error.__cause__
    return False


def storage_error(doing: str, error: BaseException) -> StorageError:
    """The StorageError of `error`, met while `doing` ("cannot write to database x"): a
    StorageConflictError when another writer was in the way."""
    kind = StorageConflictError if is_conflict(error) else StorageError
    return kind(f"{doing}: {error}")
