"""The `repertory` command line: `main` is the console script (`python -m repertory._cli`
runs it too)."""

from __future__ import annotations

from ._app import main

__all__ = ["main"]
