"""`python -m repertory._cli`: the `repertory` command."""

from __future__ import annotations

from ._app import main

main()
