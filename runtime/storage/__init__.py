"""Storage: the database's tables and their SQL, the store actor and its journal, reading
connections and the asyncio bridge the drivers need. Knows records, not how runs are run.
"""

from __future__ import annotations
