"""The contract of the `Store` protocol: SQLite, PostgreSQL (when configured) and the memory
store pass the same tests, driven from asyncio and trio."""

from __future__ import annotations

from dataclasses import replace

import pytest

from repertory.runtime._errors import StorageError
from repertory.runtime._records import CacheEntry, FlowRun, LogRecord, State
from repertory.runtime._references import RunReference
from repertory.runtime._states import StateType
from repertory.runtime._tenancy_records import GENESIS, ApiKey, AuditRecord, Role, Workspace

from .conftest import T0, Stored, at, batch, flow_run, log, state, task_run


async def test_a_closed_database_refuses_reads_and_writes(store: Stored) -> None:
    await store(lambda db: db.close())
    with pytest.raises(StorageError, match="is not open"):
        await store(lambda db: db.read_flow_runs("default"))
    with pytest.raises(StorageError, match="cannot write"):
        await store.write(flow_run("f1"))


async def test_a_flow_run_reads_back_as_written(store: Stored) -> None:
    run = replace(
        flow_run("f1", "Failed", workspace="team", parent="p1"),
        flow_version="1.2",
        state=state("Failed", "f1", 9, message="bad input"),
        parameters={"x": [1, 2.5, None], "nested": {"ok": True, "s": "é"}},
        run_count=3,
        start_time=at(1),
        end_time=at(9),
        parent_task_run_id="pt1",
    )
    await store.write(run)

    assert await store(lambda db: db.read_flow_run("team", "f1")) == run
    assert await store(lambda db: db.read_flow_run("team", "missing")) is None


async def test_a_task_run_upsert_keeps_the_latest_state(store: Stored) -> None:
    pending = replace(task_run("t1", "f1", "Pending"), parameters={"a": 1}, tags=("x", "y"))
    retried = replace(
        pending, state=state("Completed", "t1", 5), run_count=2, start_time=at(2), end_time=at(5)
    )
    await store.write(pending)
    await store.write(retried)

    assert await store(lambda db: db.read_task_run("default", "t1")) == retried
    assert await store(lambda db: db.read_task_runs("default", "f1")) == [retried]


async def test_state_history_reads_back_in_write_order(store: Stored) -> None:
    names = ["Scheduled", "Pending", "Running", "AwaitingRetry", "Running", "Completed"]
    # Timestamps out of order on purpose: the order is the order written, not the clock's.
    history = [state(name, "f1", -index) for index, name in enumerate(names)]
    await store.write(flow_run("f1"), *history[:2])
    await store.write(state("Running", "other"), *history[2:])

    assert await store(lambda db: db.read_state_history("default", "f1")) == history


async def test_a_group_commit_writes_every_table_and_a_task_runs_last_result_link(
    store: Stored,
) -> None:
    run, step = flow_run("f1"), task_run("t1", "f1")
    history = [state(name, "t1", -index) for index, name in enumerate(["Pending", "Running"])]
    written = batch(run, step, *history, log("f1", "one"), log("f1", "two", task_run_id="t1"))
    written.results += [("t1", "default", "a" * 64), ("t1", "default", "b" * 64)]
    await store(lambda db: db.write(written, owner="me"))

    assert await store(lambda db: db.read_flow_run("default", "f1")) == run
    assert await store(lambda db: db.read_task_run("default", "t1")) == step
    assert await store(lambda db: db.read_state_history("default", "t1")) == history
    assert [line.message for line in await store(lambda db: db.read_logs("default", "f1"))] == [
        "one",
        "two",
    ]
    for key in ("a" * 64, "b" * 64):  # entries computed by another run
        await store(lambda db, key=key: db.cache.put_entry(entry(key, task_run_id="t0")))  # type: ignore[misc]
    holding = await store(lambda db: db.cache.read_entry_of_run("default", "t1"))
    assert holding is not None
    assert holding.key == "b" * 64  # the last link of the batch


async def test_a_group_commit_that_fails_writes_nothing(store: Stored) -> None:
    broken = batch(flow_run("f1"), state("Running", "f1"))
    broken.results.append(("t1", "default", None))  # type: ignore[arg-type]  # NOT NULL
    with pytest.raises(StorageError, match="cannot write"):
        await store(lambda db: db.write(broken, owner="me"))

    assert await store(lambda db: db.read_flow_run("default", "f1")) is None
    assert await store(lambda db: db.read_state_history("default", "f1")) == []


