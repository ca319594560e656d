"""What every REST operation is made of: the `Operation` that declares it, the `Call` its
handler gets, and the query models and paging they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeVar, final

from pydantic import BaseModel, ConfigDict, Field

from repertory.runtime import RunNotFoundError
from repertory.runtime.lowlevel import is_run_id

from ._models import MAX_PAGE

#: The deepest offset a listing takes: a page that deep reads and drops every item before it.
MAX_OFFSET: Final = 10_000

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from starlette.requests import Request

    from repertory.runtime import ApiKey, FlowDefinition, Runtime

    from ._models import FlowOut

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")


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


class QueryModel(BaseModel):
    """A query string's model: nothing unknown accepted."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PageQuery(QueryModel):
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class CursorPageQuery(PageQuery):
    """A listing that may grow without bound (a workspace's runs, its audit log): offsets
    only so deep, cursors at any depth."""

    offset: int = Field(
        default=0,
        ge=0,
        le=MAX_OFFSET,
        description=f"items to skip (up to {MAX_OFFSET}; deeper, page by cursor)",
    )


def next_offset(query: PageQuery, count: int) -> int | None:
    """Pages are read one item long: the extra item says whether another page follows."""
    return query.offset + query.limit if count > query.limit else None


def page_query(call: Call) -> PageQuery:
    assert isinstance(call.query, PageQuery)
    return call.query


def paged(
    page: Callable[..., P],
    query: PageQuery,
    found: Sequence[T],
    out: Callable[[T], BaseModel],
    cursor: Callable[[T], str] | None = None,
) -> P:
    """The answer of a listing that read `query.limit + 1` items: the extra one, if any, says
    that another page follows (and, with `cursor`, where it starts)."""
    items = [out(item) for item in found[: query.limit]]
    following = next_offset(query, len(found))
    if cursor is None:
        return page(items=items, next_offset=following)
    next_cursor = None if following is None else cursor(found[query.limit - 1])
    return page(items=items, next_offset=following, next_cursor=next_cursor)
