"""`repertory server start` as a real process on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
from anyio.streams.text import TextReceiveStream

from repertory import get_sync_client

from .conftest import started

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from anyio.abc import Process

    from repertory import FlowRun

NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY)
#: The command line as an 80-column terminal shows it.
NARROW = {**os.environ, "COLUMNS": "80"}
COMMAND = str(Path(sys.executable).with_name("repertory"))  # the installed entry point
FLOWS = str(Path(__file__).with_name("served_flows.py"))


async def start_server(
    database_url: str, flows: Sequence[str] = (FLOWS,)
) -> tuple[Process, str, str | None]:
    """Start a server on a free port; return it, its URL and the key it printed, if any."""
    process = await anyio.open_process(
        [
            COMMAND,
            "server",
            "start",
            "--port",
            "0",
            "--database-url",
            database_url,
            *(argument for spec in flows for argument in ("--flows", spec)),
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url, key = await started(process)
    return process, url, key


async def stop_server(process: Process) -> int:
    process.send_signal(signal.SIGTERM)
    with anyio.fail_after(30):
        return await process.wait()


@pytest.mark.timeout(120)  # some 25 command-line processes, each importing the CLI
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the CLI runs in processes of its own
async def test_the_server_runs_flows_over_http_and_keeps_its_key_across_restarts(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'server.db'}"
    process, url, key = await start_server(database_url)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert key is not None
        assert key.startswith("rpk_")
        runs = f"{url}/api/workspaces/default/flow_runs"
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client:
            assert (await client.get(f"{url}/api/health")).json() == {"status": "ok"}
            assert (await client.get(runs, headers={"Authorization": ""})).status_code == 401
            created = await client.post(runs, json={"flow_name": "add", "parameters": {"x": 4}})
            assert created.status_code == 201, created.text
            run_id = created.json()["id"]
            done = await client.get(f"{runs}/{run_id}", params={"wait_seconds": 30})
            assert done.json()["state"]["name"] == "Completed"
            flows = (await client.get(f"{url}/api/workspaces/default/flows")).json()
            assert [flow["name"] for flow in flows] == ["add", "remember", "stalls", "failing"]
            failed = await client.post(runs, json={"flow_name": "failing"})
            failed_id = failed.json()["id"]
            await client.get(f"{runs}/{failed_id}", params={"wait_seconds": 30})
            history = (await client.get(f"{runs}/{failed_id}/states")).json()
            assert history[-1]["name"] == "Failed"
            assert history[-1]["traceback"].endswith("ValueError: cannot process -1\n")
            assert {state["traceback"] for state in history[:-1]} == {None}

        def use_the_sync_client() -> tuple[str, int]:
            with get_sync_client(url, key) as sync_client:
                run = sync_client.create_flow_run("add", {"x": 5})
                done = sync_client.wait_for_flow_run(run.id, timeout=30)
                return done.state.name, len(sync_client.read_task_runs(run.id))

        assert await anyio.to_thread.run_sync(use_the_sync_client) == ("Completed", 1)

        async def cli(*arguments: str) -> tuple[int, str, str]:
            result = await anyio.run_process(
                [COMMAND, *arguments, "--url", url, "--api-key", key], check=False, env=NARROW
            )
            out = result.stdout.decode()
            if "--json" not in arguments and "logs" not in arguments:  # payloads aside
                assert max(map(len, out.splitlines()), default=0) <= 80, out
            return result.returncode, out, result.stderr.decode()

        code, out, _ = await cli("flow-run", "ls", "--flow", "add", "--json")
        assert code == 0
        listed = json.loads(out)
        assert run_id in [run["id"] for run in listed]
        assert {run["state"] for run in listed} == {"Completed"}
        code, out, _ = await cli("flow-run", "ls", "--json")
        newest_first = [run["id"] for run in json.loads(out)]
        assert (code, len(newest_first), newest_first[-2:]) == (0, 3, [failed_id, run_id])
        code, out, _ = await cli("flow-run", "ls", "--oldest-first", "--json")
        assert [run["id"] for run in json.loads(out)] == newest_first[::-1]
        code, out, _ = await cli(
            "flow-run", "ls", "--oldest-first", "--offset", "1", "--limit", "1", "--json"
        )
        assert [run["id"] for run in json.loads(out)] == [failed_id]
        for state in ("failed", "FAILED", "Failed"):  # a type or a name, in any case
            code, out, _ = await cli("flow-run", "ls", "--state", state, "--json")
            assert [run["id"] for run in json.loads(out)] == [failed_id], state
        code, out, _ = await cli("flow-run", "ls", "--state", "late", "--json")
        assert (code, json.loads(out)) == (0, [])
        code, _, err = await cli("flow-run", "ls", "--state", "bogus")
        assert code == 2
        assert err.startswith("error: --state is a state type (SCHEDULED, PENDING, ")
        assert "a state name (Scheduled, Late, AwaitingRetry, " in err
        code, out, _ = await cli("flow-run", "ls", "--since", "1h", "--json")
        assert (code, [run["id"] for run in json.loads(out)]) == (0, newest_first)
        code, out, _ = await cli("flow-run", "ls", "--until", "1h")
        assert (code, out) == (0, "nothing to show\n")
        code, _, err = await cli("flow-run", "ls", "--since", "yesterday")
        assert (code, err) == (
            2,
            "error: --since: a time (2026-11-26T12:00) or a span ago (30m, 2h, 7d), not "
            "'yesterday'\n",
        )
        code, out, _ = await cli("flow-run", "inspect", run_id, "--json")
        assert (code, [s["name"] for s in json.loads(out)["states"]][-1]) == (0, "Completed")
        code, out, _ = await cli("flow-run", "ls")
        [row] = [line.split() for line in out.splitlines() if run_id[-8:] in line]
        assert (code, row[1:4]) == (0, [run_id[-8:], "add", "Completed"])  # name, short id
        name = row[0]
        for reference in (run_id[-8:], run_id[-6:].upper(), name, run_id[:24]):
            code, out, _ = await cli("flow-run", "inspect", reference)
            assert (code, out.split()[0]) == (0, name), reference  # the panel of that run
        assert f"id {run_id})" in out
        assert "parameters  x = 4" in out
        code, _, err = await cli("flow-run", "inspect", run_id[:4])  # all of these weeks'
        assert code == 1
        assert err.startswith(
            f"error: {len(newest_first)} flow runs match {run_id[:4]!r}; name one by its id's "
            "end:\n"
        )
        assert f"\n  {run_id[-8:]}  {name}" in err
        assert max(map(len, err.splitlines())) <= 80
        wrong = await anyio.run_process(
            [COMMAND, "flow-run", "ls", "--url", f"{url}/api", "--api-key", key], check=False
        )
        assert (wrong.returncode, wrong.stderr.decode()) == (
            1,
            f"error: no repertory API under {url}/api\n"
            "--url (or REPERTORY_API_URL) is the server's root: http://127.0.0.1:4200\n",
        )
        code, _, err = await cli("flow-run", "inspect", "abcdef")
        assert (code, err) == (
            1,
            "error: no flow run 'abcdef':\n"
            "  give its name, its id, the start of its id or its id's last 8 digits\n",
        )
        code, _, err = await cli("flow-run", "cancel", run_id)
        assert code == 1
        assert err.startswith("error: ")
        assert "Traceback" not in err
        code, out, _ = await cli("flow-run", "inspect", failed_id)
        assert (code, out.endswith("\nValueError: cannot process -1\n")) == (0, True)
        assert "Traceback (most recent call last):" in out
        code, out, _ = await cli("task-run", "ls", failed_id, "--json")
        [checked] = json.loads(out)
        assert (code, checked["name"][:6], checked["state"]) == (0, "check-", "Failed")
        code, out, _ = await cli("task-run", "ls", failed_id[-8:])
        assert (code, checked["id"][-8:] in out, "Failed" in out) == (0, True, True)
        code, out, _ = await cli("task-run", "inspect", checked["id"][-8:])
        assert (code, out.endswith("\nValueError: cannot process -1\n")) == (0, True)
        assert out.startswith("check-0  (task check, id ")
        assert "  Failed " in out
        code, out, _ = await cli("task-run", "logs", checked["id"])
        assert (code, out.count("\n")) == (0, 1)
        assert out.endswith(" failed: ValueError: cannot process -1\n")
        code, _, err = await cli("task-run", "inspect", failed_id)  # a flow run's id
        assert (code, err.startswith("error: no run")) == (1, True)
        code, _, err = await cli("task-run", "inspect", failed_id[-8:])
        assert (code, err.startswith("error: no task run ")) == (1, True)

        code, out, _ = await cli("flow-run", "create", "add", "-p", "x=2", "--watch", "--json")
        assert (code, json.loads(out)["state"]) == (0, "Completed")
        code, out, _ = await cli("flow-run", "create", "add", "-p", "x=2")
        created_id, rest = out.split(": ", 1)
        assert (code, len(rest.split()[0].split("-")), rest.split()[1]) == (0, 2, "Pending")
        code, out, _ = await cli("flow-run", "create", "failing", "--watch")
        assert (code, out.endswith(": Failed: ValueError: cannot process -1\n")) == (1, True)
        code, _, err = await cli("flow-run", "create", "nope")
        assert (code, err) == (
            1,
            "error: the server runs no flow 'nope'; it runs: add, failing, remember, stalls\n",
        )
        code, _, err = await cli("flow-run", "create", "add", "-p", "x")
        assert (code, err) == (2, "error: a parameter is key=value, not 'x'\n")
        code, out, _ = await cli("flow-run", "wait", created_id)
        assert code == 0
        code, _, err = await cli("flow-run", "inspect", "no-such-run")
        assert (code, err.startswith("error: ")) == (1, True)
    finally:
        assert await stop_server(process) == 0
    assert process.stderr is not None
    told = (await process.stderr.receive(1 << 16)).decode()  # its console: the runs' lines
    assert "| ERROR   | task run 'check-0' - failed: ValueError: cannot process -1\n" in told

    process, url, again = await start_server(database_url)
    try:
        assert again is None  # the bootstrap key is shown on the first start only
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client:
            run = await client.get(f"{url}/api/workspaces/default/flow_runs/{run_id}")
            assert run.json()["state"]["name"] == "Completed"
    finally:
        assert await stop_server(process) == 0


@pytest.mark.timeout(120)  # some 30 command-line processes, each importing the CLI
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the CLI runs in processes of its own
async def test_the_cli_waits_follows_logs_and_manages_keys(tmp_path: Path) -> None:
    database = tmp_path / "server.db"
    process, url, key = await start_server(f"sqlite:///{database}")
    assert key is not None

    async def cli(*arguments: str, api_key: str = key) -> tuple[int, str, str]:
        result = await anyio.run_process(
            [COMMAND, *arguments, "--url", url, "--api-key", api_key], check=False, env=NARROW
        )
        out = result.stdout.decode()
        if "--json" not in arguments and "logs" not in arguments:  # payloads aside
            assert max(map(len, out.splitlines()), default=0) <= 80, out
        return result.returncode, out, result.stderr.decode()

    def create(flow_name: str, parameters: Mapping[str, object]) -> FlowRun:
        with get_sync_client(url, key) as client:
            return client.create_flow_run(flow_name, parameters)

    try:
        added = await anyio.to_thread.run_sync(create, "add", {"x": 1})
        code, out, _ = await cli("flow-run", "wait", added.id)
        assert (code, out) == (0, f"{added.id}: Completed\n")

        stalled = await anyio.to_thread.run_sync(create, "stalls", {"note": "half way"})
        code, _, err = await cli("flow-run", "wait", stalled.id, "--timeout", "0.5")
        assert (code, err) == (124, f"{stalled.id}: still Running after 0.5 s\n")

        # `logs --follow` prints lines as they are stored and returns once the run has ended.
        follower = await anyio.open_process(
            [COMMAND, "flow-run", "logs", stalled.id, "--follow", "--url", url, "--api-key", key]
        )
        assert follower.stdout is not None
        seen = ""
        with anyio.fail_after(30):
            async for chunk in TextReceiveStream(follower.stdout):
                seen += chunk
                if "half way" in seen:
                    break
        assert " | INFO    | half way" in seen  # each line with its level
        code, _, _ = await cli("flow-run", "cancel", stalled.id)
        assert code == 0
        with anyio.fail_after(30):
            assert await follower.wait() == 0
        code, out, _ = await cli("flow-run", "wait", stalled.id, "--json")
        assert (code, json.loads(out)["state"]) == (1, "Cancelled")

        remembered = await anyio.to_thread.run_sync(create, "remember", {"xs": [1, 2]})
        code, _, _ = await cli("flow-run", "wait", remembered.id)
        assert code == 0
        code, out, _ = await cli("cache", "ls", "--json")
        assert code == 0
        entries = json.loads(out)
        assert [entry["task_name"] for entry in entries] == ["remembered", "remembered"]
        code, out, _ = await cli("cache", "ls", "--task", "remembered")
        assert (code, entries[0]["key"][:16] in out) == (0, True)
        code, out, _ = await cli("cache", "invalidate", "--key", entries[0]["key"][:16])
        assert (code, out) == (0, "1 entries invalidated\n")  # by its start, as tables show it
        code, _, err = await cli("cache", "invalidate", "--key", entries[0]["key"][:16])
        assert (code, err) == (1, f"error: no cache key begins with {entries[0]['key'][:16]!r}\n")
        code, _, err = await cli("cache", "invalidate", "--key", "abc")
        assert code == 2  # bad usage: not a key's start
        code, out, _ = await cli("cache", "invalidate", "--task", "remembered", "--json")
        assert (code, json.loads(out)) == (0, {"invalidated": 1})
        code, _, err = await cli("cache", "invalidate")
        assert (code, err) == (2, "error: give --key or --task, one of them\n")  # bad usage

        code, out, _ = await cli("api-key", "create", "deploys", "--role", "runner", "--json")
        assert code == 0
        made = json.loads(out)
        assert (made["name"], made["role"]) == ("deploys", "runner")
        code, out, _ = await cli("flow-run", "ls", "--json", api_key=made["secret"])
        assert code == 0
        code, out, _ = await cli("api-key", "ls")
        assert code == 0
        assert "deploys" in out
        assert made["secret"] not in out
        code, out, _ = await cli("api-key", "rotate", made["id"], "--json")
        rotated = json.loads(out)
        assert (code, rotated["id"], rotated["secret"] != made["secret"]) == (0, made["id"], True)
        code, _, _ = await cli("flow-run", "ls", "--json", api_key=made["secret"])
        assert code == 1  # the old secret stopped working
        made["secret"] = rotated["secret"]
        code, out, _ = await cli("api-key", "revoke", made["id"])
        assert (code, out) == (0, f"{made['id']} (deploys): revoked\n")
        code, _, err = await cli("flow-run", "ls", api_key=made["secret"])
        assert (code, err.startswith("error: ")) == (1, True)
        code, _, err = await cli("api-key", "create", "x", "--role", "superuser")
        assert code == 1
        assert "unknown role 'superuser': one of owner, admin, developer, runner, viewer" in err
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client:
            made_role = await client.post(
                f"{url}/api/workspaces/default/roles",
                json={"name": "auditor", "scopes": ["audit:read"]},
            )
            assert made_role.status_code == 201, made_role.text
        code, out, _ = await cli("api-key", "create", "x", "--role", "auditor", "--json")
        assert (code, json.loads(out)["role"]) == (0, "auditor")  # a custom role's key
        no_key = await anyio.run_process(
            [COMMAND, "flow-run", "ls", "--url", url],
            check=False,
            env={k: v for k, v in os.environ.items() if k != "REPERTORY_API_KEY"},
        )
        assert (no_key.returncode, no_key.stderr.decode()) == (
            2,
            "error: an API key is needed: pass --api-key or set REPERTORY_API_KEY\n",
        )

        code, out, _ = await cli("workspace", "create", "tenant", "--json")
        assert code == 0
        tenant_key = json.loads(out)["owner_key"]
        code, out, _ = await cli("flow-run", "ls", "--workspace", "tenant", api_key=tenant_key)
        assert code == 0
        code, out, _ = await cli("workspace", "ls")
        assert (code, out.split()[::3]) == (0, ["default", "tenant"])
        code, _, err = await cli("workspace", "create", "tenant")
        assert (code, err.startswith("error: ")) == (1, True)
        code, out, _ = await cli("workspace", "rename", "tenant", "tenant-2")
        assert (code, out) == (0, "workspace tenant is now tenant-2\n")
        code, _, _ = await cli("flow-run", "ls", "--workspace", "tenant-2", api_key=tenant_key)
        assert code == 0  # its key followed it
        code, out, _ = await cli("workspace", "delete", "tenant-2")
        assert (code, out) == (0, "workspace tenant-2 deleted\n")
        code, _, _ = await cli("flow-run", "ls", "--workspace", "tenant-2", api_key=tenant_key)
        assert code == 1  # its key went with it

        code, out, _ = await cli("audit", "ls", "--action", "revoke_api_key", "--json")
        [revoked] = json.loads(out)
        assert (code, revoked["outcome"], revoked["target"]) == (
            0,
            "ok",
            f"/api/workspaces/default/api_keys/{made['id']}/revoke",
        )
        code, out, _ = await cli("audit", "ls")
        assert (code, "outcome" in out) == (0, True)  # a table, for people
        code, out, _ = await cli("audit", "verify")
        assert code == 0
        assert out.startswith("intact: ")
        await anyio.to_thread.run_sync(tamper_with_record, database, revoked["seq"])
        code, out, _ = await cli("audit", "verify")  # on from the last check: not read again
        assert (code, "--full reads them again" in out) == (0, True)
        code, out, _ = await cli("audit", "verify", "--full")
        assert code == 1
        assert out.startswith(f"BROKEN at record {revoked['seq']} ")
    finally:
        assert await stop_server(process) == 0


def tamper_with_record(database: Path, seq: int) -> None:
    connection = sqlite3.connect(database)
    with connection:
        connection.execute(
            "UPDATE audit_log SET outcome = 'failed' WHERE chain = 'default' AND seq = ?", (seq,)
        )
    connection.close()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--flows", "no_such_module_here"], "cannot import no_such_module_here"),
        (["--flows", "tests/gateway/conftest_missing.py"], "no Python file"),
        (["--database-url", "mysql://x"], "unsupported database URL"),
        (["--flows", "json"], "json holds no @flow"),
    ],
)
async def test_a_bad_start_is_one_clear_line_and_exit_code_1(
    arguments: list[str], message: str
) -> None:
    result = await anyio.run_process(
        [COMMAND, "server", "start", "--port", "0", *arguments], check=False
    )
    assert result.returncode == 1
    error = result.stderr.decode()
    assert error.startswith("error: ")
    assert message in error
    assert "Traceback" not in error


def write_flows(directory: Path) -> tuple[Path, Path, Path]:
    """A flows file that imports its neighbour, as projects do, another elsewhere, and a copy
    of that other one (a flow of the same name)."""
    (directory / "etl").mkdir()
    (directory / "etl" / "helpers.py").write_text("def double(x: int) -> int:\n    return 2 * x\n")
    pipeline = directory / "etl" / "pipeline.py"
    pipeline.write_text(
        "from helpers import double\n\nfrom repertory import flow\n\n\n"
        "@flow\ndef doubled(x: int) -> int:\n    return double(x)\n"
    )
    other = directory / "other.py"
    other.write_text("from repertory import flow\n\n\n@flow\ndef other() -> str:\n    return 'o'\n")
    (directory / "copy").mkdir()
    copy = directory / "copy" / "other.py"
    copy.write_text(other.read_text())
    return pipeline, other, copy


async def test_flows_from_several_files_that_import_their_neighbours(tmp_path: Path) -> None:
    pipeline, other, copy = await anyio.to_thread.run_sync(write_flows, tmp_path)
    database_url = f"sqlite:///{tmp_path / 'server.db'}"
    process, url, key = await start_server(database_url, flows=(str(pipeline), str(other)))
    try:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client:
            served = await client.get(f"{url}/api/workspaces/default/flows")
        assert sorted(flow["name"] for flow in served.json()) == ["doubled", "other"]
    finally:
        assert await stop_server(process) == 0
    done = await anyio.run_process(  # from another directory, as `python etl/pipeline.py` runs
        [
            COMMAND,
            "run",
            f"{pipeline}:doubled",
            "-p",
            "x=21",
            "--json",
            "--database-url",
            database_url,
        ],
        cwd="/",
    )
    assert json.loads(done.stdout)["result"] == 42
    twice = await anyio.run_process(
        [
            COMMAND,
            "server",
            "start",
            "--port",
            "0",
            "--flows",
            str(other),
            "--flows",
            str(copy),
            "--database-url",
            database_url,
        ],
        check=False,
    )
    assert (twice.returncode, twice.stderr.decode()) == (
        1,
        f"error: two flows are named 'other': in {other} and in {copy}; rename one "
        "(@flow(name=...))\n",
    )


async def test_a_busy_port_says_so_and_suggests_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await anyio.run_process(
            [
                COMMAND,
                "server",
                "start",
                "--port",
                str(port),
                "--database-url",
                f"sqlite:///{tmp_path / 'busy.db'}",
            ],
            check=False,
        )
    assert (result.returncode, result.stderr.decode()) == (
        1,
        f"error: port {port} on 127.0.0.1 is in use: stop what uses it, or pick another "
        "with --port\n",
    )


async def test_the_command_says_its_version() -> None:
    from repertory import __version__

    result = await anyio.run_process([COMMAND, "--version"])
    assert result.stdout.decode() == f"repertory {__version__}\n"


def test_the_example_flows_are_found_by_module_name() -> None:
    from repertory.gateway import load_flows

    assert sorted(flow.options.name for flow in load_flows("repertory._examples")) == [
        "greet",
        "sum_of_squares",
    ]


async def test_run_runs_a_flow_of_a_file_here_and_says_how_it_ended(tmp_path: Path) -> None:
    database = ["--database-url", f"sqlite:///{tmp_path / 'runs.db'}"]
    done = await anyio.run_process(
        [COMMAND, "run", f"{FLOWS}:add", "-p", "x=3", "-p", "y=10", "--json", *database]
    )
    report = json.loads(done.stdout)
    assert (report["state"], report["result"]) == ("Completed", 13)
    failed = await anyio.run_process([COMMAND, "run", f"{FLOWS}:failing", *database], check=False)
    assert failed.returncode == 1
    name, short = failed.stdout.decode().split()[2:4]
    assert failed.stdout.decode() == (
        f"failing run {name} {short} Failed: ValueError: cannot process -1\n"
    )
    assert (
        failed.stderr.decode()
        .splitlines()[-1]
        .endswith(  # its run lines, on the console
            f" | ERROR   | flow run {name!r} - failed: ValueError: cannot process -1"
        )
    )
    failed = await anyio.run_process(
        [COMMAND, "run", f"{FLOWS}:failing", "--debug", "--quiet", *database], check=False
    )
    assert failed.returncode == 1
    told = failed.stderr.decode()  # the story of the failure, with --debug (and no run line)
    assert told.startswith("Traceback (most recent call last):")
    assert 'in check\n    raise ValueError(f"cannot process {x}")' in told
    assert told.endswith("ValueError: cannot process -1\n")
    for arguments, message in (
        ([f"{FLOWS}:add", "-p", "x=many"], "invalid parameters"),
        ([f"{FLOWS}:nope"], "has no flow 'nope'"),
    ):
        failed = await anyio.run_process([COMMAND, "run", *arguments, *database], check=False)
        assert failed.returncode == 1, arguments
        assert message in failed.stderr.decode()
        assert "Traceback" not in failed.stderr.decode()
    for arguments, message in (  # bad usage: exit code 2
        ([f"{FLOWS}:add", "-p", "x"], "key=value"),
        ([FLOWS], "FILE.py:FLOW"),
        ([f"{FLOWS}:add", "--log-level", "loud"], "Invalid value for '--log-level'"),
    ):
        failed = await anyio.run_process([COMMAND, "run", *arguments, *database], check=False)
        assert failed.returncode == 2, arguments
        assert message in failed.stderr.decode()
        assert "Traceback" not in failed.stderr.decode()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_answers_on_kept_alive_connections_are_not_held_back_by_nagle() -> None:
    """asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it, each answer
    on a kept-alive connection waited ~40 ms for the client's delayed ACK."""
    import asyncio

    from repertory.gateway._server import _listen

    accepted: list[bool] = []
    connected = asyncio.Event()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(bool(transport.get_extra_info("socket").getsockopt(*NODELAY)))
            connected.set()

    listener = _listen("127.0.0.1", 0)
    server = await asyncio.get_running_loop().create_server(Accept, sock=listener)
    async with server, await anyio.connect_tcp("127.0.0.1", listener.getsockname()[1]):
        await connected.wait()
    assert accepted == [True]


