"""The REST benchmark's baseline: a bare Starlette app (`uvicorn bench._hello:app`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.requests import Request


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world"})


async def echo(request: Request) -> JSONResponse:
    """What a create does at the least: read a JSON body and answer 201 with JSON."""
    return JSONResponse({"id": "0", "body": await request.json()}, status_code=201)


app = Starlette(routes=[Route("/", hello), Route("/post", echo, methods=["POST"])])
