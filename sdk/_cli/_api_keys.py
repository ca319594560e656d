"""`repertory api-key ...`: a workspace's API keys on a server, through the client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from ._options import AsJson, Debug, Key, Url, Workspace, connect, print_table, stamp

if TYPE_CHECKING:
    from repertory.runtime import ApiKey

api_key_app = typer.Typer(help="API keys of a workspace on a server.", no_args_is_help=True)
ROLES = ("owner", "admin", "developer", "runner", "viewer")


def _key_json(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "created": key.created.isoformat(),
        "expires": key.expires.isoformat() if key.expires else None,
        "revoked": key.revoked.isoformat() if key.revoked else None,
    }


@api_key_app.command("create")
def api_key_create(
    name: Annotated[str, typer.Argument(help="What the key is for (shown in listings).")],
    role: Annotated[
        str, typer.Option(help=f"{', '.join(ROLES)}, or a custom role of the workspace.")
    ] = "developer",
    expires_in_days: Annotated[
        float | None, typer.Option(min=0, help="Stop working after this many days.")
    ] = None,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Make an API key and print it: it is shown this once (the server keeps only a hash)."""
    expires = None
    if expires_in_days is not None:
        expires = datetime.now(UTC) + timedelta(days=expires_in_days)
    with connect(url, api_key, workspace, debug) as client:
        key, secret = client.create_api_key(name, role=role, expires=expires)
    if as_json:
        typer.echo(json.dumps({**_key_json(key), "secret": secret}))
        return
    typer.echo(f"API key {key.id} ({key.name}, {key.role}), shown this once, keep it:")
    typer.echo(secret)


@api_key_app.command("ls")
def api_key_ls(
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """List the workspace's API keys, revoked ones included (never their secrets)."""
    with connect(url, api_key, workspace, debug) as client:
        keys = client.read_api_keys()
    if as_json:
        typer.echo(json.dumps([_key_json(key) for key in keys]))
        return
    print_table(
        ("id", "name", "role", "created", "expires", "revoked"),
        (
            (k.id, k.name, k.role, stamp(k.created), stamp(k.expires), stamp(k.revoked))
            for k in keys
        ),
    )


@api_key_app.command("rotate")
def api_key_rotate(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after rpk_).")],
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Give a key a new secret and print it, shown this once; the old one stops working."""
    with connect(url, api_key, workspace, debug) as client:
        key, secret = client.rotate_api_key(key_id)
    if as_json:
        typer.echo(json.dumps({**_key_json(key), "secret": secret}))
        return
    typer.echo(f"API key {key.id} ({key.name}) has a new secret, shown this once, keep it:")
    typer.echo(secret)


@api_key_app.command("revoke")
def api_key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after rpk_).")],
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Revoke an API key: it stops working at once."""
    with connect(url, api_key, workspace, debug) as client:
        key = client.revoke_api_key(key_id)
    typer.echo(json.dumps(_key_json(key)) if as_json else f"{key.id} ({key.name}): revoked")
