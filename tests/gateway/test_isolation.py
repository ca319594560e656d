"""Two workspaces on one server: whatever one creates, a key of the other cannot read, list,
change or even learn of, through any operation of the schema, addressing it by its ids."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .test_access import BODIES, operations

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from .conftest import Api

    OpenApi = Callable[..., AbstractAsyncContextManager[Api]]


async def test_one_workspace_never_sees_the_others_objects(open_api: OpenApi) -> None:
    async with open_api() as api:
        theirs = api.workspace
        mine = f"{theirs}-mine"
        # Theirs: a finished run with task runs and logs, cache entries, a spare key, audit.
        created = await api.client.post(
            api.url("/flow_runs"), json={"flow_name": "remember", "parameters": {"xs": [1, 2]}}
        )
        run = await api.runtime.wait_for_flow_run(created.json()["id"])
        [entry, _] = await api.runtime.read_cache_entries()
        spare, _ = await api.runtime.create_api_key("spare", role="viewer")
        secrets_of_theirs = {run.id, entry.key, spare.id, entry.task_run_id}
        # Mine: an owner key of another workspace, asking about their ids in its own paths.
        _, my_key = await api.runtime.create_api_key("me", role="owner", workspace=mine)
        mine_headers = {"Authorization": f"Bearer {my_key}"}
        before = (
            len(await api.runtime.read_flow_runs()),
            [k.revoked for k in await api.runtime.read_api_keys()],
            len(await api.runtime.read_cache_entries()),
        )
        asked = ""
        for name, method, path, scope in await operations(api):
            if scope is None:
                continue
            target = spare.id if "api_keys" in path else run.id
            url = path.replace("{workspace}", mine).replace("{id}", target)
            body = BODIES.get(name)
            if name == "invalidate_cache":
                body = {"key": entry.key}
            response = await api.client.request(method, url, json=body, headers=mine_headers)
            if "{id}" in path:
                assert response.status_code == 404, (name, response.text)
            else:
                assert response.status_code < 500, (name, response.text)
            if name == "invalidate_cache":
                assert response.json() == {"invalidated": 0}
            # An id the caller gave may come back (in an error, in its own audit log).
            asked += f" {url} {json.dumps(body)}"
            leaked = {
                secret
                for secret in secrets_of_theirs
                if secret in response.text and secret not in asked
            }
            assert not leaked, (name, leaked)
        after = (
            len(await api.runtime.read_flow_runs()),
            [k.revoked for k in await api.runtime.read_api_keys()],
            len(await api.runtime.read_cache_entries()),
        )
        assert after == before  # nothing of theirs changed
        assert await api.runtime.read_flow_runs(workspace=mine) != []  # mine made its own run
