"""The REST API: keys, workspaces, runs, paging, validation, the error shape and the schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from repertory.gateway import MAX_BODY

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    import httpx

    from .conftest import Api

    OpenApi = Callable[..., AbstractAsyncContextManager[Api]]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert set(body) == {"code", "message", "details", "request_id"}
    assert body["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


async def test_health_and_version_need_no_key(open_api: OpenApi) -> None:
    async with open_api() as api:
        for path in ("/api/health", "/api/version"):
            response = await api.client.get(path, headers={"Authorization": ""})
            assert response.status_code == 200, path
            assert len(response.headers["x-request-id"]) == 16
        for path in ("/api/openapi.json", "/api/docs"):  # they name the flows a server runs
            response = await api.client.get(path, headers={"Authorization": ""})
            assert_error(response, 401, "not_authenticated")
            assert (await api.client.get(path)).status_code == 200
        assert (await api.client.get("/api/health")).json() == {"status": "ok"}


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic abc", "Bearer rpk_nope", "Bearer rpk_0000000a_" + "0" * 64],
)
async def test_a_request_without_a_working_key_is_401(
    open_api: OpenApi, authorization: str | None
) -> None:
    async with open_api() as api:
        headers = {} if authorization is None else {"Authorization": authorization}
        api.client.headers.pop("Authorization")
        response = await api.client.get(api.url("/flow_runs"), headers=headers)
        assert_error(response, 401, "not_authenticated")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_key_stops_working_at_once(open_api: OpenApi) -> None:
    async with open_api() as api:
        assert (await api.client.get(api.url("/flow_runs"))).status_code == 200
        [key] = await api.runtime.read_api_keys()
        await api.runtime.revoke_api_key(key.id)
        assert_error(await api.client.get(api.url("/flow_runs")), 401, "not_authenticated")
        listed = await api.runtime.read_api_keys()
        assert listed[0].revoked is not None


async def test_another_workspace_looks_like_nothing(open_api: OpenApi) -> None:
    async with open_api() as api:
        created = (
            await api.client.post(
                api.url("/flow_runs"), json={"flow_name": "add", "parameters": {"x": 1}}
            )
        ).json()
        foreign = await api.client.get(api.url(f"/flow_runs/{created['id']}", workspace="other"))
        missing = await api.client.get(api.url("/flow_runs/no-such-run"))
        no_route = assert_error(await api.client.get("/api/api/workspaces"), 404, "not_found")
        assert no_route["message"] == (
            "no route GET /api/api/workspaces: the API's routes are under "
            "/api/workspaces/{workspace}/"
        )
        foreign_body = assert_error(foreign, 404, "not_found")
        missing_body = assert_error(missing, 404, "not_found")
        assert foreign_body["details"] == missing_body["details"] == {}
        assert_error(
            await api.client.get(api.url("/flow_runs", workspace="other")), 404, "not_found"
        )


async def test_a_created_run_runs_and_is_read_back_with_its_states_tasks_and_logs(
    open_api: OpenApi,
) -> None:
    async with open_api() as api:
        response = await api.client.post(
            api.url("/flow_runs"), json={"flow_name": "add", "parameters": {"x": "20", "y": 2}}
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["flow_name"] == "add"
        assert created["parameters"] == {"x": 20, "y": 2}  # coerced by the flow's hints
        await api.runtime.wait_for_flow_run(created["id"])

        run = (await api.client.get(api.url(f"/flow_runs/{created['id']}"))).json()
        assert run["state"]["type"] == "COMPLETED"
        assert run["run_count"] == 1
        states = (await api.client.get(api.url(f"/flow_runs/{created['id']}/states"))).json()
        assert [state["name"] for state in states] == ["Pending", "Running", "Completed"]
        tasks = (await api.client.get(api.url(f"/flow_runs/{created['id']}/task_runs"))).json()
        assert [t["task_name"] for t in tasks["items"]] == ["double"]
        assert tasks["next_offset"] is None
        logs = (await api.client.get(api.url(f"/flow_runs/{created['id']}/logs"))).json()
        assert [log["message"] for log in logs["items"]] == ["adding 20 and 2"]


async def test_a_retried_create_with_an_idempotency_key_makes_one_run(open_api: OpenApi) -> None:
    async with open_api() as api:
        body = {"flow_name": "add", "parameters": {"x": 1}}
        headers = {"Idempotency-Key": "retry-me"}
        first = await api.client.post(api.url("/flow_runs"), json=body, headers=headers)
        again = await api.client.post(api.url("/flow_runs"), json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json()["id"] == again.json()["id"]
        other = {"flow_name": "add", "parameters": {"x": 2}}
        reused = await api.client.post(api.url("/flow_runs"), json=other, headers=headers)
        assert_error(reused, 409, "conflict")
        too_long = await api.client.post(
            api.url("/flow_runs"), json=body, headers={"Idempotency-Key": "k" * 201}
        )
        assert_error(too_long, 422, "invalid_request")
        await api.runtime.wait_for_flow_run(first.json()["id"])
        assert len((await api.client.get(api.url("/flow_runs"))).json()["items"]) == 1


async def test_bad_parameters_are_a_422_naming_them_and_create_nothing(open_api: OpenApi) -> None:
    async with open_api() as api:
        response = await api.client.post(
            api.url("/flow_runs"), json={"flow_name": "add", "parameters": {"x": "many"}}
        )
        body = assert_error(response, 422, "invalid_parameters")
        assert set(body["details"]["parameters"]) == {"x"}  # type: ignore[index]
        unknown = await api.client.post(api.url("/flow_runs"), json={"flow_name": "nope"})
        assert assert_error(unknown, 422, "unknown_flow")["details"] == {
            "flows": ["add", "gated", "remember"]
        }
        assert (await api.client.get(api.url("/flow_runs"))).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{", 400, "malformed_json"),
        (b'{"flow_name": "add", "surprise": 1}', 422, "invalid_request"),
        (b'{"parameters": {}}', 422, "invalid_request"),
        (b'{"flow_name": "bad name!"}', 422, "invalid_request"),
        (b"[]", 422, "invalid_request"),
        (b'{"flow_name": "' + b"x" * MAX_BODY + b'"}', 413, "body_too_large"),
    ],
)
async def test_bad_bodies_get_clear_errors(
    open_api: OpenApi, body: bytes, status: int, code: str
) -> None:
    async with open_api() as api:
        response = await api.client.post(
            api.url("/flow_runs"), content=body, headers={"Content-Type": "application/json"}
        )
        assert_error(response, status, code)
        assert (await api.client.get(api.url("/flow_runs"))).json()["items"] == []


async def test_flow_runs_are_listed_a_page_at_a_time_and_filtered(open_api: OpenApi) -> None:
    async with open_api() as api:
        ids = []
        for x in range(3):
            created = await api.client.post(
                api.url("/flow_runs"), json={"flow_name": "add", "parameters": {"x": x}}
            )
            ids.append(created.json()["id"])
        for run_id in ids:
            await api.runtime.wait_for_flow_run(run_id)
        first = (await api.client.get(api.url("/flow_runs"), params={"limit": 2})).json()
        assert [run["id"] for run in first["items"]] == ids[:2]
        assert first["next_offset"] == 2
        rest = (await api.client.get(api.url("/flow_runs"), params={"offset": 2})).json()
        assert [run["id"] for run in rest["items"]] == ids[2:]
        assert rest["next_offset"] is None
        completed = await api.client.get(
            api.url("/flow_runs"), params={"state_type": "COMPLETED", "flow_name": "add"}
        )
        assert len(completed.json()["items"]) == 3
        failed = await api.client.get(api.url("/flow_runs"), params={"state_type": "FAILED"})
        assert failed.json()["items"] == []
        # Time windows: the lower bound inclusive, the upper exclusive.
        runs = [await api.runtime.read_flow_run(run_id) for run_id in ids]
        middle = runs[1].created.isoformat()
        after = await api.client.get(api.url("/flow_runs"), params={"created_after": middle})
        before = await api.client.get(api.url("/flow_runs"), params={"created_before": middle})
        assert [run["id"] for run in after.json()["items"]] == [
            run.id for run in runs if run.created >= runs[1].created
        ]
        assert [run["id"] for run in before.json()["items"]] == [
            run.id for run in runs if run.created < runs[1].created
        ]
        for params in (
            {"limit": 0},
            {"limit": 201},
            {"offset": -1},
            {"state_type": "DONE"},
            {"x": 1},
            {"created_after": "2026-01-01T00:00:00"},  # no zone: which moment is it?
            {"created_before": "yesterday"},
        ):
            assert_error(
                await api.client.get(api.url("/flow_runs"), params=params), 422, "invalid_request"
            )


async def test_cancelling_a_live_run_and_then_an_ended_one(open_api: OpenApi) -> None:
    async with open_api() as api:
        created = (await api.client.post(api.url("/flow_runs"), json={"flow_name": "gated"})).json()
        cancelled = await api.client.post(api.url(f"/flow_runs/{created['id']}/cancel"))
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["state"]["name"] == "Cancelled"
        again = await api.client.post(api.url(f"/flow_runs/{created['id']}/cancel"))
        assert_error(again, 409, "conflict")


async def test_reading_a_run_can_wait_for_its_end_a_bounded_time(open_api: OpenApi) -> None:
    async with open_api() as api:
        done = (
            await api.client.post(
                api.url("/flow_runs"), json={"flow_name": "add", "parameters": {"x": 1}}
            )
        ).json()
        waited = await api.client.get(
            api.url(f"/flow_runs/{done['id']}"), params={"wait_seconds": 30}
        )
        assert waited.json()["state"]["name"] == "Completed"
        live = (await api.client.post(api.url("/flow_runs"), json={"flow_name": "gated"})).json()
        still = await api.client.get(
            api.url(f"/flow_runs/{live['id']}"), params={"wait_seconds": 0.05}
        )
        assert still.status_code == 200
        assert still.json()["end_time"] is None  # the time was up first
        too_long = await api.client.get(
            api.url(f"/flow_runs/{live['id']}"), params={"wait_seconds": 61}
        )
        assert_error(too_long, 422, "invalid_request")
        await api.runtime.cancel_flow_run(live["id"])


async def test_flows_are_listed_with_their_parameters_schema(open_api: OpenApi) -> None:
    async with open_api() as api:
        flows = (await api.client.get(api.url("/flows"))).json()
        add = next(flow for flow in flows if flow["name"] == "add")
        assert add["description"] == "Adds, through a task, and logs."
        assert add["parameters"]["required"] == ["x"]
        assert add["parameters"]["properties"]["x"]["type"] == "integer"


async def test_keys_are_listed_without_their_secrets(open_api: OpenApi) -> None:
    async with open_api() as api:
        keys = (await api.client.get(api.url("/api_keys"))).json()
        assert [key["name"] for key in keys] == ["tests"]
        assert api.key.split("_")[2] not in str(keys)
        assert set(keys[0]) == {"id", "name", "role", "created", "expires", "revoked"}


async def test_a_key_made_over_the_api_works_until_it_is_revoked(open_api: OpenApi) -> None:
    async with open_api() as api:
        response = await api.client.post(
            api.url("/api_keys"), json={"name": "ci", "role": "runner"}
        )
        assert response.status_code == 201, response.text
        made = response.json()
        assert (made["key"]["name"], made["key"]["role"]) == ("ci", "runner")
        assert made["secret"].startswith(f"rpk_{made['key']['id']}_")
        as_ci = {"Authorization": f"Bearer {made['secret']}"}
        assert (await api.client.get(api.url("/flow_runs"), headers=as_ci)).status_code == 200
        listed = (await api.client.get(api.url("/api_keys"))).json()
        assert [key["name"] for key in listed] == ["tests", "ci"]
        assert made["secret"].split("_")[2] not in str(listed)  # the secret is shown once

        revoked = await api.client.post(api.url(f"/api_keys/{made['key']['id']}/revoke"))
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked"] is not None
        again = await api.client.get(api.url("/flow_runs"), headers=as_ci)
        assert_error(again, 401, "not_authenticated")


async def test_a_rotated_key_has_a_new_secret_and_the_old_one_stops(open_api: OpenApi) -> None:
    async with open_api() as api:
        made = (
            await api.client.post(api.url("/api_keys"), json={"name": "ci", "role": "viewer"})
        ).json()
        key_id, old = made["key"]["id"], made["secret"]
        rotated = await api.client.post(api.url(f"/api_keys/{key_id}/rotate"))
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert (rotated.json()["key"]["id"], rotated.json()["key"]["role"]) == (key_id, "viewer")
        assert new != old
        assert new.startswith(f"rpk_{key_id}_")
        runs = api.url("/flow_runs")
        assert (
            await api.client.get(runs, headers={"Authorization": f"Bearer {new}"})
        ).status_code == 200
        stale = await api.client.get(runs, headers={"Authorization": f"Bearer {old}"})
        assert stale.status_code == 401
        await api.client.post(api.url(f"/api_keys/{key_id}/revoke"))
        again = await api.client.post(api.url(f"/api_keys/{key_id}/rotate"))
        assert_error(again, 404, "not_found")  # a revoked key stays revoked


async def test_bad_key_requests_make_no_key(open_api: OpenApi) -> None:
    async with open_api() as api:
        past, naive = "2020-01-01T00:00:00+00:00", "2999-01-01T00:00:00"
        for body in (
            {"name": "x", "role": "superuser"},
            {"name": "", "role": "viewer"},
            {"name": "x", "role": "viewer", "expires": naive},
            {"name": "x", "role": "viewer", "expires": past},
            {"name": "x", "role": "viewer", "secret": "chosen"},
        ):
            response = await api.client.post(api.url("/api_keys"), json=body)
            assert response.status_code == 422, (body, response.text)
        assert len(await api.runtime.read_api_keys()) == 1
        assert_error(await api.client.post(api.url("/api_keys/nosuchkey/revoke")), 404, "not_found")


async def test_only_an_owner_key_makes_owner_keys(open_api: OpenApi) -> None:
    async with open_api() as api:
        _, admin = await api.runtime.create_api_key("admin", role="admin")
        as_admin = {"Authorization": f"Bearer {admin}"}
        body = {"name": "escalated", "role": "owner"}
        response = await api.client.post(api.url("/api_keys"), json=body, headers=as_admin)
        assert_error(response, 403, "forbidden")
        body = {"name": "helper", "role": "developer"}
        response = await api.client.post(api.url("/api_keys"), json=body, headers=as_admin)
        assert response.status_code == 201, response.text
        assert [key.name for key in await api.runtime.read_api_keys()] == [
            "tests",
            "admin",
            "helper",
        ]


async def test_a_key_of_another_workspace_cannot_be_revoked(open_api: OpenApi) -> None:
    async with open_api() as api:
        elsewhere = f"{api.workspace}-other"  # of this test alone, on a shared database too
        other, _ = await api.runtime.create_api_key("theirs", workspace=elsewhere)
        response = await api.client.post(api.url(f"/api_keys/{other.id}/revoke"))
        assert_error(response, 404, "not_found")
        [theirs] = await api.runtime.read_api_keys(workspace=elsewhere)
        assert theirs.revoked is None


async def test_cache_entries_are_listed_and_invalidated(open_api: OpenApi) -> None:
    async with open_api() as api:
        created = await api.client.post(
            api.url("/flow_runs"), json={"flow_name": "remember", "parameters": {"xs": [1, 2, 3]}}
        )
        await api.runtime.wait_for_flow_run(created.json()["id"])
        page = (await api.client.get(api.url("/cache_entries"), params={"limit": 2})).json()
        assert len(page["items"]) == 2
        assert page["next_offset"] == 2
        entry = page["items"][0]
        assert set(entry) == {
            "key",
            "task_name",
            "created",
            "expires",
            "size",
            "storage",
            "task_run_id",
        }  # no location: where results lie on the server is not the client's business
        assert entry["task_name"] == "remembered"
        by_task = await api.client.get(api.url("/cache_entries"), params={"task_name": "other"})
        assert by_task.json()["items"] == []

        invalidate = api.url("/cache_entries/invalidate")
        one = await api.client.post(invalidate, json={"key": entry["key"]})
        assert one.json() == {"invalidated": 1}
        rest = await api.client.post(invalidate, json={"task_name": "remembered"})
        assert rest.json() == {"invalidated": 2}
        assert (await api.client.get(api.url("/cache_entries"))).json()["items"] == []
        for body in ({}, {"key": "nothex"}, {"key": entry["key"], "task_name": "remembered"}):
            assert_error(await api.client.post(invalidate, json=body), 422, "invalid_request")


async def test_unknown_routes_and_methods_answer_in_the_same_shape(open_api: OpenApi) -> None:
    async with open_api() as api:
        assert_error(await api.client.get("/api/nothing-here"), 404, "not_found")
        assert_error(await api.client.delete("/api/health"), 405, "method_not_allowed")


async def test_an_unexpected_failure_is_a_bare_500_with_its_request_id(
    open_api: OpenApi, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(**options: object) -> None:
        raise RuntimeError("secret internals")

    async with open_api() as api:
        monkeypatch.setattr(api.runtime, "read_flow_runs", broken)
        response = await api.client.get(api.url("/flow_runs"))
        body = assert_error(response, 500, "internal_error")
        assert "secret internals" not in response.text
        assert f"request {body['request_id']} failed" in caplog.text  # the log finds it


async def test_a_stopped_runtime_is_a_503_without_a_traceback(open_api: OpenApi) -> None:
    async with open_api() as api:
        await api.runtime.__aexit__(None, None, None)
        response = await api.client.get(api.url("/flow_runs"))
        assert_error(response, 503, "unavailable")


async def test_the_schema_documents_every_operation(open_api: OpenApi) -> None:
    async with open_api() as api:
        schema = (await api.client.get("/api/openapi.json")).json()
        assert schema["openapi"] == "3.1.0"
        operations = {
            spec["operationId"] for methods in schema["paths"].values() for spec in methods.values()
        }
        assert {"health", "create_flow_run", "list_flow_runs", "cancel_flow_run"} <= operations
        create = schema["paths"]["/api/workspaces/{workspace}/flow_runs"]["post"]
        assert create["x-scope"] == "flow_runs:write"
        assert set(create["responses"]) >= {"201", "401", "404", "413", "422"}
        assert "ErrorOut" in schema["components"]["schemas"]
        docs = (await api.client.get("/api/docs")).text
        assert "/api/workspaces/{workspace}/flow_runs" in docs
