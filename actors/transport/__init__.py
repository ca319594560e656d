"""Between nodes: the msgpack wire codec and the TCP transport (filled in by the transport work)."""

from __future__ import annotations
