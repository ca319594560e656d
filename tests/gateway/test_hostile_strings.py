"""Bad data fails its own request, never the server: a NUL character, a lone surrogate or a
huge string in every string the schema takes (path, query, body), on SQLite and PostgreSQL
(which refuses NUL in text), is answered 4xx, and the server stays healthy."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from repertory import Runtime, flow, get_run_logger
from repertory.gateway import create_app
from repertory.runtime import StorageError

from .test_access import BODIES, operations

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from .conftest import Api

    OpenApi = Callable[..., AbstractAsyncContextManager[Api]]

#: Raw in a URL (percent-encoded), as a JSON string in a body.
IN_URLS = ("a%00b", "%00", "%ED%A0%80", "x" * 10_000)
IN_BODIES = ("a\x00b", "\x00", "\ud800", "a\udfffb", "x" * 100_000)


async def test_hostile_strings_anywhere_fail_their_request_only(open_api: OpenApi) -> None:
    async with open_api() as api:
        _, admin = await api.runtime.create_api_key("server admin", server_admin=True)
        api.client.headers["Authorization"] = f"Bearer {admin}"  # the server's routes too
        created = await api.client.post(api.url("/flow_runs"), json=BODIES["create_flow_run"])
        run_id = created.json()["id"]
        schema = (await api.client.get("/api/openapi.json")).json()
        sent = 0
        for name, method, path, _ in await operations(api):
            spec = schema["paths"][path][method.lower()]
            good = {"workspace": api.workspace, "id": run_id, "name": "nothing"}
            if name in {"delete_workspace", "rename_workspace"}:
                good["workspace"] += "-absent"  # never the test's own
            params = [p["name"] for p in spec.get("parameters", []) if p["in"] == "path"]
            queries = [p["name"] for p in spec.get("parameters", []) if p["in"] == "query"]
            for bad in IN_URLS:
                for hostile in params:
                    url = path.format(**{**good, hostile: bad})
                    response = await api.client.request(method, url, json=BODIES.get(name))
                    assert response.status_code < 500, (name, hostile, response.text)
                    sent += 1
                for hostile in queries:
                    url = f"{path.format(**good)}?{hostile}={bad}"
                    response = await api.client.request(method, url, json=BODIES.get(name))
                    assert response.status_code < 500, (name, hostile, response.text)
                    if "%00" in bad:  # (invalid UTF-8 is read as U+FFFD: fine)
                        assert response.status_code in {400, 404, 422}, (name, response.text)
                    sent += 1
            body = BODIES.get(name)
            if not isinstance(body, dict):
                continue
            for bad in IN_BODIES:
                for field in [*body, "parameters.x", "parameters.\x00"]:
                    hostile_body = dict(body)
                    if field.startswith("parameters."):
                        hostile_body["parameters"] = {field.split(".", 1)[1]: bad}
                    else:
                        hostile_body[field] = bad
                    response = await api.client.request(  # escaped: lone surrogates too
                        method,
                        path.format(**good),
                        content=json.dumps(hostile_body),
                        headers={"Content-Type": "application/json"},
                    )
                    assert response.status_code < 500, (name, field, response.text)
                    if "\x00" in bad or "\ud800" in bad or "\udfff" in bad:
                        assert response.status_code in {404, 422}, (name, field, response.text)
                    sent += 1
        assert sent > 300
        assert (await api.client.get("/api/health")).json() == {"status": "ok"}
        again = await api.client.post(api.url("/flow_runs"), json=BODIES["create_flow_run"])
        assert again.status_code == 201
        assert (await api.runtime.wait_for_flow_run(again.json()["id"])).state.name == "Completed"


async def test_a_nul_is_named_where_it_is(open_api: OpenApi) -> None:
    async with open_api() as api:
        response = await api.client.post(
            api.url("/flow_runs"), json={"flow_name": "add", "parameters": {"x": "a\x00"}}
        )
        assert response.status_code == 422
        assert response.json()["details"]["errors"] == [
            {"at": "parameters.x", "problem": "holds a NUL character or a lone surrogate"}
        ]
        listed = await api.client.get(api.url("/cache_entries"), params={"task_name": "\x00"})
        assert (listed.status_code, listed.json()["details"]["errors"][0]["at"]) == (
            422,
            "task_name",
        )


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
async def test_numbers_json_has_not_are_refused(open_api: OpenApi, number: str) -> None:
    async with open_api() as api:
        response = await api.client.post(
            api.url("/flow_runs"),
            content=f'{{"flow_name": "add", "parameters": {{"x": {number}}}}}',
            headers={"Content-Type": "application/json"},
        )
        assert (response.status_code, response.json()["code"]) == (400, "malformed_json")
        assert await api.runtime.read_flow_runs() == []
        fine = await api.client.post(
            api.url("/flow_runs"),
            content='{"flow_name": "add", "parameters": {"x": 1e300}}',
            headers={"Content-Type": "application/json"},
        )
        assert fine.status_code == 422  # a number, and the wrong type for x


async def test_a_422_lists_twenty_problems_and_counts_them_all(open_api: OpenApi) -> None:
    async with open_api() as api:
        extra = {f"unknown{i}": i for i in range(8_000)}
        response = await api.client.post(
            api.url("/api_keys"), json={"name": "k", "role": "viewer", **extra}
        )
        assert response.status_code == 422
        details = response.json()["details"]
        assert (len(details["errors"]), details["error_count"]) == (20, 8_000)
        assert len(response.content) < 5_000


@flow(flow_run_name="run-{label}")
async def chatty(label: str) -> str:
    get_run_logger().info("label %s", label)
    print(label)  # noqa: T201 - stored through log_prints
    return label


async def test_runs_with_unstorable_text_are_stored_spelled_out(database_url: str) -> None:
    """Free text that runs produce (names from parameters, log lines) cannot fail the commit
    that other runs share: it is stored with NUL and lone surrogates spelled out."""
    async with Runtime(database_url, workspace=f"nul-{uuid.uuid4().hex[:12]}") as rt:
        run = await chatty.with_options(log_prints=True)("a\x00b\ud800", return_state=True)
        assert run.name == "Completed"
        (stored,) = await rt.read_flow_runs(flow_name="chatty")
        assert stored.name == "run-a\\x00b\\ud800"
        messages = [log.message for log in await rt.read_logs(flow_run_id=stored.id)]
        assert "label a\\x00b\\ud800" in messages
        # Found by its name as given, or as stored: the store never sees the NUL itself.
        assert await rt.find_flow_runs("run-a\x00b\ud800") == [stored]
        assert await rt.find_flow_runs("run-a\\x00b\\ud800") == [stored]
        with pytest.raises(ValueError, match="limit must be >= 1"):
            await rt.find_task_runs("x", limit=0)


async def test_the_runtime_refuses_unstorable_names(database_url: str) -> None:
    async with Runtime(database_url, workspace=f"nul-{uuid.uuid4().hex[:12]}") as rt:
        for attempt in (
            rt.create_api_key("a\x00b"),
            rt.read_flow_runs(flow_name="\x00"),
            rt.read_cache_entries(task_name="\ud800"),
            rt.invalidate_cache(task_name="a\x00"),
            rt.revoke_api_key("\x00"),
            rt.read_audit(action="\x00"),
        ):
            with pytest.raises(ValueError, match="NUL character or a lone surrogate"):
                await attempt
    with pytest.raises(ValueError, match="workspace"):
        Runtime(database_url, workspace="a\x00b")


async def test_reads_the_database_refuses_fail_alone(database_url: str) -> None:
    """A read whose data the database refuses (PostgreSQL: NUL) fails that read only: the
    store does not crash (four crashes in five seconds would stop the runtime)."""
    async with Runtime(database_url) as rt:
        for _ in range(10):
            with pytest.raises((LookupError, StorageError)):  # SQLite: no such run
                await rt.read_flow_run("00000000-0000-7000-8000-000000000000", workspace="\x00")
        assert (await chatty("fine", return_state=True)).name == "Completed"
        await rt.check_store()


async def test_health_is_503_once_the_runtime_has_stopped(database_url: str) -> None:
    async with Runtime(database_url) as rt:
        app = create_app(rt)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            assert (await client.get("/api/health")).status_code == 200
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.get("/api/health")
        assert (response.status_code, response.json()["code"]) == (503, "unavailable")
