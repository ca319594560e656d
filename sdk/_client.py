"""The Python client of the REST API: `get_client()` (async) and `get_sync_client()`.

It speaks only HTTP to the gateway, through one pooled httpx client, and returns the same
records as the runtime (`FlowRun`, `TaskRun`, `State`, `LogRecord`). Requests are retried
with the kernel's exponential backoff (with jitter) when the server was unreachable, busy
(429) or unavailable (503, honouring `Retry-After`); other failures are retried only where a
retry cannot do a thing twice. Every run creation carries an idempotency key, so that a
retried POST never makes two runs. The sync client is a thin adapter over the async one.
"""

from __future__ import annotations

import math
import os
import time
import urllib.parse
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

import anyio
import anyio.from_thread
import httpx

from repertory.actors import ExponentialBackoff
from repertory.runtime import (
    ApiKey,
    AuditRecord,
    AuditVerdict,
    CacheEntry,
    FlowRun,
    LogRecord,
    State,
    StateType,
    TaskRun,
    UsageError,
    Workspace,
)

from ._errors import (
    AuthError,
    ClientError,
    ConflictError,
    NotFoundError,
    ServerError,
    ValidationError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from types import TracebackType

    from repertory.runtime import AuditCheckpoint

T = TypeVar("T")
#: A JSON object of the API's own shapes, as parsed.
Json = dict[str, Any]
Query = dict[str, str | int | float | bool | None]

DEFAULT_URL: Final = "http://127.0.0.1:4200"
#: Pauses between attempts: 0.2 s, 0.4 s, ... up to 5 s, each give or take 20%.
DEFAULT_BACKOFF: Final = ExponentialBackoff(initial=0.2, maximum=5.0, jitter=0.2)
_TERMINAL: Final = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
#: Seconds the server is asked to hold a wait; well under the read timeout.
_LONG_POLL: Final = 20
_READ_TIMEOUT: Final = 30.0
_ERRORS: Final[dict[int, type[ClientError]]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
}
_UNSENT: Final = (httpx.ConnectError, httpx.ConnectTimeout)  # the request never left


@final
class Client:
    """An async client of one server and workspace; use it with `async with`.

    Args:
        url: the server, like `http://127.0.0.1:4200`.
        api_key: an API key of the workspace.
        workspace: the workspace the calls are about.
        retries: attempts after the first, for the failures worth retrying.
        backoff: the pauses between attempts.
        transport: an httpx transport (tests pass `httpx.ASGITransport(app)`).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        workspace: str = "default",
        retries: int = 4,
        backoff: ExponentialBackoff = DEFAULT_BACKOFF,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.workspace = workspace
        self._api_key = api_key
        self._retries = retries
        self._backoff = backoff
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Client:
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self._api_key}"},
            transport=self._transport,
            timeout=httpx.Timeout(_READ_TIMEOUT, connect=5.0),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    # -- flow runs -------------------------------------------------------------------------

    async def create_flow_run(
        self,
        flow_name: str,
        parameters: Mapping[str, object] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> FlowRun:
        """Start a run of a flow the server serves (blocks until it is created).

        A key is made up when none is given, so that retries never make a second run; give
        your own to make a request idempotent across your own retries too.

        Raises:
            ValidationError: bad parameters (`details` names them) or an unknown flow.
            ConflictError: `idempotency_key` was used for another request.
        """
        body = {"flow_name": flow_name, "parameters": dict(parameters or {})}
        key = idempotency_key or uuid.uuid4().hex
        data = await self._call(
            "POST", self._path("/flow_runs"), json=body, headers={"Idempotency-Key": key}
        )
        return self._flow_run(data)

    async def read_flow_run(self, flow_run_id: str) -> FlowRun:
        """The flow run (blocks). Raises NotFoundError."""
        return self._flow_run(
            await self._call("GET", self._path(f"/flow_runs/{_quoted(flow_run_id)}"))
        )

    async def read_flow_runs(
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
        """One page of flow runs, oldest first (newest first if `newest_first`), filtered by
        flow, state type or state name (`Late`; any case) (blocks). `created_after` is
        inclusive, `created_before` exclusive; both need a time zone. The next page: pass
        the last run of this one as `after` (any depth; offsets stop at 10,000)."""
        params: Query = {"limit": limit, "offset": offset}
        if newest_first:
            params["newest_first"] = "true"
        if state_name is not None:
            params["state_name"] = state_name
        if after is not None:  # the server's cursor of a page that ended with `after`
            params["cursor"] = f"{round(after.created.timestamp() * 1_000_000)}.{after.id}"
        if flow_name is not None:
            params["flow_name"] = flow_name
        if state_type is not None:
            params["state_type"] = str(state_type)
        if created_after is not None:
            params["created_after"] = created_after.isoformat()
        if created_before is not None:
            params["created_before"] = created_before.isoformat()
        data = await self._call("GET", self._path("/flow_runs"), params=params)
        return [self._flow_run(item) for item in _items(data)]

    async def wait_for_flow_run(
        self,
        flow_run_id: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the convention clients of such APIs know
    ) -> FlowRun:
        """Wait until the run has ended and return it (blocks; long polls, no busy loop).

        Raises:
            TimeoutError: `timeout` seconds passed first.
        """
        early = 0  # answers that came back at once, the run not over (not live on that server)
        with anyio.fail_after(timeout):
            while True:
                began = time.monotonic()
                data = await self._call(
                    "GET",
                    self._path(f"/flow_runs/{_quoted(flow_run_id)}"),
                    params={"wait_seconds": _LONG_POLL},
                )
                run = self._flow_run(data)
                if str(run.state.type) in _TERMINAL:
                    return run
                if time.monotonic() - began < 1.0:
                    await anyio.sleep(self._backoff.delay(early))
                    early += 1
                else:
                    early = 0

    async def cancel_flow_run(self, flow_run_id: str) -> FlowRun:
        """Cancel a live run; returns it once it has ended (blocks).

        Raises:
            NotFoundError: no such run.
            ConflictError: it had already ended.
        """
        data = await self._call(
            "POST", self._path(f"/flow_runs/{_quoted(flow_run_id)}/cancel"), is_retry_safe=False
        )
        return self._flow_run(data)

    async def read_task_runs(self, flow_run_id: str) -> list[TaskRun]:
        """Every task run of a flow run, oldest first (blocks; reads every page)."""
        pages = self._pages(self._path(f"/flow_runs/{_quoted(flow_run_id)}/task_runs"))
        return [self._task_run(item) async for item in pages]

    async def find_flow_runs(self, reference: str, *, limit: int = 10) -> list[FlowRun]:
        """The flow runs `reference` may name, newest first (blocks): its exact name, a
        prefix of its id, or its id's last 6 or more hex digits (as tables show them)."""
        data = await self._call(
            "GET", self._path("/flow_run_matches"), params={"match": reference, "limit": limit}
        )
        return [self._flow_run(item) for item in _items(data)]

    async def find_task_runs(self, reference: str, *, limit: int = 10) -> list[TaskRun]:
        """As `find_flow_runs`, of task runs (blocks)."""
        data = await self._call(
            "GET", self._path("/task_run_matches"), params={"match": reference, "limit": limit}
        )
        return [self._task_run(item) for item in _items(data)]

    async def read_task_run(self, task_run_id: str) -> TaskRun:
        """The task run (blocks). Raises NotFoundError."""
        data = await self._call("GET", self._path(f"/task_runs/{_quoted(task_run_id)}"))
        return self._task_run(data)

    async def read_state_history(self, run_id: str) -> list[State]:
        """Every state of a flow run or a task run, oldest first (blocks). A Failed or
        Crashed one keeps its `traceback`.

        Raises:
            NotFoundError: no flow run or task run of that id.
        """
        try:
            data = await self._call("GET", self._path(f"/flow_runs/{_quoted(run_id)}/states"))
        except NotFoundError:  # not a flow run's id: a task run's?
            data = await self._call("GET", self._path(f"/task_runs/{_quoted(run_id)}/states"))
        assert isinstance(data, list)
        return [_state(item, run_id) for item in data]

    async def read_logs(self, flow_run_id: str, *, offset: int = 0) -> list[LogRecord]:
        """The stored log lines of a flow run, oldest first, from the `offset`-th on (blocks;
        reads every page). Pass how many lines you have to get only the new ones."""
        path = self._path(f"/flow_runs/{_quoted(flow_run_id)}/logs")
        return [self._log(item) async for item in self._pages(path, offset)]

    async def read_task_run_logs(self, task_run_id: str, *, offset: int = 0) -> list[LogRecord]:
        """The stored log lines of one task run, as `read_logs` gives a flow run's (blocks)."""
        path = self._path(f"/task_runs/{_quoted(task_run_id)}/logs")
        return [self._log(item) async for item in self._pages(path, offset)]

    async def read_cache_entries(
        self, *, task_name: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[CacheEntry]:
        """One page of the workspace's cache entries, oldest first (blocks). An entry's
        `location` is not sent over the API: it is empty here."""
        params: Query = {"limit": limit, "offset": offset}
        if task_name is not None:
            params["task_name"] = task_name
        data = await self._call("GET", self._path("/cache_entries"), params=params)
        return [self._cache_entry(item) for item in _items(data)]

    async def invalidate_cache(
        self, *, key: str | None = None, task_name: str | None = None
    ) -> int:
        """Remove the entry of `key`, or every entry of `task_name`; return how many went
        (blocks).

        Raises:
            ValidationError: neither or both given, or a key that is not one.
        """
        body = {"key": key, "task_name": task_name}
        data = await self._call("POST", self._path("/cache_entries/invalidate"), json=body)
        count: int = data["invalidated"]
        return count

    async def create_workspace(self, name: str) -> tuple[Workspace, str]:
        """Create a workspace; return it and the whole key of its first owner, which the
        server shows this once (blocks; needs a server admin key).

        Raises:
            ConflictError: there is one of that name.
        """
        data = await self._call("POST", "/api/workspaces", json={"name": name}, is_retry_safe=False)
        return self._workspace(data["workspace"]), data["owner_key"]["secret"]

    async def read_workspaces(self) -> list[Workspace]:
        """Every workspace of the server (blocks; needs a server admin key)."""
        data = await self._call("GET", "/api/workspaces")
        return [self._workspace(item) for item in data]

    async def rename_workspace(self, name: str, new_name: str) -> Workspace:
        """Rename a workspace; all it holds follows (blocks; needs a server admin key).

        Raises:
            ConflictError: one has that name, or this one has runs in progress.
            NotFoundError: there is none called `name`.
        """
        data = await self._call(
            "POST", f"/api/workspaces/{_quoted(name)}/rename", json={"name": new_name}
        )
        return self._workspace(data)

    async def delete_workspace(self, name: str, *, force: bool = False) -> None:
        """Delete a workspace and everything in it (blocks; needs a server admin key).

        Raises:
            ConflictError: it has runs in progress, and `force` (cancel them) was not given.
            NotFoundError: there is none of that name.
        """
        await self._call("DELETE", f"/api/workspaces/{_quoted(name)}", params={"force": force})

    async def read_audit(
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
        """One page of the workspace's audit log, oldest first (blocks; needs `audit:read`);
        with `server`, of the server's own chain (calls that proved no workspace; needs a
        server admin key)."""
        params: Query = {"limit": limit, "offset": offset}
        for name, value in (("since", since), ("until", until)):
            if value is not None:
                params[name] = value.isoformat()
        if action is not None:
            params["action"] = action
        if key_id is not None:
            params["key_id"] = key_id
        path = "/api/audit" if server else self._path("/audit")
        data = await self._call("GET", path, params=params)
        return [self._audit_record(item) for item in _items(data)]

    async def verify_audit(
        self,
        *,
        full: bool = False,
        checkpoint: AuditCheckpoint | None = None,
        server: bool = False,
    ) -> AuditVerdict:
        """Check the workspace's audit chain on the server (blocks; needs `audit:read`): from
        where the server's last check ended, or from the first record if `full`; given a
        checkpoint the server wrote, also whether records it saw were removed. With
        `server`, the server's own chain (needs a server admin key)."""
        params: Query = {"full": "true" if full else "false"}
        if checkpoint is not None:
            params["checkpoint"] = checkpoint.to_json()
        path = "/api/audit/verify" if server else self._path("/audit/verify")
        data = await self._call("GET", path, params=params)
        broken = data["first_broken"]
        return AuditVerdict(
            checked=data["checked"],
            first_broken=None if broken is None else self._audit_record(broken),
            checkpoint_problem=data.get("checkpoint_problem"),
            unsigned=data.get("unsigned", 0),
            resumed_after=data.get("resumed_after", 0),
        )

    async def create_api_key(
        self, name: str, *, role: str = "developer", expires: datetime | None = None
    ) -> tuple[ApiKey, str]:
        """Make an API key of the workspace; returns it and the whole key to send, which the
        server shows this once (blocks; needs a key allowed to manage keys).

        Raises:
            ValidationError: an unknown role, a bad name, or `expires` past or without a zone.
            AuthError: this client's key may not make keys (or not of that role).
        """
        body = {"name": name, "role": role}
        if expires is not None:
            body["expires"] = expires.isoformat()
        # Not retried once sent: a second key would be made, its secret never seen.
        data = await self._call("POST", self._path("/api_keys"), json=body, is_retry_safe=False)
        return self._key_record(data["key"]), data["secret"]

    async def read_api_keys(self) -> list[ApiKey]:
        """The workspace's API keys, oldest first, revoked ones included; never their secrets
        (blocks)."""
        data = await self._call("GET", self._path("/api_keys"))
        return [self._key_record(item) for item in data]

    async def rotate_api_key(self, key_id: str) -> tuple[ApiKey, str]:
        """Give a key a new secret; return it with the new whole key, shown this once (blocks).

        Raises:
            NotFoundError: no such key that works in the workspace.
        """
        path = self._path(f"/api_keys/{_quoted(key_id)}/rotate")
        data = await self._call("POST", path, is_retry_safe=False)
        return self._key_record(data["key"]), data["secret"]

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        """Revoke an API key by its id: it stops working at once (blocks).

        Raises:
            NotFoundError: no such key in the workspace.
        """
        data = await self._call("POST", self._path(f"/api_keys/{_quoted(key_id)}/revoke"))
        return self._key_record(data)

    # -- plumbing --------------------------------------------------------------------------

    def _path(self, suffix: str) -> str:
        return f"/api/workspaces/{self.workspace}{suffix}"

    async def _pages(self, path: str, offset: int | None = 0) -> AsyncIterator[Json]:
        while offset is not None:
            data = await self._call("GET", path, params={"limit": 200, "offset": offset})
            for item in _items(data):
                yield item
            offset = data["next_offset"]

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Query | None = None,
        headers: Mapping[str, str] | None = None,
        is_retry_safe: bool = True,
    ) -> Any:  # noqa: ANN401 - JSON: an object or a list, of the API's own shapes
        """Send a request, retrying what may be retried; the answer's JSON, or raise."""
        http = self._http
        if http is None:
            raise UsageError("use the client inside `async with get_client(...) as client:`")
        attempt = 0
        while True:
            wait: float | None = None
            try:
                response = await http.request(
                    method, path, json=json, params=params, headers=headers
                )
            except _UNSENT as exc:
                failure: ClientError = ServerError(0, "unreachable", f"{self.url}: {exc}")
                wait = self._backoff.delay(attempt)
            except httpx.TransportError as exc:
                failure = ServerError(0, "transport_error", f"{self.url}: {exc}")
                if is_retry_safe:
                    wait = self._backoff.delay(attempt)
            else:
                if response.status_code < 400:
                    return response.json()
                failure = _failure(response)
                if response.status_code in {429, 503}:
                    wait = _retry_after(response) or self._backoff.delay(attempt)
            if wait is None or attempt >= self._retries:
                raise failure
            attempt += 1
            await anyio.sleep(wait)

    def _flow_run(self, data: Json) -> FlowRun:
        return FlowRun(
            id=data["id"],
            name=data["name"],
            flow_name=data["flow_name"],
            flow_version=data["flow_version"],
            state=_state(data["state"], data["id"]),
            parameters=data["parameters"],
            run_count=data["run_count"],
            start_time=_time(data["start_time"]),
            end_time=_time(data["end_time"]),
            parent_flow_run_id=data["parent_flow_run_id"],
            parent_task_run_id=data["parent_task_run_id"],
            workspace=self.workspace,
            created=datetime.fromisoformat(data["created"]),
        )

    def _task_run(self, data: Json) -> TaskRun:
        return TaskRun(
            id=data["id"],
            name=data["name"],
            task_name=data["task_name"],
            flow_run_id=data["flow_run_id"],
            state=_state(data["state"], data["id"]),
            parameters=data["parameters"],
            tags=tuple(data["tags"]),
            run_count=data["run_count"],
            start_time=_time(data["start_time"]),
            end_time=_time(data["end_time"]),
            workspace=self.workspace,
            created=datetime.fromisoformat(data["created"]),
        )

    def _workspace(self, data: Json) -> Workspace:
        return Workspace(name=data["name"], created=datetime.fromisoformat(data["created"]))

    def _audit_record(self, data: Json) -> AuditRecord:
        return AuditRecord(
            chain=self.workspace,
            seq=data["seq"],
            at=datetime.fromisoformat(data["at"]),
            key_id=data["key_id"],
            key_name=data["key_name"],
            action=data["action"],
            target=data["target"],
            outcome=data["outcome"],
            status=data["status"],
            request_id=data["request_id"],
            client=data["client"],
            previous_hash=data["previous_hash"],
            hash=data["hash"],
            count=data.get("count", 1),
            signer=data.get("signer"),
        )

    def _cache_entry(self, data: Json) -> CacheEntry:
        return CacheEntry(
            key=data["key"],
            workspace=self.workspace,
            task_name=data["task_name"],
            created=datetime.fromisoformat(data["created"]),
            expires=_time(data["expires"]),
            size=data["size"],
            storage=data["storage"],
            location="",
            task_run_id=data["task_run_id"],
        )

    def _key_record(self, data: Json) -> ApiKey:
        return ApiKey(
            id=data["id"],
            workspace=self.workspace,
            name=data["name"],
            role=data["role"],
            created=datetime.fromisoformat(data["created"]),
            expires=_time(data["expires"]),
            revoked=_time(data["revoked"]),
        )

    def _log(self, data: Json) -> LogRecord:
        return LogRecord(
            flow_run_id=data["flow_run_id"],
            task_run_id=data["task_run_id"],
            level=data["level"],
            logger=data["logger"],
            message=data["message"],
            timestamp=datetime.fromisoformat(data["timestamp"]),
            workspace=self.workspace,
        )


def _quoted(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _items(page: Json) -> list[Json]:
    items: list[Json] = page["items"]
    return items


def _state(data: Json, run_id: str) -> State:
    return State(
        type=StateType(data["type"]),
        name=data["name"],
        run_id=run_id,
        message=data["message"],
        timestamp=datetime.fromisoformat(data["timestamp"]),
        _traceback=data.get("traceback"),
    )


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _failure(response: httpx.Response) -> ClientError:
    try:
        body = response.json()
        code, message = str(body["code"]), str(body["message"])
        details, request_id = body.get("details") or {}, body.get("request_id")
    except (ValueError, KeyError, TypeError):  # not our error shape (a proxy's page, say)
        code, message, details, request_id = "http_error", response.text[:200], {}, None
    kind = _ERRORS.get(response.status_code, ServerError)
    return kind(response.status_code, code, message, details, request_id)


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (the HTTP-date form is rare from a server like ours)."""
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), 60.0) if math.isfinite(seconds) else None


def get_client(
    url: str | None = None, api_key: str | None = None, *, workspace: str = "default"
) -> Client:
    """An async client: `async with get_client() as client: ...`.

    `url` defaults to `$REPERTORY_API_URL` (else http://127.0.0.1:4200), `api_key` to
    `$REPERTORY_API_KEY`.

    Raises:
        UsageError: no API key given or set.
    """
    key = api_key or os.environ.get("REPERTORY_API_KEY")
    if not key:
        raise UsageError("an API key is needed: pass api_key= or set REPERTORY_API_KEY")
    return Client(
        url or os.environ.get("REPERTORY_API_URL") or DEFAULT_URL, key, workspace=workspace
    )
