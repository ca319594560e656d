"""What every command of the `repertory` command line shares: the connection options, the
client they open, and how a failure ends a command (one line on stderr, exit code 1, or 2
for bad usage, as for what typer itself refuses)."""

from __future__ import annotations

import contextlib
import enum
import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Final

import typer

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from rich.text import Text

    from repertory import SyncClient

Url = Annotated[
    str | None,
    typer.Option(envvar="REPERTORY_API_URL", help="The server (default http://127.0.0.1:4200)."),
]
Key = Annotated[str | None, typer.Option(envvar="REPERTORY_API_KEY", help="An API key.")]
Workspace = Annotated[str, typer.Option(help="The workspace.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]
Debug = Annotated[bool, typer.Option(help="Show tracebacks.")]


class ConsoleLevel(enum.Enum):
    """The levels `--log-level` takes (in any case)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


LogLevel = Annotated[
    ConsoleLevel | None,
    typer.Option(
        case_sensitive=False,
        help="Show run log lines from this level on stderr "
        "[default: $REPERTORY_LOGGING_LEVEL, else INFO].",
    ),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="No run log lines on stderr (warnings still show).")
]
Since = Annotated[
    str | None,
    typer.Option(help="At or after this time (ISO 8601, local zone by default) or span ago (2h)."),
]
Until = Annotated[
    str | None,
    typer.Option(help="Before this time (ISO 8601, local zone by default) or span ago (30m)."),
]
Params = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A parameter, key=value (the value read as JSON if it is)."),
]


def console_of(log_level: ConsoleLevel | None, quiet: bool) -> str | bool:
    """What `Runtime(console=...)` gets for `--log-level` and `--quiet`."""
    return False if quiet else (True if log_level is None else log_level.value)


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
    from repertory import ClientError, NotFoundError, UsageError, get_sync_client
    from repertory._client import DEFAULT_URL

    if not api_key:
        raise bad_usage("an API key is needed: pass --api-key or set REPERTORY_API_KEY")
    try:
        with get_sync_client(url, api_key, workspace=workspace) as client:
            yield client
    except NotFoundError as exc:
        message = str(exc)
        if message.startswith("no route "):  # the URL names no API: not the server's root?
            message = (
                f"no repertory API under {url or DEFAULT_URL}\n"
                f"--url (or REPERTORY_API_URL) is the server's root: {DEFAULT_URL}"
            )
        raise fail(message, debug=debug, error=exc) from None
    except (ClientError, UsageError) as exc:
        raise fail(str(exc), debug=debug, error=exc) from None


_SPAN: Final = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d|w)")
_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str | None, option: str) -> datetime | None:
    """A time given on the command line: ISO 8601 (in the local zone when it names none), or
    how long ago (`30m`, `2h`, `7d`, `1w`); bad usage (exit 2) for anything else."""
    if text is None:
        return None
    span = _SPAN.fullmatch(text.strip().lower())
    if span is not None:
        try:
            return datetime.now(UTC) - timedelta(seconds=float(span[1]) * _SECONDS[span[2]])
        except OverflowError:
            raise bad_usage(f"{option}: {text!r} is too long ago") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise bad_usage(
            f"{option}: a time (2026-11-26T12:00) or a span ago (30m, 2h, 7d), not {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


def stamp(moment: datetime | None, *, none: str = "", millis: bool = False) -> str:
    """A time in the local zone, to the second (or the millisecond)."""
    if moment is None:
        return none
    local = moment.astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{local.microsecond // 1000:03}" if millis else text


def short_time(moment: datetime | None) -> str:
    """A time in the local zone, as short as a table needs: `18:17:49` today, `Dec 03
    18:17` this year, else `2025-12-03`."""
    if moment is None:
        return ""
    local, now = moment.astimezone(), datetime.now().astimezone()
    if local.date() == now.date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%b %d %H:%M" if local.year == now.year else "%Y-%m-%d")


def printable(text: str) -> str:
    """`text` with control characters spelled out: what a run or a user wrote cannot
    restyle the terminal or pass for another line (the runtime's, imported as it is used)."""
    from repertory.runtime.lowlevel import printable as spelled_out

    return spelled_out(text)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str | Text]]) -> None:
    """A table for people (rich, loaded only when a table is printed). Text is shown as it
    is: a run's name such as `[red]x` is not read as markup."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(*columns, box=box.SIMPLE_HEAD)
    for row in rows:
        table.add_row(*(Text(printable(cell)) if isinstance(cell, str) else cell for cell in row))
    if table.row_count:
        Console().print(table)
    else:
        typer.echo("nothing to show")
