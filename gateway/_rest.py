"""The REST operations: each one a handler that turns a request into runtime calls and back.

Every operation is declared once, in `OPERATIONS`, with what it needs (its scope, query and
body models) and what it answers; the app's routes and its OpenAPI schema are both built from
that list. No handler touches the database: the runtime's methods are messages to its actors.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Final, final

import anyio
import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from repertory.runtime import (
    MAX_IDEMPOTENCY_KEY,
    ApiKeyNotFoundError,
    RoleExistsError,
    RunNotFoundError,
    StateType,
    is_run_id,
)

from ._errors import ApiError
from ._models import (
    MAX_PAGE,
    ApiKeyOut,
    AuditPage,
    AuditRecordOut,
    AuditVerdictOut,
    CacheEntryOut,
    CacheEntryPage,
    CreateApiKey,
    CreatedApiKey,
    CreatedWorkspace,
    CreateFlowRun,
    CreateRole,
    CreateWorkspace,
    DeletedWorkspace,
    FlowOut,
    FlowRunOut,
    FlowRunPage,
    Health,
    InvalidateCache,
    Invalidated,
    LogOut,
    LogPage,
    RenameWorkspace,
    RoleOut,
    StateOut,
    TaskRunOut,
    TaskRunPage,
    Version,
    WorkspaceOut,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from starlette.requests import Request

    from repertory.runtime import ApiKey, FlowDefinition, Runtime

logger = logging.getLogger("repertory.gateway")
#: Read once, at import: finding a package's metadata reads files.
SERVER_VERSION: Final = metadata.version("repertory")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """What a handler gets: the runtime, the request, and what was checked before it."""

    runtime: Runtime
    flows: Mapping[str, FlowDefinition]
    descriptions: Sequence[FlowOut]
    request: Request
    key: ApiKey | None
    workspace: str
    query: BaseModel | None
    body: BaseModel | None

    def path(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    def run_id(self) -> str:
        """The run id in the path; one of another shape names no run (a 404, as a missing run)."""
        run_id = self.path("id")
        if not is_run_id(run_id):
            raise RunNotFoundError(run_id[:100], self.workspace)
        return run_id


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One REST operation, as routed and as documented."""

    method: str
    path: str
    name: str
    summary: str
    handler: Callable[[Call], Awaitable[BaseModel | list[BaseModel]]]
    answers: type[BaseModel] | tuple[type[BaseModel]]  # a tuple of one: a list of them
    status: int = 200
    #: What the key must be allowed to do (issue 6 checks roles against it); None: no key.
    scope: str | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    #: Optional request headers it reads: (name, description).
    headers: tuple[tuple[str, str], ...] = ()
    #: Server-wide, not of the key's workspace: a `{workspace}` in its path is its target.
    is_server_level: bool = False
    #: When it answers 409, if it can.
    conflict: str | None = None
    tags: tuple[str, ...] = field(default=())


class _Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PageQuery(_Query):
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class ReadFlowRunQuery(_Query):
    wait_seconds: float = Field(
        default=0,
        ge=0,
        le=60,
        description="wait up to this long for the run to end before answering (a long poll)",
    )


class FlowRunQuery(PageQuery):
    flow_name: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    state_type: StateType | None = None
    created_after: AwareDatetime | None = Field(
        default=None, description="only runs created at or after this time (with its zone)"
    )
    created_before: AwareDatetime | None = Field(
        default=None, description="only runs created before this time (with its zone)"
    )


def _next_offset(query: PageQuery, count: int) -> int | None:
    """Pages are read one item long: the extra item says whether another page follows."""
    return query.offset + query.limit if count > query.limit else None


def _page_query(call: Call) -> PageQuery:
    assert isinstance(call.query, PageQuery)
    return call.query


# -- handlers ----------------------------------------------------------------------------------


async def health(call: Call) -> Health:
    return Health()


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
        created_after=query.created_after,
        created_before=query.created_before,
        limit=query.limit + 1,
        offset=query.offset,
        workspace=call.workspace,
    )
    return FlowRunPage(
        items=[FlowRunOut.of(run) for run in runs[: query.limit]],
        next_offset=_next_offset(query, len(runs)),
    )


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
    query = _page_query(call)
    run_id = call.run_id()
    await call.runtime.read_flow_run(run_id, workspace=call.workspace)  # 404 if not there
    runs = await call.runtime.read_task_runs(
        flow_run_id=run_id, limit=query.limit + 1, offset=query.offset, workspace=call.workspace
    )
    return TaskRunPage(
        items=[TaskRunOut.of(run) for run in runs[: query.limit]],
        next_offset=_next_offset(query, len(runs)),
    )


