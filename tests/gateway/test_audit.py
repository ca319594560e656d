"""The audit trail of the REST API: one record per mutating call, refused or unauthenticated
call, with the right fields, written before the answer leaves; read and verified over REST."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from repertory.gateway import create_app
from repertory.runtime import SERVER_CHAIN

from .conftest import FLOWS
from .test_access import BODIES, call, operations, prepared

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    import pytest
    from starlette.types import Message

    from .conftest import Api

    OpenApi = Callable[..., AbstractAsyncContextManager[Api]]


async def test_every_mutating_call_writes_exactly_one_record(open_api: OpenApi) -> None:
    async with open_api() as api:
        ids = await prepared(api)
        [key] = [k for k in await api.runtime.read_api_keys() if k.name == "tests"]
        for name, method, path, _ in await operations(api):
            before = await api.runtime.read_audit()
            response = await call(api, method, path, name, api.key, ids)
            after = await api.runtime.read_audit()
            if method == "GET" and response.status_code != 403:
                assert after == before, name  # an allowed read is not audited
                continue
            [record] = after[len(before) :]
            assert (record.action, record.status, record.key_id, record.key_name) == (
                name,
                response.status_code,
                key.id,
                "tests",
            )
            expected = "ok" if response.status_code < 400 else "failed"
            assert record.outcome == ("denied" if response.status_code == 403 else expected)
            assert record.request_id == response.headers["x-request-id"]
            assert record.client == "127.0.0.1"
            assert record.target.startswith(("/api/workspaces", "/api/audit"))
            if response.status_code == 201:
                made = response.json()
                created = made.get("id") or made.get("name") or made["key"]["id"]
                assert record.target.endswith(f" -> {created}")
        assert (await api.runtime.verify_audit()).is_intact


async def test_refused_and_unauthenticated_calls_are_recorded(open_api: OpenApi) -> None:
    async with open_api() as api:
        viewer, viewer_secret = await api.runtime.create_api_key("watcher", role="viewer")
        runs = api.url("/flow_runs")
        refused = await api.client.post(
            runs,
            json=BODIES["create_flow_run"],
            headers={"Authorization": f"Bearer {viewer_secret}"},
        )
        assert refused.status_code == 403
        foreign = await api.client.get(api.url("/flow_runs", workspace="someone-else"))
        assert foreign.status_code == 404
        nobody = await api.client.get(runs, headers={"Authorization": "Bearer nope"})
        assert nobody.status_code == 401
        records = await api.runtime.read_audit()
        assert [(r.action, r.outcome, r.status, r.key_name) for r in records] == [
            ("create_flow_run", "denied", 403, "watcher"),
            ("list_flow_runs", "denied", 404, "tests"),
        ]
        assert records[0].key_id == viewer.id
        [anonymous] = [
            r
            for r in await api.runtime.read_audit(workspace=SERVER_CHAIN)
            if r.request_id == nobody.headers["x-request-id"]
        ]
        assert (anonymous.outcome, anonymous.key_id, anonymous.status) == (
            "unauthenticated",
            None,
            401,
        )


async def test_the_audit_log_is_read_and_verified_over_rest(open_api: OpenApi) -> None:
    async with open_api() as api:
        for _ in range(3):
            await api.client.post(api.url("/flow_runs"), json=BODIES["create_flow_run"])
        page = (await api.client.get(api.url("/audit"), params={"limit": 2})).json()
        assert [r["seq"] for r in page["items"]] == [1, 2]
        assert page["next_offset"] == 2
        assert page["items"][0]["action"] == "create_flow_run"
        assert api.key.split("_")[2] not in str(page)  # never a secret
        since = page["items"][1]["at"]
        later = (await api.client.get(api.url("/audit"), params={"since": since})).json()
        assert [r["seq"] for r in later["items"]] == [2, 3]
        by_action = await api.client.get(api.url("/audit"), params={"action": "cancel_flow_run"})
        assert by_action.json()["items"] == []
        verdict = (await api.client.get(api.url("/audit/verify"))).json()
        assert verdict == {
            "intact": True,
            "checked": 3,
            "first_broken": None,
            "checkpoint_problem": None,
            "resumed_after": 0,
            "unsigned": 0,
        }
        given = {"checkpoint": "not one"}
        vouched = (await api.client.get(api.url("/audit/verify"), params=given)).json()
        assert vouched["intact"] is False
        assert vouched["checkpoint_problem"].startswith("not an audit checkpoint")


async def test_a_client_gone_mid_body_is_audited_as_499_not_a_500(
    open_api: OpenApi, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_api() as api:
        app = create_app(api.runtime, flows=FLOWS)
        messages: list[Message] = [
            {"type": "http.request", "body": b'{"flow_name": "a', "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[Message] = []

        async def receive() -> Message:
            return messages.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": api.url("/flow_runs"),
            "raw_path": api.url("/flow_runs").encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"authorization", f"Bearer {api.key}".encode()), (b"host", b"x")],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 80),
        }
        with caplog.at_level(logging.DEBUG, logger="repertory.gateway"):
            await app(scope, receive, send)
        assert sent[0]["status"] == 499
        (record,) = await api.runtime.read_audit()
        assert (record.outcome, record.status, record.action) == (
            "client_closed",
            499,
            "create_flow_run",
        )
        gone = [r for r in caplog.records if "closed the connection" in r.getMessage()]
        assert [r.levelno for r in gone] == [logging.DEBUG]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert await api.runtime.read_flow_runs() == []
