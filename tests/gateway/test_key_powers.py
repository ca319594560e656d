"""Nobody gains power through a key operation: creating, rotating and revoking a key of each
role (and a server admin key), by a key of each role, is allowed exactly when the caller could
have made that key; a refused call changes nothing, and the audit log names the key that
acted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from repertory.runtime import ROLES

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from .conftest import Api

    OpenApi = Callable[..., AbstractAsyncContextManager[Api]]

#: A custom role that may manage keys and nothing else: it can make viewers' keys, no more.
KEYS_ONLY = "keys-only"
SERVER_ADMIN = "server admin"


async def test_key_operations_never_grant_more_than_the_caller_has(open_api: OpenApi) -> None:
    async with open_api() as api:
        rt = api.runtime
        await rt.create_role(KEYS_ONLY, ["keys:admin"])
        scopes = {role: await rt.scopes_of_role(role) for role in (*ROLES, KEYS_ONLY)}
        scopes[SERVER_ADMIN] = scopes["owner"]
        callers = {}
        for role in scopes:
            key, secret = await rt.create_api_key(
                f"caller {role}",
                role="owner" if role == SERVER_ADMIN else role,
                server_admin=role == SERVER_ADMIN,
            )
            callers[role] = (key.id, secret)

        for caller, (caller_id, caller_secret) in callers.items():
            as_caller = {"Authorization": f"Bearer {caller_secret}"}
            for target in scopes:
                may = "keys:admin" in scopes[caller] and scopes[target] <= scopes[caller]
                if target == SERVER_ADMIN:
                    may = may and caller == SERVER_ADMIN
                else:  # a server admin key is never made over REST
                    made = await api.client.post(
                        api.url("/api_keys"),
                        json={"name": "made", "role": target},
                        headers=as_caller,
                    )
                    assert made.status_code == (201 if may else 403), (caller, target, made.text)

                for verb in ("rotate", "revoke"):
                    key, secret = await rt.create_api_key(
                        f"target {target}",
                        role="owner" if target == SERVER_ADMIN else target,
                        server_admin=target == SERVER_ADMIN,
                    )
                    response = await api.client.post(
                        api.url(f"/api_keys/{key.id}/{verb}"), headers=as_caller
                    )
                    works = await rt.authenticate(secret) is not None
                    if not may:
                        assert response.status_code == 403, (caller, target, verb, response.text)
                        assert works, (caller, target, verb)  # nothing changed
                        continue
                    assert response.status_code == 200, (caller, target, verb, response.text)
                    assert not works, (caller, target, verb)
                    if verb == "rotate":
                        rotated = await rt.authenticate(response.json()["secret"])
                        assert rotated is not None
                        assert rotated.is_server_admin == (target == SERVER_ADMIN)
                    records = await rt.read_audit(action=f"{verb}_api_key")
                    assert records[-1].key_id == caller_id
                    assert records[-1].target.endswith(f"/api_keys/{key.id}/{verb}")


async def test_an_expired_key_cannot_be_rotated_back_to_life(open_api: OpenApi) -> None:
    async with open_api() as api:
        expired, _ = await api.runtime.create_api_key(
            "expired", role="viewer", expires=datetime.now(UTC) - timedelta(seconds=1)
        )
        response = await api.client.post(api.url(f"/api_keys/{expired.id}/rotate"))
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
        # Revoking it still works: an expired key may yet be revoked for the record.
        assert (await api.client.post(api.url(f"/api_keys/{expired.id}/revoke"))).status_code == 200


async def test_a_custom_role_cannot_take_a_builtin_name_in_any_case(open_api: OpenApi) -> None:
    async with open_api() as api:
        for name in ("Owner", "ADMIN", "viewer", "Runner"):
            response = await api.client.post(
                api.url("/roles"), json={"name": name, "scopes": ["flows:read"]}
            )
            assert (response.status_code, response.json()["code"]) == (422, "invalid_request")
        assert [r.name for r in await api.runtime.read_roles() if not r.is_builtin] == []
