"""The REST operations of tenancy: workspaces, their API keys and roles, and their audit log.
Each, as every operation, declared once (`TENANCY_OPERATIONS`) with its scope and models."""

from __future__ import annotations

from typing import Final

from pydantic import AwareDatetime, BaseModel, Field

from repertory.runtime import ApiKey, ApiKeyNotFoundError, AuditCheckpoint, RoleExistsError

from ._errors import ApiError
from ._models import (
    ApiKeyOut,
    AuditPage,
    AuditRecordOut,
    AuditVerdictOut,
    CreateApiKey,
    CreatedApiKey,
    CreatedWorkspace,
    CreateRole,
    CreateWorkspace,
    DeletedWorkspace,
    RenameWorkspace,
    RoleOut,
    Text,
    WorkspaceOut,
)
from ._operation import Call, CursorPageQuery, Operation, QueryModel, paged

_WS: Final = "/api/workspaces/{workspace}"


class AuditQuery(CursorPageQuery):
    cursor: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,18}$",
        description="where the page before ended (its next_cursor): read by index, any depth",
    )
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
        after_seq=int(query.cursor or 0),  # the schema's pattern: digits only
        limit=query.limit + 1,
        offset=query.offset,
        workspace=call.workspace,
    )
    return paged(AuditPage, query, records, AuditRecordOut.of, lambda r: str(r.seq))


class VerifyQuery(QueryModel):
    full: bool = Field(default=False, description="from the first record, not the last verified")
    checkpoint: Text | None = Field(
        default=None,
        max_length=2_000,
        description="a checkpoint line the server wrote (JSON): is every record it saw there?",
    )


async def verify_audit(call: Call) -> AuditVerdictOut:
    query = call.query
    assert isinstance(query, VerifyQuery)
    checkpoint, problem = None, None
    if query.checkpoint is not None:
        try:
            checkpoint = AuditCheckpoint.from_json(query.checkpoint)
        except ValueError as exc:  # it vouches for nothing: the verdict says so
            problem = str(exc)
    verdict = await call.runtime.verify_audit(
        workspace=call.workspace, full=query.full, checkpoint=checkpoint
    )
    broken = verdict.first_broken
    problem = problem or verdict.checkpoint_problem
    return AuditVerdictOut(
        intact=verdict.is_intact and problem is None,
        checked=verdict.checked,
        first_broken=None if broken is None else AuditRecordOut.of(broken),
        checkpoint_problem=problem,
        unsigned=verdict.unsigned,
        resumed_after=verdict.resumed_after,
    )


class DeleteWorkspaceQuery(QueryModel):
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
    if body.expires is not None and body.expires <= call.runtime.clock.utc_now():
        raise ApiError(422, "invalid_request", "expires is in the past")
    try:
        key, secret = await call.runtime.create_api_key(
            body.name, role=body.role, expires=body.expires, workspace=call.workspace
        )
    except ValueError as exc:  # a role the workspace does not have
        raise ApiError(422, "invalid_request", str(exc)) from None
    return CreatedApiKey(key=ApiKeyOut.of(key), secret=secret)


async def _may_grant(call: Call, role: str, *, doing: str = "grant") -> None:
    """Raises 403 when the caller's key would make (or manage) a key that may do more."""
    assert call.key is not None
    runtime, ws = call.runtime, call.workspace
    mine = await runtime.scopes_of_role(call.key.role, workspace=ws)
    theirs = await runtime.scopes_of_role(role, workspace=ws)
    if not theirs <= mine:
        raise ApiError(
            403,
            "forbidden",
            f"a key of role {call.key.role!r} cannot {doing} role {role!r}, which may do more",
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
    target = await _key_the_caller_may_manage(call)
    key, secret = await call.runtime.rotate_api_key(target.id, workspace=call.workspace)
    return CreatedApiKey(key=ApiKeyOut.of(key), secret=secret)


async def revoke_api_key(call: Call) -> ApiKeyOut:
    target = await _key_the_caller_may_manage(call)
    return ApiKeyOut.of(await call.runtime.revoke_api_key(target.id, workspace=call.workspace))


async def _key_the_caller_may_manage(call: Call) -> ApiKey:
    """The key the path names, if the caller could have made it: rotating a key hands out
    its power, and revoking one takes it from its holder, so both need what creating needs
    (a server admin key only from a server admin key). 404 if there is no such key."""
    assert call.key is not None
    key_id = call.path("id")[:100]
    keys = await call.runtime.read_api_keys(workspace=call.workspace)
    target = next((key for key in keys if key.id == key_id), None)
    if target is None:
        raise ApiKeyNotFoundError(key_id, call.workspace)
    if target.is_server_admin and not call.key.is_server_admin:
        raise ApiError(
            403, "forbidden", "only a server admin key may rotate or revoke a server admin key"
        )
    await _may_grant(call, target.role, doing="rotate or revoke a key of")
    return target


TENANCY_OPERATIONS: Final[tuple[Operation, ...]] = (
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
        summary="Check the audit log's chain; names the first record tampered with",
        handler=verify_audit,
        answers=AuditVerdictOut,
        scope="audit:read",
        query=VerifyQuery,
        tags=("audit",),
    ),
    Operation(
        method="GET",
        path="/api/audit",
        name="read_server_audit",
        summary="The server's own audit log: calls that proved no workspace (server admins)",
        handler=read_audit,
        answers=AuditPage,
        scope="workspaces:admin",
        query=AuditQuery,
        is_server_level=True,
        tags=("audit",),
    ),
    Operation(
        method="GET",
        path="/api/audit/verify",
        name="verify_server_audit",
        summary="Check the server's own audit chain (server admins)",
        handler=verify_audit,
        answers=AuditVerdictOut,
        scope="workspaces:admin",
        query=VerifyQuery,
        is_server_level=True,
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
