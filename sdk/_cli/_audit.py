"""`repertory audit ...`: a workspace's (or the server's) audit log on a server, through the
client; and the audit keys, which live beside the server (`rotate-key`)."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path  # noqa: TC003 - typer reads the annotations at run time
from typing import TYPE_CHECKING, Annotated

import typer

from ._options import (
    AsJson,
    Debug,
    Key,
    Since,
    Until,
    Url,
    Workspace,
    connect,
    fail,
    parse_when,
    print_table,
    short_time,
    stamp,
)

if TYPE_CHECKING:
    from repertory.runtime import AuditCheckpoint, AuditRecord

audit_app = typer.Typer(help="The audit log of a workspace on a server.", no_args_is_help=True)
Server = Annotated[
    bool,
    typer.Option("--server", help="The server's own chain (calls that proved no workspace)."),
]


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
        "count": record.count,
        "hash": record.hash,
        "signer": record.signer,
    }


@audit_app.command("ls")
def audit_ls(
    since: Since = None,
    until: Until = None,
    action: Annotated[str | None, typer.Option(help="Only this operation.")] = None,
    key_id: Annotated[str | None, typer.Option(help="Only calls with this key.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    server: Server = False,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """List audit records, oldest first: every mutating, refused or unauthenticated call."""
    begin, end = parse_when(since, "--since"), parse_when(until, "--until")
    with connect(url, api_key, workspace, debug) as client:
        records = client.read_audit(
            since=begin,
            until=end,
            action=action,
            key_id=key_id,
            limit=limit,
            offset=offset,
            server=server,
        )
    if as_json:
        typer.echo(json.dumps([_record_json(record) for record in records]))
        return
    print_table(
        ("seq", "at", "key", "action", "target", "outcome"),
        (
            (
                str(r.seq),
                short_time(r.at),
                r.key_name or "-",
                r.action,
                _short_target(r.target),
                f"{r.outcome} {r.status}" + (f" x{r.count}" if r.count > 1 else ""),
            )
            for r in records
        ),
    )


def _short_target(target: str) -> str:
    """A target as a table shows it: past its workspace's prefix, ids cut to their end."""
    path = re.sub(r"^/api/workspaces/[^/]+/", "", target)
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}([0-9a-f]{8})",
                  r"\1", path)  # fmt: skip


@audit_app.command("verify")
def audit_verify(
    full: Annotated[
        bool, typer.Option(help="From the first record, not where the server last checked.")
    ] = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A checkpoints file the server wrote (--audit-checkpoints): also check that "
            "the chain still holds every record its latest checkpoint of the chain saw.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    server: Server = False,
    url: Url = None,
    api_key: Key = None,
    workspace: Workspace = "default",
    as_json: AsJson = False,
    debug: Debug = False,
) -> None:
    """Check the audit log's chain; exit 1 and say what was tampered with."""
    from repertory.runtime import SERVER_CHAIN

    chain = SERVER_CHAIN if server else workspace
    latest = _latest_checkpoint(checkpoint, chain) if checkpoint is not None else None
    with connect(url, api_key, workspace, debug) as client:
        verdict = client.verify_audit(full=full, checkpoint=latest, server=server)
    broken = verdict.first_broken
    problem = verdict.checkpoint_problem
    if as_json:
        out: dict[str, object] = {"intact": verdict.is_intact, "checked": verdict.checked}
        out |= {"checkpoint_problem": problem, "first_broken": broken and _record_json(broken)}
        out |= {"resumed_after": verdict.resumed_after, "unsigned": verdict.unsigned}
        typer.echo(json.dumps(out))
    elif broken is not None:
        typer.echo(f"BROKEN at record {broken.seq} ({stamp(broken.at)}, {broken.action}):")
        typer.echo(f"  {_records(verdict.checked)} before it fit; it or one before it was")
        typer.echo("  edited, removed or moved")
    elif problem is not None:
        typer.echo(f"BROKEN ({_records(verdict.checked)} fit):")
        typer.echo(textwrap.fill(problem, 80, initial_indent="  ", subsequent_indent="  "))
    else:
        typer.echo(f"intact: {_records(verdict.checked)}")
        if latest is not None:
            typer.echo(f"  all {latest.count} the checkpoint of {stamp(latest.at)} saw are there")
        if verdict.resumed_after:
            before = verdict.resumed_after
            which = "record 1" if before == 1 else f"records 1 to {before}"
            typer.echo(f"  {which} fitted at an earlier check (--full reads them again)")
        if verdict.unsigned:
            typer.echo(
                f"  {_records(verdict.unsigned)} from before audit keys: unsigned, only a "
                "checkpoint vouches for them"
            )
    if not verdict.is_intact:
        raise typer.Exit(1)


def _records(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"


def _latest_checkpoint(path: Path, chain: str) -> AuditCheckpoint:
    """The checkpoint of `chain` that saw the most records: a server writes a shorter one
    after records were removed, which must not hide the removal."""
    from repertory.runtime import AuditCheckpoint

    latest = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            found = AuditCheckpoint.from_json(line)
        except ValueError as exc:
            raise fail(f"{path}:{number}: {exc}", debug=False) from None
        if found.chain == chain and (latest is None or found.count >= latest.count):
            latest = found
    if latest is None:
        name = "the server's chain" if not chain else f"workspace {chain!r}"
        raise fail(f"{path} holds no checkpoint of {name}", debug=False)
    return latest


@audit_app.command("rotate-key")
def audit_rotate_key() -> None:
    """Add a fresh key to sign the audit log with, in $REPERTORY_HOME/audit.keys: servers
    sign with it from their next start; the older keys stay there to verify what they
    signed."""
    from repertory.runtime import KEY_VARIABLE, repertory_home, rotate_audit_key

    home = repertory_home()
    key_id = rotate_audit_key(home)
    typer.echo(f"added audit key {key_id} to {home / 'audit.keys'}")
    typer.echo("servers sign with it from their next start; the older keys still verify")
    if KEY_VARIABLE in os.environ:
        typer.echo(f"note: {KEY_VARIABLE} is set, and a runtime uses it instead of the file")
