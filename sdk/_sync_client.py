"""`SyncClient`: the client's calls for sync code, run by an async `Client` on an event loop of
its own thread (`with get_sync_client() as client: ...`)."""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any, TypeVar, final

import anyio.from_thread

from repertory.runtime import UsageError

from ._client import get_client

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping
    from datetime import datetime
    from types import TracebackType

    from repertory.runtime import (
        ApiKey,
        AuditCheckpoint,
        AuditRecord,
        AuditVerdict,
        CacheEntry,
        FlowRun,
        LogRecord,
        State,
        StateType,
        TaskRun,
        Workspace,
    )

    from ._client import Client

T = TypeVar("T")


@final
class SyncClient:
    """The same calls for sync code, run by an async `Client` on a loop of its own thread.

    Use it with `with get_sync_client() as client: ...`.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._stack = contextlib.ExitStack()
        self._portal: anyio.from_thread.BlockingPortal | None = None

    def __enter__(self) -> SyncClient:
        with contextlib.ExitStack() as stack:  # a failed start leaves no thread behind
            portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
            stack.enter_context(portal.wrap_async_context_manager(self._client))
            self._stack = stack.pop_all()
        self._portal = portal
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._portal = None
        self._stack.__exit__(exc_type, exc, tb)

    def _run(self, call: Callable[[], Coroutine[Any, Any, T]]) -> T:
        portal = self._portal
        if portal is None:
            raise UsageError("use the client inside `with get_sync_client(...) as client:`")
        result: T = portal.call(call)
        return result

    def create_flow_run(
        self,
        flow_name: str,
        parameters: Mapping[str, object] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> FlowRun:
        """See `Client.create_flow_run`."""
        create = self._client.create_flow_run
        return self._run(
            functools.partial(create, flow_name, parameters, idempotency_key=idempotency_key)
        )

    def read_flow_run(self, flow_run_id: str) -> FlowRun:
        return self._run(functools.partial(self._client.read_flow_run, flow_run_id))

    def read_flow_runs(
        self,
        *,
        flow_name: str | None = None,
        state_type: StateType | str | None = None,
        state_name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        after: FlowRun | None = None,
        newest_first: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRun]:
        read = functools.partial(
            self._client.read_flow_runs,
            flow_name=flow_name,
            state_type=state_type,
            state_name=state_name,
            created_after=created_after,
            created_before=created_before,
            after=after,
            newest_first=newest_first,
            limit=limit,
            offset=offset,
        )
        return self._run(read)

    def wait_for_flow_run(self, flow_run_id: str, timeout: float | None = None) -> FlowRun:
        return self._run(functools.partial(self._client.wait_for_flow_run, flow_run_id, timeout))

    def cancel_flow_run(self, flow_run_id: str) -> FlowRun:
        return self._run(functools.partial(self._client.cancel_flow_run, flow_run_id))

    def read_task_runs(self, flow_run_id: str) -> list[TaskRun]:
        return self._run(functools.partial(self._client.read_task_runs, flow_run_id))

    def find_flow_runs(self, reference: str, *, limit: int = 10) -> list[FlowRun]:
        return self._run(functools.partial(self._client.find_flow_runs, reference, limit=limit))

    def find_task_runs(self, reference: str, *, limit: int = 10) -> list[TaskRun]:
        return self._run(functools.partial(self._client.find_task_runs, reference, limit=limit))

    def read_task_run(self, task_run_id: str) -> TaskRun:
        return self._run(functools.partial(self._client.read_task_run, task_run_id))

    def read_state_history(self, run_id: str) -> list[State]:
        return self._run(functools.partial(self._client.read_state_history, run_id))

    def read_task_run_logs(self, task_run_id: str, *, offset: int = 0) -> list[LogRecord]:
        read = self._client.read_task_run_logs
        return self._run(functools.partial(read, task_run_id, offset=offset))

    def read_logs(self, flow_run_id: str, *, offset: int = 0) -> list[LogRecord]:
        return self._run(functools.partial(self._client.read_logs, flow_run_id, offset=offset))

    def read_cache_entries(
        self, *, task_name: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[CacheEntry]:
        read = self._client.read_cache_entries
        return self._run(functools.partial(read, task_name=task_name, limit=limit, offset=offset))

    def invalidate_cache(self, *, key: str | None = None, task_name: str | None = None) -> int:
        invalidate = self._client.invalidate_cache
        return self._run(functools.partial(invalidate, key=key, task_name=task_name))

    def create_workspace(self, name: str) -> tuple[Workspace, str]:
        return self._run(functools.partial(self._client.create_workspace, name))

    def read_workspaces(self) -> list[Workspace]:
        return self._run(self._client.read_workspaces)

    def rename_workspace(self, name: str, new_name: str) -> Workspace:
        return self._run(functools.partial(self._client.rename_workspace, name, new_name))

    def delete_workspace(self, name: str, *, force: bool = False) -> None:
        self._run(functools.partial(self._client.delete_workspace, name, force=force))

    def read_audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        key_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
        server: bool = False,
    ) -> list[AuditRecord]:
        read = functools.partial(
            self._client.read_audit,
            server=server,
            since=since,
            until=until,
            action=action,
            key_id=key_id,
            limit=limit,
            offset=offset,
        )
        return self._run(read)

    def verify_audit(
        self,
        *,
        full: bool = False,
        checkpoint: AuditCheckpoint | None = None,
        server: bool = False,
    ) -> AuditVerdict:
        verify = functools.partial(
            self._client.verify_audit, full=full, checkpoint=checkpoint, server=server
        )
        return self._run(verify)

    def create_api_key(
        self, name: str, *, role: str = "developer", expires: datetime | None = None
    ) -> tuple[ApiKey, str]:
        """See `Client.create_api_key`."""
        create = self._client.create_api_key
        return self._run(functools.partial(create, name, role=role, expires=expires))

    def read_api_keys(self) -> list[ApiKey]:
        return self._run(self._client.read_api_keys)

    def rotate_api_key(self, key_id: str) -> tuple[ApiKey, str]:
        return self._run(functools.partial(self._client.rotate_api_key, key_id))

    def revoke_api_key(self, key_id: str) -> ApiKey:
        return self._run(functools.partial(self._client.revoke_api_key, key_id))


def get_sync_client(
    url: str | None = None, api_key: str | None = None, *, workspace: str = "default"
) -> SyncClient:
    """A client for sync code: `with get_sync_client() as client: ...` (see `get_client`)."""
    return SyncClient(get_client(url, api_key, workspace=workspace))
