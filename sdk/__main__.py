"""`python -m repertory`: the `repertory` command line, for where the script is not on PATH."""

from __future__ import annotations

from repertory._cli import main

main()
