"""The README works as written: each of its Python code blocks runs as printed, twice in a
row, in a process of its own (the client's against a real `repertory server start`)."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

README = Path(__file__).parents[1] / "README.md"
BLOCKS: list[str] = re.findall(
    r"^```python\n(.*?)^```$", README.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE
)
COMMAND = str(Path(sys.executable).with_name("repertory"))  # the installed entry point
TIMEOUT = 60  # seconds, for any one process to run or start

pytestmark = pytest.mark.timeout(120)  # a few processes in a row, each importing repertory


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """A Python block of the README: what tells it apart, and what it prints."""

    name: str
    #: Text found in this block and in no other.
    marker: str
    #: Lines its output holds, on the first run and on the next.
    prints: tuple[str, ...]
    #: It talks to a server, found through REPERTORY_API_URL and REPERTORY_API_KEY.
    served: bool = False


KNOWN = (
    Block(name="actors", marker="print(await ref.ask(GetTotal()))", prints=("2",)),
    Block(name="tcp", marker="open_node(", prints=("1",)),
    Block(
        name="flows",
        marker="async def pipeline(",
        prints=("6", "Completed ['Pending', 'Running', 'Completed']"),
    ),
    Block(
        name="caching",
        marker="cache_policy=INPUTS + TASK_SOURCE",
        prints=("[[5.0, 1.0], [5.0, 1.0], [5.0, 1.0]]", "2 entries"),
    ),
    Block(
        name="client",
        marker="get_client()",
        prints=("greet ['Pending', 'Running', 'Completed']", "greet Completed"),
        served=True,
    ),
    Block(name="create_app", marker="create_app(rt", prints=("Completed",)),
)


def source_of(block: Block) -> str:
    [source] = [source for source in BLOCKS if block.marker in source]
    return source


def run_block(block: Block, directory: Path, env: Mapping[str, str]) -> list[str]:
    """Run the block as `python block.py` in `directory`; return the lines it printed."""
    path = directory / f"{block.name}.py"
    path.write_text(source_of(block), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("REPERTORY_")}
    return {**env, "REPERTORY_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def test_every_python_block_is_known_to_this_test() -> None:
    assert len(BLOCKS) == len(KNOWN), "a Python block was added or removed: classify it here"
    for source in BLOCKS:
        matches = [block.name for block in KNOWN if block.marker in source]
        assert len(matches) == 1, f"{matches} match the block:\n{source}"


@pytest.mark.parametrize(
    "block", [block for block in KNOWN if not block.served], ids=lambda block: block.name
)
def test_a_block_runs_as_printed_and_again(block: Block, tmp_path: Path) -> None:
    env = environment(tmp_path / "home")
    for _ in range(2):  # the second run meets the first one's database and results
        printed = run_block(block, tmp_path, env)
        assert [line for line in block.prints if line not in printed] == [], printed


def started(server: subprocess.Popen[bytes]) -> tuple[str, str]:
    """The URL and the owner key that a server printed as it started (on a new database)."""
    assert server.stdout is not None
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        while b"repertory serving " not in seen or not seen.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the server did not start in time: {seen!r}"
            if selector.select(remaining):
                chunk = os.read(server.stdout.fileno(), 65536)
                assert chunk, f"the server ended: {seen!r}"
                seen += chunk
    lines = seen.decode().splitlines()
    [url] = [line.split()[2] for line in lines if line.startswith("repertory serving ")]
    [key] = [line.rsplit(" ", 1)[1] for line in lines if "owner API key" in line]
    return url, key


@contextlib.contextmanager
def serve(home: Path, cwd: Path) -> Iterator[tuple[str, str]]:
    """Serve the example flows on a free port of 127.0.0.1; stop by SIGTERM, which must end
    the server cleanly."""
    with subprocess.Popen(
        [COMMAND, "server", "start", "--port", "0", "--flows", "repertory._examples"],
        cwd=cwd,
        env=environment(home),
        stdout=subprocess.PIPE,
    ) as server:
        try:
            yield started(server)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                code = server.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                raise
        assert code == 0


def test_the_client_block_runs_against_a_real_server(tmp_path: Path) -> None:
    [block] = [block for block in KNOWN if block.served]
    home = tmp_path / "home"
    with serve(home, tmp_path) as (url, key):
        env = environment(home, REPERTORY_API_URL=url, REPERTORY_API_KEY=key)
        assert url.startswith("http://127.0.0.1:")
        for _ in range(2):
            printed = run_block(block, tmp_path, env)
            assert [line for line in block.prints if line not in printed] == [], printed
