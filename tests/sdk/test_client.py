"""The Python client against the REST API in-process, and against servers that fail on purpose."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from repertory import (
    INPUTS,
    AuthError,
    Client,
    ConflictError,
    NotFoundError,
    Runtime,
    ServerError,
    UsageError,
    ValidationError,
    flow,
    get_client,
    get_run_logger,
    task,
)
from repertory.actors import ExponentialBackoff
from repertory.gateway import create_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from starlette.types import ASGIApp, Receive, Scope, Send

NO_WAIT = ExponentialBackoff(initial=0.0, maximum=0.0, jitter=0.0)


@task
async def double(x: int) -> int:
    return 2 * x


@flow
async def add(x: int, y: int = 1) -> int:
    get_run_logger().info("adding")
    return await double(x) // 2 + y


@flow
async def forever() -> None:
    await anyio.sleep_forever()


@task(cache_policy=INPUTS)
async def remembered(x: int) -> int:
    return x


@flow
async def remember(xs: list[int]) -> list[int]:
    return [await remembered(x) for x in xs]


@task
async def look_up() -> None:
    get_run_logger().warning("looking")
    raise LookupError("no such row")


@flow
async def fails() -> None:
    await look_up()


@contextlib.asynccontextmanager
async def open_client(
    make_runtime: Callable[[], Runtime],
    *,
    wrap: Callable[[ASGIApp], ASGIApp] = lambda app: app,
    bad_key: bool = False,
) -> AsyncIterator[tuple[Client, Runtime]]:
    async with make_runtime() as runtime:
        _, key = await runtime.create_api_key("client tests")
        app = wrap(create_app(runtime, flows=[add, forever, remember, fails]))
        client = Client(
            "http://127.0.0.1",
            "rpk_00000000_" + "0" * 64 if bad_key else key,
            workspace=runtime.workspace,
            backoff=NO_WAIT,
            transport=httpx.ASGITransport(app=app),
        )
        async with client:
            yield client, runtime


async def test_the_client_reads_a_failures_traceback(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with open_client(make_runtime) as (client, _):
        created = await client.create_flow_run("fails", {})
        done = await client.wait_for_flow_run(created.id, timeout=30)
        assert done.state.name == "Failed"
        assert done.state.traceback is None  # a run's own state: see its history
        *before, failed = await client.read_state_history(done.id)
        assert failed.traceback is not None
        assert failed.traceback.startswith("Traceback (most recent call last):")
        assert failed.traceback.endswith("LookupError: no such row\n")
        assert [state.traceback for state in before] == [None, None]
        [looked] = await client.read_task_runs(done.id)
        assert looked == await client.read_task_run(looked.id)
        *_, task_failed = await client.read_state_history(looked.id)  # a task run's too
        assert task_failed.traceback is not None
        assert task_failed.traceback.endswith("LookupError: no such row\n")
        said, ended = [log.message for log in await client.read_task_run_logs(looked.id)]
        assert (said, ended.endswith("' failed: LookupError: no such row")) == ("looking", True)
        with pytest.raises(NotFoundError):
            await client.read_task_run(done.id)  # a flow run's id
        with pytest.raises(NotFoundError):
            await client.read_state_history("01234567-89ab-7def-8123-456789abcdef")
        for listed in (  # by type or by name, in any case
            await client.read_flow_runs(state_type="failed"),
            await client.read_flow_runs(state_name="failed"),
        ):
            assert [run.id for run in listed] == [done.id]
        with pytest.raises(ValidationError) as refused:
            await client.read_flow_runs(state_name="finished")
        assert "state_name: Value error, unknown state name: one of Scheduled, Late" in str(
            refused.value
        )
        again = await client.create_flow_run("fails", {})
        newest = await client.read_flow_runs(newest_first=True, limit=1)
        assert [run.id for run in newest] == [again.id]
        older = await client.read_flow_runs(newest_first=True, after=newest[0])
        assert [run.id for run in older] == [done.id]


async def test_the_client_creates_waits_for_and_reads_runs(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with open_client(make_runtime) as (client, _):
        created = await client.create_flow_run("add", {"x": "2"})
        assert created.state.name == "Pending"
        assert created.parameters == {"x": 2, "y": 1}
        done = await client.wait_for_flow_run(created.id, timeout=30)
        assert done.state.name == "Completed"
        assert done.end_time is not None
        assert [s.name for s in await client.read_state_history(done.id)] == [
            "Pending",
            "Running",
            "Completed",
        ]
        [task_run] = await client.read_task_runs(done.id)
        assert (task_run.task_name, task_run.flow_run_id) == ("double", done.id)
        assert [log.message for log in await client.read_logs(done.id)] == ["adding"]
        assert await client.read_logs(done.id, offset=1) == []  # only lines past those seen
        assert [run.id for run in await client.read_flow_runs(state_type="COMPLETED")] == [done.id]
        assert await client.read_flow_run(done.id) == done


async def test_the_client_finds_runs_by_name_id_prefix_or_id_suffix(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with open_client(make_runtime) as (client, _):
        first = await client.wait_for_flow_run((await client.create_flow_run("add", {"x": 1})).id)
        second = await client.wait_for_flow_run((await client.create_flow_run("add", {"x": 2})).id)
        assert await client.find_flow_runs(second.id[-8:]) == [second]  # as tables show it
        assert await client.find_flow_runs(first.name) == [
            run
            for run in (second, first)
            if run.name == first.name  # names may repeat
        ]
        both = await client.find_flow_runs(first.id[:4])  # made weeks apart at most: one prefix
        assert [run.id for run in both] == [second.id, first.id]  # newest first
        assert await client.find_flow_runs(first.id[:4], limit=1) == [second]
        assert await client.find_flow_runs("no-such-run") == []
        [task_run] = await client.read_task_runs(first.id)
        assert await client.find_task_runs(task_run.id[-6:]) == [task_run]


async def test_the_client_makes_lists_and_revokes_keys(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with open_client(make_runtime) as (client, runtime):
        expires = datetime.now(UTC) + timedelta(days=1)
        key, secret = await client.create_api_key("deploys", role="runner", expires=expires)
        assert (key.name, key.role, key.expires, key.revoked) == (
            "deploys",
            "runner",
            expires,
            None,
        )
        assert await runtime.authenticate(secret) is not None
        assert [k.name for k in await client.read_api_keys()] == ["client tests", "deploys"]
        rotated, new_secret = await client.rotate_api_key(key.id)
        assert (rotated.id, new_secret != secret) == (key.id, True)
        assert await runtime.authenticate(secret) is None
        assert await runtime.authenticate(new_secret) is not None
        secret = new_secret
        revoked = await client.revoke_api_key(key.id)
        assert revoked.revoked is not None
        assert await runtime.authenticate(secret) is None
        with pytest.raises(NotFoundError):
            await client.revoke_api_key("nosuchkey")
        with pytest.raises(ValidationError):
            await client.create_api_key("bad", role="superuser")


async def test_the_client_lists_and_invalidates_cache_entries(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with open_client(make_runtime) as (client, _):
        run = await client.create_flow_run("remember", {"xs": [1, 2, 3]})
        await client.wait_for_flow_run(run.id, timeout=30)
        entries = await client.read_cache_entries(task_name="remembered")
        assert len(entries) == 3
        assert {entry.storage for entry in entries} == {"local"}
        assert len(await client.read_cache_entries(limit=1, offset=2)) == 1
        assert await client.invalidate_cache(key=entries[0].key) == 1
        assert await client.invalidate_cache(task_name="remembered") == 2
        with pytest.raises(ValidationError):
            await client.invalidate_cache()


async def test_the_client_reads_and_verifies_the_audit_log(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with open_client(make_runtime) as (client, _):
        run = await client.create_flow_run("add", {"x": 1})
        records = await client.read_audit(action="create_flow_run")
        assert [(r.seq, r.outcome, r.key_name) for r in records] == [(1, "ok", "client tests")]
        assert records[0].target.endswith(f" -> {run.id}")
        assert await client.read_audit(since=records[0].at + timedelta(seconds=1)) == []
        verdict = await client.verify_audit()
        assert (verdict.is_intact, verdict.checked) == (True, 1)


async def test_an_idempotency_key_makes_one_run(make_runtime: Callable[[], Runtime]) -> None:
    async with open_client(make_runtime) as (client, _):
        first = await client.create_flow_run("add", {"x": 1}, idempotency_key="k1")
        again = await client.create_flow_run("add", {"x": 1}, idempotency_key="k1")
        assert again.id == first.id
        with pytest.raises(ConflictError):
            await client.create_flow_run("add", {"x": 2}, idempotency_key="k1")
        await client.wait_for_flow_run(first.id)


async def test_errors_come_back_as_their_own_exceptions(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with open_client(make_runtime) as (client, _):
        with pytest.raises(ValidationError) as bad:
            await client.create_flow_run("add", {"x": "many"})
        assert bad.value.status == 422
        assert "x" in bad.value.details["parameters"]  # type: ignore[operator]
        with pytest.raises(NotFoundError):
            await client.read_flow_run("no-such-run")
        live = await client.create_flow_run("forever")
        cancelled = await client.cancel_flow_run(live.id)
        assert cancelled.state.name == "Cancelled"
        with pytest.raises(ConflictError):
            await client.cancel_flow_run(live.id)
        with pytest.raises(TimeoutError):
            await client.wait_for_flow_run((await client.create_flow_run("forever")).id, 0.05)
    async with open_client(make_runtime, bad_key=True) as (client, _):
        with pytest.raises(AuthError):
            await client.read_flow_runs()


def failing(times: int, status: int, headers: dict[str, str]) -> Callable[[ASGIApp], ASGIApp]:
    """An app that answers `status` to its first `times` requests, then passes them on."""

    def wrap(app: ASGIApp) -> ASGIApp:
        left = times

        async def flaky(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal left
            if scope["type"] == "http" and left > 0:
                left -= 1
                raw = [(k.encode(), v.encode()) for k, v in headers.items()]
                await send({"type": "http.response.start", "status": status, "headers": raw})
                await send({"type": "http.response.body", "body": b""})
                return
            await app(scope, receive, send)

        return flaky

    return wrap


@pytest.mark.parametrize("status", [429, 503])
async def test_busy_and_unavailable_answers_are_retried(
    make_runtime: Callable[[], Runtime], status: int
) -> None:
    wrap = failing(3, status, {"Retry-After": "0"})
    async with open_client(make_runtime, wrap=wrap) as (client, _):
        created = await client.create_flow_run("add", {"x": 1})  # after three refusals
        await client.wait_for_flow_run(created.id)
        assert len(await client.read_flow_runs()) == 1  # retried, never made twice


async def test_retries_give_up_with_a_server_error(make_runtime: Callable[[], Runtime]) -> None:
    async with open_client(make_runtime, wrap=failing(10, 503, {})) as (client, _):
        with pytest.raises(ServerError) as caught:
            await client.read_flow_runs()
        assert caught.value.status == 503


class _DropsFirstConnections(httpx.AsyncBaseTransport):
    """A transport whose first connections fail, then that hands over to the real one."""

    def __init__(self, real: httpx.AsyncBaseTransport, failures: int) -> None:
        self.real = real
        self.failures = failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.failures:
            self.failures -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return await self.real.handle_async_request(request)


async def test_an_unreachable_server_is_retried_then_reported(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with make_runtime() as runtime:
        _, key = await runtime.create_api_key("client tests")
        real = httpx.ASGITransport(app=create_app(runtime, flows=[add]))
        flaky = _DropsFirstConnections(real, failures=2)
        async with Client(
            "http://127.0.0.1", key, workspace=runtime.workspace, backoff=NO_WAIT, transport=flaky
        ) as client:
            assert await client.read_flow_runs() == []
        gone = _DropsFirstConnections(real, failures=100)
        async with Client(
            "http://127.0.0.1", key, retries=2, backoff=NO_WAIT, transport=gone
        ) as client:
            with pytest.raises(ServerError, match="connection refused"):
                await client.read_flow_runs()
            assert gone.failures == 97  # the first try and two retries


def test_get_client_takes_its_url_and_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REPERTORY_API_KEY", raising=False)
    with pytest.raises(UsageError, match="API key"):
        get_client()
    monkeypatch.setenv("REPERTORY_API_KEY", "rpk_x")
    monkeypatch.setenv("REPERTORY_API_URL", "http://127.0.0.1:9999/")
    client = get_client(workspace="w")
    assert (client.url, client.workspace) == ("http://127.0.0.1:9999", "w")


class _LosesFirstAnswers(httpx.AsyncBaseTransport):
    """A transport that delivers requests but loses the first answers, as a dropped link does
    after the server has acted."""

    def __init__(self, real: httpx.AsyncBaseTransport, losses: int) -> None:
        self.real = real
        self.losses = losses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.real.handle_async_request(request)
        if self.losses:
            self.losses -= 1
            await response.aclose()
            raise httpx.ReadError("connection reset", request=request)
        return response


async def test_a_create_whose_answer_was_lost_is_retried_without_a_second_run(
    make_runtime: Callable[[], Runtime],
) -> None:
    async with make_runtime() as runtime:
        _, key = await runtime.create_api_key("client tests")
        real = httpx.ASGITransport(app=create_app(runtime, flows=[add, forever]))
        lossy = _LosesFirstAnswers(real, losses=2)
        async with Client(
            "http://127.0.0.1", key, workspace=runtime.workspace, backoff=NO_WAIT, transport=lossy
        ) as client:
            created = await client.create_flow_run("add", {"x": 1})  # made on the first try
            await client.wait_for_flow_run(created.id)
            assert [run.id for run in await client.read_flow_runs()] == [created.id]
            live = await client.create_flow_run("forever")
            lossy.losses = 1
            with pytest.raises(ServerError, match="connection reset"):
                await client.cancel_flow_run(live.id)  # not retried: it may have acted
            assert (await client.read_flow_run(live.id)).state.name == "Cancelled"
