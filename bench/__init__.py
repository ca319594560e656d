"""The benchmark harness: the actor kernel beside raw anyio baselines, on asyncio and trio.

Run it from a checkout with `make bench` (or `python -m bench --help`); it is not part of the
installed package and uses only the public APIs of `repertory.actors`.
"""

from __future__ import annotations