async def read_flow_run_states(call: Call) -> list[BaseModel]:
    run_id = call.run_id()
    await call.runtime.read_flow_run(run_id, workspace=call.workspace)  # 404 if not there
    states = await call.runtime.read_state_history(run_id, workspace=call.workspace)
    return [StateOut.of(state) for state in states]


async def read_logs(call: Call) -> LogPage:
    query = _page_query(call)
    run_id = call.run_id()
    await call.runtime.read_flow_run(run_id, workspace=call.workspace)  # 404 if not there
    logs = await call.runtime.read_logs(
        flow_run_id=run_id, limit=query.limit + 1, offset=query.offset, workspace=call.workspace
    )
    return LogPage(
        items=[LogOut.of(log) for log in logs[: query.limit]],
        next_offset=_next_offset(query, len(logs)),
    )


class CacheEntryQuery(PageQuery):
    task_name: str | None = Field(default=None, min_length=1, max_length=200)


async def list_cache_entries(call: Call) -> CacheEntryPage:
    query = call.query
    assert isinstance(query, CacheEntryQuery)
    entries = await call.runtime.read_cache_entries(
        task_name=query.task_name,
        limit=query.limit + 1,
        offset=query.offset,
        workspace=call.workspace,
    )
    return CacheEntryPage(
        items=[CacheEntryOut.of(entry) for entry in entries[: query.limit]],
        next_offset=_next_offset(query, len(entries)),
    )


async def invalidate_cache(call: Call) -> Invalidated:
    body = call.body
    assert isinstance(body, InvalidateCache)
    count = await call.runtime.invalidate_cache(
        key=body.key, task_name=body.task_name, workspace=call.workspace
    )
    return Invalidated(invalidated=count)


class AuditQuery(PageQuery):
    since: AwareDatetime | None = Field(default=None, description="at or after (with a zone)")
    until: AwareDatetime | None = Field(default=None, description="before (with a zone)")
    action: str | None = Field(default=None, max_length=100, pattern=r"^[a-z_]+$")
    key_id: str | None = Field(default=None, max_length=100, pattern=r"^[0-9a-f]+$")


async def read_audit(call: Call) -> AuditPage:
    query = call.query
    assert isinstance(query, AuditQuery)
    records = await call.runtime.read_audit(
        since=query.since,
        until=query.until,
        action=query.action,
        key_id=query.key_id,
        limit=query.limit + 1,
        offset=query.offset,
        workspace=call.workspace,
    )
    return AuditPage(
        items=[AuditRecordOut.of(record) for record in records[: query.limit]],
        next_offset=_next_offset(query, len(records)),
    )


async def verify_audit(call: Call) -> AuditVerdictOut:
    verdict = await call.runtime.verify_audit(workspace=call.workspace)
    broken = verdict.first_broken
    return AuditVerdictOut(
        intact=verdict.is_intact,
        checked=verdict.checked,
        first_broken=None if broken is None else AuditRecordOut.of(broken),
    )


class DeleteWorkspaceQuery(_Query):
    force: bool = Field(default=False, description="cancel its runs in progress first")


async def list_workspaces(call: Call) -> list[BaseModel]:
    return [WorkspaceOut.of(ws) for ws in await call.runtime.read_workspaces()]


async def create_workspace(call: Call) -> CreatedWorkspace:
    body = call.body
    assert isinstance(body, CreateWorkspace)
    workspace = await call.runtime.create_workspace(body.name)
    key, secret = await call.runtime.create_api_key(
        "first owner", role="owner", workspace=workspace.name
    )
    return CreatedWorkspace(
        workspace=WorkspaceOut.of(workspace),
        owner_key=CreatedApiKey(key=ApiKeyOut.of(key), secret=secret),
    )


