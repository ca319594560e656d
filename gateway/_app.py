"""`create_app`: the Starlette app of the REST API, over a running `Runtime`.

Every request gets an id (answered in `X-Request-Id`, and in every error body); a request to
an `/api` route other than health and version needs an API key; bodies and query strings are
validated by the operation's models before its handler runs; the audit trail records what
changes and what is refused.
"""

from __future__ import annotations

import functools
import html
import json
import math
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NoReturn, final

import pydantic
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from repertory.runtime.lowlevel import is_storable

from ._audit_trail import STATE_KEY as AUDIT_STATE_KEY
from ._audit_trail import AuditContext, AuditTrail
from ._auth import authenticate, authorize, workspace_of
from ._errors import ApiError, BodyTooLargeError, NotAuthenticatedError, exception_handlers
from ._limits import Guard, Limits
from ._openapi import build_openapi
from ._operation import Call, Operation
from ._rest import OPERATIONS, describe_flow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pydantic import BaseModel
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from repertory.runtime import FlowDefinition, Runtime

    from ._models import FlowOut

#: The largest request body accepted, in bytes.
MAX_BODY: Final = 1 << 20
#: The most problems a 422 lists (it says how many there were).
MAX_PROBLEMS: Final = 20
UNSTORABLE: Final = "holds a NUL character or a lone surrogate"
DEFAULT_LIMITS: Final = Limits()


def create_app(
    runtime: Runtime,
    *,
    flows: Iterable[FlowDefinition] = (),
    max_body: int = MAX_BODY,
    limits: Limits = DEFAULT_LIMITS,
) -> Starlette:
    """The REST API of `runtime`, which must be running (and outlive the app).

    Args:
        runtime: the runtime every request is answered by.
        flows: the flows that runs may be created of, by name.
        max_body: the largest request body accepted, in bytes (413 beyond).
        limits: requests per key, failed authentications per client address (429 beyond).
    """
    by_name = {flow.options.name: flow for flow in flows}
    served = _Served(
        runtime=runtime,
        flows=by_name,
        descriptions=tuple(describe_flow(flow) for flow in by_name.values()),
        max_body=max_body,
        guard=Guard(limits, clock=runtime.clock),
    )
    routes = [
        Route(
            operation.path,
            functools.partial(_endpoint, operation, served),
            methods=[operation.method],
            name=operation.name,
        )
        for operation in OPERATIONS
    ]
    schema = build_openapi(OPERATIONS, flow_names=sorted(by_name))
    docs = _docs_page(schema)
    # Like every /api route but health and version, they need a key: they name the flows.
    routes += [
        Route(
            "/api/openapi.json",
            functools.partial(_documentation, served, lambda: JSONResponse(schema)),
            methods=["GET"],
        ),
        Route(
            "/api/docs",
            functools.partial(_documentation, served, lambda: HTMLResponse(docs)),
            methods=["GET"],
        ),
    ]
    app = Starlette(routes=routes, exception_handlers=exception_handlers)
    app.add_middleware(AuditTrail, runtime=runtime)
    app.add_middleware(_RequestIds)  # added last: outermost, so the audit trail has the id
    return app


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class _Served:
    """What every endpoint of one app shares."""

    runtime: Runtime
    flows: dict[str, FlowDefinition]
    descriptions: tuple[FlowOut, ...]
    max_body: int
    guard: Guard


async def _endpoint(operation: Operation, served: _Served, request: Request) -> Response:
    runtime = served.runtime
    key = None
    workspace = ""
    audit = AuditContext(  # the path as sent: `request.url` would parse the Host header too
        action=operation.name, is_mutating=operation.method != "GET", target=request.scope["path"]
    )
    if operation.scope is not None:
        request.scope.setdefault("state", {})[AUDIT_STATE_KEY] = audit
        try:
            audit.key = key = await authenticate(runtime, request)
        except NotAuthenticatedError:
            served.guard.failed_authentication(request.client.host if request.client else "-")
            raise
        if operation.is_server_level:
            workspace = request.path_params.get("workspace", "")
        else:
            try:
                workspace = workspace_of(key, request)
            except ApiError:
                audit.is_foreign = True
                raise
        await authorize(runtime, key, operation.scope)
        served.guard.request(key.id)
    _refuse_unstorable(request.path_params, "path")
    query = None
    if operation.query is not None:
        given = dict(request.query_params)  # a name given twice: its last value
        _refuse_unstorable(given, "query")
        query = _validate(operation.query, given, "query")
    body = None
    if operation.body is not None:
        data = await _json_body(request, served.max_body)
        _refuse_unstorable(data, "body")
        body = _validate(operation.body, data, "body")
    call = Call(
        runtime=runtime,
        flows=served.flows,
        descriptions=served.descriptions,
        request=request,
        key=key,
        workspace=workspace,
        query=query,
        body=body,
    )
    result = await operation.handler(call)
    if operation.status == 201:
        audit.target += f" -> {_created(result)}"
    # Straight to JSON bytes by pydantic's serializer: a third of what dumping to Python
    # objects and encoding those with `json` costs, on a page of 200 runs as on one.
    if isinstance(result, list):
        content = b"[" + b",".join(_json(item) for item in result) + b"]"
    else:
        content = _json(result)
    return Response(content, status_code=operation.status, media_type="application/json")


