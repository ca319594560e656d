"""The REST operations: each one a handler that turns a request into runtime calls and back.

Every operation is declared once, in `OPERATIONS` (flows, runs and the cache here; tenancy's in
`_tenancy`), with what it needs (its scope, query and body models) and what it answers; the
app's routes and its OpenAPI schema are both built from that list. No handler touches the
database: the runtime's methods are messages to its actors.
"""

from __future__ import annotations

import inspect
import logging
from datetime import UTC, datetime, timedelta
from importlib import metadata
from typing import TYPE_CHECKING, Final

import anyio
import pydantic
from pydantic import AwareDatetime, BaseModel, Field

from repertory.runtime import (
    MAX_IDEMPOTENCY_KEY,
    STATE_TYPES,
    StateType,
)

from ._errors import ApiError
from ._models import (
    CacheEntryOut,
    CacheEntryPage,
    CreateFlowRun,
    FlowOut,
    FlowRunOut,
    FlowRunPage,
    Health,
    HistoryStateOut,
    InvalidateCache,
    Invalidated,
    LogOut,
    LogPage,
    TaskRunOut,
    TaskRunPage,
    Text,
    Version,
)
from ._operation import (
    Call,
    CursorPageQuery,
    Operation,
    PageQuery,
    QueryModel,
    page_query,
    paged,
)
from ._tenancy import TENANCY_OPERATIONS

if TYPE_CHECKING:
    from repertory.runtime import FlowDefinition, FlowRun

logger = logging.getLogger("repertory.gateway")
#: Read once, at import: finding a package's metadata reads files.
SERVER_VERSION: Final = metadata.version("repertory")


class ReadFlowRunQuery(QueryModel):
    wait_seconds: float = Field(
        default=0,
        ge=0,
        le=60,
        description="wait up to this long for the run to end before answering (a long poll)",
    )


class MatchQuery(QueryModel):
    match: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]*$",
        description="the runs this names, newest first: a run's exact name, a prefix of its "
        "id, or its id's last 6 or more hex digits",
    )
    limit: int = Field(default=10, ge=1, le=50)


