"""Workspaces as objects: a server admin key creates, lists and deletes them; a deleted
workspace's data is gone from every read, and its keys stop working at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from .conftest import Api

    OpenApi = Callable[..., AbstractAsyncContextManager[Api]]


async def test_a_server_admin_creates_lists_and_deletes_workspaces(open_api: OpenApi) -> None:
    async with open_api() as api:
        _, admin = await api.runtime.create_api_key("admin", role="owner", server_admin=True)
        as_admin = {"Authorization": f"Bearer {admin}"}
        name = f"{api.workspace}-tenant"
        made = await api.client.post("/api/workspaces", json={"name": name}, headers=as_admin)
        assert made.status_code == 201, made.text
        assert made.json()["workspace"]["name"] == name
        owner = {"Authorization": f"Bearer {made.json()['owner_key']['secret']}"}
        assert made.json()["owner_key"]["key"]["role"] == "owner"
        again = await api.client.post("/api/workspaces", json={"name": name}, headers=as_admin)
        assert (again.status_code, again.json()["code"]) == (409, "conflict")
        bad = await api.client.post("/api/workspaces", json={"name": "a b"}, headers=as_admin)
        assert bad.status_code == 422
        listed = (await api.client.get("/api/workspaces", headers=as_admin)).json()
        assert name in [ws["name"] for ws in listed]

        # The tenant works in its workspace: a run in progress, a finished one, a cache entry.
        runs = f"/api/workspaces/{name}/flow_runs"
        live = await api.client.post(runs, json={"flow_name": "gated"}, headers=owner)
        done = await api.client.post(
            runs, json={"flow_name": "remember", "parameters": {"xs": [1]}}, headers=owner
        )
        await api.runtime.wait_for_flow_run(done.json()["id"], workspace=name)
        assert len(await api.runtime.read_cache_entries(workspace=name)) == 1

        busy = await api.client.delete(f"/api/workspaces/{name}", headers=as_admin)
        assert (busy.status_code, busy.json()["code"]) == (409, "conflict")
        assert "runs in progress" in busy.json()["message"]
        forced = await api.client.delete(
            f"/api/workspaces/{name}", params={"force": "true"}, headers=as_admin
        )
        assert forced.json() == {"deleted": name}

        assert (await api.client.get(runs, headers=owner)).status_code == 401  # its keys: gone
        rt = api.runtime
        assert await rt.read_flow_runs(workspace=name) == []
        assert await rt.read_task_runs(flow_run_id=done.json()["id"], workspace=name) == []
        assert await rt.read_api_keys(workspace=name) == []
        assert await rt.read_cache_entries(workspace=name) == []
        assert await rt.read_audit(workspace=name) == []
        assert await rt.read_state_history(live.json()["id"], workspace=name) == []
        listed = (await api.client.get("/api/workspaces", headers=as_admin)).json()
        assert name not in [ws["name"] for ws in listed]
        gone = await api.client.delete(f"/api/workspaces/{name}", headers=as_admin)
        assert gone.status_code == 404
        # The deletion itself is in the admin's own workspace's audit log.
        records = await rt.read_audit(action="delete_workspace")
        assert [(r.status, r.outcome, r.key_name) for r in records] == [
            (409, "failed", "admin"),
            (200, "ok", "admin"),
            (404, "failed", "admin"),
        ]


async def test_a_renamed_workspace_keeps_all_it_holds(open_api: OpenApi) -> None:
    async with open_api() as api:
        _, admin = await api.runtime.create_api_key("admin", role="owner", server_admin=True)
        as_admin = {"Authorization": f"Bearer {admin}"}
        old, new = f"{api.workspace}-old", f"{api.workspace}-new"
        made = await api.client.post("/api/workspaces", json={"name": old}, headers=as_admin)
        owner = {"Authorization": f"Bearer {made.json()['owner_key']['secret']}"}
        done = await api.client.post(
            f"/api/workspaces/{old}/flow_runs",
            json={"flow_name": "remember", "parameters": {"xs": [1]}},
            headers=owner,
        )
        await api.runtime.wait_for_flow_run(done.json()["id"], workspace=old)
        live = await api.client.post(
            f"/api/workspaces/{old}/flow_runs", json={"flow_name": "gated"}, headers=owner
        )
        rename = f"/api/workspaces/{old}/rename"
        busy = await api.client.post(rename, json={"name": new}, headers=as_admin)
        assert busy.status_code == 409  # its runs' actors know it by its name
        await api.client.post(
            f"/api/workspaces/{old}/flow_runs/{live.json()['id']}/cancel", headers=owner
        )
        taken = await api.client.post(rename, json={"name": api.workspace}, headers=as_admin)
        assert taken.status_code == 409
        renamed = await api.client.post(rename, json={"name": new}, headers=as_admin)
        assert (renamed.status_code, renamed.json()["name"]) == (200, new)

        runs = await api.client.get(f"/api/workspaces/{new}/flow_runs", headers=owner)
        assert runs.status_code == 200  # the key goes on working, under the new name
        assert done.json()["id"] in [run["id"] for run in runs.json()["items"]]
        gone = await api.client.get(f"/api/workspaces/{old}/flow_runs", headers=owner)
        assert gone.status_code == 404
        assert len(await api.runtime.read_cache_entries(workspace=new)) == 1
        verdict = await api.client.get(f"/api/workspaces/{new}/audit/verify", headers=owner)
        assert verdict.json()["intact"]
        assert verdict.json()["checked"] >= 3  # its records came along, still chained
        missing = await api.client.post(rename, json={"name": "x"}, headers=as_admin)
        assert missing.status_code == 404
