"""The workflow runtime: states, workflow actors and storage.

Built on the actor kernel; knows nothing of the SDK or the gateway.
"""

from __future__ import annotations
