"""Rows: runs, states and logs as the database stores them, and back, and the SQL that finds
them (pure: no I/O).

Times are microseconds since the Unix epoch; parameters and tags are JSON text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from .._records import (
    NO_RESULT,
    FlowRun,
    LogRecord,
    State,
    TaskRun,
    build_flow_run,
    build_state,
    build_task_run,
)
from .._states import StateType
from .._text import text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._references import RunReference

#: Each state type by its stored value: a lookup is ~5x quicker than `StateType(value)`.
_STATE_TYPES: Final = {member.value: member for member in StateType}

#: What changes as a run goes on: its state, run count, start and end times. A live run keeps
#: these apart from the rest of its record, which is built only when someone reads it.
Progress = tuple[State, int, datetime | None, datetime | None]


def progress_of(run: FlowRun | TaskRun) -> Progress:
    return (run.state, run.run_count, run.start_time, run.end_time)


def format_time(value: datetime | None) -> int | None:
    """Microseconds since the Unix epoch: cheap to write, and sorts and compares as numbers."""
    return None if value is None else round(value.timestamp() * 1_000_000)


def where(values: dict[str, object], *conditions: tuple[str, object]) -> str:
    """The SQL of the conditions (`("column = :name", value)`) whose value is not None,
    joined by AND; each kept value goes into `values` under the `:name` it ends with."""
    kept = []
    for condition, value in conditions:
        if value is not None:
            kept.append(condition)
            values[condition.rpartition(":")[2]] = value
    return " AND ".join(kept)


def parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    assert isinstance(value, int)  # a BIGINT column, on either database
    return datetime.fromtimestamp(value / 1_000_000, UTC)


@dataclass(slots=True)
class WriteBatch:
    """Everything one group commit writes: latest run rows, and history and log rows in order."""

    flow_runs: dict[str, tuple[FlowRun, Progress]] = field(default_factory=dict)
    task_runs: dict[str, tuple[TaskRun, Progress]] = field(default_factory=dict)
    states: list[tuple[str, State]] = field(default_factory=list)  # (workspace, state)
    logs: list[LogRecord] = field(default_factory=list)
    #: Task runs whose result a cache entry holds: (task_run_id, workspace, cache key).
    results: list[tuple[str, str, str]] = field(default_factory=list)
    #: The workspaces these writes are of (a read of another need not wait for them).
    workspaces: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.flow_runs or self.task_runs or self.states or self.logs or self.results)

    def absorb(self, newer: WriteBatch) -> None:
        """Add the writes of `newer`, which came after these (its run rows win)."""
        self.flow_runs.update(newer.flow_runs)
        self.task_runs.update(newer.task_runs)
        self.states.extend(newer.states)
        self.logs.extend(newer.logs)
        self.results.extend(newer.results)
        self.workspaces |= newer.workspaces

    def __len__(self) -> int:
        runs = len(self.flow_runs) + len(self.task_runs)
        return runs + len(self.states) + len(self.logs) + len(self.results)


def flow_run_row(run: FlowRun, progress: Progress, owner: str) -> tuple[object, ...]:
    state, run_count, start_time, end_time = progress
    return (
        run.id,
        run.workspace,
        run.flow_name,
        run.flow_version,
        text(run.name),  # a name made from parameters may hold anything
        json.dumps(run.parameters),
        str(state.type),
        state.name,
        text(state.message),
        format_time(state.timestamp),
        run_count,
        format_time(start_time),
        format_time(end_time),
        run.parent_flow_run_id,
        run.parent_task_run_id,
        owner,
        format_time(run.created),
    )


FLOW_RUN_COLUMNS: Final = (
    "id, workspace, flow_name, flow_version, name, parameters, state_type, state_name, "
    "state_message, state_timestamp, run_count, start_time, end_time, parent_flow_run_id, "
    "parent_task_run_id, owner, created"
)
TASK_RUN_COLUMNS: Final = (
    "id, workspace, flow_run_id, task_name, name, parameters, tags, state_type, state_name, "
    "state_message, state_timestamp, run_count, start_time, end_time, created"
)
_MUTABLE: Final = (
    "state_type",
    "state_name",
    "state_message",
    "state_timestamp",
    "run_count",
    "start_time",
    "end_time",
)


def _upsert(table: str, columns: str) -> str:
    count = columns.count(",") + 1
    updates = ", ".join(f"{column} = excluded.{column}" for column in _MUTABLE)
    marks = ", ".join("?" * count)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}"
    )


UPSERT_FLOW_RUN: Final = _upsert("flow_runs", FLOW_RUN_COLUMNS)
UPSERT_TASK_RUN: Final = _upsert("task_runs", TASK_RUN_COLUMNS)


def task_run_row(run: TaskRun, progress: Progress) -> tuple[object, ...]:
    state, run_count, start_time, end_time = progress
    return (
        run.id,
        run.workspace,
        run.flow_run_id,
        run.task_name,
        text(run.name),
        json.dumps(run.parameters),
        json.dumps(list(run.tags)) if run.tags else "[]",
        str(state.type),
        state.name,
        text(state.message),
        format_time(state.timestamp),
        run_count,
        format_time(start_time),
        format_time(end_time),
        format_time(run.created),
    )


def state_from(row: Mapping[str, Any], run_id: str) -> State:
    return build_state(
        type=_STATE_TYPES[str(row["state_type"])],
        name=row["state_name"],
        run_id=run_id,
        timestamp=time_from(row["state_timestamp"]),
        message=row["state_message"],
        _outcome=NO_RESULT,
        _traceback=None,
    )


def opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def time_from(value: object) -> datetime:
    parsed = parse_time(value)
    assert parsed is not None  # NOT NULL columns
    return parsed


#: The columns `flow_run_from` reads: all but the owner's.
FLOW_RUN_FIELDS: Final = tuple(c for c in FLOW_RUN_COLUMNS.split(", ") if c != "owner")


def flow_run_from(row: Mapping[str, Any]) -> FlowRun:
    # Listings build thousands of these: the quick constructor, and the columns as the
    # drivers give them (TEXT as str, BIGINT as int: hence `Any`) without converting each.
    run_id = row["id"]
    return build_flow_run(
        id=run_id,
        name=row["name"],
        flow_name=row["flow_name"],
        state=state_from(row, run_id),
        parameters=json.loads(row["parameters"]),
        run_count=row["run_count"],
        start_time=parse_time(row["start_time"]),
        end_time=parse_time(row["end_time"]),
        parent_flow_run_id=row["parent_flow_run_id"],
        parent_task_run_id=row["parent_task_run_id"],
        workspace=row["workspace"],
        flow_version=row["flow_version"],
        created=time_from(row["created"]),
    )


def task_run_from(row: Mapping[str, Any]) -> TaskRun:
    run_id = row["id"]  # as flow_run_from: the quick constructor, the drivers' own types
    return build_task_run(
        id=run_id,
        name=row["name"],
        task_name=row["task_name"],
        flow_run_id=row["flow_run_id"],
        state=state_from(row, run_id),
        parameters=json.loads(row["parameters"]),
        run_count=row["run_count"],
        start_time=parse_time(row["start_time"]),
        end_time=parse_time(row["end_time"]),
        tags=tuple(json.loads(row["tags"])),
        workspace=row["workspace"],
        created=time_from(row["created"]),
    )


def finding(
    table: str, workspace: str, reference: RunReference, limit: int
) -> tuple[str, dict[str, object]]:
    """The query of the runs of `table` that `reference` may name, newest first. A prefix or
    suffix holds only hex digits and dashes (RunReference), so no LIKE pattern character."""
    values: dict[str, object] = {"workspace": workspace, "name": reference.name, "limit": limit}
    named = ["name = :name"]
    if reference.id_prefix is not None:
        named.append("id LIKE :prefix")
        values["prefix"] = f"{reference.id_prefix}%"
    if reference.id_suffix is not None:
        named.append("id LIKE :suffix")
        values["suffix"] = f"%{reference.id_suffix}"
    query = (
        f"SELECT * FROM {table} WHERE workspace = :workspace AND ({' OR '.join(named)}) "
        "ORDER BY created DESC, id DESC LIMIT :limit"
    )
    return query, values