async def delete_workspace(call: Call) -> DeletedWorkspace:
    query = call.query
    assert isinstance(query, DeleteWorkspaceQuery)
    name = call.path("workspace")
    if name not in {ws.name for ws in await call.runtime.read_workspaces()}:
        raise ApiError(404, "not_found", f"no workspace {name[:100]!r}")
    await call.runtime.delete_workspace(name, force=query.force)
    return DeletedWorkspace(deleted=name)


async def rename_workspace(call: Call) -> WorkspaceOut:
    body = call.body
    assert isinstance(body, RenameWorkspace)
    try:
        renamed = await call.runtime.rename_workspace(call.path("workspace"), body.name)
    except LookupError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return WorkspaceOut.of(renamed)


async def list_api_keys(call: Call) -> list[BaseModel]:
    return [ApiKeyOut.of(key) for key in await call.runtime.read_api_keys(workspace=call.workspace)]


async def create_api_key(call: Call) -> CreatedApiKey:
    body = call.body
    assert isinstance(body, CreateApiKey)
    assert call.key is not None
    await _may_grant(call, body.role)
    if body.expires is not None and body.expires <= datetime.now(UTC):
        raise ApiError(422, "invalid_request", "expires is in the past")
    try:
        key, secret = await call.runtime.create_api_key(
            body.name, role=body.role, expires=body.expires, workspace=call.workspace
        )
    except ValueError as exc:  # a role the workspace does not have
        raise ApiError(422, "invalid_request", str(exc)) from None
    return CreatedApiKey(key=ApiKeyOut.of(key), secret=secret)


async def _may_grant(call: Call, role: str) -> None:
    """Raises 403 when the caller's key would make a key (or a role) that may do more."""
    assert call.key is not None
    runtime, ws = call.runtime, call.workspace
    mine = await runtime.scopes_of_role(call.key.role, workspace=ws)
    theirs = await runtime.scopes_of_role(role, workspace=ws)
    if not theirs <= mine:
        raise ApiError(
            403,
            "forbidden",
            f"a key of role {call.key.role!r} cannot grant role {role!r}, which may do more",
        )


async def list_roles(call: Call) -> list[BaseModel]:
    return [RoleOut.of(role) for role in await call.runtime.read_roles(workspace=call.workspace)]


async def create_role(call: Call) -> RoleOut:
    body = call.body
    assert isinstance(body, CreateRole)
    assert call.key is not None
    mine = await call.runtime.scopes_of_role(call.key.role, workspace=call.workspace)
    if not set(body.scopes) <= mine:
        raise ApiError(403, "forbidden", "a role may not hold scopes its maker's key has not")
    try:
        role = await call.runtime.create_role(body.name, body.scopes, workspace=call.workspace)
    except RoleExistsError:
        raise
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    return RoleOut.of(role)


async def delete_role(call: Call) -> RoleOut:
    name = call.path("name")
    roles = {role.name: role for role in await call.runtime.read_roles(workspace=call.workspace)}
    role = roles.get(name)
    if role is None or role.is_builtin:
        raise ApiError(404, "not_found", f"no custom role {name[:100]!r}")
    await call.runtime.delete_role(name, workspace=call.workspace)
    return RoleOut.of(role)


async def rotate_api_key(call: Call) -> CreatedApiKey:
    key_id = call.path("id")
    if len(key_id) > 100:
        raise ApiKeyNotFoundError(key_id[:100], call.workspace)
    key, secret = await call.runtime.rotate_api_key(key_id, workspace=call.workspace)
    return CreatedApiKey(key=ApiKeyOut.of(key), secret=secret)


async def revoke_api_key(call: Call) -> ApiKeyOut:
    key_id = call.path("id")
    if len(key_id) > 100:
        raise ApiKeyNotFoundError(key_id[:100], call.workspace)
    return ApiKeyOut.of(await call.runtime.revoke_api_key(key_id, workspace=call.workspace))


_WS: Final = "/api/workspaces/{workspace}"

