"""The gateway: REST, MCP, dashboard and metrics, as translations into runtime messages.

Knows nothing of the SDK.
"""

from __future__ import annotations
