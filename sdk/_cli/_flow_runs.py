"""`repertory flow-run ...`: flow runs on a server, through the client."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Annotated, Final

import typer

from ._options import (
    AsJson,
    Debug,
    Key,
    Params,
    Since,
    Until,
    Url,
    Workspace,
    bad_usage,
    connect,
    fail,
    parse_parameters,
    parse_when,
    printable,
)
from ._runs import log_time, print_panel, print_runs, resolve, short_id

if TYPE_CHECKING:
    from rich.text import Text

    from repertory import FlowRun, State, SyncClient
    from repertory.runtime import LogRecord

flow_run_app = typer.Typer(help="Flow runs on a server.", no_args_is_help=True)
#: How long one wait of `logs --follow` and `wait` lasts before they look again.
FOLLOW_SECONDS: Final = 1.0
#: The exit code of `wait` when its timeout comes first (as `timeout(1)` has it).
TIMED_OUT: Final = 124
TERMINAL: Final = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


def _run_json(run: FlowRun) -> dict[str, object]:
    return {
        "id": run.id,
        "name": run.name,
        "flow_name": run.flow_name,
        "state": run.state.name,
        "state_type": str(run.state.type),
        "message": run.state.message,
        "run_count": run.run_count,
        "parameters": dict(run.parameters),
        "start_time": run.start_time.isoformat() if run.start_time else None,
        "end_time": run.end_time.isoformat() if run.end_time else None,
        "created": run.created.isoformat(),
    }


def _print_runs(runs: list[FlowRun], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([_run_json(run) for run in runs]))
        return
    print_runs(runs, flow_column=True)


def flow_run_id(client: SyncClient, reference: str) -> str:
    """The id of the flow run `reference` names (an id, a name, a start or end of an id)."""
    return resolve(
        reference, lambda text, limit: client.find_flow_runs(text, limit=limit), "flow run"
    )


@flow_run_app.command("ls")
def flow_run_ls(
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    flow: Annotated[str | None, typer.Option(help="Only runs of this flow.")] = None,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only runs in this state: a type (failed) or a name (Late), in any case."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Runs to list.")] = 50,
    offset: Annotated[int, typer.Option(min=0, max=10_000, help="Runs to skip first.")] = 0,
    since: Since = None,
    until: Until = None,
    oldest_first: Annotated[bool, typer.Option(help="The oldest runs first.")] = False,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """List flow runs, newest first (by when they were created)."""
    state_type, state_name = _state_filter(state)
    created_after, created_before = parse_when(since, "--since"), parse_when(until, "--until")
    with connect(url, api_key, workspace, debug) as client:
        runs = client.read_flow_runs(
            flow_name=flow,
            state_type=state_type,
            state_name=state_name,
            created_after=created_after,
            created_before=created_before,
            newest_first=not oldest_first,
            limit=limit,
            offset=offset,
        )
    _print_runs(runs, as_json)


def _state_filter(state: str | None) -> tuple[str | None, str | None]:
    """`--state` as (a state type, a state name): one of them, whatever its case."""
    from repertory.runtime import STATE_TYPES, StateType

    if state is None:
        return None, None
    types = {str(t).casefold(): str(t) for t in StateType}
    names = {name.casefold(): name for name in STATE_TYPES}
    if state.casefold() in types:
        return types[state.casefold()], None
    if state.casefold() in names:
        return None, names[state.casefold()]
    raise bad_usage(
        f"--state is a state type ({', '.join(types.values())}) or a state name "
        f"({', '.join(names.values())}), not {state!r}"
    )


#: A run as a person may name it, on the command line.
RunArgument = Annotated[
    str,
    typer.Argument(
        metavar="RUN", help="Its name, id, a unique start of its id, or its id's last 8 hex digits."
    ),
]


@flow_run_app.command("inspect")
def flow_run_inspect(
    reference: RunArgument,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Show one flow run: its state, times, parameters, states, task runs and traceback.

    RUN is its name, its id, a unique start of its id or its id's last 8 hex digits.
    """
    with connect(url, api_key, workspace, debug) as client:
        run_id = flow_run_id(client, reference)
        run = client.read_flow_run(run_id)
        states = client.read_state_history(run_id)
        task_runs = [] if as_json else client.read_task_runs(run_id)
    if as_json:
        print_json_history(_run_json(run), states)
        return
    print_panel(run, states)
    if task_runs:
        typer.echo()
        print_runs(task_runs, flow_column=False)
    print_failure(states)


def print_json_history(run: dict[str, object], states: list[State]) -> None:
    """A run's fields and its states, with the traceback of each failure."""
    history = [
        {"name": s.name, "timestamp": s.timestamp.isoformat(), "traceback": s.traceback}
        for s in states
    ]
    typer.echo(json.dumps({**run, "states": history}))


