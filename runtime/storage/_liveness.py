"""Liveness tokens for SQLite: each live runtime holds an exclusive `flock` on a file of its own
beside the database, which the operating system releases when the process dies.

(PostgreSQL runtimes hold a session advisory lock instead; see `SqlDatabase.register_owner`.)
Blocking file calls: run these in a worker thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from pathlib import Path
from typing import final

from ._sql import sqlite_path


def new_owner_id() -> str:
    """A fresh id for a runtime that owns runs."""
    return uuid.uuid4().hex


def _lock_path(url: str, owner: str) -> Path | None:
    path = sqlite_path(url)
    if path is None:
        return None  # in memory: only this process can see it
    return Path(f"{path}.owners") / f"{owner}.lock"


@final
class SqliteOwnerLock:
    """This runtime's token: held from `acquire` until `release` or the process's death."""

    def __init__(self, url: str, owner: str) -> None:
        self._path = _lock_path(url, owner)
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None or self._path is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        os.close(fd)


def is_sqlite_owner_alive(url: str, owner: str) -> bool:
    """Whether the runtime `owner` still holds its token on the database at `url`.

    An owner whose token file is missing never got as far as writing a run, or has gone.
    """
    path = _lock_path(url, owner)
    if path is None:
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return False
