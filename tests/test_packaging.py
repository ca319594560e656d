"""The wheel holds exactly the `repertory` packages, imports, and `import repertory` is cheap."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import anyio
import pytest

from .gateway.conftest import started

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_PACKAGES = {
    "repertory",
    "repertory/actors",
    "repertory/actors/transport",
    "repertory/runtime",
    "repertory/runtime/cache",
    "repertory/runtime/engine",
    "repertory/runtime/storage",
    "repertory/runtime/tenancy",
    "repertory/gateway",
    "repertory/_cli",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build a wheel from a copy of the sources, so the checkout is left as it was."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("sdk", "actors", "runtime", "gateway"):
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            *[sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"],
            *["--no-build-isolation", "--wheel-dir", str(out), str(source)],
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("repertory-*.whl")
    return built


def test_wheel_holds_exactly_the_repertory_packages(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    code = [name for name in names if ".dist-info/" not in name]
    packages = {name.rpartition("/")[0] for name in code if name.endswith("/__init__.py")}
    assert packages == EXPECTED_PACKAGES
    assert all(name.startswith("repertory/") for name in code), code
    assert "repertory/py.typed" in names


def test_wheel_imports(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path)
    script = (
        "import repertory, repertory.actors, repertory.actors.transport, repertory.runtime, "
        "repertory.gateway, repertory.actors.testing; print(repertory.__file__)"
    )
    # The unpacked wheel comes first on the path, ahead of the development install.
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    )
    assert Path(result.stdout.strip()).is_relative_to(tmp_path)


def test_import_repertory_loads_nothing_heavy() -> None:
    script = (
        "import sys, repertory; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'anyio', 'msgpack', 'trio', 'ssl', 'asyncio'} or m.startswith('repertory.'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    assert result.stdout.split() == []


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.timeout(300)  # a fresh virtualenv, its dependencies from the package index
async def test_a_plain_install_of_the_wheel_drives_a_server(wheel: Path, tmp_path: Path) -> None:
    """`pip install repertory`, no extras, in a virtualenv of its own: its command line
    reaches a server (the client's dependencies are the package's, not the dev extra's)."""
    venv = tmp_path / "venv"
    await anyio.run_process([sys.executable, "-m", "venv", str(venv)])
    await anyio.run_process(
        [
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            wheel,
        ]
    )
    command = str(venv / "bin" / "repertory")
    version = await anyio.run_process([command, "--version"])
    assert version.stdout.decode().startswith("repertory ")
    server = await anyio.open_process(
        [
            str(venv / "bin" / "repertory"),
            *["server", "start", "--port", "0"],
            *["--database-url", f"sqlite:///{tmp_path / 'server.db'}"],
            *["--flows", "repertory._examples"],
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1", "REPERTORY_HOME": str(tmp_path)},
    )
    try:
        url, key = await started(server)
        assert key is not None
        listed = await anyio.run_process(
            [command, "flow-run", "create", "greet", "-p", "name=you", "--watch", "--json"],
            env={**os.environ, "REPERTORY_API_URL": url, "REPERTORY_API_KEY": key},
        )
        assert json.loads(listed.stdout)["state"] == "Completed"
    finally:
        server.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await server.wait() == 0