def print_failure(states: list[State]) -> None:
    """The traceback of the run's failure, if it failed."""
    failure = next((s.traceback for s in reversed(states) if s.traceback), None)
    if failure is not None:
        typer.echo(f"\n{failure.rstrip()}")


@flow_run_app.command("logs")
def flow_run_logs(
    reference: RunArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Print new lines as they come, until it ends.")
    ] = False,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Print a flow run's stored log lines (with --follow, until the run has ended)."""
    with connect(url, api_key, workspace, debug) as client:
        run_id = flow_run_id(client, reference)
        seen = 0
        has_ended = False
        while True:
            logs = client.read_logs(run_id, offset=seen)
            seen += len(logs)
            for log in logs:
                typer.echo(log_line(log, as_json))
            sys.stdout.flush()
            if not follow or has_ended:
                return
            # A long poll, not a busy loop: it answers at once when the run ends.
            has_ended = _wait(client, run_id, FOLLOW_SECONDS) is not None


def log_line(log: LogRecord, as_json: bool) -> str:
    if as_json:
        fields = {"timestamp": log.timestamp.isoformat(), "level": log.level}
        return json.dumps({**fields, "message": log.message})
    level = logging.getLevelName(log.level)
    return f"{log_time(log.timestamp)} | {level:<7} | {log.message}"


def _wait(client: SyncClient, flow_run_id: str, seconds: float) -> FlowRun | None:
    """The run once it has ended, if it ends within `seconds`; else None."""
    try:
        return client.wait_for_flow_run(flow_run_id, timeout=seconds)
    except TimeoutError:
        return None


@flow_run_app.command("wait")
def flow_run_wait(
    reference: RunArgument,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="Give up after this many seconds (exit 124).")
    ] = None,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Wait for a flow run to end, showing its state meanwhile.

    Exit 0 if it completed, 1 if it ended otherwise, 124 if the timeout came first.
    """
    with connect(url, api_key, workspace, debug) as client:
        run = _follow(client, client.read_flow_run(flow_run_id(client, reference)), timeout)
    _print_end(run, as_json)
    if str(run.state.type) != "COMPLETED":
        raise typer.Exit(1)


@flow_run_app.command("create")
def flow_run_create(
    flow_name: Annotated[str, typer.Argument(help="A flow the server serves.")],
    param: Params = None,
    watch: Annotated[
        bool, typer.Option(help="Follow the run to its end; exit 0 only if it completed.")
    ] = False,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Start a run of a flow on the server (with --watch, follow it to its end).

    Exit 0 once it is created (with --watch: once it completed), 1 if not.
    """
    from repertory import ValidationError

    parameters = parse_parameters(param or [])
    with connect(url, api_key, workspace, debug) as client:
        try:
            run = client.create_flow_run(flow_name, parameters)
        except ValidationError as exc:
            served = exc.details.get("flows")
            if exc.code != "unknown_flow" or not isinstance(served, list):
                raise
            names = ", ".join(map(str, served)) or "none"
            raise fail(
                f"the server runs no flow {flow_name!r}; it runs: {names}", debug=debug, error=exc
            ) from None
        if watch:
            run = _follow(client, run, None)
    if not watch:
        typer.echo(
            json.dumps(_run_json(run)) if as_json else f"{run.id}: {run.name} {run.state.name}"
        )
        return
    _print_end(run, as_json)
    if str(run.state.type) != "COMPLETED":
        raise typer.Exit(1)


def _follow(client: SyncClient, run: FlowRun, timeout: float | None) -> FlowRun:
    """`run` once it has ended, its state shown meanwhile (exit 124 if `timeout` comes first)."""
    from rich.console import Console

    deadline = None if timeout is None else time.monotonic() + timeout
    # The spinner goes to stderr and only to a terminal: stdout keeps the answer alone.
    with Console(stderr=True).status(_status(run)) as status:
        while str(run.state.type) not in TERMINAL:
            left = FOLLOW_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                typer.echo(f"{run.id}: still {run.state.name} after {timeout} s", err=True)
                raise typer.Exit(TIMED_OUT)
            run = _wait(client, run.id, min(left, FOLLOW_SECONDS)) or client.read_flow_run(run.id)
            status.update(_status(run))
    return run


def _status(run: FlowRun) -> Text:
    from rich.text import Text  # not markup: a run's name is anyone's text

    return Text(f"{printable(run.name)} ({run.flow_name}, {short_id(run.id)}): {run.state.name}")


def _print_end(run: FlowRun, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_run_json(run)))
        return
    message = f": {run.state.message}" if run.state.message else ""
    typer.echo(f"{run.id}: {run.state.name}{message}")


@flow_run_app.command("cancel")
def flow_run_cancel(
    reference: RunArgument,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Cancel a live flow run; exit 1 if it had already ended."""
    with connect(url, api_key, workspace, debug) as client:
        run = client.cancel_flow_run(flow_run_id(client, reference))
    typer.echo(json.dumps(_run_json(run)) if as_json else f"{run.id}: {run.state.name}")
