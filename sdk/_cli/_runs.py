"""What the run commands share: finding the run a person means from what they typed, and
showing runs as people read them (short ids, coloured states, local times, durations)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Final

from ._options import fail, print_table, printable, short_time, stamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from rich.text import Text

    from repertory import FlowRun, State, TaskRun

#: What a table shows of an id: its last hex digits (a UUIDv7's first ones are its time).
SHORT_ID: Final = 8
#: Candidates an ambiguous reference lists.
CANDIDATES: Final = 10
#: Characters of one parameter's value a panel shows, and parameters it lists.
VALUE_WIDTH: Final = 60
PARAMETERS_SHOWN: Final = 10

_COLOURS: Final = {
    "COMPLETED": "green",
    "FAILED": "red",
    "CRASHED": "bold red",
    "CANCELLED": "bright_black",
    "CANCELLING": "yellow",
    "RUNNING": "blue",
    "PENDING": "cyan",
    "SCHEDULED": "yellow",
    "PAUSED": "magenta",
}


def short_id(run_id: str) -> str:
    return run_id[-SHORT_ID:]


def resolve(
    reference: str, find: Callable[[str, int], Sequence[FlowRun] | Sequence[TaskRun]], kind: str
) -> str:
    """The id of the run `reference` names: an id as it is; else the one run whose name it
    is, whose id it begins or whose id's last 6 or more hex digits it is. None or several:
    exit 1, saying how to name it (and listing the candidates)."""
    from repertory.runtime.lowlevel import is_run_id

    if is_run_id(reference.strip().lower()):
        return reference.strip().lower()
    found = find(reference, CANDIDATES + 1)
    if len(found) == 1:
        return found[0].id
    if not found:
        raise fail(
            f"no {kind} {printable(reference)!r}:\n"
            f"  give its name, its id, the start of its id or its id's last {SHORT_ID} digits",
            debug=False,
        )
    listed = "".join(_candidate(run) for run in found[:CANDIDATES])
    several = f"more than {CANDIDATES}" if len(found) > CANDIDATES else str(len(found))
    raise fail(
        f"{several} {kind}s match {printable(reference)!r}; name one by its id's end:{listed}",
        debug=False,
    )


def _candidate(run: FlowRun | TaskRun) -> str:
    """A line of an ambiguity: what tells the run apart (its flow run, for a task run)."""
    where = f"  in {short_id(run.flow_run_id)}" if hasattr(run, "flow_run_id") else ""
    name = printable(run.name)[:24]
    return (
        f"\n  {short_id(run.id)}  {name:<24}  {run.state.name:<10} {short_time(run.created)}{where}"
    )


def state_text(state: State) -> Text:
    from rich.text import Text

    return Text(state.name, style=_COLOURS.get(str(state.type), ""))


def duration(start: datetime | None, end: datetime | None) -> str:
    """`8 ms`, `1.2 s`, `3 min 4 s`, `2 h 5 min`; empty when it did not start (running: so
    far)."""
    if start is None:
        return ""
    seconds = ((end or datetime.now(start.tzinfo)) - start).total_seconds()
    if seconds < 0.001:
        return "<1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def log_time(moment: datetime) -> str:
    """A log line's time in the local zone: `18:17:49.123` today, else with its date."""
    local = moment.astimezone()
    text = local.strftime("%H:%M:%S.%f")[:-3]
    return (
        text if local.date() == datetime.now().astimezone().date() else f"{local:%Y-%m-%d} {text}"
    )


def print_runs(runs: Iterable[FlowRun | TaskRun], *, flow_column: bool) -> None:
    """Runs as a table that fits 80 columns: name, short id, (flow,) state, start, duration."""
    columns = ("name", "id", *(("flow",) if flow_column else ()), "state", "started", "took")
    print_table(
        columns,
        (
            (
                run.name,
                short_id(run.id),
                *((getattr(run, "flow_name", ""),) if flow_column else ()),
                state_text(run.state),
                short_time(run.start_time),
                duration(run.start_time, run.end_time),
            )
            for run in runs
        ),
    )


def summarized(parameters: dict[str, object]) -> list[str]:
    """Parameters as `name = value` lines, each value's JSON cut to VALUE_WIDTH characters,
    at most PARAMETERS_SHOWN of them (a 2-million-element list is one short line)."""
    lines = []
    for name, value in list(parameters.items())[:PARAMETERS_SHOWN]:
        text = json.dumps(value, default=repr)
        if len(text) > VALUE_WIDTH:
            text = f"{text[: VALUE_WIDTH - 1]}… ({len(text):,} characters)"
        lines.append(f"{name} = {text}")
    if len(parameters) > PARAMETERS_SHOWN:
        lines.append(f"... and {len(parameters) - PARAMETERS_SHOWN} more (--json shows all)")
    return lines


def print_panel(run: FlowRun | TaskRun, states: Sequence[State]) -> None:
    """One run as a panel: what it is, its state, times and parameters, then its states."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    what = f"flow {run.flow_name}" if hasattr(run, "flow_name") else f"task {run.task_name}"
    console.print(Text.assemble((printable(run.name), "bold"), f"  ({what}, id {run.id})"))
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bright_black")
    fields.add_column(overflow="fold")
    state = state_text(run.state)
    if run.state.message:
        state.append(f": {printable(run.state.message)}")
    fields.add_row("state", state)
    fields.add_row("created", f"{stamp(run.created)} {run.created.astimezone():%Z}")
    if run.start_time is not None:
        fields.add_row("started", stamp(run.start_time))
        took = duration(run.start_time, run.end_time)
        if run.end_time is not None:
            fields.add_row("ended", f"{stamp(run.end_time)}  (took {took})")
        else:
            fields.add_row("running", f"for {took}")
    if run.run_count > 1:
        fields.add_row("attempts", str(run.run_count))
    for index, line in enumerate(summarized(dict(run.parameters)) or ["(none)"]):
        fields.add_row("parameters" if index == 0 else "", Text(printable(line)))
    console.print(fields)
    history = Table("state", "at", "after", box=None, padding=(0, 2), title_justify="left")
    previous = None
    for past in states:
        after = "" if previous is None else duration(previous, past.timestamp)
        history.add_row(state_text(past), stamp(past.timestamp, millis=True), after)
        previous = past.timestamp
    console.print()
    console.print(history)
