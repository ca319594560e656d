"""Reads go through reading connections of their own: a slow read holds up neither writes
nor other reads; listings page by cursor at any depth, over indexes."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import httpx

from repertory import Runtime, flow
from repertory.gateway import Limits, create_app
from repertory.runtime.storage._requests import StoreRequest
from repertory.runtime.storage._sql import SqlDatabase

if TYPE_CHECKING:
    from pathlib import Path

    from repertory.runtime.storage._protocol import Store


@flow
async def double(x: int) -> int:
    return 2 * x


@dataclass(frozen=True, slots=True, kw_only=True)
class SlowRead(StoreRequest["list[tuple[object, ...]]"]):
    """A read that waits as long as the test likes (a request of tests only)."""

    entered: threading.Event
    gate: threading.Event

    async def answer(self, store: Store) -> list[tuple[object, ...]]:
        assert isinstance(store, SqlDatabase)
        rows = await store.fetch_rows("SELECT 1")
        self.entered.set()
        # Wherever this read runs (the asyncio thread, on trio with PostgreSQL): a thread waits.
        await anyio.to_thread.run_sync(self.gate.wait)
        return rows


async def test_a_slow_read_holds_up_neither_writes_nor_other_reads(database_url: str) -> None:
    gate, entered = threading.Event(), threading.Event()

    async with (
        Runtime(database_url, workspace=f"readers-{uuid.uuid4().hex[:12]}") as rt,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(rt._read, SlowRead(entered=entered, gate=gate))
        await anyio.to_thread.run_sync(entered.wait)
        try:
            with anyio.fail_after(20):  # (it used to wait for the slow read: forever)
                assert await double(2) == 4  # durable before it returns: the store wrote
                assert len(await rt.read_flow_runs()) == 1  # and another reader read
                assert (await rt.verify_audit()).is_intact  # the audit log is read beside it
        finally:
            gate.set()


async def test_runs_and_audit_records_page_by_cursor_at_any_depth(database_url: str) -> None:
    async with Runtime(database_url, workspace=f"pages-{uuid.uuid4().hex[:12]}") as rt:
        for n in range(7):
            await double(n)
        _, key = await rt.create_api_key("pager")
        app = create_app(rt, flows=[double], limits=Limits(key_rate=None))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            runs = f"/api/workspaces/{rt.workspace}/flow_runs"
            seen: list[str] = []
            params: dict[str, str | int] = {"limit": 3}
            while True:
                page = (await client.get(runs, params=params)).json()
                seen += [run["id"] for run in page["items"]]
                if page["next_cursor"] is None:
                    break
                params = {"limit": 3, "cursor": page["next_cursor"]}
            assert seen == [run.id for run in await rt.read_flow_runs()]
            assert len(seen) == 7

            for made in range(4):  # audited calls, to page the audit log too
                await client.post(
                    f"/api/workspaces/{rt.workspace}/api_keys",
                    json={"name": f"k{made}", "role": "viewer"},
                )
            audit = f"/api/workspaces/{rt.workspace}/audit"
            first = (await client.get(audit, params={"limit": 3})).json()
            rest = (await client.get(audit, params={"cursor": first["next_cursor"]})).json()
            assert [r["seq"] for r in first["items"] + rest["items"]] == [1, 2, 3, 4]

            deep = await client.get(runs, params={"offset": 10_001})
            assert deep.status_code == 422
            for bad in ("x.y", "12", "1" * 30 + ".z", "9" * 17 + "." + seen[0]):
                refused = await client.get(runs, params={"cursor": bad})
                assert refused.status_code == 422, bad
            farthest = await client.get(runs, params={"cursor": "9" * 16 + "." + seen[0]})
            assert (farthest.status_code, farthest.json()["items"]) == (200, [])


def test_listings_filter_and_page_through_indexes(tmp_path: Path) -> None:
    async def make() -> None:
        async with Runtime(f"sqlite:///{tmp_path / 'runs.db'}"):
            pass

    anyio.run(make)
    db = sqlite3.connect(tmp_path / "runs.db")
    try:
        for query, index in (
            (
                "SELECT * FROM flow_runs WHERE workspace = 'w' AND flow_name = 'f' "
                "ORDER BY created, id",
                "flow_runs_by_flow",
            ),
            (
                "SELECT * FROM flow_runs WHERE workspace = 'w' AND state_type = 'FAILED' "
                "ORDER BY created, id",
                "flow_runs_by_state",
            ),
            (
                "SELECT * FROM flow_runs WHERE workspace = 'w' AND (created > 5 OR "
                "(created = 5 AND id > 'x')) ORDER BY created, id LIMIT 3",
                "flow_runs_by_created",
            ),
            (
                "SELECT * FROM audit_log WHERE chain = 'w' AND action = 'a' ORDER BY seq",
                "audit_log_by_action",
            ),
        ):
            plan = " ".join(str(row) for row in db.execute(f"EXPLAIN QUERY PLAN {query}"))
            assert index in plan, (query, plan)
            assert "TEMP B-TREE" not in plan, (query, plan)  # no sort of what was read
    finally:
        db.close()
