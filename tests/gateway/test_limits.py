"""Abuse limits: requests per key and failed authentications per client address, answered
429 with Retry-After, recorded in the audit log; token buckets refill with time."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from repertory import Runtime
from repertory.gateway import Limits, create_app
from repertory.gateway._limits import TokenBuckets
from repertory.runtime import SERVER_CHAIN
from repertory.testing import FakeClock

from .conftest import NO_LIMITS, gated

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from .conftest import Api

    OpenApi = Callable[..., AbstractAsyncContextManager[Api]]


def test_a_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token comes in half a second
    assert buckets.take("b") == 0  # each name has its own
    clock.advance(0.5)
    assert buckets.take("a") == 0
    clock.advance(100)
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, not beyond
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBuckets(rate=0, burst=1)


async def test_a_key_over_its_rate_gets_429_with_retry_after(open_api: OpenApi) -> None:
    async with open_api(limits=Limits(key_rate=1, key_burst=5)) as api:
        runs = api.url("/flow_runs")
        statuses = [(await api.client.get(runs)).status_code for _ in range(5)]
        assert statuses == [200] * 5
        limited = await api.client.get(runs)
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert limited.headers["retry-after"] == "1"
        _, other = await api.runtime.create_api_key("other", role="viewer")
        fresh = await api.client.get(runs, headers={"Authorization": f"Bearer {other}"})
        assert fresh.status_code == 200  # a key of its own, a bucket of its own
        [record] = await api.runtime.read_audit()
        assert (record.outcome, record.status, record.key_name) == ("denied", 429, "tests")


async def test_a_keys_bucket_refills_on_the_runtimes_clock(open_api: OpenApi) -> None:
    clock = FakeClock()
    async with open_api(limits=Limits(key_rate=1, key_burst=1), clock=clock) as api:
        runs = api.url("/flow_runs")
        assert (await api.client.get(runs)).status_code == 200
        assert (await api.client.get(runs)).status_code == 429
        clock.advance(1)  # a token a second: one more, without waiting a real second
        assert (await api.client.get(runs)).status_code == 200
        assert (await api.client.get(runs)).status_code == 429


async def test_an_address_that_keeps_failing_waits_but_a_working_key_never_does(
    open_api: OpenApi,
) -> None:
    async with open_api(limits=Limits(key_rate=None, auth_failures_per_minute=3)) as api:
        runs = api.url("/flow_runs")
        bad = {"Authorization": "Bearer rpk_00000000_" + "0" * 64}
        assert [(await api.client.get(runs, headers=bad)).status_code for _ in range(3)] == [
            401
        ] * 3
        blocked = await api.client.get(runs, headers=bad)
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "too_many_failures"
        assert int(blocked.headers["retry-after"]) == 20  # one failure more every 20 s
        # The same address with a working key: never refused for the failures.
        assert [(await api.client.get(runs)).status_code for _ in range(5)] == [200] * 5
        assert (await api.client.get(runs, headers=bad)).status_code == 429


async def test_a_flood_of_bad_keys_writes_a_bounded_number_of_records(database_url: str) -> None:
    """Refusals of one address are summed up: its first in a window is written at once, the
    rest as one record with their count when the window ends."""
    clock = FakeClock()
    async with Runtime(database_url, workspace=f"test-{uuid.uuid4().hex[:12]}", clock=clock) as rt:
        before = len(await rt.read_audit(workspace=SERVER_CHAIN))
        transport = httpx.ASGITransport(app=create_app(rt, limits=NO_LIMITS))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            bad = {"Authorization": "Bearer rpk_00000000_" + "0" * 64}
            for _ in range(500):
                response = await client.get(
                    f"/api/workspaces/{rt.workspace}/flow_runs", headers=bad
                )
                assert response.status_code == 401
            records = (await rt.read_audit(workspace=SERVER_CHAIN))[before:]
            assert [(r.outcome, r.count) for r in records] == [("unauthenticated", 1)]
            clock.advance(61)  # the window ends: the next refusal sums it up
            await client.get(f"/api/workspaces/{rt.workspace}/flow_runs", headers=bad)
        records = (await rt.read_audit(workspace=SERVER_CHAIN))[before:]
        assert [(r.action, r.count) for r in records] == [
            ("list_flow_runs", 1),
            ("refused_calls", 499),
            ("list_flow_runs", 1),
        ]
        assert records[1].target.startswith("499 more refused calls from 127.0.0.1")
        assert sum(r.count for r in records) == 501
        assert all(r.signer is not None for r in records)
        if database_url.startswith("sqlite"):  # (a shared database's server chain has others')
            assert (await rt.verify_audit(workspace=SERVER_CHAIN)).is_intact


async def test_a_workspace_at_its_most_runs_is_refused_with_429(database_url: str) -> None:
    async with Runtime(
        database_url, workspace=f"test-{uuid.uuid4().hex[:12]}", max_live_runs_per_workspace=1
    ) as rt:
        _, key = await rt.create_api_key("k")
        transport = httpx.ASGITransport(app=create_app(rt, flows=[gated]))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            runs = f"/api/workspaces/{rt.workspace}/flow_runs"
            first = await client.post(runs, json={"flow_name": "gated"})
            assert first.status_code == 201
            refused = await client.post(runs, json={"flow_name": "gated"})
            assert refused.status_code == 429
            assert refused.json()["code"] == "too_many_runs"
            assert refused.headers["retry-after"] == "1"
            await client.post(f"{runs}/{first.json()['id']}/cancel")
