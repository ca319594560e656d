"""The `repertory` command line (typer). The one module that may import both the gateway and
the SDK; the rest of the SDK never imports it.

Errors print as one line and exit 1 (2 for bad usage), with the traceback only under `--debug`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from repertory import FlowRun, State, SyncClient

app = typer.Typer(
    name="repertory",
    help="repertory: flows, their runs, and the server that runs them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
server_app = typer.Typer(help="The REST API server.", no_args_is_help=True)
app.add_typer(server_app, name="server")
flow_run_app = typer.Typer(help="Flow runs on a server.", no_args_is_help=True)
app.add_typer(flow_run_app, name="flow-run")

Url = Annotated[
    str | None,
    typer.Option(envvar="REPERTORY_API_URL", help="The server (default http://127.0.0.1:4200)."),
]
Key = Annotated[str | None, typer.Option(envvar="REPERTORY_API_KEY", help="An API key.")]
Workspace = Annotated[str, typer.Option(help="The workspace.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]
Debug = Annotated[bool, typer.Option(help="Show tracebacks.")]


def _fail(message: str, *, debug: bool, error: BaseException | None = None) -> typer.Exit:
    if debug and error is not None:
        raise error
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@server_app.command("start")
def start(
    host: Annotated[
        str, typer.Option(help="Address to listen on; only this machine by default.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 4200,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="sqlite:///path or postgresql://...; by default $REPERTORY_HOME/repertory.db."
        ),
    ] = None,
    flows: Annotated[
        str | None,
        typer.Option(help="A module (pkg.flows) or file (flows.py) whose @flows it serves."),
    ] = None,
    max_live_runs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Runs in progress at once; past it, creating a run waits for one to end. "
            "Lower trades concurrent waiting runs for latency under saturation.",
        ),
    ] = 1_000,  # DEFAULT_MAX_LIVE_RUNS (the runtime is imported only once a command runs)
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Serve the REST API until interrupted (Ctrl-C or SIGTERM)."""
    from repertory.gateway import FlowsNotFoundError, ServerStarted, load_flows, serve
    from repertory.runtime import WorkflowError

    def started(info: ServerStarted) -> None:
        served = ", ".join(info.flows) or "none (--flows names them)"
        typer.echo(f"database: {info.database_url}")
        typer.echo(f"flows: {served}")
        if info.bootstrap_key is not None:
            typer.echo(
                "owner API key of workspace 'default', shown this once, keep it: "
                f"{info.bootstrap_key}"
            )
        typer.echo(f"repertory serving {info.url} (API docs: {info.url}/api/docs)")
        sys.stdout.flush()

    try:
        served = load_flows(flows) if flows else []
        anyio.run(
            lambda: serve(
                database_url=database_url,
                host=host,
                port=port,
                flows=served,
                max_live_runs=max_live_runs,
                on_started=started,
            ),
            backend="asyncio",
            backend_options={"use_uvloop": importlib.util.find_spec("uvloop") is not None},
        )
    except FlowsNotFoundError as exc:
        raise _fail(str(exc), debug=debug, error=exc) from None
    except (WorkflowError, OSError) as exc:
        raise _fail(f"{type(exc).__name__}: {exc}", debug=debug, error=exc) from None
    except KeyboardInterrupt:
        pass


@contextlib.contextmanager
def _client(
    url: str | None, api_key: str | None, workspace: str, debug: bool
) -> Iterator[SyncClient]:
    """A sync client; its errors become one line and exit code 1."""
    from repertory import ClientError, SdkError, get_sync_client

    try:
        with get_sync_client(url, api_key, workspace=workspace) as client:
            yield client
    except (ClientError, SdkError) as exc:
        raise _fail(str(exc), debug=debug, error=exc) from None


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
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "name", "flow", "state", "started", "ended")
    for run in runs:
        table.add_row(
            run.id,
            run.name,
            run.flow_name,
            run.state.name,
            run.start_time.isoformat(timespec="seconds") if run.start_time else "",
            run.end_time.isoformat(timespec="seconds") if run.end_time else "",
        )
    Console().print(table)


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
    with _client(url, api_key, workspace, debug) as client:
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
    with _client(url, api_key, workspace, debug) as client:
        run = client.read_flow_run(flow_run_id)
        states = client.read_state_history(flow_run_id)
    if as_json:
        history = [{"name": s.name, "timestamp": s.timestamp.isoformat()} for s in states]
        typer.echo(json.dumps({**_run_json(run), "states": history}))
        return
    for field, value in _run_json(run).items():
        typer.echo(f"{field:>11}: {value}")
    for state in states:
        typer.echo(f"  {state.timestamp.isoformat(timespec='milliseconds')}  {state.name}")


@flow_run_app.command("logs")
def flow_run_logs(
    flow_run_id: str,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Print a flow run's stored log lines."""
    with _client(url, api_key, workspace, debug) as client:
        logs = client.read_logs(flow_run_id)
    for log in logs:
        if as_json:
            line = {
                "timestamp": log.timestamp.isoformat(),
                "level": log.level,
                "message": log.message,
            }
            typer.echo(json.dumps(line))
        else:
            typer.echo(f"{log.timestamp.isoformat(timespec='milliseconds')} {log.message}")


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
    with _client(url, api_key, workspace, debug) as client:
        run = client.cancel_flow_run(flow_run_id)
    typer.echo(json.dumps(_run_json(run)) if as_json else f"{run.id}: {run.state.name}")


@app.command("run")
def run_locally(
    target: Annotated[str, typer.Argument(help="FILE.py:FLOW, or package.module:FLOW.")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="A parameter, key=value (the value read as JSON if it is)."
        ),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Where the run is stored; the default database if none.")
    ] = None,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Run a flow here, on the embedded runtime; exit 0 if it completes, 1 if not."""
    from repertory import Runtime
    from repertory.gateway import FlowsNotFoundError, load_flows
    from repertory.runtime import WorkflowError

    source, _, name = target.rpartition(":")
    if not source or not name:
        raise _fail("name the flow as FILE.py:FLOW or package.module:FLOW", debug=False)
    parameters: dict[str, object] = {}
    for item in param or []:
        key, is_pair, value = item.partition("=")
        if not is_pair or not key:
            raise _fail(f"a parameter is key=value, not {item!r}", debug=False)
        try:
            parameters[key] = json.loads(value)
        except ValueError:
            parameters[key] = value  # not JSON: the text itself
    try:
        found = {flow.options.name: flow for flow in load_flows(source)}
        chosen = found.get(name)
        if chosen is None:
            raise FlowsNotFoundError(f"{source} has no flow {name!r}: {', '.join(sorted(found))}")

        async def run() -> State:
            async with Runtime(database_url):
                state: State = await chosen(**parameters, return_state=True)  # type: ignore[operator]  # a Flow
                return state

        state = anyio.run(run)
    except (FlowsNotFoundError, WorkflowError, OSError) as exc:
        raise _fail(str(exc), debug=debug, error=exc) from None
    completed = str(state.type) == "COMPLETED"
    result = state.result() if completed else None
    if as_json:
        out = {"state": state.name, "message": state.message, "run_id": state.run_id}
        typer.echo(json.dumps({**out, "result": result}, default=repr))
    else:
        typer.echo(
            f"{name} run {state.run_id}: {state.name}"
            + (f": {state.message}" if state.message else "")
        )
        if completed:
            typer.echo(repr(result))
    if not completed:
        raise typer.Exit(1)


def main() -> None:
    """The `repertory` command's entry point."""
    app()


if __name__ == "__main__":
    main()
