"""`repertory audit ...`: a workspace's audit log on a server, through the client."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from ._cli_options import AsJson, Debug, Key, Url, Workspace, connect, fail, print_table, stamp

if TYPE_CHECKING:
    from repertory.runtime import AuditRecord

audit_app = typer.Typer(help="The audit log of a workspace on a server.", no_args_is_help=True)


def _record_json(record: AuditRecord) -> dict[str, object]:
    return {
        "seq": record.seq,
        "at": record.at.isoformat(),
        "key_id": record.key_id,
        "key_name": record.key_name,
        "action": record.action,
        "target": record.target,
        "outcome": record.outcome,
        "status": record.status,
        "request_id": record.request_id,
        "client": record.client,
        "hash": record.hash,
    }


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} is an ISO 8601 time, not {text!r}", debug=False) from None
    if value.tzinfo is None:
        raise fail(f"{option} needs a time zone (2026-11-26T12:00:00+00:00)", debug=False)
    return value


@audit_app.command("ls")
def audit_ls(
    since: Annotated[str | None, typer.Option(help="At or after this time (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO 8601).")] = None,
    action: Annotated[str | None, typer.Option(help="Only this operation.")] = None,
    key_id: Annotated[str | None, typer.Option(help="Only calls with this key.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """List audit records, oldest first: every mutating, refused or unauthenticated call."""
    begin, end = _when(since, "--since"), _when(until, "--until")
    with connect(url, api_key, workspace, debug) as client:
        records = client.read_audit(
            since=begin, until=end, action=action, key_id=key_id, limit=limit, offset=offset
        )
    if as_json:
        typer.echo(json.dumps([_record_json(record) for record in records]))
        return
    print_table(
        ("seq", "at", "key", "action", "target", "outcome", "status", "client"),
        (
            (
                str(r.seq),
                stamp(r.at),
                f"{r.key_name} ({r.key_id})" if r.key_id else "-",
                r.action,
                r.target,
                r.outcome,
                str(r.status),
                r.client,
            )
            for r in records
        ),
    )


@audit_app.command("verify")
def audit_verify(
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Check the audit log's hash chain; exit 1 and name the first record tampered with."""
    with connect(url, api_key, workspace, debug) as client:
        verdict = client.verify_audit()
    broken = verdict.first_broken
    if as_json:
        out = {"intact": broken is None, "checked": verdict.checked}
        typer.echo(json.dumps({**out, "first_broken": broken and _record_json(broken)}))
    elif broken is None:
        typer.echo(f"intact: {verdict.checked} records")
    else:
        typer.echo(
            f"BROKEN at record {broken.seq} ({broken.at.isoformat()}, {broken.action}): "
            f"{verdict.checked} records before it fit; it or one before it was edited, "
            "removed or moved"
        )
    if broken is not None:
        raise typer.Exit(1)
