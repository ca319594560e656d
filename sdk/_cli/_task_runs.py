"""`repertory task-run ...`: the task runs of flow runs on a server, through the client."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from ._flow_runs import RunArgument, flow_run_id, log_line, print_failure, print_json_history
from ._options import AsJson, Debug, Key, Url, Workspace, connect
from ._runs import print_panel, print_runs, resolve

if TYPE_CHECKING:
    from repertory import SyncClient, TaskRun

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


def task_run_id(client: SyncClient, reference: str) -> str:
    """The id of the task run `reference` names (an id, a name, a start or end of an id)."""
    return resolve(
        reference, lambda text, limit: client.find_task_runs(text, limit=limit), "task run"
    )


TaskRunArgument = Annotated[
    str,
    typer.Argument(
        metavar="TASK_RUN",
        help="Its id, a unique start of its id, its id's last 8 hex digits, or its name.",
    ),
]


@task_run_app.command("ls")
def task_run_ls(
    reference: RunArgument,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """List a flow run's task runs, oldest first."""
    with connect(url, api_key, workspace, debug) as client:
        runs = client.read_task_runs(flow_run_id(client, reference))
    if as_json:
        typer.echo(json.dumps([_task_run_json(run) for run in runs]))
        return
    print_runs(runs, flow_column=False)


@task_run_app.command("inspect")
def task_run_inspect(
    reference: TaskRunArgument,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Show one task run, its states and, if it failed, its traceback."""
    with connect(url, api_key, workspace, debug) as client:
        run_id = task_run_id(client, reference)
        run = client.read_task_run(run_id)
        states = client.read_state_history(run_id)
    if as_json:
        print_json_history(_task_run_json(run), states)
        return
    print_panel(run, states)
    print_failure(states)


@task_run_app.command("logs")
def task_run_logs(
    reference: TaskRunArgument,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Print a task run's stored log lines."""
    with connect(url, api_key, workspace, debug) as client:
        logs = client.read_task_run_logs(task_run_id(client, reference))
    for log in logs:
        typer.echo(log_line(log, as_json))
