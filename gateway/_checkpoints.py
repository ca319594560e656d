"""A server's signed checkpoints of its audit chains, kept outside the database.

Every so often (and once more as it stops) the server appends a checkpoint of each chain that
grew (its length and head hash, signed with the audit key) to a file, one JSON line each, and
writes the same line to its log. `repertory audit verify --checkpoint FILE` then shows whether
records were removed since: what a chain alone cannot show of its newest records.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Final

import anyio

from repertory.runtime import SERVER_CHAIN, WorkflowError

if TYPE_CHECKING:
    from pathlib import Path

    from repertory.runtime import Runtime

logger = logging.getLogger("repertory.gateway.audit")
#: How often a server writes checkpoints, by default.
CHECKPOINT_SECONDS: Final = 60.0
CHECKPOINTS_FILE: Final = "audit-checkpoints.jsonl"
#: How long the last checkpoints may take as the server stops.
_LAST_WRITE_SECONDS: Final = 5.0


async def keep_checkpoints(runtime: Runtime, path: Path, *, every: float) -> None:
    """Write checkpoints of the chains that grew to `path` every `every` seconds, until
    cancelled; then once more (bounded)."""
    written: dict[str, int] = {}
    try:
        while True:
            await anyio.sleep(every)
            await write_checkpoints(runtime, path, written)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(_LAST_WRITE_SECONDS):
            await write_checkpoints(runtime, path, written)


async def write_checkpoints(runtime: Runtime, path: Path, written: dict[str, int]) -> None:
    """Append a checkpoint of each chain (the server's, every workspace's) whose length is
    not the one `written` holds for it, and note the new lengths there."""
    try:
        chains = [SERVER_CHAIN, *(w.name for w in await runtime.read_workspaces())]
        lines = []
        for chain in chains:
            checkpoint = await runtime.audit_checkpoint(workspace=chain)
            if written.get(chain) != checkpoint.count:
                lines.append(checkpoint.to_json())
                written[chain] = checkpoint.count
    except WorkflowError as exc:  # the database is down: the next round tries again
        logger.error("cannot write audit checkpoints: %s", exc)
        return
    if not lines:
        return
    await anyio.to_thread.run_sync(_append, path, lines)
    for line in lines:
        logger.info("audit checkpoint %s", line)


def _append(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a") as file:
        file.write("".join(f"{line}\n" for line in lines))
