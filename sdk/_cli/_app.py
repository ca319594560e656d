"""The `repertory` command line (typer): its root, `server start` and `run`; the commands
that talk to a server live beside it, in `_flow_runs`, `_cache`, `_api_keys`, `_audit` and
`_workspaces`. The command line (this package) is the one part of the SDK that may import the
gateway; the rest of the SDK never imports it.

Errors print as one line and exit 1 (2 for bad usage), with the traceback only under `--debug`.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import sys
from pathlib import Path  # noqa: TC003 - typer reads the annotations at run time
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from ._api_keys import api_key_app
from ._audit import audit_app
from ._cache import cache_app
from ._flow_runs import flow_run_app
from ._options import (
    AsJson,
    Debug,
    LogLevel,
    Params,
    Quiet,
    bad_usage,
    console_of,
    fail,
    parse_parameters,
)
from ._runs import short_id
from ._task_runs import task_run_app
from ._workspaces import workspace_app

if TYPE_CHECKING:
    from repertory import State
    from repertory.runtime import FlowDefinition

app = typer.Typer(
    name="repertory",
    help="repertory: flows, their runs, and the server that runs them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
server_app = typer.Typer(help="The REST API server.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(flow_run_app, name="flow-run")
app.add_typer(task_run_app, name="task-run")
app.add_typer(cache_app, name="cache")
app.add_typer(api_key_app, name="api-key")
app.add_typer(audit_app, name="audit")
app.add_typer(workspace_app, name="workspace")


def _print_version(asked: bool) -> None:
    if asked:
        from repertory import __version__

        typer.echo(f"repertory {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """repertory: flows, their runs, and the server that runs them."""


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
        list[str] | None,
        typer.Option(
            help="A module (pkg.flows) or file (flows.py) whose @flows it serves; "
            "repeat it for several."
        ),
    ] = None,
    max_live_runs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Runs in progress at once; past it, creating a run waits for one to end. "
            "Lower trades concurrent waiting runs for latency under saturation.",
        ),
    ] = 1_000,  # DEFAULT_MAX_LIVE_RUNS (the runtime is imported only once a command runs)
    max_runs_per_workspace: Annotated[
        int,
        typer.Option(
            min=0,
            help="Runs in progress one workspace may have; creating more is refused (429) "
            "until some end. 0: no bound but --max-live-runs.",
        ),
    ] = 500,
    rate_limit: Annotated[
        float,
        typer.Option(
            min=0,
            help="Requests per second one API key may send (bursts of twice that); 0: no limit.",
        ),
    ] = 100.0,
    auth_failure_limit: Annotated[
        float,
        typer.Option(
            min=0,
            help="Failed authentications per minute from one address before it must wait; "
            "0: no limit.",
        ),
    ] = 10.0,
    # The defaults are the gateway's (DEFAULT_HEADER_TIMEOUT ...), imported only once it runs.
    header_timeout: Annotated[
        float,
        typer.Option(
            min=0.001,
            help="Seconds a connection may take to send a request's headers; then it is closed.",
        ),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option(
            min=0.001, help="Seconds a request may take to send its body after its headers."
        ),
    ] = 30.0,
    idle_timeout: Annotated[
        float,
        typer.Option(
            min=0.001, help="Seconds a kept-alive connection may wait for its next request."
        ),
    ] = 10.0,
    max_connections: Annotated[
        int,
        typer.Option(
            min=1,
            help="Open connections at most (fewer if ulimit -n is lower); more are answered "
            "503 and closed.",
        ),
    ] = 4_096,
    audit_checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="Where to append signed checkpoints of the audit chains "
            "[default: $REPERTORY_HOME/audit-checkpoints.jsonl]",
            dir_okay=False,
        ),
    ] = None,
    audit_checkpoint_seconds: Annotated[
        float, typer.Option(min=1, help="Seconds between audit checkpoints.")
    ] = 60.0,
    log_level: LogLevel = None,
    quiet: Quiet = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Serve the REST API until interrupted (Ctrl-C or SIGTERM)."""
    from repertory.actors import ActorError
    from repertory.gateway import FlowsNotFoundError, Limits, ServerStarted, serve
    from repertory.runtime import WorkflowError

    def started(info: ServerStarted) -> None:
        served = ", ".join(info.flows) or "none (--flows names them)"
        typer.echo(f"database: {info.database_url}")
        typer.echo(f"flows: {served}")
        if info.bootstrap_key is not None:
            typer.echo(
                "owner API key of workspace 'default' (a server admin key too: it manages "
                "workspaces), shown this once, keep it: "
                f"{info.bootstrap_key}"
            )
        typer.echo(f"repertory serving {info.url} (API docs, with a key: {info.url}/api/docs)")
        sys.stdout.flush()

    try:
        served = _load_all(flows or [])
        anyio.run(
            lambda: serve(
                database_url=database_url,
                host=host,
                port=port,
                flows=served,
                max_live_runs=max_live_runs,
                max_live_runs_per_workspace=max_runs_per_workspace or None,
                limits=Limits(
                    key_rate=rate_limit or None,
                    key_burst=max(1.0, 2 * rate_limit),
                    auth_failures_per_minute=auth_failure_limit or None,
                ),
                header_timeout=header_timeout,
                body_timeout=body_timeout,
                idle_timeout=idle_timeout,
                max_connections=max_connections,
                audit_checkpoints=audit_checkpoints,
                audit_checkpoint_seconds=audit_checkpoint_seconds,
                console=console_of(log_level, quiet),
                on_started=started,
            ),
            backend="asyncio",
            backend_options={"use_uvloop": importlib.util.find_spec("uvloop") is not None},
        )
    except FlowsNotFoundError as exc:
        raise fail(str(exc), debug=debug, error=exc) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            message = (
                f"port {port} on {host} is in use: stop what uses it, or pick another with --port"
            )
            raise fail(message, debug=debug, error=exc) from None
        raise fail(f"{type(exc).__name__}: {exc}", debug=debug, error=exc) from None
    except WorkflowError as exc:
        raise fail(f"{type(exc).__name__}: {exc}", debug=debug, error=exc) from None
    except ActorError as exc:  # a supervisor gave up: the runtime cannot go on
        cause = exc.__cause__
        after = f", the last after {type(cause).__name__}: {cause}" if cause else ""
        raise fail(f"the server stopped: {exc}{after}", debug=debug, error=exc) from None
    except KeyboardInterrupt:
        pass