class FlowRunQuery(CursorPageQuery):
    cursor: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,16}\.[0-9a-f-]{36}$",
        description="where the page before ended (its next_cursor): read by index, any depth",
    )
    flow_name: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    state_type: StateType | None = Field(
        default=None, description="a state type, in any case (failed, FAILED)"
    )
    state_name: str | None = Field(
        default=None,
        max_length=50,
        description="a state's name, in any case (late, Late)",
        json_schema_extra={"enum": list(STATE_TYPES)},  # the schema names them as written
    )
    newest_first: bool = Field(default=False, description="newest runs first (by creation)")
    created_after: AwareDatetime | None = Field(
        default=None, description="only runs created at or after this time (with its zone)"
    )
    created_before: AwareDatetime | None = Field(
        default=None, description="only runs created before this time (with its zone)"
    )

    @pydantic.field_validator("state_type", mode="before")
    @classmethod
    def _type_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @pydantic.field_validator("state_name")
    @classmethod
    def _name_in_any_case(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = _STATE_NAMES.get(value.casefold())
        if name is None:
            raise ValueError(f"unknown state name: one of {', '.join(STATE_TYPES)}")
        return name


_STATE_NAMES: Final = {name.casefold(): name for name in STATE_TYPES}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: How long the health check waits for the store to read the database.
HEALTH_SECONDS: Final = 2.0

# -- handlers ----------------------------------------------------------------------------------


async def health(call: Call) -> Health:
    """503 unless the runtime's store reads its database now (within HEALTH_SECONDS)."""
    with anyio.move_on_after(HEALTH_SECONDS):
        await call.runtime.check_store()
        return Health()
    raise ApiError(503, "unavailable", f"the store did not answer within {HEALTH_SECONDS} s")


async def version(call: Call) -> Version:
    return Version(version=SERVER_VERSION)


async def list_flows(call: Call) -> list[BaseModel]:
    return list(call.descriptions)


def describe_flow(flow: FlowDefinition) -> FlowOut:
    """A flow as `GET flows` lists it (built once per app: a flow never changes)."""
    options = flow.options
    try:
        schema = _parameters_schema(flow)
    except Exception:  # hints or defaults pydantic cannot describe: left undocumented
        logger.warning("cannot describe the parameters of flow %s", options.name, exc_info=True)
        schema = {}
    return FlowOut(
        name=options.name,
        version=options.version,
        description=options.description,
        parameters=schema,
    )


def _parameters_schema(flow: FlowDefinition) -> dict[str, object]:
    signature = inspect.signature(flow.fn)
    fields: dict[str, object] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind in {parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD}:
            continue
        hint = object if parameter.annotation is parameter.empty else parameter.annotation
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[name] = (hint, default)
    model = pydantic.create_model(f"{flow.options.name}_parameters", **fields)  # type: ignore[call-overload]  # field tuples built above
    schema: dict[str, object] = model.model_json_schema()
    return schema


async def create_flow_run(call: Call) -> FlowRunOut:
    body = call.body
    assert isinstance(body, CreateFlowRun)
    flow = call.flows.get(body.flow_name)
    if flow is None:
        raise ApiError(
            422,
            "unknown_flow",
            f"this server runs no flow {body.flow_name!r}",
            {"flows": sorted(call.flows)},
        )
    key = call.request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ApiError(
            422, "invalid_request", f"Idempotency-Key has 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )
    run = await call.runtime.create_flow_run(
        flow, body.parameters, workspace=call.workspace, idempotency_key=key
    )
    return FlowRunOut.of(run)


async def list_flow_runs(call: Call) -> FlowRunPage:
    query = call.query
    assert isinstance(query, FlowRunQuery)
    runs = await call.runtime.read_flow_runs(
        flow_name=query.flow_name,
        state_type=query.state_type,
        state_name=query.state_name,
        created_after=query.created_after,
        created_before=query.created_before,
        after=None if query.cursor is None else _run_after(query.cursor),
        newest_first=query.newest_first,
        limit=query.limit + 1,
        offset=query.offset,
        workspace=call.workspace,
    )
    return paged(FlowRunPage, query, runs, FlowRunOut.of, _run_cursor)


def _run_cursor(run: FlowRun) -> str:
    """Where a page of runs ended: its last run's creation (microseconds) and id."""
    return f"{round(run.created.timestamp() * 1_000_000)}.{run.id}"


def _run_after(cursor: str) -> tuple[datetime, str]:
    """The (created, id) a cursor of the schema's pattern names (at most 16 digits of
    microseconds: within the year 2286, as a datetime must be)."""
    micros, _, run_id = cursor.partition(".")
    return _EPOCH + timedelta(microseconds=int(micros)), run_id


async def read_flow_run(call: Call) -> FlowRunOut:
    query = call.query
    assert isinstance(query, ReadFlowRunQuery)
    run_id = call.run_id()
    if query.wait_seconds:
        with anyio.move_on_after(query.wait_seconds):
            return FlowRunOut.of(
                await call.runtime.wait_for_flow_run(run_id, workspace=call.workspace)
            )
    return FlowRunOut.of(await call.runtime.read_flow_run(run_id, workspace=call.workspace))


async def cancel_flow_run(call: Call) -> FlowRunOut:
    run = await call.runtime.cancel_flow_run(call.run_id(), workspace=call.workspace)
    return FlowRunOut.of(run)


async def list_task_runs(call: Call) -> TaskRunPage:
    query = page_query(call)
    run_id = call.run_id()
    await call.runtime.read_flow_run(run_id, workspace=call.workspace)  # 404 if not there
    runs = await call.runtime.read_task_runs(
        flow_run_id=run_id, limit=query.limit + 1, offset=query.offset, workspace=call.workspace
    )
    return paged(TaskRunPage, query, runs, TaskRunOut.of)


async def read_flow_run_states(call: Call) -> list[BaseModel]:
    run_id = call.run_id()
    await call.runtime.read_flow_run(run_id, workspace=call.workspace)  # 404 if not there
    states = await call.runtime.read_state_history(run_id, workspace=call.workspace)
    return [HistoryStateOut.of(state) for state in states]


async def find_flow_runs(call: Call) -> FlowRunPage:
    query = call.query
    assert isinstance(query, MatchQuery)
    found = await call.runtime.find_flow_runs(
        query.match, limit=query.limit, workspace=call.workspace
    )
    return FlowRunPage(items=[FlowRunOut.of(run) for run in found], next_offset=None)


async def find_task_runs(call: Call) -> TaskRunPage:
    query = call.query
    assert isinstance(query, MatchQuery)
    found = await call.runtime.find_task_runs(
        query.match, limit=query.limit, workspace=call.workspace
    )
    return TaskRunPage(items=[TaskRunOut.of(run) for run in found], next_offset=None)


async def read_task_run(call: Call) -> TaskRunOut:
    return TaskRunOut.of(await call.runtime.read_task_run(call.run_id(), workspace=call.workspace))


async def read_task_run_states(call: Call) -> list[BaseModel]:
    run_id = call.run_id()
    await call.runtime.read_task_run(run_id, workspace=call.workspace)  # 404 if not there
    states = await call.runtime.read_state_history(run_id, workspace=call.workspace)
    return [HistoryStateOut.of(state) for state in states]


async def read_task_run_logs(call: Call) -> LogPage:
    query = page_query(call)
    run = await call.runtime.read_task_run(call.run_id(), workspace=call.workspace)
    logs = await call.runtime.read_logs(
        flow_run_id=run.flow_run_id,
        task_run_id=run.id,
        limit=query.limit + 1,
        offset=query.offset,
        workspace=call.workspace,
    )
    return paged(LogPage, query, logs, LogOut.of)


async def read_logs(call: Call) -> LogPage:
    query = page_query(call)
    run_id = call.run_id()
    await call.runtime.read_flow_run(run_id, workspace=call.workspace)  # 404 if not there
    logs = await call.runtime.read_logs(
        flow_run_id=run_id, limit=query.limit + 1, offset=query.offset, workspace=call.workspace
    )
    return paged(LogPage, query, logs, LogOut.of)


class CacheEntryQuery(PageQuery):
    task_name: Text | None = Field(default=None, min_length=1, max_length=200)


async def list_cache_entries(call: Call) -> CacheEntryPage:
    query = call.query
    assert isinstance(query, CacheEntryQuery)
    entries = await call.runtime.read_cache_entries(
        task_name=query.task_name,
        limit=query.limit + 1,
        offset=query.offset,
        workspace=call.workspace,
    )
    return paged(CacheEntryPage, query, entries, CacheEntryOut.of)


async def invalidate_cache(call: Call) -> Invalidated:
    body = call.body
    assert isinstance(body, InvalidateCache)
    count = await call.runtime.invalidate_cache(
        key=body.key, task_name=body.task_name, workspace=call.workspace
    )
    return Invalidated(invalidated=count)


_WS: Final = "/api/workspaces/{workspace}"

OPERATIONS: Final[tuple[Operation, ...]] = (
    Operation(
        method="GET",
        path="/api/health",
        name="health",
        summary="Whether the server is up (no key needed)",
        handler=health,
        answers=Health,
        tags=("server",),
    ),
    Operation(
        method="GET",
        path="/api/version",
        name="version",
        summary="The server's version (no key needed)",
        handler=version,
        answers=Version,
        tags=("server",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/flows",
        name="list_flows",
        summary="The flows this server can run, with their parameters' JSON Schema",
        handler=list_flows,
        answers=(FlowOut,),
        scope="flows:read",
        tags=("flows",),
    ),
    Operation(
        method="POST",
        path=f"{_WS}/flow_runs",
        name="create_flow_run",
        summary="Start a run of a flow; bad parameters are a 422 naming them, and create nothing",
        handler=create_flow_run,
        answers=FlowRunOut,
        status=201,
        scope="flow_runs:write",
        body=CreateFlowRun,
        headers=(
            (
                "Idempotency-Key",
                "Makes retries safe: the same request with the same key returns the run the "
                "first one made (409 if the key was used for another request)",
            ),
        ),
        tags=("flow runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/flow_runs",
        name="list_flow_runs",
        summary="Flow runs, oldest first, filtered by flow, state and time, a page at a time",
        handler=list_flow_runs,
        answers=FlowRunPage,
        scope="flow_runs:read",
        query=FlowRunQuery,
        tags=("flow runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/flow_runs/{{id}}",
        name="read_flow_run",
        summary="One flow run; with wait_seconds, once it has ended (or that time is up)",
        handler=read_flow_run,
        answers=FlowRunOut,
        scope="flow_runs:read",
        query=ReadFlowRunQuery,
        tags=("flow runs",),
    ),
    Operation(
        method="POST",
        path=f"{_WS}/flow_runs/{{id}}/cancel",
        name="cancel_flow_run",
        summary="Cancel a live flow run; answers once it has ended (409 if it already had)",
        handler=cancel_flow_run,
        answers=FlowRunOut,
        scope="flow_runs:write",
        tags=("flow runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/flow_runs/{{id}}/task_runs",
        name="list_task_runs",
        summary="The task runs of a flow run, oldest first, a page at a time",
        handler=list_task_runs,
        answers=TaskRunPage,
        scope="flow_runs:read",
        query=PageQuery,
        tags=("flow runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/flow_runs/{{id}}/states",
        name="read_flow_run_states",
        summary="Every state of a flow run, oldest first",
        handler=read_flow_run_states,
        answers=(HistoryStateOut,),
        scope="flow_runs:read",
        tags=("flow runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/flow_runs/{{id}}/logs",
        name="read_logs",
        summary="The stored log lines of a flow run, oldest first, a page at a time",
        handler=read_logs,
        answers=LogPage,
        scope="flow_runs:read",
        query=PageQuery,
        tags=("flow runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/flow_run_matches",
        name="find_flow_runs",
        summary="The flow runs a name, an id prefix or an id's last hex digits names",
        handler=find_flow_runs,
        answers=FlowRunPage,
        scope="flow_runs:read",
        query=MatchQuery,
        tags=("flow runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/task_run_matches",
        name="find_task_runs",
        summary="The task runs a name, an id prefix or an id's last hex digits names",
        handler=find_task_runs,
        answers=TaskRunPage,
        scope="flow_runs:read",
        query=MatchQuery,
        tags=("task runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/task_runs/{{id}}",
        name="read_task_run",
        summary="One task run",
        handler=read_task_run,
        answers=TaskRunOut,
        scope="flow_runs:read",
        tags=("task runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/task_runs/{{id}}/states",
        name="read_task_run_states",
        summary="Every state of a task run, oldest first",
        handler=read_task_run_states,
        answers=(HistoryStateOut,),
        scope="flow_runs:read",
        tags=("task runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/task_runs/{{id}}/logs",
        name="read_task_run_logs",
        summary="The stored log lines of a task run, oldest first, a page at a time",
        handler=read_task_run_logs,
        answers=LogPage,
        scope="flow_runs:read",
        query=PageQuery,
        tags=("task runs",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/cache_entries",
        name="list_cache_entries",
        summary="Cached task results (without the results), oldest first, a page at a time",
        handler=list_cache_entries,
        answers=CacheEntryPage,
        scope="cache:read",
        query=CacheEntryQuery,
        tags=("cache",),
    ),
    Operation(
        method="POST",
        path=f"{_WS}/cache_entries/invalidate",
        name="invalidate_cache",
        summary="Remove the cache entry of a key, or every entry of a task; says how many went",
        handler=invalidate_cache,
        answers=Invalidated,
        scope="cache:write",
        body=InvalidateCache,
        tags=("cache",),
    ),
    *TENANCY_OPERATIONS,
)
