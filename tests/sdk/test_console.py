"""Run log lines on the terminal, as a script's author meets them: run in a process of its own."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from repertory.runtime import RUN_LABEL, ConsoleFormatter
from repertory.runtime._console import console_level

if TYPE_CHECKING:
    from pathlib import Path

SCRIPT = """
import logging, sys
import anyio
from repertory import flow, get_run_context, get_run_logger, task

@task(retries=1, retry_delay_seconds=0)
async def fetch(page: int) -> int:
    if page == 1 and get_run_context().attempt == 1:
        raise ConnectionError("flaky upstream")
    get_run_logger().debug("page %d in detail", page)
    return page

@flow(flow_run_name="etl-{pages}")
async def etl(pages: int) -> int:
    fetched = await fetch.map(range(pages))
    get_run_logger().info("fetched %d pages", len(fetched))
    return sum(fetched)

async def main() -> None:
    print(await etl(3))

if "--configured" in sys.argv:
    logging.basicConfig(format="MINE %(levelname)s %(name)s: %(message)s", level=logging.INFO)
anyio.run(main, backend=sys.argv[1])
"""

LINE = re.compile(r"\d\d:\d\d:\d\d \| (?P<level>[A-Z]+) *\| (?P<who>.+?) - (?P<text>.*)")


def run_script(
    tmp_path: Path, *arguments: str, level: str | None = None
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "etl.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPERTORY_")}
    env["REPERTORY_HOME"] = str(tmp_path / "home")
    if level is not None:
        env["REPERTORY_LOGGING_LEVEL"] = level
    return subprocess.run(
        [sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_script_shows_its_runs_lines_on_stderr_with_the_run_names(
    tmp_path: Path, backend: str
) -> None:
    done = run_script(tmp_path, backend)
    assert (done.returncode, done.stdout) == (0, "3\n"), done.stderr
    lines = [LINE.fullmatch(line) for line in done.stderr.splitlines()]
    assert all(lines), done.stderr  # every line has the shape, nothing bare
    assert [(m["level"], m["who"], m["text"]) for m in lines if m] == [
        (
            "WARNING",
            "task run 'fetch-1'",
            "failed: ConnectionError: flaky upstream; retry 1 of 1 in 0 s",
        ),
        ("INFO", "flow run 'etl-3'", "fetched 3 pages"),
    ]


def test_the_level_comes_from_the_environment_and_off_shows_no_run_line(
    tmp_path: Path,
) -> None:
    debug = run_script(tmp_path, "asyncio", level="debug")
    assert "| DEBUG   | task run 'fetch-2' - page 2 in detail" in debug.stderr
    warning = run_script(tmp_path, "asyncio", level="WARNING")
    assert "flaky upstream" in warning.stderr
    assert "fetched 3 pages" not in warning.stderr
    off = run_script(tmp_path, "asyncio", level="OFF")
    assert (off.returncode, off.stdout, off.stderr) == (0, "3\n", "")
    bad = run_script(tmp_path, "asyncio", level="loud")  # said, and INFO: nothing breaks
    assert (bad.returncode, bad.stdout) == (0, "3\n")
    assert bad.stderr.startswith(
        "REPERTORY_LOGGING_LEVEL='loud' is not a level (DEBUG, INFO, WARNING, ERROR, CRITICAL, "
        "OFF): INFO\n"
    )
    assert "fetched 3 pages" in bad.stderr


def test_a_program_that_configured_logging_gets_the_lines_in_its_own_format(
    tmp_path: Path,
) -> None:
    done = run_script(tmp_path, "asyncio", "--configured")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "MINE WARNING repertory.task_runs: task run 'fetch-1' failed: ConnectionError: "
        "flaky upstream; retry 1 of 1 in 0 s",  # naming its run, as stored
        "MINE INFO repertory.flow_runs.etl: fetched 3 pages",
    ]


def test_the_console_level_of_a_runtime() -> None:
    assert console_level(False) is None
    assert console_level("off") is None
    assert console_level("Warning") == console_level("warn") == logging.WARNING
    assert console_level(logging.DEBUG) == logging.DEBUG
    with pytest.raises(ValueError, match="a console log level is one of DEBUG, "):
        console_level("verbose")


def test_a_line_cannot_pass_for_another_or_restyle_the_terminal() -> None:
    record = logging.LogRecord(
        "repertory.flow_runs",
        logging.INFO,
        "",
        0,
        "%s",
        ("x\n12:00:00 | ERROR | \x1b[31mno",),
        None,
    )
    setattr(record, RUN_LABEL, "flow run 'calm-otter'")
    line = ConsoleFormatter().format(record)
    assert line.endswith(
        " | INFO    | flow run 'calm-otter' - x\n    12:00:00 | ERROR | \\x1b[31mno"
    )


SESSIONS = """
import logging, sys
import anyio
from repertory import Runtime, flow, get_run_logger

@flow(log_prints=True)
async def talk(word: str) -> None:
    print(f"printed {word}")
    get_run_logger().info("said %s", word, extra={"name": "theirs", "topic": "x"})

async def main() -> None:
    async with Runtime("sqlite:///a.db", console=False):
        async with Runtime("sqlite:///b.db", console="INFO"):  # one asks: lines show
            await talk("one")
        await talk("two")  # the other asked for none: none
    async with Runtime("sqlite:///c.db"):
        await talk("three")
    quiet = logging.getLogger("repertory")
    print("left", quiet.level, quiet.handlers)  # all undone
    logging.basicConfig(format="MINE %(message)s", level=logging.INFO)
    async with Runtime("sqlite:///d.db"):
        await talk("four")  # the program's logging only: once

anyio.run(main, backend=sys.argv[1])
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_runtimes_share_the_console_and_undo_what_they_changed(
    tmp_path: Path, backend: str
) -> None:
    script = tmp_path / "sessions.py"
    script.write_text(SESSIONS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPERTORY_")}
    env["REPERTORY_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, str(script), backend],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = [line.split(" | ", 2)[-1] for line in done.stderr.splitlines()]
    assert len(said) == 4, done.stderr
    assert said[0].endswith(" - said one")  # extra naming a record's own key: no error
    assert said[1].endswith(" - said three")
    assert said[2:] == ["MINE printed four", "MINE said four"]  # as its logging has them
    assert done.stdout.splitlines() == [
        "printed one",  # prints stay on stdout, not repeated on the console
        "printed two",
        "printed three",
        "left 0 []",
        "printed four",
    ]


def test_a_line_names_its_run_or_else_its_logger() -> None:
    record = logging.LogRecord(
        "repertory.store", logging.WARNING, "", 0, "slow %s", ("disk",), None
    )
    line = ConsoleFormatter().format(record)
    assert LINE.fullmatch(line) is not None
    assert line.endswith(" | WARNING | repertory.store - slow disk")
    setattr(record, RUN_LABEL, "flow run 'calm-otter'")
    assert (
        ConsoleFormatter().format(record).endswith(" | WARNING | flow run 'calm-otter' - slow disk")
    )