def _json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


async def _documentation(
    served: _Served, answer: Callable[[], Response], request: Request
) -> Response:
    """The schema or the docs page, for any working key."""
    try:
        await authenticate(served.runtime, request)
    except NotAuthenticatedError:
        served.guard.failed_authentication(request.client.host if request.client else "-")
        raise
    return answer()


def _created(result: object) -> str:
    """What a 201 made, named for the audit log: its id, or its name."""
    for holder in (result, getattr(result, "key", None), getattr(result, "workspace", None)):
        for field in ("id", "name"):
            value = getattr(holder, field, None)
            if isinstance(value, str):
                return value
    return "?"


def _validate(model: type[BaseModel], data: object, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems: list[tuple[Iterable[str], str]] = [
            (tuple(str(part) for part in error["loc"]), error["msg"])
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise _invalid(where, problems) from None


def _invalid(where: str, problems: list[tuple[Iterable[str], str]]) -> ApiError:
    """A 422 listing the first MAX_PROBLEMS problems (`at`, a path; `problem`) and how many
    there were: a request with thousands of bad parameters gets a short answer."""
    listed = [{"at": ".".join(at), "problem": problem} for at, problem in problems[:MAX_PROBLEMS]]
    return ApiError(
        422,
        "invalid_request",
        f"the {where} does not validate",
        {"errors": listed, "error_count": len(problems)},
    )


def _refuse_unstorable(data: object, where: str) -> None:
    """A 422 for every string (or name) in `data` that holds a NUL or a lone surrogate: no
    database stores it, and it would fail the request deep inside (PostgreSQL refuses it)."""
    problems: list[tuple[Iterable[str], str]] = []

    def walk(value: object, at: tuple[str, ...]) -> None:
        if isinstance(value, str):
            if not is_storable(value):
                problems.append((at, UNSTORABLE))
        elif isinstance(value, dict):
            for name, item in value.items():
                walk(name, at)
                walk(item, (*at, str(name)))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, (*at, str(index)))

    walk(data, ())
    if problems:
        raise _invalid(where, problems)


async def _json_body(request: Request, limit: int) -> object:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks), parse_constant=_no_constant, parse_float=_finite)
    except _NotFiniteError as exc:
        raise ApiError(400, "malformed_json", f"the body is not JSON: {exc}") from None
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deep: not ours
        raise ApiError(400, "malformed_json", "the body is not JSON") from None


class _NotFiniteError(ValueError):
    pass


def _no_constant(name: str) -> NoReturn:
    """Python's json takes NaN and Infinity, which JSON has not."""
    raise _NotFiniteError(f"{name} is not a JSON number")


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999: a number too large for a float
        raise _NotFiniteError(f"{literal[:50]} is too large a number")
    return value


class _RequestIds:
    """Gives every request an id, kept in `scope["state"]` and answered in `X-Request-Id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


def _docs_page(schema: dict[str, object]) -> str:
    """A page listing every operation, from the schema, that needs nothing from the internet."""
    rows = []
    paths = schema["paths"]
    assert isinstance(paths, dict)
    for path, methods in paths.items():
        for method, spec in methods.items():
            scope = spec.get("x-scope", "none (public)")
            statuses = ", ".join(spec["responses"])
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(spec['summary'])}</td><td><code>{html.escape(scope)}"
                f"</code></td><td>{statuses}</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>repertory API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 8px;"
        "border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
        "<h1>repertory REST API</h1><p>Send <code>Authorization: Bearer &lt;key&gt;</code>. "
        "Errors are <code>{code, message, details, request_id}</code>. The full schema: "
        "<a href='/api/openapi.json'>/api/openapi.json</a>.</p><table><tr><th>method</th>"
        "<th>path</th><th>what</th><th>scope</th><th>answers</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
