"""Custom roles: a workspace names sets of scopes, keys carry them, and they grant exactly
those scopes; nobody makes a role or a key that may do more than their own."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from .conftest import Api

    OpenApi = Callable[..., AbstractAsyncContextManager[Api]]


async def test_a_custom_role_grants_exactly_its_scopes(open_api: OpenApi) -> None:
    async with open_api() as api:
        roles = api.url("/roles")
        made = await api.client.post(
            roles, json={"name": "run-reader", "scopes": ["flow_runs:read", "flows:read"]}
        )
        assert made.status_code == 201, made.text
        assert made.json() == {
            "name": "run-reader",
            "scopes": ["flow_runs:read", "flows:read"],
            "builtin": False,
        }
        listed = (await api.client.get(roles)).json()
        assert [r["name"] for r in listed if r["builtin"]] == [
            "owner",
            "admin",
            "developer",
            "runner",
            "viewer",
        ]
        assert [r["name"] for r in listed if not r["builtin"]] == ["run-reader"]

        key = await api.client.post(api.url("/api_keys"), json={"name": "r", "role": "run-reader"})
        assert key.status_code == 201, key.text
        as_reader = {"Authorization": f"Bearer {key.json()['secret']}"}
        assert (await api.client.get(api.url("/flow_runs"), headers=as_reader)).status_code == 200
        refused = await api.client.get(api.url("/cache_entries"), headers=as_reader)
        assert (refused.status_code, refused.json()["details"]["scope"]) == (403, "cache:read")

        for body, status in (
            ({"name": "run-reader", "scopes": ["flows:read"]}, 409),  # taken
            ({"name": "viewer", "scopes": ["flows:read"]}, 422),  # a built-in role's name
            ({"name": "nothing", "scopes": []}, 422),
            ({"name": "odd", "scopes": ["everything"]}, 422),
        ):
            assert (await api.client.post(roles, json=body)).status_code == status, body
        unknown = await api.client.post(api.url("/api_keys"), json={"name": "x", "role": "ghost"})
        assert unknown.status_code == 422

        in_use = await api.client.delete(api.url("/roles/run-reader"))
        assert (in_use.status_code, in_use.json()["code"]) == (409, "conflict")
        await api.client.post(api.url(f"/api_keys/{key.json()['key']['id']}/revoke"))
        assert (await api.client.delete(api.url("/roles/run-reader"))).status_code == 200
        assert (await api.client.delete(api.url("/roles/run-reader"))).status_code == 404
        assert (await api.client.delete(api.url("/roles/viewer"))).status_code == 404


async def test_nobody_grants_more_than_they_may_do(open_api: OpenApi) -> None:
    async with open_api() as api:
        _, admin = await api.runtime.create_api_key("admin", role="admin")
        as_admin = {"Authorization": f"Bearer {admin}"}
        roles = api.url("/roles")
        beyond = {"name": "keeper", "scopes": ["workspace:admin"]}  # admins have it not
        response = await api.client.post(roles, json=beyond, headers=as_admin)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")
        within = {"name": "helper", "scopes": ["flow_runs:read", "keys:admin"]}
        assert (await api.client.post(roles, json=within, headers=as_admin)).status_code == 201
        owner_key = {"name": "x", "role": "owner"}
        refused = await api.client.post(api.url("/api_keys"), json=owner_key, headers=as_admin)
        assert refused.status_code == 403
        helper_key = {"name": "h", "role": "helper"}
        made = await api.client.post(api.url("/api_keys"), json=helper_key, headers=as_admin)
        assert made.status_code == 201
        assert [r.name for r in await api.runtime.read_roles() if not r.is_builtin] == ["helper"]