async def test_logs_read_back_in_order_with_paging_and_task_filter(store: Stored) -> None:
    logs = [log("f1", f"line {i}", task_run_id="t1" if i % 2 else None) for i in range(6)]
    await store.write(*logs[:3], log("f2", "elsewhere"))
    await store.write(*logs[3:])

    assert await store(lambda db: db.read_logs("default", "f1")) == logs
    assert await store(lambda db: db.read_logs("default", "f1", limit=2, offset=1)) == logs[1:3]
    assert await store(lambda db: db.read_logs("default", "f1", offset=4)) == logs[4:]
    assert await store(lambda db: db.read_logs("default", "f1", task_run_id="t1")) == logs[1::2]
    assert await store(lambda db: db.read_logs("default", "f1", offset=6)) == []


async def test_flow_runs_page_by_limit_and_offset_with_no_implicit_cap(store: Stored) -> None:
    runs = [flow_run(f"f{i:04}", created=i) for i in range(1500)]
    await store.write(*runs)

    assert await store(lambda db: db.read_flow_runs("default")) == runs
    assert await store(lambda db: db.read_flow_runs("default", limit=3, offset=10)) == runs[10:13]
    assert await store(lambda db: db.read_flow_runs("default", offset=1490)) == runs[1490:]
    assert await store(lambda db: db.read_flow_runs("default", limit=0)) == []
    with pytest.raises(ValueError, match="limit must be >= 0"):
        await store(lambda db: db.read_flow_runs("default", limit=-1))
    with pytest.raises(ValueError, match="offset must be >= 0"):
        await store(lambda db: db.read_flow_runs("default", offset=-1))


