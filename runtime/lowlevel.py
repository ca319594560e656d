"""What the SDK, the gateway and the command line build on, and users' code should not need
(as `trio.lowlevel` is to trio): the engine and its live runs, the context variables that
say which run and runtime a call belongs to, parameter binding, run ids, and text as stored
and as shown. These may change between releases; `repertory` and `repertory.runtime` are the
stable faces.
"""

from __future__ import annotations

from ._options import retry_delays as retry_delays
from ._records import is_run_id as is_run_id
from ._runtime import current_runtime as current_runtime
from ._text import is_storable as is_storable
from ._text import printable as printable
from .cache._cache_policy import KeyFunction as KeyFunction
from .engine._context import current_run as current_run
from .engine._engine import Engine as Engine
from .engine._live_run import LiveRun as LiveRun
from .engine._parameters import bind_parameters as bind_parameters

__all__ = [
    "Engine",
    "KeyFunction",
    "LiveRun",
    "bind_parameters",
    "current_run",
    "current_runtime",
    "is_run_id",
    "is_storable",
    "printable",
    "retry_delays",
]
