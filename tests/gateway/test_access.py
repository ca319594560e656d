"""Who may call what: every operation of the OpenAPI schema, called with no key, bad keys,
a key of each role and a key of another workspace, with the exact status each must get and
nothing changed by a refused call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from repertory.runtime import ROLES, SERVER_SCOPE, scopes_of

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    import httpx

    from .conftest import Api

    OpenApi = Callable[..., AbstractAsyncContextManager[Api]]

#: A body for each operation that takes one; the test fails on a new operation without one.
BODIES: dict[str, object] = {
    "create_flow_run": {"flow_name": "add", "parameters": {"x": 1}},
    "invalidate_cache": {"task_name": "remembered"},
    "create_api_key": {"name": "made", "role": "viewer"},
    "create_workspace": {"name": "made-by-a-test"},
    "create_role": {"name": "made-by-a-test", "scopes": ["flows:read"]},
    "rename_workspace": {"name": "renamed-by-a-test"},
}

#: The query of each operation that needs one, by what it names (filled from `prepared`).
QUERIES: dict[str, tuple[str, str]] = {
    "find_flow_runs": ("match", "run"),
    "find_task_runs": ("match", "task_run"),
}


async def operations(api: Api) -> list[tuple[str, str, str, str | None]]:
    """(name, method, path template, scope) of every operation the schema documents."""
    schema = (await api.client.get("/api/openapi.json")).json()
    found = []
    for path, methods in schema["paths"].items():
        for method, spec in methods.items():
            found.append((spec["operationId"], method.upper(), path, spec.get("x-scope")))
    return found


async def call(
    api: Api, method: str, path: str, name: str, key: str | None, ids: dict[str, str]
) -> httpx.Response:
    named = "key" if "api_keys" in path else "task_run" if "task_runs/{id}" in path else "run"
    url = path.replace("{workspace}", api.workspace).replace("{id}", ids[named])
    url = url.replace("{name}", ids["role"])
    headers = {"Authorization": f"Bearer {key}" if key else ""}
    query = {QUERIES[name][0]: ids[QUERIES[name][1]]} if name in QUERIES else None
    return await api.client.request(
        method, url, json=BODIES.get(name), params=query, headers=headers
    )


async def snapshot(api: Api) -> tuple[int, int, int]:
    """What a refused call must leave as it was: runs, keys and cache entries."""
    rt = api.runtime
    return (
        len(await rt.read_flow_runs()),
        len(await rt.read_api_keys()),
        len(await rt.read_cache_entries()),
    )


async def prepared(api: Api) -> dict[str, str]:
    """A finished run, its task run and a spare key for the routes that name one."""
    created = await api.client.post(api.url("/flow_runs"), json=BODIES["create_flow_run"])
    run = await api.runtime.wait_for_flow_run(created.json()["id"])
    [task_run] = await api.runtime.read_task_runs(flow_run_id=run.id)
    spare, _ = await api.runtime.create_api_key("spare", role="viewer")
    role = await api.runtime.create_role("spare-role", ["flows:read"])
    return {"run": run.id, "task_run": task_run.id, "key": spare.id, "role": role.name}


@pytest.mark.parametrize("role", sorted(ROLES))
async def test_each_role_gets_exactly_its_scopes(open_api: OpenApi, role: str) -> None:
    async with open_api() as api:
        ids = await prepared(api)
        _, key = await api.runtime.create_api_key(f"a {role}", role=role)
        table = await operations(api)
        assert {name for name, method, _, _ in table if method == "POST"} == set(BODIES) | {
            "cancel_flow_run",
            "revoke_api_key",
            "rotate_api_key",
        }
        for name, method, path, scope in table:
            before = await snapshot(api)
            response = await call(api, method, path, name, key, ids)
            if scope is None or scope in scopes_of(role):
                assert response.status_code not in {401, 403, 404}, (role, name, response.text)
            else:
                assert response.status_code == 403, (role, name, response.text)
                assert response.json()["code"] == "forbidden"
                assert response.json()["details"]["scope"] == scope
                assert await snapshot(api) == before, (role, name)


async def test_without_a_working_key_every_scoped_route_is_a_401(open_api: OpenApi) -> None:
    async with open_api() as api:
        ids = await prepared(api)
        revoked, revoked_secret = await api.runtime.create_api_key("revoked", role="owner")
        await api.runtime.revoke_api_key(revoked.id)
        _, expired_secret = await api.runtime.create_api_key(
            "expired", role="owner", expires=datetime.now(UTC) - timedelta(seconds=1)
        )
        bad = api.key[:-4] + ("0000" if not api.key.endswith("0000") else "1111")
        for name, method, path, scope in await operations(api):
            for key in (None, "not-a-key", bad, revoked_secret, expired_secret):
                before = await snapshot(api)
                response = await call(api, method, path, name, key, ids)
                if scope is None:
                    assert response.status_code == 200, (name, response.text)
                    continue
                assert response.status_code == 401, (name, key, response.text)
                assert response.json()["code"] == "not_authenticated"
                assert response.headers["www-authenticate"] == "Bearer"
                assert await snapshot(api) == before


async def test_a_key_of_another_workspace_finds_nothing(open_api: OpenApi) -> None:
    async with open_api() as api:
        ids = await prepared(api)
        _, theirs = await api.runtime.create_api_key(
            "theirs", role="owner", workspace=f"{api.workspace}-other"
        )
        for name, method, path, scope in await operations(api):
            if scope is None:
                continue
            before = await snapshot(api)
            response = await call(api, method, path, name, theirs, ids)
            if scope == SERVER_SCOPE:  # not of a workspace: only a server admin key may
                assert response.status_code == 403, (name, response.text)
                continue
            assert response.status_code == 404, (name, response.text)
            # The same answer as for a workspace that does not exist at all.
            missing = path.replace("{workspace}", "no-such-workspace")
            absent = await call(api, method, missing, name, theirs, ids)
            assert (absent.status_code, absent.json()["message"].split("'")[0]) == (
                404,
                response.json()["message"].split("'")[0],
            )
            assert await snapshot(api) == before
