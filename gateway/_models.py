"""The REST API's bodies: pydantic models that validate requests and document responses.

The OpenAPI schema is generated from these same models, so what is validated is what is
documented. They stop at the gateway: handlers turn them into runtime calls and back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from repertory.runtime import (
    SCOPES,
    Role,
    StateType,
)

#: Names of flows, workspaces and keys in paths and bodies.
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
#: Free text in queries and bodies. No NUL: the edge refuses it before validation (no
#: database stores it), and the schema says so, for clients and the fuzz run alike.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
#: A scope a key's role may hold.
Scope = Literal[
    "flows:read",
    "flow_runs:read",
    "flow_runs:write",
    "cache:read",
    "cache:write",
    "keys:admin",
    "audit:read",
    "workspace:admin",
]
#: The most items one page may hold.
MAX_PAGE: int = 200


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Out(_Model):
    """An answer's model of a runtime record, which has (at least) the same fields."""

    @classmethod
    def of(cls, record: object) -> Self:
        # Read by pydantic in one call: a third cheaper than passing each field along,
        # which counts on a page of 200 runs.
        return cls.model_validate(record, from_attributes=True)


class StateOut(_Out):
    type: StateType
    name: str
    message: str | None
    timestamp: datetime


class HistoryStateOut(StateOut):
    """A state of a run's history: a Failed or Crashed one keeps its exception's traceback."""

    traceback: str | None


class FlowRunOut(_Out):
    id: str
    name: str
    flow_name: str
    flow_version: str | None
    state: StateOut
    parameters: dict[str, Any]
    run_count: int
    start_time: datetime | None
    end_time: datetime | None
    parent_flow_run_id: str | None
    parent_task_run_id: str | None
    created: datetime


class TaskRunOut(_Out):
    id: str
    name: str
    task_name: str
    flow_run_id: str
    state: StateOut
    parameters: dict[str, Any]
    tags: list[str]
    run_count: int
    start_time: datetime | None
    end_time: datetime | None
    created: datetime


class LogOut(_Out):
    flow_run_id: str
    task_run_id: str | None
    level: int
    logger: str
    message: str
    timestamp: datetime


class FlowOut(_Model):
    name: str
    version: str | None
    description: str | None
    parameters: dict[str, Any] = Field(description="JSON Schema of the flow's parameters")


class ApiKeyOut(_Out):
    """An API key as listed: never its secret."""

    id: str
    name: str
    role: str
    created: datetime
    expires: datetime | None
    revoked: datetime | None


class CreateApiKey(_Model):
    """A request for a new API key of the workspace."""

    name: Text = Field(min_length=1, max_length=200)
    role: Name = Field(
        description="a built-in role (owner, admin, developer, runner, viewer) or a custom "
        "role of the workspace"
    )
    expires: AwareDatetime | None = Field(
        default=None, description="when the key stops working; never when absent"
    )


class CreatedApiKey(_Model):
    """A new key: `secret` is the whole key to send as `Authorization: Bearer <secret>`,
    shown this once (only its hash is kept)."""

    key: ApiKeyOut
    secret: str


class CreateFlowRun(_Model):
    """A request to run a flow the server serves."""

    flow_name: Name
    parameters: dict[str, Any] = Field(default_factory=dict)


class FlowRunPage(_Model):
    items: list[FlowRunOut]
    next_offset: int | None = Field(description="offset of the next page; null on the last")
    next_cursor: str | None = Field(
        default=None, description="cursor of the next page (any depth); null on the last"
    )


class TaskRunPage(_Model):
    items: list[TaskRunOut]
    next_offset: int | None


class LogPage(_Model):
    items: list[LogOut]
    next_offset: int | None


class CacheEntryOut(_Out):
    """A cached task result as the index holds it (the result itself is not sent)."""

    key: str
    task_name: str
    created: datetime
    expires: datetime | None
    size: int = Field(description="bytes, as stored")
    storage: str = Field(description="the result storage that holds it")
    task_run_id: str = Field(description="the task run that computed it")


class CacheEntryPage(_Model):
    items: list[CacheEntryOut]
    next_offset: int | None


class InvalidateCache(_Model):
    """Which entries to remove: the one of `key`, or every one of `task_name`."""

    key: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    task_name: Text | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_of_them(self) -> InvalidateCache:
        if (self.key is None) == (self.task_name is None):
            raise ValueError("give key or task_name, one of them")
        return self


class Invalidated(_Model):
    invalidated: int = Field(description="how many entries went")


class AuditRecordOut(_Out):
    """One audited call: who (the key's id and name, never its secret), what, how it ended."""

    seq: int = Field(description="its place in the workspace's chain, from 1")
    at: datetime
    key_id: str | None
    key_name: str | None
    action: str
    target: str
    outcome: Literal["ok", "failed", "denied", "unauthenticated", "client_closed"]
    status: int
    request_id: str
    client: str
    previous_hash: str
    hash: str
    count: int = Field(default=1, description="calls it stands for (refusals summed up)")
    signer: str | None = Field(
        default=None, description="the id of the key whose HMAC the hash is (none: SHA-256)"
    )


class AuditPage(_Model):
    items: list[AuditRecordOut]
    next_offset: int | None
    next_cursor: str | None = Field(
        default=None, description="cursor of the next page (any depth); null on the last"
    )


class AuditVerdictOut(_Model):
    intact: bool
    checked: int = Field(description="records that fit, from the first")
    first_broken: AuditRecordOut | None = Field(
        description="the first record that was edited, removed or moved, if any"
    )
    checkpoint_problem: str | None = Field(
        default=None,
        description="how the chain differs from the checkpoint given (records removed, a "
        "signature that does not fit, not a checkpoint), if it does",
    )
    resumed_after: int = Field(
        default=0,
        description="records up to this place fitted at an earlier check and were not read "
        "again (full=true reads them all)",
    )
    unsigned: int = Field(
        default=0,
        description="records checked that carry a plain hash, from before audit keys: they "
        "link, but anyone who could write the database could have made them",
    )


class WorkspaceOut(_Out):
    name: str
    created: datetime


class CreateWorkspace(_Model):
    name: Name


class CreatedWorkspace(_Model):
    """A new workspace and its first owner key, whose secret is in this answer only."""

    workspace: WorkspaceOut
    owner_key: CreatedApiKey


class RenameWorkspace(_Model):
    name: Name = Field(description="the new name")


class DeletedWorkspace(_Model):
    deleted: str


class RoleOut(_Model):
    name: str
    scopes: list[str]
    builtin: bool

    @classmethod
    def of(cls, role: Role) -> RoleOut:
        return cls(name=role.name, scopes=sorted(role.scopes), builtin=role.is_builtin)


class CreateRole(_Model):
    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=len(SCOPES))


class Health(_Model):
    status: Literal["ok"] = "ok"


class Version(_Model):
    version: str
    api: str = "v1"


class ErrorOut(_Model):
    """Every error the API answers, whatever its status."""

    code: str = Field(description="stable, machine-readable: not_found, invalid_request, ...")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    request_id: str
