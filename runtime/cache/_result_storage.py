"""Where cached results live: one small interface, `ResultStorage`, and two backends.

To add your own (an object store, say), implement the three methods and pass an instance as
`Runtime(result_storage=...)`. Its `name` is written into each cache entry, so an entry
written by one backend is never read through another.

- `LocalFileStorage` (the default): one file per result under `$REPERTORY_HOME/results`,
  written to a temporary name and renamed, so that a reader never sees half a file.
- `DatabaseStorage` (`result_storage="database"`): in the runtime's own database, which
  several nodes on one PostgreSQL share.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, final, runtime_checkable

import anyio.to_thread

from .._errors import ResultNotFoundError
from ..storage._requests import DeleteResult, PutResult, ReadResult

if TYPE_CHECKING:
    from ..storage._requests import AskStore

T = TypeVar("T")


@runtime_checkable
class ResultStorage(Protocol):
    """Stores results as bytes, by cache key; may be called from many tasks at once."""

    @property
    def name(self) -> str:
        """A short, stable name for this storage, kept in every entry it writes."""
        ...

    async def write(self, workspace: str, key: str, data: bytes) -> str:
        """Store `data` for `key` (replacing what was there); return where it lies."""
        ...

    async def read(self, location: str) -> bytes:
        """The bytes at `location`. Raises ResultNotFoundError (with the
        `location`) when there are none."""
        ...

    async def delete(self, location: str) -> None:
        """Remove what lies at `location`; nothing there is fine."""
        ...


@final
class LocalFileStorage:
    """Results as files in a directory of this machine: `<root>/<workspace hash>/<key>`."""

    name = "local"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    async def write(self, workspace: str, key: str, data: bytes) -> str:
        return await anyio.to_thread.run_sync(self._write, workspace, key, data)

    def _write(self, workspace: str, key: str, data: bytes) -> str:
        # The workspace's name could hold anything: its folder is named by a digest of it.
        folder = self.root / _digest(workspace)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / key
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", delete=False) as file:
            try:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            except BaseException:
                file.close()
                os.unlink(file.name)
                raise
        os.replace(file.name, path)
        return str(path.relative_to(self.root))

    async def read(self, location: str) -> bytes:
        return await anyio.to_thread.run_sync(self._read, location)

    def _read(self, location: str) -> bytes:
        path = self._path(location)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ResultNotFoundError(f"no result file {path}", location=location) from None

    async def delete(self, location: str) -> None:
        await anyio.to_thread.run_sync(self._delete, location)

    def _delete(self, location: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(location).unlink()

    def _path(self, location: str) -> Path:
        path = (self.root / location).resolve()
        if not path.is_relative_to(self.root.resolve()):  # a forged location stays inside
            raise ResultNotFoundError(f"no result at {location!r}", location=location)
        return path


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@final
class DatabaseStorage:
    """Results in the runtime's database (`cache_results`), through its store actor."""

    name = "database"

    def __init__(self, ask: AskStore) -> None:
        self._ask = ask

    async def write(self, workspace: str, key: str, data: bytes) -> str:
        location = f"{_digest(workspace)}/{key}"
        await self._ask(PutResult(location=location, data=data))
        return location

    async def read(self, location: str) -> bytes:
        data = await self._ask(ReadResult(location=location))
        if data is None:
            raise ResultNotFoundError("no stored result in the database", location=location)
        return data

    async def delete(self, location: str) -> None:
        await self._ask(DeleteResult(location=location))
