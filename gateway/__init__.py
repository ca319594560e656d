"""The gateway: REST (and later MCP, the dashboard and metrics) as translations into runtime
calls, which are messages to the runtime's actors. Knows nothing of the SDK.

`create_app(runtime, flows=[...])` gives the Starlette app of the REST API under `/api`.
"""

from __future__ import annotations

from ._app import MAX_BODY as MAX_BODY
from ._app import create_app as create_app
from ._errors import ApiError as ApiError

__all__ = ["ApiError", "MAX_BODY", "create_app"]  # noqa: RUF022 - plain sorted() order
