"""`repertory cache ...`: a workspace's cached task results on a server, through the client."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Annotated, Final

import typer

from ._options import (
    AsJson,
    Debug,
    Key,
    Url,
    Workspace,
    bad_usage,
    connect,
    fail,
    print_table,
    short_time,
)

if TYPE_CHECKING:
    from repertory import SyncClient
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
    if key is not None and not _KEY_START.fullmatch(key.lower()):
        raise bad_usage(f"--key is a cache key, or its first 8 or more hex digits, not {key!r}")
    with connect(url, api_key, workspace, debug) as client:
        if key is not None:
            key = _whole_key(client, key.lower())
        count = client.invalidate_cache(key=key, task_name=task_name)
    typer.echo(json.dumps({"invalidated": count}) if as_json else f"{count} entries invalidated")


#: What `--key` takes: a whole key, or its start (tables show 16 hex digits of its 64).
_KEY_START: Final = re.compile(r"[0-9a-f]{8,64}")
#: Entries searched for a key's start, at most (beyond, give the whole key).
_SEARCHED: Final = 10_000


def _whole_key(client: SyncClient, start: str) -> str:
    """The one cache key that begins with `start` (exit 1 if none or several)."""
    if len(start) == 64:
        return start
    found: list[str] = []
    searched_all = False
    for offset in range(0, _SEARCHED, 200):
        page = client.read_cache_entries(limit=200, offset=offset)
        found += [entry.key for entry in page if entry.key.startswith(start)]
        searched_all = len(page) < 200
        if searched_all or len(found) > 1:
            break
    if len(found) > 1:
        raise fail(f"{start!r} begins several cache keys; give more of it", debug=False)
    if not searched_all:
        raise fail(
            f"more than {_SEARCHED:,} cache entries to search: give the whole key", debug=False
        )
    if not found:
        raise fail(f"no cache key begins with {start!r}", debug=False)
    return found[0]
