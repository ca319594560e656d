"""`repertory cache ...`: a workspace's cached task results on a server, through the client."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from ._options import (
    AsJson,
    Debug,
    Key,
    Url,
    Workspace,
    bad_usage,
    connect,
    print_table,
    short_time,
)

if TYPE_CHECKING:
    from repertory.runtime import CacheEntry

cache_app = typer.Typer(help="Cached task results on a server.", no_args_is_help=True)


def _entry_json(entry: CacheEntry) -> dict[str, object]:
    return {
        "key": entry.key,
        "task_name": entry.task_name,
        "created": entry.created.isoformat(),
        "expires": entry.expires.isoformat() if entry.expires else None,
        "size": entry.size,
        "storage": entry.storage,
        "task_run_id": entry.task_run_id,
    }


@cache_app.command("ls")
def cache_ls(
    task_name: Annotated[str | None, typer.Option("--task", help="Only this task's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """List cache entries, oldest first (the results themselves stay on the server)."""
    with connect(url, api_key, workspace, debug) as client:
        entries = client.read_cache_entries(task_name=task_name, limit=limit)
    if as_json:
        typer.echo(json.dumps([_entry_json(entry) for entry in entries]))
        return
    print_table(
        ("key", "task", "created", "expires", "bytes", "storage"),
        (
            (
                e.key[:16],
                e.task_name,
                short_time(e.created),
                short_time(e.expires) or "never",
                f"{e.size:,}",
                e.storage,
            )
            for e in entries
        ),
    )


@cache_app.command("invalidate")
def cache_invalidate(
    key: Annotated[str | None, typer.Option(help="The entry of this key.")] = None,
    task_name: Annotated[str | None, typer.Option("--task", help="Every entry of a task.")] = None,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Remove cache entries (and their results): the next call computes again."""
    if (key is None) == (task_name is None):
        raise bad_usage("give --key or --task, one of them")
    with connect(url, api_key, workspace, debug) as client:
        count = client.invalidate_cache(key=key, task_name=task_name)
    typer.echo(json.dumps({"invalidated": count}) if as_json else f"{count} entries invalidated")