OPERATIONS: Final[tuple[Operation, ...]] = (
    Operation(
        method="GET",
        path="/api/workspaces",
        name="list_workspaces",
        summary="Every workspace of the server (server admin keys only)",
        handler=list_workspaces,
        answers=(WorkspaceOut,),
        scope="workspaces:admin",
        is_server_level=True,
        tags=("workspaces",),
    ),
    Operation(
        method="POST",
        path="/api/workspaces",
        name="create_workspace",
        summary="Create a workspace; answers its first owner key, shown this once",
        handler=create_workspace,
        answers=CreatedWorkspace,
        status=201,
        scope="workspaces:admin",
        body=CreateWorkspace,
        is_server_level=True,
        conflict="A workspace of that name exists",
        tags=("workspaces",),
    ),
    Operation(
        method="POST",
        path=f"{_WS}/rename",
        name="rename_workspace",
        summary="Rename a workspace: all it holds follows, its keys go on working",
        handler=rename_workspace,
        answers=WorkspaceOut,
        scope="workspaces:admin",
        body=RenameWorkspace,
        is_server_level=True,
        conflict="A workspace has that name, or this one has runs in progress",
        tags=("workspaces",),
    ),
    Operation(
        method="DELETE",
        path=_WS,
        name="delete_workspace",
        summary="Delete a workspace and all it holds (409 while runs are in progress, unless "
        "force)",
        handler=delete_workspace,
        answers=DeletedWorkspace,
        scope="workspaces:admin",
        query=DeleteWorkspaceQuery,
        is_server_level=True,
        conflict="It has runs in progress (and force was not given)",
        tags=("workspaces",),
    ),
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
        summary="Flow runs, oldest first, filtered by flow and state type, a page at a time",
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
        answers=(StateOut,),
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
    Operation(
        method="GET",
        path=f"{_WS}/audit",
        name="read_audit",
        summary="The audit log: every mutating, refused or unauthenticated call, oldest first",
        handler=read_audit,
        answers=AuditPage,
        scope="audit:read",
        query=AuditQuery,
        tags=("audit",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/audit/verify",
        name="verify_audit",
        summary="Check the audit log's hash chain; names the first record tampered with",
        handler=verify_audit,
        answers=AuditVerdictOut,
        scope="audit:read",
        tags=("audit",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/roles",
        name="list_roles",
        summary="The roles keys may carry: the built-in ones, and the workspace's own",
        handler=list_roles,
        answers=(RoleOut,),
        scope="keys:admin",
        tags=("api keys",),
    ),
    Operation(
        method="POST",
        path=f"{_WS}/roles",
        name="create_role",
        summary="Add a custom role: a name for a set of scopes (no more than the caller's)",
        handler=create_role,
        answers=RoleOut,
        status=201,
        scope="keys:admin",
        body=CreateRole,
        conflict="The workspace has a role of that name",
        tags=("api keys",),
    ),
    Operation(
        method="DELETE",
        path=f"{_WS}/roles/{{name}}",
        name="delete_role",
        summary="Delete a custom role (409 while a key that is not revoked carries it)",
        handler=delete_role,
        answers=RoleOut,
        scope="keys:admin",
        conflict="A key that is not revoked carries it",
        tags=("api keys",),
    ),
    Operation(
        method="GET",
        path=f"{_WS}/api_keys",
        name="list_api_keys",
        summary="The workspace's API keys (never their secrets)",
        handler=list_api_keys,
        answers=(ApiKeyOut,),
        scope="keys:admin",
        tags=("api keys",),
    ),
    Operation(
        method="POST",
        path=f"{_WS}/api_keys",
        name="create_api_key",
        summary="Make an API key; its secret is in this answer only (only a hash is kept)",
        handler=create_api_key,
        answers=CreatedApiKey,
        status=201,
        scope="keys:admin",
        body=CreateApiKey,
        tags=("api keys",),
    ),
    Operation(
        method="POST",
        path=f"{_WS}/api_keys/{{id}}/rotate",
        name="rotate_api_key",
        summary="Give a key a new secret, in this answer only; the old one stops working",
        handler=rotate_api_key,
        answers=CreatedApiKey,
        scope="keys:admin",
        tags=("api keys",),
    ),
    Operation(
        method="POST",
        path=f"{_WS}/api_keys/{{id}}/revoke",
        name="revoke_api_key",
        summary="Revoke an API key: it stops working at once (revoking again changes nothing)",
        handler=revoke_api_key,
        answers=ApiKeyOut,
        scope="keys:admin",
        tags=("api keys",),
    ),
)
