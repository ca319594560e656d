"""The wheel holds exactly the `repertory` packages, imports, and `import repertory` is cheap."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

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
