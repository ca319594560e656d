"""Errors as the API answers them: one JSON shape (`ErrorOut`), each status mapped here only.

Exception tree:

    ApiError                   an answer other than 2xx, with its status and code
    ├── NotAuthenticatedError  401: no key, or a key that does not work
    ├── BodyTooLargeError      413: the body is over the limit
    ├── RateLimitedError       429: too many requests, or failed authentications (_limits)
    └── (ApiError itself)      400, 404, 409, 422 ... raised with their code

Errors of the runtime are translated in `exception_handlers`; anything else is a 500 whose
body says nothing but the request id (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from repertory.runtime import (
    ApiKeyNotFoundError,
    IdempotencyKeyReusedError,
    InvalidTransitionError,
    ParameterValidationError,
    RoleExistsError,
    RoleInUseError,
    RunNotFoundError,
    RuntimeNotRunningError,
    StorageError,
    TooManyRunsError,
    WorkspaceBusyError,
    WorkspaceExistsError,
)

from ._models import ErrorOut

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.requests import Request
    from starlette.responses import Response

logger = logging.getLogger("repertory.gateway")


#: The status recorded for a request whose client went before sending it whole (nginx's).
CLIENT_CLOSED: Final = 499


class ApiError(Exception):
    """An error answer: `status`, a stable `code`, a message and details."""

    def __init__(
        self, status: int, code: str, message: str, details: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        #: Headers of the answer besides the usual ones (`Retry-After`, say).
        self.headers: dict[str, str] = {}


class NotAuthenticatedError(ApiError):
    def __init__(self) -> None:
        super().__init__(401, "not_authenticated", "a valid API key is needed: Bearer <key>")


class BodyTooLargeError(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "body_too_large", f"the body is over {limit} bytes")


def request_id(request: Request) -> str:
    value: str = request.scope.get("state", {}).get("request_id", "-")
    return value


def error_response(request: Request, error: ApiError) -> JSONResponse:
    body = ErrorOut(
        code=error.code,
        message=error.message,
        details=error.details,
        request_id=request_id(request),
    )
    headers = dict(error.headers)
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body.model_dump(mode="json"), status_code=error.status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own: no such route (404), wrong method (405)."""
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = str(exc.detail)
    if exc.status_code == 404:  # a wrong base URL, most likely: say where the routes are
        route = f"{request.method} {request.url.path}"[:200]
        message = f"no route {route}: the API's routes are under /api/workspaces/{{workspace}}/"
    error = ApiError(exc.status_code, codes.get(exc.status_code, "http_error"), message)
    return error_response(request, error)


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(request, ApiError(404, "not_found", str(exc)))


async def _bad_parameters(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ParameterValidationError)
    error = ApiError(422, "invalid_parameters", str(exc), {"parameters": dict(exc.errors)})
    return error_response(request, error)


async def _conflict(request: Request, exc: Exception) -> Response:
    return error_response(request, ApiError(409, "conflict", str(exc)))


async def _too_many_runs(request: Request, exc: Exception) -> Response:
    error = ApiError(429, "too_many_runs", str(exc))
    error.headers["Retry-After"] = "1"
    return error_response(request, error)


async def _unavailable(request: Request, exc: Exception) -> Response:
    return error_response(request, ApiError(503, "unavailable", "the runtime is not running"))


async def _client_closed(request: Request, exc: Exception) -> Response:
    """Nobody reads this answer: the client went before it sent its whole request. Not the
    server's failure (no 500, no traceback), yet audited, as 499 (nginx's code for it)."""
    logger.debug("request %s: the client closed the connection mid-request", request_id(request))
    error = ApiError(CLIENT_CLOSED, "client_closed", "the client closed the connection")
    return error_response(request, error)


async def _storage_failed(request: Request, exc: Exception) -> Response:
    logger.warning("request %s: %s", request_id(request), exc)
    error = ApiError(503, "unavailable", "the database cannot answer now; try again")
    error.headers["Retry-After"] = "1"
    return error_response(request, error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error(
        "request %s failed: %s %s",
        request_id(request),
        request.method,
        request.url.path,
        exc_info=exc,
    )
    error = ApiError(500, "internal_error", "the server failed; the request id finds it in its log")
    response = error_response(request, error)
    # Answered from outside the request-id middleware, which never sees this response.
    response.headers["X-Request-Id"] = request_id(request)
    return response


#: Every error the API answers, by exception class (Starlette picks the closest in the MRO).
exception_handlers: Final = {
    ApiError: _api_error,
    HTTPException: _http_error,
    RunNotFoundError: _not_found,
    ApiKeyNotFoundError: _not_found,
    ParameterValidationError: _bad_parameters,
    InvalidTransitionError: _conflict,
    IdempotencyKeyReusedError: _conflict,
    TooManyRunsError: _too_many_runs,
    WorkspaceBusyError: _conflict,
    WorkspaceExistsError: _conflict,
    RoleExistsError: _conflict,
    RoleInUseError: _conflict,
    RuntimeNotRunningError: _unavailable,
    StorageError: _storage_failed,
    ClientDisconnect: _client_closed,
    Exception: _unexpected,
}
