"""SqlDatabase against SQLite and (when configured) PostgreSQL, driven from asyncio and trio."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import anyio
import databases
import pytest
from databases import DatabaseURL

from repertory.runtime._errors import SchemaVersionError, StorageError
from repertory.runtime._records import FlowRun, LogRecord, State, TaskRun
from repertory.runtime._states import StateType
from repertory.runtime.storage._rows import WriteBatch, progress_of
from repertory.runtime.storage._schema import LATEST_VERSION, MIGRATIONS, SERIAL
from repertory.runtime.storage._sql import SqlDatabase, sqlite_path

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from repertory.runtime.storage._asyncio_thread import AsyncioRunner

T = TypeVar("T")
T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
TABLES = {
    "flow_runs",
    "task_runs",
    "states",
    "logs",
    "owners",
    "api_keys",
    "idempotency_keys",
    "cache_entries",
    "cache_results",
    "task_run_results",
    "audit_log",
    "workspaces",
    "roles",
    "schema_version",
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state(name: str, run_id: str, when: float = 0, message: str | None = None) -> State:
    return State.named(name, run_id, message=message, timestamp=at(when))


def flow_run(
    run_id: str,
    state_name: str = "Running",
    *,
    workspace: str = "default",
    flow_name: str = "etl",
    created: float = 0,
    parent: str | None = None,
) -> FlowRun:
    return FlowRun(
        id=run_id,
        name=f"name-{run_id}",
        flow_name=flow_name,
        state=state(state_name, run_id, created),
        parameters={"n": 1},
        workspace=workspace,
        created=at(created),
        parent_flow_run_id=parent,
    )


def task_run(
    run_id: str,
    flow_run_id: str,
    state_name: str = "Running",
    *,
    workspace: str = "default",
    created: float = 0,
) -> TaskRun:
    return TaskRun(
        id=run_id,
        name=f"name-{run_id}",
        task_name="step",
        flow_run_id=flow_run_id,
        state=state(state_name, run_id, created),
        parameters={},
        workspace=workspace,
        created=at(created),
    )


def log(flow_run_id: str, message: str, task_run_id: str | None = None) -> LogRecord:
    return LogRecord(
        flow_run_id=flow_run_id, task_run_id=task_run_id, level=20, message=message, timestamp=T0
    )


def batch(*items: FlowRun | TaskRun | State | LogRecord, workspace: str = "default") -> WriteBatch:
    out = WriteBatch()
    for item in items:
        if isinstance(item, FlowRun):
            out.flow_runs[item.id] = (item, progress_of(item))
        elif isinstance(item, TaskRun):
            out.task_runs[item.id] = (item, progress_of(item))
        elif isinstance(item, State):
            out.states.append((workspace, item))
        else:
            out.logs.append(item)
    return out


@dataclass(frozen=True, slots=True)
class Sql:
    """An open database, called through the runner (so that it works on trio too)."""

    database: SqlDatabase
    runner: AsyncioRunner

    async def __call__(self, fn: Callable[[SqlDatabase], Awaitable[T]]) -> T:
        return await self.runner.call(lambda: fn(self.database))

    async def write(
        self,
        *items: FlowRun | TaskRun | State | LogRecord,
        owner: str = "me",
        workspace: str = "default",
    ) -> None:
        await self(lambda db: db.write(batch(*items, workspace=workspace), owner=owner))


@pytest.fixture
async def sql(database_url: str, runner: AsyncioRunner) -> AsyncIterator[Sql]:
    database = SqlDatabase(database_url)
    await runner.call(database.open)
    try:
        yield Sql(database, runner)
    finally:
        await runner.call(database.close)


async def on_raw_database(runner: AsyncioRunner, url: str, *statements: str) -> list[object]:
    """Run statements on a plain `databases` connection; the first column of the last's rows."""

    async def run() -> list[object]:
        database = databases.Database(url)
        await database.connect()
        try:
            for statement in statements[:-1]:
                await database.execute(statement)
            rows = await database.fetch_all(statements[-1])
        finally:
            await database.disconnect()
        return sorted(next(iter(row._mapping.values())) for row in rows)

    return await runner.call(run)


def list_tables(url: str) -> str:
    if url.startswith("sqlite"):
        return "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'"
    return "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"


async def test_open_creates_the_schema_and_reopening_migrates_nothing(
    database_url: str, runner: AsyncioRunner
) -> None:
    for _ in range(2):
        database = SqlDatabase(database_url)
        await runner.call(database.open)
        try:
            assert await runner.call(database.schema_version) == LATEST_VERSION
        finally:
            await runner.call(database.close)
    assert set(await on_raw_database(runner, database_url, list_tables(database_url))) == TABLES
    versions = await on_raw_database(runner, database_url, "SELECT version FROM schema_version")
    assert versions == list(range(1, LATEST_VERSION + 1))
    if database_url.startswith("sqlite"):
        assert await on_raw_database(runner, database_url, "PRAGMA journal_mode") == ["wal"]


