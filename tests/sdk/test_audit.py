"""The audit log in the runtime: appends hashed onto one chain per workspace, in order,
durable, readable with filters; verification finds an edited or removed record."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import pytest

from repertory import Runtime
from repertory.runtime import (
    AuditCheckpoint,
    AuditEvent,
    AuditKeyring,
    AuditRecord,
    rotate_audit_key,
)
from repertory.runtime._tenancy_records import GENESIS
from repertory.runtime.storage._requests import StoreRequest
from repertory.runtime.storage._sql import SqlDatabase
from repertory.runtime.tenancy._audit import chain_hash

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from pathlib import Path

    from repertory.runtime.storage._protocol import Store

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


def rechain(database: Path, chain: str, edit: str, *, signer: str | None) -> None:
    """What someone who can write the database, but has no audit key, can do: run `edit`,
    then hash every record of the chain again in order (a plain SHA-256 chain, or HMACs
    with a key of their own that claim to be by `signer`)."""
    db = sqlite3.connect(database)
    with db:
        db.execute(edit)
        rows = db.execute(
            "SELECT seq, at, key_id, key_name, action, target, outcome, status, request_id, "
            "client, count FROM audit_log WHERE chain = ? ORDER BY seq",
            (chain,),
        ).fetchall()
        previous = GENESIS
        for seq, at, *fields, count in rows:
            record = AuditRecord(
                chain=chain,
                seq=seq,
                at=datetime.fromtimestamp(at / 1_000_000, UTC),
                key_id=fields[0],
                key_name=fields[1],
                action=fields[2],
                target=fields[3],
                outcome=fields[4],
                status=fields[5],
                request_id=fields[6],
                client=fields[7],
                previous_hash=previous,
                hash="",
                count=count,
            )
            forger = None if signer is None else AuditKeyring.of(b"not the server's key, 32 b")
            digest = chain_hash(previous, record.content(), forger)
            db.execute(
                "UPDATE audit_log SET previous_hash = ?, hash = ?, signer = ? "
                "WHERE chain = ? AND seq = ?",
                (previous, digest, signer, chain, seq),
            )
            previous = digest
    db.close()


async def test_a_chain_rehashed_with_another_key_does_not_verify(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    async with Runtime(url, workspace="w") as rt:
        for n in range(5):
            signer = (await rt.audit(event(n))).signer
        assert (await rt.verify_audit()).is_intact
    edit = "UPDATE audit_log SET outcome = 'denied' WHERE chain = 'w' AND seq = 3"
    await anyio.to_thread.run_sync(lambda: rechain(tmp_path / "audit.db", "w", edit, signer=signer))
    async with Runtime(url, workspace="w") as rt:
        verdict = await rt.verify_audit()
        assert verdict.first_broken is not None
        assert (verdict.checked, verdict.first_broken.seq) == (0, 1)  # nothing fits


async def test_a_chain_rehashed_as_plain_hashes_shows_and_fails_its_checkpoint(
    tmp_path: Path,
) -> None:
    """Plain hashes (as records from before audit keys have) link without a key: the verdict
    counts them as unsigned, and a checkpoint taken before shows the rewrite."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    async with Runtime(url, workspace="w") as rt:
        for n in range(5):
            await rt.audit(event(n))
        checkpoint = await rt.audit_checkpoint()
    edit = "UPDATE audit_log SET outcome = 'denied' WHERE chain = 'w' AND seq = 3"
    await anyio.to_thread.run_sync(lambda: rechain(tmp_path / "audit.db", "w", edit, signer=None))
    async with Runtime(url, workspace="w") as rt:
        verdict = await rt.verify_audit()
        assert (verdict.first_broken, verdict.checked, verdict.unsigned) == (None, 5, 5)
        verdict = await rt.verify_audit(checkpoint=checkpoint)
        assert verdict.checkpoint_problem == (
            f"record 5 is not the one the checkpoint of "
            f"{checkpoint.at.isoformat(timespec='seconds')} saw"
        )
        assert not verdict.is_intact


async def test_records_from_before_keys_verify_only_before_signed_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    async with Runtime(url, workspace="w") as rt:
        for n in range(3):
            await rt.audit(event(n))
    # As a database from before keys has them: plain SHA-256 hashes and no signer.
    await anyio.to_thread.run_sync(
        lambda: rechain(tmp_path / "audit.db", "w", "SELECT 1", signer=None)
    )
    async with Runtime(url, workspace="w") as rt:
        assert (await rt.verify_audit()).checked == 3
        for n in range(3, 5):
            assert (await rt.audit(event(n))).signer is not None
        assert (await rt.verify_audit(full=True)).checked == 5

    # A plain-hashed record after signed ones is a forgery, even if it links.
    def append_plain() -> None:
        db = sqlite3.connect(tmp_path / "audit.db")
        with db:
            ((seq, previous),) = db.execute(
                "SELECT seq, hash FROM audit_log WHERE chain = 'w' ORDER BY seq DESC LIMIT 1"
            ).fetchall()
            forged = AuditRecord(
                chain="w",
                seq=seq + 1,
                at=T0,
                key_id=None,
                key_name=None,
                action="forged",
                target="-",
                outcome="ok",
                status=200,
                request_id="-",
                client="-",
                previous_hash=previous,
                hash="",
            )
            db.execute(
                "INSERT INTO audit_log (chain, seq, at, key_id, key_name, action, target, "
                "outcome, status, request_id, client, previous_hash, hash) "
                "VALUES ('w', ?, ?, NULL, NULL, 'forged', '-', 'ok', 200, '-', '-', ?, ?)",
                (
                    seq + 1,
                    int(T0.timestamp() * 1_000_000),
                    previous,
                    chain_hash(previous, forged.content(), None),
                ),
            )
        db.close()

    await anyio.to_thread.run_sync(append_plain)
    async with Runtime(url, workspace="w") as rt:
        verdict = await rt.verify_audit()
        assert verdict.first_broken is not None
        assert (verdict.checked, verdict.first_broken.action) == (5, "forged")


