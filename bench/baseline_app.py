"""The baseline: a bare Starlette endpoint shaped like the web chat's POST /messages.

It parses the same JSON body and answers 202 with a body of the same shape, and nothing else: no
database, no validation, no middleware. ``bench/pipeline.py`` serves it with uvicorn's defaults,
as ``frontdesk serve`` does, and divides Frontdesk's throughput by its requests per second.
"""

from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_ids = itertools.count(1)


async def post_message(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse(
        {"id": next(_ids), "conversation_id": body.get("session", ""), "duplicate": False}, status_code=202
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/webchat/{channel_id}/messages", post_message, methods=["POST"]),
        Route("/health", health),
    ]
)
