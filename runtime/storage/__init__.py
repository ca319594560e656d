"""Storage: the `Store` protocol and the typed requests the runtime sends it; its SQL
implementation (the tables and their SQL, reading connections, the asyncio bridge the drivers
need) and its memory one; the store actor and its journal. Knows records, not how runs are
run, and imports nothing of the runtime above it.
"""

from __future__ import annotations