async def test_a_database_of_version_1_is_migrated_forward_keeping_its_runs(
    database_url: str, runner: AsyncioRunner
) -> None:
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    [(_, version_1)] = [m for m in MIGRATIONS if m[0] == 1]
    await on_raw_database(
        runner,
        database_url,
        *(statement.replace("{serial}", SERIAL[dialect]) for statement in version_1),
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version (version) VALUES (1)",
        "INSERT INTO flow_runs (id, workspace, flow_name, name, parameters, state_type, "
        "state_name, state_timestamp, run_count, created) "
        "VALUES ('old', 'default', 'f', 'f-old', '{}', 'COMPLETED', 'Completed', 0, 1, 0)",
        "SELECT version FROM schema_version",
    )
    database = SqlDatabase(database_url)
    await runner.call(database.open)
    try:
        assert await runner.call(database.schema_version) == LATEST_VERSION
        old = await runner.call(lambda: database.read_flow_run("default", "old"))
        assert old is not None
        assert old.state.name == "Completed"
    finally:
        await runner.call(database.close)
    assert set(await on_raw_database(runner, database_url, list_tables(database_url))) == TABLES


async def test_a_newer_schema_is_refused_and_left_untouched(
    database_url: str, runner: AsyncioRunner
) -> None:
    newer = LATEST_VERSION + 1
    await on_raw_database(
        runner,
        database_url,
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        f"INSERT INTO schema_version (version) VALUES ({newer})",
        "SELECT version FROM schema_version",
    )
    path = sqlite_path(database_url) if database_url.startswith("sqlite") else None
    before = await anyio.Path(path).read_bytes() if path else b""

    database = SqlDatabase(database_url)
    with pytest.raises(SchemaVersionError, match=f"schema version {newer}") as caught:
        await runner.call(database.open)

    assert (caught.value.found, caught.value.known) == (newer, LATEST_VERSION)
    assert database.safe_url in str(caught.value)
    assert await on_raw_database(runner, database_url, list_tables(database_url)) == [
        "schema_version"
    ]
    versions = await on_raw_database(runner, database_url, "SELECT version FROM schema_version")
    assert versions == [newer]
    if path:
        assert await anyio.Path(path).read_bytes() == before


async def test_a_database_that_cannot_be_opened_gives_storage_error_without_password(
    database_url: str, runner: AsyncioRunner
) -> None:
    if database_url.startswith("sqlite"):
        bad = database_url.replace("/t.db", "/no/such/dir/t.db")
    else:
        bad = str(DatabaseURL(database_url).replace(password="s3cret", database="no_such_db"))
    database = SqlDatabase(bad)

    with pytest.raises(StorageError, match="cannot open database") as caught:
        await runner.call(database.open)

    assert database.safe_url in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_an_unsupported_url_scheme_is_refused() -> None:
    with pytest.raises(StorageError, match="unsupported database URL scheme 'mysql'"):
        SqlDatabase("mysql://localhost/x")


async def test_a_closed_database_refuses_reads_and_writes(sql: Sql) -> None:
    await sql(lambda db: db.close())
    with pytest.raises(StorageError, match="is not open"):
        await sql(lambda db: db.read_flow_runs("default"))
    with pytest.raises(StorageError, match="cannot write"):
        await sql.write(flow_run("f1"))


async def test_a_flow_run_reads_back_as_written(sql: Sql) -> None:
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
    await sql.write(run)

    assert await sql(lambda db: db.read_flow_run("team", "f1")) == run
    assert await sql(lambda db: db.read_flow_run("team", "missing")) is None


async def test_a_task_run_upsert_keeps_the_latest_state(sql: Sql) -> None:
    pending = replace(task_run("t1", "f1", "Pending"), parameters={"a": 1}, tags=("x", "y"))
    retried = replace(
        pending, state=state("Completed", "t1", 5), run_count=2, start_time=at(2), end_time=at(5)
    )
    await sql.write(pending)
    await sql.write(retried)

    assert await sql(lambda db: db.read_task_run("default", "t1")) == retried
    assert await sql(lambda db: db.read_task_runs("default", "f1")) == [retried]


async def test_state_history_reads_back_in_write_order(sql: Sql) -> None:
    names = ["Scheduled", "Pending", "Running", "AwaitingRetry", "Running", "Completed"]
    # Timestamps out of order on purpose: the order is the order written, not the clock's.
    history = [state(name, "f1", -index) for index, name in enumerate(names)]
    await sql.write(flow_run("f1"), *history[:2])
    await sql.write(state("Running", "other"), *history[2:])

    assert await sql(lambda db: db.read_state_history("default", "f1")) == history


