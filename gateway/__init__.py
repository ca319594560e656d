"""The gateway: REST (and later MCP, the dashboard and metrics) as translations into runtime
calls, which are messages to the runtime's actors. Knows nothing of the SDK.

`create_app(runtime, flows=[...])` gives the Starlette app of the REST API under `/api`;
`serve(...)` runs it with a runtime under uvicorn (what `repertory server start` does).
"""

from __future__ import annotations

from ._app import MAX_BODY as MAX_BODY
from ._app import create_app as create_app
from ._errors import ApiError as ApiError
from ._limits import Limits as Limits
from ._server import DEFAULT_HOST as DEFAULT_HOST
from ._server import DEFAULT_PORT as DEFAULT_PORT
from ._server import FlowsNotFoundError as FlowsNotFoundError
from ._server import ServerStarted as ServerStarted
from ._server import load_flows as load_flows
from ._server import serve as serve

__all__ = [  # noqa: RUF022 - plain sorted() order, as tests/test_architecture.py checks
    "ApiError",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "FlowsNotFoundError",
    "Limits",
    "MAX_BODY",
    "ServerStarted",
    "create_app",
    "load_flows",
    "serve",
]
