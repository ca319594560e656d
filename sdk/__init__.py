"""repertory: an async-native, actor-model workflow runtime for Python (asyncio and trio).

Importing this package is cheap: the actor kernel, runtime, gateway and command line load only
when they are used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
