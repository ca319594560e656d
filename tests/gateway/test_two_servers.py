"""Two servers on one database (one SQLite file, one PostgreSQL database) under mixed load:
neither crashes nor answers 5xx, every 201 has its run and its audit record, the chains
verify, and both stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import asyncpg  # type: ignore[import-untyped]  # ships no type information
import httpx
import pytest
from databases import DatabaseURL

from repertory import Runtime
from repertory.runtime import SERVER_CHAIN

if TYPE_CHECKING:
    from collections.abc import Iterator

COMMAND = str(Path(sys.executable).with_name("repertory"))
FLOWS = str(Path(__file__).with_name("served_flows.py"))
#: How long the load runs, and how many threads send it to each server.
LOAD_SECONDS = 30.0
THREADS_PER_SERVER = 2
POSTGRES_URL = os.environ.get("REPERTORY_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", *(["postgresql"] if POSTGRES_URL else [])])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: an SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    assert POSTGRES_URL is not None
    name = f"repertory_test_{uuid.uuid4().hex}"
    admin = str(DatabaseURL(POSTGRES_URL).replace(database="postgres"))

    async def on_admin(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    anyio.run(on_admin, f'CREATE DATABASE "{name}"')
    try:
        yield str(DatabaseURL(POSTGRES_URL).replace(database=name))
    finally:
        anyio.run(on_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server(database_url: str) -> tuple[subprocess.Popen[str], str, str | None]:
    process = subprocess.Popen(
        [
            *(COMMAND, "server", "start", "--port", "0", "--database-url", database_url),
            *("--flows", FLOWS, "--rate-limit", "0", "--auth-failure-limit", "0"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    key = None
    for line in process.stdout:  # ends at EOF if the server fails to start
        if "owner API key" in line:
            key = line.split()[-1]
        if line.startswith("repertory serving "):
            return process, line.split()[2], key
    process.wait(timeout=30)
    raise AssertionError("the server did not start")


def load(url: str, key: str, until: float, seen: Counter[int], created: list[str]) -> None:
    """Mixed traffic: creates, reads, listings, keys made and revoked, bad keys."""
    ws = f"{url}/api/workspaces/default"
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        n = 0
        while time.monotonic() < until:
            n += 1
            made = client.post(f"{ws}/flow_runs", json={"flow_name": "add", "parameters": {"x": n}})
            seen[made.status_code] += 1
            if made.status_code == 201:
                created.append(made.json()["id"])
                seen[client.get(f"{ws}/flow_runs/{created[-1]}").status_code] += 1
            seen[client.get(f"{ws}/flow_runs", params={"limit": 20}).status_code] += 1
            if n % 5 == 0:
                new = client.post(f"{ws}/api_keys", json={"name": f"k{n}", "role": "viewer"})
                seen[new.status_code] += 1
                if new.status_code == 201:
                    gone = client.post(f"{ws}/api_keys/{new.json()['key']['id']}/revoke")
                    seen[gone.status_code] += 1
                bad = client.get(f"{ws}/flow_runs", headers={"Authorization": "Bearer nope"})
                seen[bad.status_code] += 1


@pytest.mark.timeout(240)
def test_two_servers_on_one_database_keep_everything(shared_database: str) -> None:
    first, first_url, key = start_server(shared_database)
    try:
        second, second_url, _ = start_server(shared_database)
    except BaseException:
        first.terminate()
        raise
    assert key is not None
    servers = [(first, first_url), (second, second_url)]
    seen: Counter[int] = Counter()
    created: list[str] = []
    try:
        until = time.monotonic() + LOAD_SECONDS
        threads = [
            threading.Thread(target=load, args=(url, key, until, seen, created))
            for _, url in servers
            for _ in range(THREADS_PER_SERVER)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(process.poll() is None for process, _ in servers), "a server died"
        assert not [status for status in seen if status >= 500], seen
        assert seen[201] > 100, seen
        for _, url in servers:
            assert httpx.get(f"{url}/api/health").json() == {"status": "ok"}
    finally:
        codes = []
        for process, _ in servers:
            process.send_signal(signal.SIGTERM)
        for process, _ in servers:
            codes.append(process.wait(timeout=30))
            assert process.stdout is not None
            process.stdout.close()
    assert codes == [0, 0]

    async def check() -> None:
        async with Runtime(shared_database, workspace="default") as rt:
            stored = {run.id for run in await rt.read_flow_runs()}
            assert set(created) <= stored
            audited = await rt.read_audit(action="create_flow_run")
            targets = {record.target.rsplit(" -> ", 1)[-1] for record in audited}
            assert set(created) <= targets
            for chain in ("default", SERVER_CHAIN):
                verdict = await rt.verify_audit(workspace=chain)
                assert verdict.is_intact, (chain, verdict.first_broken)
                assert verdict.checked > 0

    anyio.run(check)
