"""Who is calling and what it may do: the API key of a request, checked through the runtime,
its workspace, and the scopes of its role.

A key belongs to one workspace. A request for another workspace's objects is answered 404,
exactly as for objects that do not exist, so a key learns nothing about other workspaces;
only then is the key's role checked for the route's scope (403 without it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from repertory.runtime import SERVER_SCOPE

from ._errors import ApiError, NotAuthenticatedError

if TYPE_CHECKING:
    from starlette.requests import Request

    from repertory.runtime import ApiKey, Runtime

#: Longest Authorization header looked at; a key is ~80 characters.
_MAX_HEADER = 512


async def authenticate(runtime: Runtime, request: Request) -> ApiKey:
    """The valid API key the request carries (`Authorization: Bearer <key>`).

    Raises:
        NotAuthenticatedError: no key, a malformed one, or one that does not work (unknown,
            wrong, revoked or expired: the answer does not say which).
    """
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented or len(header) > _MAX_HEADER:
        raise NotAuthenticatedError
    key = await runtime.authenticate(presented.strip())
    if key is None:
        raise NotAuthenticatedError
    return key


def workspace_of(key: ApiKey, request: Request) -> str:
    """The workspace in the path, if the key may see it.

    Raises:
        ApiError: 404 for any other workspace, whether it exists or not.
    """
    workspace: str = request.path_params["workspace"]
    if workspace != key.workspace:
        raise ApiError(404, "not_found", f"no workspace {workspace!r}")
    return workspace


async def authorize(runtime: Runtime, key: ApiKey, scope: str) -> None:
    """Raises ApiError 403 unless the key's role (built in, or a custom role of its
    workspace) has `scope`, or, for managing workspaces, unless it is a server admin key."""
    if scope == SERVER_SCOPE:
        allowed = key.is_server_admin
    else:
        allowed = scope in await runtime.scopes_of_role(key.role, workspace=key.workspace)
    if not allowed:
        raise ApiError(
            403,
            "forbidden",
            f"a key of role {key.role!r} may not do this: it needs scope {scope!r}",
            {"scope": scope, "role": key.role},
        )