@app.command("run")
def run_locally(
    target: Annotated[str, typer.Argument(help="FILE.py:FLOW, or package.module:FLOW.")],
    param: Params = None,
    database_url: Annotated[
        str | None, typer.Option(help="Where the run is stored; the default database if none.")
    ] = None,
    as_json: AsJson = False,
    log_level: LogLevel = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Run a flow here, on the embedded runtime; exit 0 if it completes, 1 if not."""
    from repertory import Runtime
    from repertory.gateway import FlowsNotFoundError, load_flows
    from repertory.runtime import WorkflowError

    source, _, name = target.rpartition(":")
    if not source or not name:
        raise bad_usage("name the flow as FILE.py:FLOW or package.module:FLOW")
    parameters = parse_parameters(param or [])
    try:
        found = {flow.options.name: flow for flow in load_flows(source)}
        chosen = found.get(name)
        if chosen is None:
            raise FlowsNotFoundError(f"{source} has no flow {name!r}: {', '.join(sorted(found))}")

        async def run() -> tuple[State, str]:
            async with Runtime(database_url, console=console_of(log_level, quiet)) as rt:
                state: State = await chosen(**parameters, return_state=True)  # type: ignore[operator]  # a Flow
                return state, (await rt.read_flow_run(state.run_id)).name

        state, run_name = anyio.run(run)
    except (FlowsNotFoundError, WorkflowError, OSError) as exc:
        raise fail(str(exc), debug=debug, error=exc) from None
    completed = str(state.type) == "COMPLETED"
    result = state.result() if completed else None
    if as_json:
        out = {"state": state.name, "message": state.message, "run_id": state.run_id}
        out["run_name"] = run_name
        typer.echo(json.dumps({**out, "result": result}, default=repr))
    else:
        typer.echo(
            f"{name} run {run_name} ({short_id(state.run_id)}): {state.name}"
            + (f": {state.message}" if state.message else "")
        )
        if completed:
            typer.echo(repr(result))
    if debug and state.traceback is not None:
        typer.echo(state.traceback.rstrip(), err=True)
    if not completed:
        raise typer.Exit(1)


def _load_all(specs: list[str]) -> list[FlowDefinition]:
    """The flows of every `--flows` module or file; two of one name are an error."""
    from repertory.gateway import FlowsNotFoundError, load_flows

    found: dict[str, tuple[FlowDefinition, str]] = {}
    for spec in specs:
        for flow in load_flows(spec):
            name = flow.options.name
            if name in found and found[name][0] is not flow:
                raise FlowsNotFoundError(
                    f"two flows are named {name!r}: in {found[name][1]} and in {spec}; "
                    "rename one (@flow(name=...))"
                )
            found[name] = (flow, spec)
    return [flow for flow, _ in found.values()]


def main() -> None:
    """The `repertory` command's entry point."""
    app()
