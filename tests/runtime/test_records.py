"""Records: run ids, and the quick constructors used on the hot path."""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from typing import TYPE_CHECKING

import pytest

from repertory.runtime import FlowRun, LogRecord, State, StateType, TaskRun
from repertory.runtime._records import (
    FlowRunBuilder,
    LogRecordBuilder,
    StateBuilder,
    TaskRunBuilder,
    build_flow_run,
    build_log_record,
    build_state,
    build_task_run,
    new_id,
    utc_now,
)
from repertory.runtime.engine._context import RunContext, RunContextBuilder, build_run_context

if TYPE_CHECKING:
    from collections.abc import Callable


def test_run_ids_are_uuid7_time_ordered_and_unique() -> None:
    ids = [new_id() for _ in range(2_000)]
    assert len(set(ids)) == len(ids)
    for run_id in ids[:50]:
        parsed = uuid.UUID(run_id)
        assert str(parsed) == run_id
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
    # The first 48 bits are milliseconds: ids sort by time (within a millisecond, at random).
    stamps = [int(run_id.replace("-", "")[:12], 16) for run_id in ids]
    assert stamps == sorted(stamps)


def test_a_named_state_equals_one_built_field_by_field() -> None:
    when = utc_now()
    quick = State.named("AwaitingRetry", "r1", message="again", timestamp=when)
    assert quick == State(
        type=StateType.SCHEDULED, name="AwaitingRetry", run_id="r1", timestamp=when, message="again"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.name = "Late"  # type: ignore[misc]  # frozen, as the dataclass says


def test_evolving_a_run_equals_replacing_its_fields() -> None:
    pending = State.named("Pending", "f1")
    running = State.named("Running", "f1")
    flow_run = FlowRun(
        id="f1", name="n", flow_name="f", state=pending, parameters={"x": 1}, flow_version="2"
    )
    task_run = TaskRun(
        id="t1",
        name="n",
        task_name="t",
        flow_run_id="f1",
        state=pending,
        parameters={},
        tags=("a",),
    )
    when = running.timestamp
    for record in (flow_run, task_run):
        evolved = record.evolve(running, 1, when, None)
        assert evolved == dataclasses.replace(
            record, state=running, run_count=1, start_time=when, end_time=None
        )
        assert type(evolved) is type(record)


BUILDERS = [
    (StateBuilder, State, build_state),
    (FlowRunBuilder, FlowRun, build_flow_run),
    (TaskRunBuilder, TaskRun, build_task_run),
    (LogRecordBuilder, LogRecord, build_log_record),
    (RunContextBuilder, RunContext, build_run_context),
]


@pytest.mark.parametrize(("protocol", "record", "build"), BUILDERS)
def test_a_quick_constructor_takes_every_field_by_keyword_as_its_protocol_says(
    protocol: type, record: type, build: Callable[..., object]
) -> None:
    declared = inspect.signature(protocol.__call__).parameters
    fields = [field.name for field in dataclasses.fields(record)]
    assert [name for name in declared if name != "self"] == fields
    generated = inspect.signature(build).parameters
    assert list(generated) == fields
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in generated.values())
    with pytest.raises(TypeError):
        build(*fields)