async def test_a_checkpoint_shows_records_removed_from_the_end(database_url: str) -> None:
    ws = f"test-{uuid.uuid4().hex[:12]}"
    async with Runtime(database_url, workspace=ws) as rt:
        for n in range(5):
            await rt.audit(event(n))
        checkpoint = await rt.audit_checkpoint()
        assert (checkpoint.chain, checkpoint.count) == (ws, 5)
        assert AuditCheckpoint.from_json(checkpoint.to_json()) == checkpoint
        for count in (-1, 2**63):  # no place of a chain: refused before any query
            data = json.loads(checkpoint.to_json()) | {"count": count}
            with pytest.raises(ValueError, match="bad count"):
                AuditCheckpoint.from_json(json.dumps(data))
        assert (await rt.verify_audit(checkpoint=checkpoint)).is_intact
        await rt.audit(event(5))
        assert (await rt.verify_audit(checkpoint=checkpoint)).is_intact  # grown is fine

        forged = dataclasses.replace(checkpoint, count=3)
        verdict = await rt.verify_audit(checkpoint=forged)
        assert verdict.checkpoint_problem is not None
        assert "signature" in verdict.checkpoint_problem
        assert not verdict.is_intact

    await _delete_from(database_url, ws, "seq >= 5")  # the newest two: the chain still links
    async with Runtime(database_url, workspace=ws) as rt:
        assert (await rt.verify_audit()).is_intact  # as far as the chain alone can tell
        verdict = await rt.verify_audit(checkpoint=checkpoint)
        assert verdict.checkpoint_problem == (
            f"records were removed: the checkpoint of {checkpoint.at.isoformat(timespec='seconds')}"
            " saw 5, the chain has 4"
        )
    await _delete_from(database_url, ws, "seq >= 1")  # the whole chain
    async with Runtime(database_url, workspace=ws) as rt:
        verdict = await rt.verify_audit(checkpoint=checkpoint)
        assert verdict.checked == 0
        assert verdict.checkpoint_problem is not None
        assert verdict.checkpoint_problem.endswith("saw 5, the chain has 0")


async def _delete_from(database_url: str, chain: str, condition: str) -> None:
    """Remove records behind the runtime's back (what someone with the database can do)."""
    async with Runtime(database_url, workspace=chain) as rt:
        await rt._ask(DeleteAuditRecords(chain=chain, condition=condition))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeleteAuditRecords(StoreRequest[None]):
    """A request of tests only, answered in SQL: the set of requests is open."""

    chain: str
    condition: str

    def answer(self, store: Store) -> Awaitable[None]:
        assert isinstance(store, SqlDatabase)
        return store.execute_rows(
            f"DELETE FROM audit_log WHERE chain = ? AND {self.condition}", (self.chain,)
        )


async def test_verifying_goes_on_from_the_last_check_unless_full(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    async with Runtime(url, workspace="w") as rt:
        for n in range(5):
            await rt.audit(event(n))
        assert (await rt.verify_audit()).checked == 5

        def edit_record_2() -> None:
            db = sqlite3.connect(tmp_path / "audit.db")
            with db:
                db.execute("UPDATE audit_log SET outcome = 'denied' WHERE chain = 'w' AND seq = 2")
            db.close()

        await anyio.to_thread.run_sync(edit_record_2)
        await rt.audit(event(5))
        assert (await rt.verify_audit()).checked == 6  # only record 6 was read and checked
        verdict = await rt.verify_audit(full=True)
        assert verdict.first_broken is not None
        assert verdict.first_broken.seq == 2


async def test_audit_keys_rotate_and_old_records_still_verify(
    tmp_path: Path, repertory_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    async with Runtime(url, workspace="w") as rt:
        first = (await rt.audit(event(0))).signer
    keys = repertory_home / "audit.keys"
    mode = (await anyio.to_thread.run_sync(keys.stat)).st_mode
    assert mode & 0o777 == 0o600
    second = await anyio.to_thread.run_sync(rotate_audit_key, repertory_home)
    async with Runtime(url, workspace="w") as rt:
        assert (await rt.audit(event(1))).signer == second != first
        assert (await rt.verify_audit()).checked == 2
    await anyio.to_thread.run_sync(keys.unlink)  # the keys are gone: nothing verifies
    monkeypatch.setenv("REPERTORY_AUDIT_KEY", "an operator's key from the environment")
    async with Runtime(url, workspace="w") as rt:
        verdict = await rt.verify_audit()
        assert verdict.first_broken is not None
        assert verdict.first_broken.seq == 1
    monkeypatch.setenv("REPERTORY_AUDIT_KEY", "short")
    async with Runtime(url, workspace="w") as rt:
        with pytest.raises(ValueError, match="16 characters"):
            await rt.verify_audit()
