"""The layers and conventions of STYLE.md, checked on the source so they cannot drift."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import repertory
import repertory.runtime

ROOT = Path(__file__).resolve().parent.parent
# Folder -> the import name it is installed as (see pyproject.toml).
PACKAGES = {
    "sdk": "repertory",
    "actors": "repertory.actors",
    "runtime": "repertory.runtime",
    "gateway": "repertory.gateway",
}
PUBLIC_PACKAGES = [
    "repertory",
    "repertory.actors",
    "repertory.actors.transport",
    "repertory.runtime",
    "repertory.runtime.lowlevel",
    "repertory.gateway",
]
# Of the SDK's modules, only the command line (the `_cli` package) may import the gateway.
CLI_MODULE = "repertory._cli"


def _sources() -> list[tuple[str, Path]]:
    """Every library module as (dotted name, path)."""
    found = []
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append((".".join([package, *parts]), path))
    return found


def _imports(module: str, path: Path) -> set[str]:
    """The absolute names of the modules that `module` imports (relative ones resolved)."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "repertory" or name.startswith("repertory.")}


def _layer(name: str) -> str:
    for layer in ("repertory.actors", "repertory.runtime", "repertory.gateway"):
        if name == layer or name.startswith(layer + "."):
            return layer
    return "repertory"  # the SDK: the package itself and its private modules


FORBIDDEN = {
    "repertory.actors": {"repertory.runtime", "repertory.gateway", "repertory"},
    "repertory.runtime": {"repertory.gateway", "repertory"},
    "repertory.gateway": {"repertory"},
}

SOURCES = _sources()


@pytest.mark.parametrize(("module", "path"), SOURCES, ids=[name for name, _ in SOURCES])
def test_imports_point_down_the_layers(module: str, path: Path) -> None:
    layer = _layer(module)
    forbidden = set(FORBIDDEN.get(layer, set()))
    is_cli = module == CLI_MODULE or module.startswith(f"{CLI_MODULE}.")
    if layer == "repertory" and not is_cli:
        forbidden.add("repertory.gateway")
    bad = sorted(name for name in _imports(module, path) if _layer(name) in forbidden)
    assert not bad, f"{module} imports {bad}, against the layers of DESIGN.md"


@pytest.mark.parametrize(("module", "path"), SOURCES, ids=[name for name, _ in SOURCES])
def test_other_packages_are_used_through_their_top_level(module: str, path: Path) -> None:
    bad = sorted(
        name
        for name in _imports(module, path)
        if any(part.startswith("_") for part in name.split(".")) and _layer(name) != _layer(module)
    )
    assert not bad, f"{module} imports private modules of another package: {bad}"


@pytest.mark.parametrize(("module", "path"), SOURCES, ids=[name for name, _ in SOURCES])
def test_module_conventions(module: str, path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{module} has no module docstring"
    future = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
    ]
    assert future, f"{module} lacks `from __future__ import annotations`"
    lines = len(path.read_text().splitlines())
    assert lines <= 800, f"{module} has {lines} lines: split it (STYLE.md)"


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_exports_are_sorted_and_resolve(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(getattr(module, "__all__", []))
    assert exported == sorted(exported), f"{package}.__all__ is not sorted"
    for name in exported:
        assert hasattr(module, name), f"{package}.__all__ names {name}, which is missing"
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith(package)
        and not isinstance(value, type(module))
    }
    assert public <= set(exported), f"{package} exposes {public - set(exported)} outside __all__"


def _error_classes() -> list[type[BaseException]]:
    """The exceptions the runtime and the SDK define for callers (not `_private` ones)."""
    modules = [
        info.name
        for info in pkgutil.walk_packages(repertory.runtime.__path__, "repertory.runtime.")
    ]
    modules += [
        f"repertory.{name}" for name in ("_client", "_sync_client", "_decorators", "_errors")
    ]
    found: dict[str, type[BaseException]] = {}
    for name in modules:
        for value in vars(importlib.import_module(name)).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not value.__name__.startswith("_")
            ):
                found[value.__qualname__] = value
    return sorted(found.values(), key=lambda error: error.__name__)


ERRORS = _error_classes()


@pytest.mark.parametrize("error", ERRORS, ids=[error.__name__ for error in ERRORS])
def test_every_error_a_caller_can_meet_is_importable_from_repertory(
    error: type[BaseException],
) -> None:
    assert getattr(repertory, error.__name__, None) is error, (
        f"{error.__module__}.{error.__name__} is not exported by `repertory`"
    )
    assert error.__name__ in repertory.__all__


def test_the_runtime_is_made_of_parts_that_declare_what_they_use_of_it() -> None:
    """Its parts (keys, audit, cache) build on one checked base, and declare nothing of the
    runtime's or each other's state: what a part keeps, its own `__init__` makes."""
    from repertory.runtime._parts import RuntimeBase

    runtime = repertory.runtime.Runtime
    parts = [base for base in runtime.__mro__[1:] if base.__name__.endswith("Access")]
    assert len(parts) == 3
    assert all(issubclass(part, RuntimeBase) for part in parts)
    assert not runtime.__abstractmethods__  # it gives the parts all the base promises
    for part in parts:
        assert not inspect.get_annotations(part), part