async def test_a_server_checkpoints_its_chains_so_removed_records_show(
    tmp_path: Path, repertory_home: Path
) -> None:
    database = tmp_path / "server.db"
    process, url, key = await start_server(f"sqlite:///{database}")
    assert key is not None

    async def cli(*arguments: str) -> tuple[int, str]:
        result = await anyio.run_process(
            [COMMAND, *arguments, "--url", url, "--api-key", key], check=False
        )
        return result.returncode, result.stdout.decode() + result.stderr.decode()

    try:
        for name in ("one", "two", "three"):  # audited calls
            assert (await cli("api-key", "create", name, "--role", "viewer"))[0] == 0
        bad = ["--url", url, "--api-key", "rpk_00000000_" + "0" * 64]
        refused = await anyio.run_process([COMMAND, "flow-run", "ls", *bad], check=False)
        assert refused.returncode == 1
    finally:
        assert await stop_server(process) == 0  # checkpoints once more as it stops
    checkpoints = repertory_home / "audit-checkpoints.jsonl"
    lines = (await anyio.Path(checkpoints).read_text()).splitlines()
    chains = {json.loads(line)["chain"]: json.loads(line)["count"] for line in lines}
    assert chains == {"": 1, "default": 3}

    def remove_newest() -> None:
        connection = sqlite3.connect(database)
        with connection:
            connection.execute("DELETE FROM audit_log WHERE chain = 'default' AND seq = 3")
        connection.close()

    await anyio.to_thread.run_sync(remove_newest)
    process, url, _ = await start_server(f"sqlite:///{database}")
    try:
        code, out = await cli("audit", "verify")
        assert (code, out.startswith("intact: 2 records")) == (0, True)  # the chain alone
        code, out = await cli("audit", "verify", "--checkpoint", str(checkpoints))
        assert code == 1
        assert out.startswith("BROKEN (2 records fit):\n  records were removed")
        assert "saw 3, the chain has 2" in " ".join(out.split())  # wrapped at 80 columns
        code, out = await cli("audit", "verify", "--server", "--checkpoint", str(checkpoints))
        assert (code, out.splitlines()[0]) == (0, "intact: 1 record")
        assert out.splitlines()[1].startswith("  all 1 the checkpoint of ")
        code, out = await cli("audit", "ls", "--server", "--json")
        assert [r["outcome"] for r in json.loads(out)] == ["unauthenticated"]
    finally:
        assert await stop_server(process) == 0
