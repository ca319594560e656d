"""`make run` runs the kernel demo: it must finish and say what it did."""

from __future__ import annotations

import subprocess
import sys


def test_the_demo_runs_to_the_end() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "repertory._demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[-1] == "stopped every actor, newest first. Done."
    assert any("told 200,000 messages" in line and "200,000" in line for line in lines)
    assert any("the supervisor restarted it: total is 0" in line for line in lines)
    assert any("dead letter" in line for line in lines)
    assert any("asked over TCP after 100 remote tells: 5050" in line for line in lines)