async def test_a_group_commit_writes_every_table_and_a_task_runs_last_result_link(
    sql: Sql,
) -> None:
    run, step = flow_run("f1"), task_run("t1", "f1")
    history = [state(name, "t1", -index) for index, name in enumerate(["Pending", "Running"])]
    written = batch(run, step, *history, log("f1", "one"), log("f1", "two", task_run_id="t1"))
    written.results += [("t1", "default", "a" * 64), ("t1", "default", "b" * 64)]
    await sql(lambda db: db.write(written, owner="me"))

    assert await sql(lambda db: db.read_flow_run("default", "f1")) == run
    assert await sql(lambda db: db.read_task_run("default", "t1")) == step
    assert await sql(lambda db: db.read_state_history("default", "t1")) == history
    assert [line.message for line in await sql(lambda db: db.read_logs("default", "f1"))] == [
        "one",
        "two",
    ]
    links = await sql(
        lambda db: db.fetch_rows(
            "SELECT cache_key FROM task_run_results WHERE task_run_id = ?", ("t1",)
        )
    )
    assert links == [("b" * 64,)]


async def test_a_group_commit_that_fails_writes_nothing(sql: Sql) -> None:
    broken = batch(flow_run("f1"), state("Running", "f1"))
    broken.results.append(("t1", "default", None))  # type: ignore[arg-type]  # NOT NULL
    with pytest.raises(StorageError, match="cannot write"):
        await sql(lambda db: db.write(broken, owner="me"))

    assert await sql(lambda db: db.read_flow_run("default", "f1")) is None
    assert await sql(lambda db: db.read_state_history("default", "f1")) == []


async def test_logs_read_back_in_order_with_paging_and_task_filter(sql: Sql) -> None:
    logs = [log("f1", f"line {i}", task_run_id="t1" if i % 2 else None) for i in range(6)]
    await sql.write(*logs[:3], log("f2", "elsewhere"))
    await sql.write(*logs[3:])

    assert await sql(lambda db: db.read_logs("default", "f1")) == logs
    assert await sql(lambda db: db.read_logs("default", "f1", limit=2, offset=1)) == logs[1:3]
    assert await sql(lambda db: db.read_logs("default", "f1", offset=4)) == logs[4:]
    assert await sql(lambda db: db.read_logs("default", "f1", task_run_id="t1")) == logs[1::2]
    assert await sql(lambda db: db.read_logs("default", "f1", offset=6)) == []


async def test_flow_runs_page_by_limit_and_offset_with_no_implicit_cap(sql: Sql) -> None:
    runs = [flow_run(f"f{i:04}", created=i) for i in range(1500)]
    await sql.write(*runs)

    assert await sql(lambda db: db.read_flow_runs("default")) == runs
    assert await sql(lambda db: db.read_flow_runs("default", limit=3, offset=10)) == runs[10:13]
    assert await sql(lambda db: db.read_flow_runs("default", offset=1490)) == runs[1490:]
    assert await sql(lambda db: db.read_flow_runs("default", limit=0)) == []
    with pytest.raises(ValueError, match="limit must be >= 0"):
        await sql(lambda db: db.read_flow_runs("default", limit=-1))
    with pytest.raises(ValueError, match="offset must be >= 0"):
        await sql(lambda db: db.read_flow_runs("default", offset=-1))


async def test_task_runs_page_by_limit_and_offset(sql: Sql) -> None:
    runs = [task_run(f"t{i}", "f1", created=i) for i in range(5)]
    await sql.write(*runs, task_run("other", "f2"))

    assert await sql(lambda db: db.read_task_runs("default", "f1")) == runs
    assert await sql(lambda db: db.read_task_runs("default", "f1", limit=2, offset=2)) == runs[2:4]


async def test_flow_runs_filter_by_flow_name_state_type_and_parent(sql: Sql) -> None:
    parent = flow_run("p", created=0)
    child = flow_run("c", "Completed", flow_name="load", created=1, parent="p")
    other = flow_run("o", "Pending", flow_name="load", created=2)
    await sql.write(parent, child, other)

    assert await sql(lambda db: db.read_flow_runs("default", flow_name="load")) == [child, other]
    running = await sql(lambda db: db.read_flow_runs("default", state_type=StateType.RUNNING))
    assert running == [parent]
    assert await sql(lambda db: db.read_flow_runs("default", parent_flow_run_id="p")) == [child]


