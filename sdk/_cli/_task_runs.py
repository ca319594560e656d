"""`repertory task-run ...`: the task runs of flow runs on a server, through the client."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from ._flow_runs import log_line, print_history
from ._options import AsJson, Debug, Key, Url, Workspace, connect, print_table, stamp

if TYPE_CHECKING:
    from repertory import TaskRun

task_run_app = typer.Typer(help="Task runs of flow runs on a server.", no_args_is_help=True)


def _task_run_json(run: TaskRun) -> dict[str, object]:
    return {
        "id": run.id,
        "name": run.name,
        "task_name": run.task_name,
        "flow_run_id": run.flow_run_id,
        "state": run.state.name,
        "state_type": str(run.state.type),
        "message": run.state.message,
        "run_count": run.run_count,
        "parameters": dict(run.parameters),
        "tags": list(run.tags),
        "start_time": run.start_time.isoformat() if run.start_time else None,
        "end_time": run.end_time.isoformat() if run.end_time else None,
        "created": run.created.isoformat(),
    }


@task_run_app.command("ls")
def task_run_ls(
    flow_run_id: str,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """List a flow run's task runs, oldest first."""
    with connect(url, api_key, workspace, debug) as client:
        runs = client.read_task_runs(flow_run_id)
    if as_json:
        typer.echo(json.dumps([_task_run_json(run) for run in runs]))
        return
    print_table(
        ("id", "name", "state", "tries", "started", "ended"),
        (
            (
                r.id,
                r.name,
                r.state.name,
                str(r.run_count),
                stamp(r.start_time),
                stamp(r.end_time),
            )
            for r in runs
        ),
    )


@task_run_app.command("inspect")
def task_run_inspect(
    task_run_id: str,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Show one task run, its states and, if it failed, its traceback."""
    with connect(url, api_key, workspace, debug) as client:
        run = client.read_task_run(task_run_id)
        states = client.read_state_history(task_run_id)
    print_history(_task_run_json(run), states, as_json)


@task_run_app.command("logs")
def task_run_logs(
    task_run_id: str,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Print a task run's stored log lines."""
    with connect(url, api_key, workspace, debug) as client:
        logs = client.read_task_run_logs(task_run_id)
    for log in logs:
        typer.echo(log_line(log, as_json))