async def test_flow_runs_read_newest_first_page_by_keyset_either_way(store: Stored) -> None:
    runs = [flow_run(f"f{i:02}", created=i // 2) for i in range(10)]  # pairs share a time
    await store.write(*runs)
    newest = list(reversed(runs))

    assert await store(lambda db: db.read_flow_runs("default", newest_first=True)) == newest
    first = await store(lambda db: db.read_flow_runs("default", newest_first=True, limit=3))
    assert first == newest[:3]
    after = (first[-1].created, first[-1].id)  # between two runs of one time
    rest = await store(lambda db: db.read_flow_runs("default", newest_first=True, after=after))
    assert rest == newest[3:]
    onward = await store(lambda db: db.read_flow_runs("default", after=after))
    assert onward == runs[8:]  # oldest first, from the same place
    page = await store(lambda db: db.read_flow_runs("default", newest_first=True, offset=8))
    assert page == newest[8:]


async def test_flow_runs_filter_by_state_name(store: Stored) -> None:
    late = flow_run("late", "Late", created=0)
    scheduled = flow_run("scheduled", "Scheduled", created=1)
    await store.write(late, scheduled, flow_run("running", created=2))

    assert await store(lambda db: db.read_flow_runs("default", state_name="Late")) == [late]
    both = await store(lambda db: db.read_flow_runs("default", state_type=StateType.SCHEDULED))
    assert both == [late, scheduled]


async def test_runs_are_found_by_name_id_prefix_or_id_suffix_newest_first(
    store: Stored,
) -> None:
    ids = ["0190aaaa-0000-7000-8000-00000000abcd", "0190aaaa-0000-7000-8000-0000001234ef"]
    old, new = flow_run(ids[0], created=0), flow_run(ids[1], created=1)
    other = replace(flow_run("0190aaaa-0000-7000-8000-00000000ffff", workspace="b"), name="x")
    task = task_run("0190aaaa-0000-7000-8000-0000005678ab", ids[0], created=2)
    await store.write(old, new, other, task)

    async def find(text: str, limit: int = 10) -> list[FlowRun]:
        reference = RunReference.of(text)
        return await store(lambda db: db.find_flow_runs("default", reference, limit=limit))

    assert await find("0190AAAA-0000") == [new, old]  # a prefix, in any case; newest first
    assert await find("0190aaaa", limit=1) == [new]
    assert await find("1234ef") == [new]  # the last 6 hex digits or more
    assert await find("00abcd") == [old]
    assert await find("abcd") == []  # too short a suffix, and no prefix
    assert await find(f"name-{ids[0]}") == [old]  # its exact name
    assert await find("00ffff") == []  # another workspace's
    assert await find("%") == []  # no pattern characters
    assert await find("_") == []
    tasks = await store(
        lambda db: db.find_task_runs("default", RunReference.of("5678ab"), limit=10)
    )
    assert tasks == [task]


async def test_a_failed_states_traceback_is_kept_in_the_history_only(store: Stored) -> None:
    try:
        raise ValueError("bad row\x00 \ud800")  # text no database stores as it is
    except ValueError as exc:
        error = exc
    failed = State.named("Failed", "f1", message="ValueError: bad row", outcome=error)
    await store.write(flow_run("f1", created=0), failed, flow_run("f1", "Failed", created=0))

    [stored] = await store(lambda db: db.read_state_history("default", "f1"))
    assert stored.traceback is not None
    assert stored.traceback.startswith("Traceback (most recent call last):")
    assert "ValueError: bad row" in stored.traceback
    [run] = await store(lambda db: db.read_flow_runs("default"))
    assert run.state.traceback is None


async def test_task_runs_page_by_limit_and_offset(store: Stored) -> None:
    runs = [task_run(f"t{i}", "f1", created=i) for i in range(5)]
    await store.write(*runs, task_run("other", "f2"))

    assert await store(lambda db: db.read_task_runs("default", "f1")) == runs
    assert (
        await store(lambda db: db.read_task_runs("default", "f1", limit=2, offset=2)) == runs[2:4]
    )


async def test_flow_runs_filter_by_flow_name_state_type_and_parent(store: Stored) -> None:
    parent = flow_run("p", created=0)
    child = flow_run("c", "Completed", flow_name="load", created=1, parent="p")
    other = flow_run("o", "Pending", flow_name="load", created=2)
    await store.write(parent, child, other)

    assert await store(lambda db: db.read_flow_runs("default", flow_name="load")) == [child, other]
    running = await store(lambda db: db.read_flow_runs("default", state_type=StateType.RUNNING))
    assert running == [parent]
    assert await store(lambda db: db.read_flow_runs("default", parent_flow_run_id="p")) == [child]


async def test_a_workspace_sees_none_of_another_workspaces_records(store: Stored) -> None:
    await store.write(
        flow_run("f1", workspace="a"),
        state("Running", "f1"),
        task_run("t1", "f1", workspace="a"),
        LogRecord(flow_run_id="f1", level=20, message="m", timestamp=T0, workspace="a"),
        workspace="a",
    )

    assert await store(lambda db: db.read_flow_run("a", "f1")) is not None
    assert await store(lambda db: db.read_flow_run("b", "f1")) is None
    assert await store(lambda db: db.read_flow_runs("b")) == []
    assert await store(lambda db: db.read_task_run("b", "t1")) is None
    assert await store(lambda db: db.read_task_runs("b", "f1")) == []
    assert await store(lambda db: db.read_state_history("b", "f1")) == []
    assert await store(lambda db: db.read_logs("b", "f1")) == []
    assert len(await store(lambda db: db.read_logs("a", "f1"))) == 1
    assert len(await store(lambda db: db.read_state_history("a", "f1"))) == 1


async def test_crash_runs_of_marks_only_unfinished_runs_of_that_owner(store: Stored) -> None:
    await store.write(
        flow_run("live", workspace="a"),
        state("Running", "live"),
        task_run("t-running", "live", workspace="a"),
        task_run("t-done", "live", "Completed", workspace="a"),
        owner="dead",
        workspace="a",
    )
    await store.write(
        flow_run("done", "Completed"), task_run("t-of-done", "done", "Pending"), owner="dead"
    )
    await store.write(flow_run("theirs"), owner="alive")

    crashed = await store(lambda db: db.crash_runs_of("dead", "it died"))

    assert crashed == ["live"]
    live = await store(lambda db: db.read_flow_run("a", "live"))
    assert live is not None
    assert (live.state.type, live.state.name, live.state.message) == (
        StateType.CRASHED,
        "Crashed",
        "it died",
    )
    assert live.end_time == live.state.timestamp
    task = await store(lambda db: db.read_task_run("a", "t-running"))
    assert task is not None
    assert (task.state.name, task.state.message) == ("Crashed", "it died")
    tasks = await store(lambda db: db.read_task_runs("a", "live"))
    tasks += await store(lambda db: db.read_task_runs("default", "done"))
    assert {run.id: run.state.name for run in tasks} == {
        "t-running": "Crashed",
        "t-done": "Completed",
        "t-of-done": "Pending",
    }
    others = await store(lambda db: db.read_flow_runs("default"))
    assert {run.id: run.state.name for run in others} == {
        "done": "Completed",
        "theirs": "Running",
    }
    history = await store(lambda db: db.read_state_history("a", "live"))
    assert [s.name for s in history] == ["Running", "Crashed"]
    assert history[-1].message == "it died"
    task_history = await store(lambda db: db.read_state_history("a", "t-running"))
    assert [s.name for s in task_history] == ["Crashed"]
    assert await store(lambda db: db.read_state_history("a", "t-done")) == []
    assert await store(lambda db: db.crash_runs_of("dead", "again")) == []


async def test_crash_runs_of_takes_runs_waiting_to_retry_through_pending(store: Stored) -> None:
    await store.write(
        flow_run("waiting", "AwaitingRetry"),
        state("AwaitingRetry", "waiting"),
        flow_run("running"),
        task_run("t-waiting", "running", "AwaitingRetry"),
        state("AwaitingRetry", "t-waiting"),
        owner="dead",
    )

    assert sorted(await store(lambda db: db.crash_runs_of("dead", "it died"))) == [
        "running",
        "waiting",
    ]

    histories = [
        await store(lambda db: db.read_state_history("default", "waiting")),
        await store(lambda db: db.read_state_history("default", "t-waiting")),
    ]
    for history in histories:
        assert [(s.type, s.name, s.message) for s in history] == [
            (StateType.SCHEDULED, "AwaitingRetry", None),
            (StateType.PENDING, "Pending", "it died"),
            (StateType.CRASHED, "Crashed", "it died"),
        ]
        assert history[1].timestamp == history[2].timestamp
    waiting = await store(lambda db: db.read_flow_run("default", "waiting"))
    assert waiting is not None
    assert waiting.state.name == "Crashed"
    assert waiting.end_time == waiting.state.timestamp
    [task] = await store(lambda db: db.read_task_runs("default", "running"))
    assert task.state.name == "Crashed"


async def test_other_owners_are_the_registered_ones_and_those_with_unfinished_runs(
    store: Stored,
) -> None:
    await store(lambda db: db.register_owner("me"))
    await store(lambda db: db.register_owner("registered"))
    await store.write(flow_run("f1"), owner="busy")
    await store.write(flow_run("f2", "Completed"), owner="finished")

    assert await store(lambda db: db.other_owners("me")) == ["busy", "registered"]

    await store(lambda db: db.unregister_owner("registered"))
    await store(lambda db: db.crash_runs_of("busy", "gone"))
    assert await store(lambda db: db.other_owners("me")) == []
    assert await store(lambda db: db.other_owners("someone")) == ["me"]


def entry(
    key: str,
    *,
    workspace: str = "default",
    task_name: str = "step",
    created: float = 0,
    expires: float | None = None,
    task_run_id: str = "t1",
) -> CacheEntry:
    return CacheEntry(
        key=key,
        workspace=workspace,
        task_name=task_name,
        created=at(created),
        expires=None if expires is None else at(expires),
        size=3,
        storage="database",
        location=f"{workspace}/{key}",
        task_run_id=task_run_id,
    )


async def test_free_text_a_database_would_refuse_is_spelled_out(store: Stored) -> None:
    run = replace(flow_run("f1"), name="a\x00b", state=state("Failed", "f1", message="x\ud800y"))
    await store.write(run, log("f1", "nul \x00 here"))

    read = await store(lambda db: db.read_flow_run("default", "f1"))
    assert read is not None
    assert (read.name, read.state.message) == ("a\\x00b", "x\\ud800y")
    [line] = await store(lambda db: db.read_logs("default", "f1"))
    assert line.message == "nul \\x00 here"


async def test_an_idempotency_key_is_held_by_its_first_claimant_until_released(
    store: Stored,
) -> None:
    assert await store(lambda db: db.claim_idempotency_key("default", "k", "h1", "r1")) == (
        "r1",
        "h1",
    )
    assert await store(lambda db: db.claim_idempotency_key("default", "k", "h2", "r2")) == (
        "r1",
        "h1",
    )
    assert await store(lambda db: db.claim_idempotency_key("other", "k", "h3", "r3")) == (
        "r3",
        "h3",
    )
    await store(lambda db: db.release_idempotency_key("default", "k"))
    assert await store(lambda db: db.claim_idempotency_key("default", "k", "h4", "r4")) == (
        "r4",
        "h4",
    )


async def test_api_keys_are_kept_rotated_and_revoked_within_their_workspace(
    store: Stored,
) -> None:
    first = ApiKey(id="k1", workspace="a", name="ci", role="runner", created=at(1))
    second = ApiKey(id="k0", workspace="a", name="ops", role="admin", created=at(2))
    elsewhere = ApiKey(id="k2", workspace="b", name="ci", role="viewer", created=at(0))
    for key in (first, second, elsewhere):
        await store(lambda db, key=key: db.insert_api_key(key, f"hash-{key.id}"))  # type: ignore[misc]
    with pytest.raises(StorageError, match="cannot write"):  # ids are unique
        await store(lambda db: db.insert_api_key(replace(first, workspace="b"), "again"))

    assert await store(lambda db: db.read_api_keys("a")) == [first, second]  # by creation
    assert await store(lambda db: db.read_api_key("k2")) == (elsewhere, "hash-k2")
    assert await store(lambda db: db.read_api_key("missing")) is None

    await store(lambda db: db.rotate_api_key("b", "k1", "stolen"))  # not its workspace
    await store(lambda db: db.rotate_api_key("a", "k1", "new"))
    assert await store(lambda db: db.read_api_key("k1")) == (first, "new")

    await store(lambda db: db.revoke_api_key("b", "k1"))  # not its workspace: nothing
    assert await store(lambda db: db.read_api_key("k1")) == (first, "new")
    await store(lambda db: db.revoke_api_key("a", "k1"))
    found = await store(lambda db: db.read_api_key("k1"))
    assert found is not None
    revoked = found[0].revoked
    assert revoked is not None
    await store(lambda db: db.rotate_api_key("a", "k1", "after"))  # a revoked key stays so
    await store(lambda db: db.revoke_api_key("a", "k1"))  # and keeps its first revocation
    assert await store(lambda db: db.read_api_key("k1")) == (replace(first, revoked=revoked), "new")


async def test_a_custom_role_is_unique_per_workspace_and_kept_while_a_key_uses_it(
    store: Stored,
) -> None:
    role = Role(name="deployer", scopes=frozenset({"flow_runs:write", "flows:read"}))
    assert await store(lambda db: db.workspaces.create_role("a", role, at(0))) is True
    assert await store(lambda db: db.workspaces.create_role("a", role, at(1))) is False
    assert await store(lambda db: db.workspaces.create_role("b", role, at(1))) is True
    other = Role(name="auditor", scopes=frozenset({"audit:read"}))
    await store(lambda db: db.workspaces.create_role("a", other, at(2)))
    assert await store(lambda db: db.workspaces.read_roles("a")) == [other, role]  # by name

    key = ApiKey(id="k1", workspace="a", name="ci", role="deployer", created=at(0))
    await store(lambda db: db.insert_api_key(key, "hash"))
    assert await store(lambda db: db.workspaces.delete_role("a", "deployer")) == "in use"
    await store(lambda db: db.revoke_api_key("a", "k1"))
    assert await store(lambda db: db.workspaces.delete_role("a", "deployer")) == "deleted"
    assert await store(lambda db: db.workspaces.delete_role("a", "deployer")) == "missing"
    assert await store(lambda db: db.workspaces.read_roles("b")) == [role]


async def test_a_workspace_renamed_takes_all_its_data_and_deleted_leaves_none(
    store: Stored,
) -> None:
    for name in ("b", "a"):
        made = Workspace(name=name, created=at(0))
        assert await store(lambda db, made=made: db.workspaces.create(made))  # type: ignore[misc]
    assert not await store(lambda db: db.workspaces.create(Workspace(name="a", created=at(1))))
    assert [ws.name for ws in await store(lambda db: db.workspaces.read_all())] == ["a", "b"]
    await store.write(
        flow_run("f1", workspace="a"),
        state("Running", "f1"),
        task_run("t1", "f1", workspace="a"),
        LogRecord(flow_run_id="f1", level=20, message="m", timestamp=T0, workspace="a"),
        workspace="a",
    )
    key = ApiKey(id="k1", workspace="a", name="ci", role="viewer", created=at(0))
    await store(lambda db: db.insert_api_key(key, "hash"))
    await store(lambda db: db.cache.put_entry(entry("e" * 64, workspace="a")))
    await store(lambda db: db.audit.append("a", [record("a", 1)], after=(0, GENESIS)))

    assert await store(lambda db: db.workspaces.rename("missing", "c")) == "missing"
    assert await store(lambda db: db.workspaces.rename("a", "b")) == "taken"
    await store.write(flow_run("x1", workspace="runs-only"), workspace="runs-only")
    assert await store(lambda db: db.workspaces.rename("a", "runs-only")) == "taken"
    assert await store(lambda db: db.workspaces.rename("a", "c")) == "renamed"

    assert await store(lambda db: db.read_flow_run("a", "f1")) is None
    moved = await store(lambda db: db.read_flow_run("c", "f1"))
    assert moved is not None
    assert moved.workspace == "c"
    assert [t.id for t in await store(lambda db: db.read_task_runs("c", "f1"))] == ["t1"]
    assert len(await store(lambda db: db.read_state_history("c", "f1"))) == 1
    assert len(await store(lambda db: db.read_logs("c", "f1"))) == 1
    assert [k.id for k in await store(lambda db: db.read_api_keys("c"))] == ["k1"]
    assert await store(lambda db: db.cache.read_entry("c", "e" * 64)) is not None
    assert await store(lambda db: db.audit.head("c")) == (1, "h1")
    assert [ws.name for ws in await store(lambda db: db.workspaces.read_all())] == ["b", "c"]

    await store(lambda db: db.workspaces.delete("c"))
    assert [ws.name for ws in await store(lambda db: db.workspaces.read_all())] == ["b"]
    assert await store(lambda db: db.read_flow_run("c", "f1")) is None
    assert await store(lambda db: db.read_task_runs("c", "f1")) == []
    assert await store(lambda db: db.read_state_history("c", "f1")) == []
    assert await store(lambda db: db.read_logs("c", "f1")) == []
    assert await store(lambda db: db.read_api_keys("c")) == []
    assert await store(lambda db: db.read_api_key("k1")) is None
    assert await store(lambda db: db.cache.read_entry("c", "e" * 64)) is None
    assert await store(lambda db: db.audit.head("c")) is None
    assert await store(lambda db: db.read_flow_run("runs-only", "x1")) is not None


async def test_an_audit_append_is_a_compare_and_set_on_the_chains_head(store: Stored) -> None:
    assert await store(lambda db: db.audit.head("a")) is None
    first = [record("a", 1), record("a", 2)]
    assert await store(lambda db: db.audit.append("a", first, after=(0, GENESIS))) is None
    # Another writer that saw the empty chain: nothing written, the head it missed returned.
    late = [record("a", 1, action="late")]
    assert await store(lambda db: db.audit.append("a", late, after=(0, GENESIS))) == (2, "h2")
    assert await store(lambda db: db.audit.append("a", [record("a", 3)], after=(2, "h2"))) is None

    assert await store(lambda db: db.audit.head("a")) == (3, "h3")
    assert await store(lambda db: db.audit.head("b")) is None
    assert await store(lambda db: db.audit.read_one("a", 2)) == first[1]
    assert await store(lambda db: db.audit.read_one("a", 9)) is None
    assert [r.seq for r in await store(lambda db: db.audit.read("a"))] == [1, 2, 3]


async def test_audit_records_read_in_order_filtered_and_paged(store: Stored) -> None:
    records = [
        record("a", seq, action="create" if seq % 2 else "read", key_id=f"k{seq % 3}", when=seq)
        for seq in range(1, 8)
    ]
    await store(lambda db: db.audit.append("a", records, after=(0, GENESIS)))

    def seqs(found: list[AuditRecord]) -> list[int]:
        return [r.seq for r in found]

    assert await store(lambda db: db.audit.read("a")) == records
    assert seqs(await store(lambda db: db.audit.read("a", after_seq=5))) == [6, 7]
    assert seqs(await store(lambda db: db.audit.read("a", since=at(3), until=at(5)))) == [3, 4]
    assert seqs(await store(lambda db: db.audit.read("a", action="read"))) == [2, 4, 6]
    assert seqs(await store(lambda db: db.audit.read("a", key_id="k1"))) == [1, 4, 7]
    assert seqs(await store(lambda db: db.audit.read("a", limit=2, offset=1))) == [2, 3]
    assert await store(lambda db: db.audit.read("b")) == []


async def test_cache_entries_are_replaced_listed_linked_expired_and_removed(
    store: Stored,
) -> None:
    old = entry("k1", created=0, expires=10, task_run_id="t1")
    await store(lambda db: db.cache.put_entry(old))
    newer = entry("k1", created=5, expires=None, task_run_id="t2")
    await store(lambda db: db.cache.put_entry(newer))  # the same key: replaced
    others = [
        entry("k2", task_name="load", created=1, expires=3, task_run_id="t3"),
        entry("k3", created=2, expires=4, task_run_id="t4"),
        entry("k4", workspace="b", created=0, expires=1, task_run_id="t5"),
    ]
    for made in others:
        await store(lambda db, made=made: db.cache.put_entry(made))  # type: ignore[misc]

    assert await store(lambda db: db.cache.read_entry("default", "k1")) == newer
    assert await store(lambda db: db.cache.read_entry("b", "k1")) is None
    listed = await store(lambda db: db.cache.read_entries("default"))
    assert [e.key for e in listed] == ["k2", "k3", "k1"]  # by creation
    assert await store(lambda db: db.cache.read_entries("default", task_name="load")) == [others[0]]
    paged = await store(lambda db: db.cache.read_entries("default", limit=1, offset=1))
    assert [e.key for e in paged] == ["k3"]
    assert await store(lambda db: db.cache.read_entry_of_run("default", "t2")) == newer
    assert await store(lambda db: db.cache.read_entry_of_run("b", "t2")) is None
    assert await store(lambda db: db.cache.read_entry_of_run("default", "t1")) == newer

    expired = await store(lambda db: db.cache.read_expired("default", at(5), 10))
    assert [e.key for e in expired] == ["k2", "k3"]  # soonest first
    assert [e.key for e in await store(lambda db: db.cache.read_expired("default", at(5), 1))] == [
        "k2"
    ]
    await store(lambda db: db.cache.put_entry(replace(others[1], created=at(9))))  # rewritten
    await store(lambda db: db.cache.delete_entries(expired))
    remaining = await store(lambda db: db.cache.read_entries("default"))
    assert [e.key for e in remaining] == ["k1", "k3"]  # k3 was rewritten since: kept


async def test_results_kept_in_the_store_read_back_whole_until_deleted(store: Stored) -> None:
    data = bytes(range(256)) * 4
    await store(lambda db: db.cache.put_result("a/b", data))
    assert await store(lambda db: db.cache.read_result("a/b")) == data
    await store(lambda db: db.cache.put_result("a/b", b"again"))
    assert await store(lambda db: db.cache.read_result("a/b")) == b"again"
    await store(lambda db: db.cache.delete_result("a/b"))
    assert await store(lambda db: db.cache.read_result("a/b")) is None
    await store(lambda db: db.cache.delete_result("a/b"))  # gone already: no error


async def test_a_ping_answers_while_open_only(store: Stored) -> None:
    await store(lambda db: db.ping())
    await store(lambda db: db.close())
    with pytest.raises(StorageError):
        await store(lambda db: db.ping())


def record(
    chain: str,
    seq: int,
    *,
    action: str = "create_flow_run",
    key_id: str | None = "k1",
    when: float = 0,
) -> AuditRecord:
    return AuditRecord(
        chain=chain,
        seq=seq,
        at=at(when),
        key_id=key_id,
        key_name="ci",
        action=action,
        target=f"/api/workspaces/{chain}/flow_runs",
        outcome="ok",
        status=201,
        request_id=f"req-{seq}",
        client="127.0.0.1",
        previous_hash=f"h{seq - 1}" if seq > 1 else GENESIS,
        hash=f"h{seq}",
    )
