"""The `repertory` command line (typer). The one module that may import both the gateway and
the SDK; the rest of the SDK never imports it.

Errors print as one line and exit 1 (2 for bad usage), with the traceback only under `--debug`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import anyio
import typer

app = typer.Typer(
    name="repertory",
    help="repertory: flows, their runs, and the server that runs them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
server_app = typer.Typer(help="The REST API server.", no_args_is_help=True)
app.add_typer(server_app, name="server")


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
                database_url=database_url, host=host, port=port, flows=served, on_started=started
            ),
            backend="asyncio",
        )
    except FlowsNotFoundError as exc:
        raise _fail(str(exc), debug=debug, error=exc) from None
    except (WorkflowError, OSError) as exc:
        raise _fail(f"{type(exc).__name__}: {exc}", debug=debug, error=exc) from None
    except KeyboardInterrupt:
        pass


def main() -> None:
    """The `repertory` command's entry point."""
    app()


if __name__ == "__main__":
    main()
