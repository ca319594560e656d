"""`repertory workspace ...`: a server's workspaces, through the client (server admin keys)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ._options import AsJson, Debug, Key, Url, connect

workspace_app = typer.Typer(
    help="The workspaces of a server (with a server admin key).", no_args_is_help=True
)


@workspace_app.command("create")
def workspace_create(
    name: Annotated[str, typer.Argument(help="A-Z a-z 0-9 _ . : - (up to 200).")],
    url: Url = None,
    api_key: Key = None,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Create a workspace and print its first owner key: it is shown this once."""
    with connect(url, api_key, "default", debug) as client:
        workspace, secret = client.create_workspace(name)
    if as_json:
        created = workspace.created.isoformat()
        typer.echo(json.dumps({"name": workspace.name, "created": created, "owner_key": secret}))
        return
    typer.echo(f"workspace {workspace.name} created; its owner API key, shown this once:")
    typer.echo(secret)


@workspace_app.command("ls")
def workspace_ls(
    url: Url = None,
    api_key: Key = None,
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """List the server's workspaces."""
    with connect(url, api_key, "default", debug) as client:
        workspaces = client.read_workspaces()
    if as_json:
        out = [{"name": ws.name, "created": ws.created.isoformat()} for ws in workspaces]
        typer.echo(json.dumps(out))
        return
    for ws in workspaces:
        typer.echo(f"{ws.name}  (created {ws.created.isoformat(timespec='seconds')})")


@workspace_app.command("rename")
def workspace_rename(
    name: str,
    new_name: str,
    url: Url = None,
    api_key: Key = None,
    debug: Debug = False,
) -> None:
    """Rename a workspace: its runs, keys, cache, roles and audit log follow."""
    with connect(url, api_key, "default", debug) as client:
        client.rename_workspace(name, new_name)
    typer.echo(f"workspace {name} is now {new_name}")


@workspace_app.command("delete")
def workspace_delete(
    name: str,
    force: Annotated[
        bool, typer.Option("--force", help="Cancel its runs in progress first.")
    ] = False,
    url: Url = None,
    api_key: Key = None,
    debug: Debug = False,
) -> None:
    """Delete a workspace and everything in it: runs, logs, keys, cache, audit log."""
    with connect(url, api_key, "default", debug) as client:
        client.delete_workspace(name, force=force)
    typer.echo(f"workspace {name} deleted")
