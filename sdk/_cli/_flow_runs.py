"""`repertory flow-run ...`: flow runs on a server, through the client."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Final

import typer

from ._options import AsJson, Debug, Key, Url, Workspace, connect, print_table, stamp

if TYPE_CHECKING:
    from repertory import FlowRun, SyncClient
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
    print_table(
        ("id", "name", "flow", "state", "started", "ended"),
        (
            (r.id, r.name, r.flow_name, r.state.name, stamp(r.start_time), stamp(r.end_time))
            for r in runs
        ),
    )


@flow_run_app.command("ls")
def flow_run_ls(
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    flow: Annotated[str | None, typer.Option(help="Only runs of this flow.")] = None,
    state: Annotated[str | None, typer.Option(help="Only runs in this state type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """List flow runs, oldest first."""
    with connect(url, api_key, workspace, debug) as client:
        runs = client.read_flow_runs(flow_name=flow, state_type=state, limit=limit)
    _print_runs(runs, as_json)


@flow_run_app.command("inspect")
def flow_run_inspect(
    flow_run_id: str,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Show one flow run and its states."""
    with connect(url, api_key, workspace, debug) as client:
        run = client.read_flow_run(flow_run_id)
        states = client.read_state_history(flow_run_id)
    if as_json:
        history = [
            {"name": s.name, "timestamp": s.timestamp.isoformat(), "traceback": s.traceback}
            for s in states
        ]
        typer.echo(json.dumps({**_run_json(run), "states": history}))
        return
    for field, value in _run_json(run).items():
        typer.echo(f"{field:>11}: {value}")
    for state in states:
        typer.echo(f"  {state.timestamp.isoformat(timespec='milliseconds')}  {state.name}")
    failure = next((s.traceback for s in reversed(states) if s.traceback), None)
    if failure is not None:
        typer.echo(f"\n{failure.rstrip()}")


@flow_run_app.command("logs")
def flow_run_logs(
    flow_run_id: str,
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
        seen = 0
        has_ended = False
        while True:
            logs = client.read_logs(flow_run_id, offset=seen)
            seen += len(logs)
            for log in logs:
                typer.echo(_log_line(log, as_json))
            sys.stdout.flush()
            if not follow or has_ended:
                return
            # A long poll, not a busy loop: it answers at once when the run ends.
            has_ended = _wait(client, flow_run_id, FOLLOW_SECONDS) is not None


def _log_line(log: LogRecord, as_json: bool) -> str:
    if as_json:
        fields = {"timestamp": log.timestamp.isoformat(), "level": log.level}
        return json.dumps({**fields, "message": log.message})
    return f"{log.timestamp.isoformat(timespec='milliseconds')} {log.message}"


def _wait(client: SyncClient, flow_run_id: str, seconds: float) -> FlowRun | None:
    """The run once it has ended, if it ends within `seconds`; else None."""
    try:
        return client.wait_for_flow_run(flow_run_id, timeout=seconds)
    except TimeoutError:
        return None


@flow_run_app.command("wait")
def flow_run_wait(
    flow_run_id: str,
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
    from rich.console import Console

    deadline = None if timeout is None else time.monotonic() + timeout
    with connect(url, api_key, workspace, debug) as client:
        run = client.read_flow_run(flow_run_id)
        # The spinner goes to stderr and only to a terminal: stdout keeps the answer alone.
        with Console(stderr=True).status(_status(run)) as status:
            while str(run.state.type) not in TERMINAL:
                left = FOLLOW_SECONDS if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    typer.echo(f"{run.id}: still {run.state.name} after {timeout} s", err=True)
                    raise typer.Exit(TIMED_OUT)
                run = _wait(client, flow_run_id, min(left, FOLLOW_SECONDS)) or (
                    client.read_flow_run(flow_run_id)
                )
                status.update(_status(run))
    _print_end(run, as_json)
    if str(run.state.type) != "COMPLETED":
        raise typer.Exit(1)


def _status(run: FlowRun) -> str:
    return f"{run.name} ({run.flow_name}, {run.id}): {run.state.name}"


def _print_end(run: FlowRun, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_run_json(run)))
        return
    message = f": {run.state.message}" if run.state.message else ""
    typer.echo(f"{run.id}: {run.state.name}{message}")


@flow_run_app.command("cancel")
def flow_run_cancel(
    flow_run_id: str,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Cancel a live flow run; exit 1 if it had already ended."""
    with connect(url, api_key, workspace, debug) as client:
        run = client.cancel_flow_run(flow_run_id)
    typer.echo(json.dumps(_run_json(run)) if as_json else f"{run.id}: {run.state.name}")