async def test_a_workspace_sees_none_of_another_workspaces_records(sql: Sql) -> None:
    await sql.write(
        flow_run("f1", workspace="a"),
        state("Running", "f1"),
        task_run("t1", "f1", workspace="a"),
        LogRecord(flow_run_id="f1", level=20, message="m", timestamp=T0, workspace="a"),
        workspace="a",
    )

    assert await sql(lambda db: db.read_flow_run("a", "f1")) is not None
    assert await sql(lambda db: db.read_flow_run("b", "f1")) is None
    assert await sql(lambda db: db.read_flow_runs("b")) == []
    assert await sql(lambda db: db.read_task_run("b", "t1")) is None
    assert await sql(lambda db: db.read_task_runs("b", "f1")) == []
    assert await sql(lambda db: db.read_state_history("b", "f1")) == []
    assert await sql(lambda db: db.read_logs("b", "f1")) == []
    assert len(await sql(lambda db: db.read_logs("a", "f1"))) == 1
    assert len(await sql(lambda db: db.read_state_history("a", "f1"))) == 1


async def test_crash_runs_of_marks_only_unfinished_runs_of_that_owner(sql: Sql) -> None:
    await sql.write(
        flow_run("live", workspace="a"),
        state("Running", "live"),
        task_run("t-running", "live", workspace="a"),
        task_run("t-done", "live", "Completed", workspace="a"),
        owner="dead",
        workspace="a",
    )
    await sql.write(
        flow_run("done", "Completed"), task_run("t-of-done", "done", "Pending"), owner="dead"
    )
    await sql.write(flow_run("theirs"), owner="alive")

    crashed = await sql(lambda db: db.crash_runs_of("dead", "it died"))

    assert crashed == ["live"]
    live = await sql(lambda db: db.read_flow_run("a", "live"))
    assert live is not None
    assert (live.state.type, live.state.name, live.state.message) == (
        StateType.CRASHED,
        "Crashed",
        "it died",
    )
    assert live.end_time == live.state.timestamp
    task = await sql(lambda db: db.read_task_run("a", "t-running"))
    assert task is not None
    assert (task.state.name, task.state.message) == ("Crashed", "it died")
    tasks = await sql(lambda db: db.read_task_runs("a", "live"))
    tasks += await sql(lambda db: db.read_task_runs("default", "done"))
    assert {run.id: run.state.name for run in tasks} == {
        "t-running": "Crashed",
        "t-done": "Completed",
        "t-of-done": "Pending",
    }
    others = await sql(lambda db: db.read_flow_runs("default"))
    assert {run.id: run.state.name for run in others} == {
        "done": "Completed",
        "theirs": "Running",
    }
    history = await sql(lambda db: db.read_state_history("a", "live"))
    assert [s.name for s in history] == ["Running", "Crashed"]
    assert history[-1].message == "it died"
    task_history = await sql(lambda db: db.read_state_history("a", "t-running"))
    assert [s.name for s in task_history] == ["Crashed"]
    assert await sql(lambda db: db.read_state_history("a", "t-done")) == []
    assert await sql(lambda db: db.crash_runs_of("dead", "again")) == []


async def test_crash_runs_of_takes_runs_waiting_to_retry_through_pending(sql: Sql) -> None:
    await sql.write(
        flow_run("waiting", "AwaitingRetry"),
        state("AwaitingRetry", "waiting"),
        flow_run("running"),
        task_run("t-waiting", "running", "AwaitingRetry"),
        state("AwaitingRetry", "t-waiting"),
        owner="dead",
    )

    assert sorted(await sql(lambda db: db.crash_runs_of("dead", "it died"))) == [
        "running",
        "waiting",
    ]

    histories = [
        await sql(lambda db: db.read_state_history("default", "waiting")),
        await sql(lambda db: db.read_state_history("default", "t-waiting")),
    ]
    for history in histories:
        assert [(s.type, s.name, s.message) for s in history] == [
            (StateType.SCHEDULED, "AwaitingRetry", None),
            (StateType.PENDING, "Pending", "it died"),
            (StateType.CRASHED, "Crashed", "it died"),
        ]
        assert history[1].timestamp == history[2].timestamp
    waiting = await sql(lambda db: db.read_flow_run("default", "waiting"))
    assert waiting is not None
    assert waiting.state.name == "Crashed"
    assert waiting.end_time == waiting.state.timestamp
    [task] = await sql(lambda db: db.read_task_runs("default", "running"))
    assert task.state.name == "Crashed"


async def test_other_owners_are_the_registered_ones_and_those_with_unfinished_runs(
    sql: Sql,
) -> None:
    await sql(lambda db: db.register_owner("me"))
    await sql(lambda db: db.register_owner("registered"))
    await sql.write(flow_run("f1"), owner="busy")
    await sql.write(flow_run("f2", "Completed"), owner="finished")

    assert await sql(lambda db: db.other_owners("me")) == ["busy", "registered"]

    await sql(lambda db: db.unregister_owner("registered"))
    await sql(lambda db: db.crash_runs_of("busy", "gone"))
    assert await sql(lambda db: db.other_owners("me")) == []
    assert await sql(lambda db: db.other_owners("someone")) == ["me"]
