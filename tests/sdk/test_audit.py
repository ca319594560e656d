"""The audit log in the runtime: appends hashed onto one chain per workspace, in order,
durable, readable with filters; verification finds an edited or removed record."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import Runtime
from repertory.runtime import AuditEvent

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def event(n: int, *, action: str = "create_flow_run", key_id: str | None = "k1") -> AuditEvent:
    return AuditEvent(
        at=T0 + timedelta(seconds=n),
        key_id=key_id,
        key_name="ci" if key_id else None,
        action=action,
        target=f"/api/workspaces/w/flow_runs -> run-{n}",
        outcome="ok",
        status=201,
        request_id=f"req-{n}",
        client="127.0.0.1",
    )


async def test_appends_make_one_ordered_chain_per_workspace(database_url: str) -> None:
    ws = f"test-{uuid.uuid4().hex[:12]}"
    async with Runtime(database_url, workspace=ws) as rt:
        async with anyio.create_task_group() as tg:  # many at once: batched, still one chain
            for n in range(50):
                tg.start_soon(rt.audit, event(n, action="create_flow_run" if n % 2 else "cancel"))
        other = await rt.audit(event(0), workspace=f"{ws}-other")
        assert (other.seq, other.chain) == (1, f"{ws}-other")
        records = await rt.read_audit()
        assert [r.seq for r in records] == list(range(1, 51))
        assert all(r.chain == ws for r in records)
        assert records[1].previous_hash == records[0].hash
        verdict = await rt.verify_audit()
        assert (verdict.is_intact, verdict.checked) == (True, 50)
        assert len(await rt.read_audit(action="cancel")) == 25
        assert len(await rt.read_audit(key_id="k1", limit=10, offset=45)) == 5
        window = await rt.read_audit(
            since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=20)
        )
        assert sorted(int(r.request_id.split("-")[1]) for r in window) == list(range(10, 20))
    async with Runtime(database_url, workspace=ws) as rt:  # a restart goes on from the head
        record = await rt.audit(event(99))
        assert record.seq == 51
        assert (await rt.verify_audit()).checked == 51


async def test_two_runtimes_on_one_database_keep_one_chain(database_url: str) -> None:
    ws = f"test-{uuid.uuid4().hex[:12]}"
    async with (
        Runtime(database_url, workspace=ws) as one,
        Runtime(database_url, workspace=ws) as two,
    ):
        async with anyio.create_task_group() as tg:
            for n in range(20):
                tg.start_soon(one.audit, event(n))
                tg.start_soon(two.audit, event(100 + n))
        verdict = await one.verify_audit()
        assert (verdict.is_intact, verdict.checked) == (True, 40)


@pytest.mark.parametrize("tamper", ["edit", "remove", "reorder"])
async def test_verification_names_the_first_record_that_was_tampered_with(
    tmp_path: Path, tamper: str
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    async with Runtime(url, workspace="w") as rt:
        for n in range(5):
            await rt.audit(event(n))

    def tamper_with() -> None:
        db = sqlite3.connect(tmp_path / "audit.db")
        with db:
            if tamper == "edit":
                db.execute("UPDATE audit_log SET outcome = 'denied' WHERE chain = 'w' AND seq = 3")
            elif tamper == "remove":
                db.execute("DELETE FROM audit_log WHERE chain = 'w' AND seq = 3")
            else:
                db.execute("UPDATE audit_log SET at = at + 1 WHERE chain = 'w' AND seq = 3")
        db.close()

    await anyio.to_thread.run_sync(tamper_with)
    async with Runtime(url, workspace="w") as rt:
        verdict = await rt.verify_audit()
        assert not verdict.is_intact
        assert verdict.first_broken is not None
        assert (verdict.checked, verdict.first_broken.seq) == (2, 3 if tamper != "remove" else 4)
