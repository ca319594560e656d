"""The workspaces table, and removing a workspace's data from every table. Reached as
`SqlDatabase.workspaces`, through the store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final, final

from .._tenancy_records import Role, Workspace
from ._rows import format_time, time_from

if TYPE_CHECKING:
    from datetime import datetime

    from ._sql import SqlDatabase

#: Every table that holds a workspace's data, and the column that names the workspace (the
#: statements below put these names, never any input, into their SQL).
WORKSPACE_DATA: Final = (
    ("states", "workspace"),
    ("logs", "workspace"),
    ("task_runs", "workspace"),
    ("flow_runs", "workspace"),
    ("idempotency_keys", "workspace"),
    ("task_run_results", "workspace"),
    ("cache_entries", "workspace"),
    ("api_keys", "workspace"),
    ("roles", "workspace"),
    ("audit_log", "chain"),
    ("workspaces", "name"),
)


@final
class WorkspaceTables:
    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def create(self, workspace: Workspace) -> bool:
        """Add the workspace; False if one of that name exists already."""
        async with self._db.atomically("create a workspace in"):
            rows = await self._db.fetch_rows(
                "SELECT name FROM workspaces WHERE name = ?", (workspace.name,)
            )
            if rows:
                return False
            await self._db.execute_rows(
                "INSERT INTO workspaces (name, created) VALUES (?, ?)",
                (workspace.name, format_time(workspace.created)),
            )
        return True

    async def read_all(self) -> list[Workspace]:
        rows = await self._db.fetch_rows("SELECT name, created FROM workspaces ORDER BY name")
        return [Workspace(name=str(name), created=time_from(created)) for name, created in rows]

    async def exists(self, name: str) -> bool:
        return bool(await self._db.fetch_rows("SELECT 1 FROM workspaces WHERE name = ?", (name,)))

    async def delete(self, name: str) -> None:
        """Remove the workspace and all its data, in one transaction."""
        async with self._db.atomically("delete a workspace from"):
            for table, column in WORKSPACE_DATA:
                await self._db.execute_rows(f"DELETE FROM {table} WHERE {column} = ?", (name,))

    async def create_role(self, workspace: str, role: Role, created: datetime) -> bool:
        """Add a custom role; False if the workspace has one of that name already."""
        async with self._db.atomically("create a role in"):
            if await self._db.fetch_rows(
                "SELECT 1 FROM roles WHERE workspace = ? AND name = ?", (workspace, role.name)
            ):
                return False
            await self._db.execute_rows(
                "INSERT INTO roles (workspace, name, scopes, created) VALUES (?, ?, ?, ?)",
                (workspace, role.name, json.dumps(sorted(role.scopes)), format_time(created)),
            )
        return True

    async def read_roles(self, workspace: str) -> list[Role]:
        rows = await self._db.fetch_rows(
            "SELECT name, scopes FROM roles WHERE workspace = ? ORDER BY name", (workspace,)
        )
        return [
            Role(name=str(name), scopes=frozenset(json.loads(str(scopes)))) for name, scopes in rows
        ]

    async def delete_role(self, workspace: str, name: str) -> str:
        """ "deleted", "missing", or "in use" (by a key that still works or may again)."""
        async with self._db.atomically("delete a role from"):
            if not await self._db.fetch_rows(
                "SELECT 1 FROM roles WHERE workspace = ? AND name = ?", (workspace, name)
            ):
                return "missing"
            if await self._db.fetch_rows(
                "SELECT 1 FROM api_keys WHERE workspace = ? AND role = ? AND revoked IS NULL",
                (workspace, name),
            ):
                return "in use"
            await self._db.execute_rows(
                "DELETE FROM roles WHERE workspace = ? AND name = ?", (workspace, name)
            )
        return "deleted"

    async def rename(self, old: str, new: str) -> str:
        """Give the workspace and all its data the new name, in one transaction: "renamed",
        "missing" (no workspace `old`) or "taken" (`new` names a workspace, or data of one
        never created as an object, such as an embedded runtime's)."""
        async with self._db.atomically("rename a workspace in"):
            if not await self._db.fetch_rows("SELECT 1 FROM workspaces WHERE name = ?", (old,)):
                return "missing"
            for table, column in WORKSPACE_DATA:  # a name in use, with a row or without
                if await self._db.fetch_rows(
                    f"SELECT 1 FROM {table} WHERE {column} = ? LIMIT 1",
                    (new,),
                ):
                    return "taken"
            for table, column in WORKSPACE_DATA:
                await self._db.execute_rows(
                    f"UPDATE {table} SET {column} = ? WHERE {column} = ?",
                    (new, old),
                )
        return "renamed"
