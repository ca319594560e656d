"""What every command of the `repertory` command line shares: the connection options, the
client they open, and how a failure ends a command (one line on stderr, exit code 1, or 2
for bad usage, as for what typer itself refuses)."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from datetime import datetime

    from repertory import SyncClient

Url = Annotated[
    str | None,
    typer.Option(envvar="REPERTORY_API_URL", help="The server (default http://127.0.0.1:4200)."),
]
Key = Annotated[str | None, typer.Option(envvar="REPERTORY_API_KEY", help="An API key.")]
Workspace = Annotated[str, typer.Option(help="The workspace.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]
Debug = Annotated[bool, typer.Option(help="Show tracebacks.")]
Params = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A parameter, key=value (the value read as JSON if it is)."),
]


def parse_parameters(items: Iterable[str]) -> dict[str, object]:
    """`-p key=value` options as parameters, each value read as JSON if it is JSON, else as
    the text itself (bad usage: exit 2, for an item without `=`)."""
    parameters: dict[str, object] = {}
    for item in items:
        key, is_pair, value = item.partition("=")
        if not is_pair or not key:
            raise bad_usage(f"a parameter is key=value, not {item!r}")
        try:
            parameters[key] = json.loads(value)
        except ValueError:
            parameters[key] = value  # not JSON: the text itself
    return parameters


def fail(message: str, *, debug: bool, error: BaseException | None = None) -> typer.Exit:
    if debug and error is not None:
        raise error
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def bad_usage(message: str) -> typer.Exit:
    """The command was called wrongly: one line on stderr, exit code 2."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@contextlib.contextmanager
def connect(
    url: str | None, api_key: str | None, workspace: str, debug: bool
) -> Iterator[SyncClient]:
    """A sync client; its errors become one line and exit code 1."""
    from repertory import ClientError, UsageError, get_sync_client

    if not api_key:
        raise bad_usage("an API key is needed: pass --api-key or set REPERTORY_API_KEY")
    try:
        with get_sync_client(url, api_key, workspace=workspace) as client:
            yield client
    except (ClientError, UsageError) as exc:
        raise fail(str(exc), debug=debug, error=exc) from None


def stamp(moment: datetime | None, *, none: str = "") -> str:
    """A time as a table shows it: to the second."""
    return none if moment is None else moment.isoformat(timespec="seconds")


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A table for people (rich, loaded only when a table is printed)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
