"""Frontdesk's web chat: sessions, messages in, replies out as Server-Sent Events, and a page.

The stream (``webchat_stream.py``) takes its session as a query parameter because browsers'
EventSource cannot send headers. Replies written while no stream was connected are sent on
(re)connect after the ``Last-Event-ID`` the browser remembers. Open streams are capped per session
and per client address (``stream_slots.py``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from limits import parse as parse_limit
from pydantic import BaseModel, Field

from frontdesk.api.deps import get_runtime
from frontdesk.api.sse import EventStreamResponse
from frontdesk.api.webchat_limit import MovingWindow
from frontdesk.api.webchat_stream import StreamTimes, reply_events
from frontdesk.channels.webchat import SessionSigner
from frontdesk.errors import NotFound, RateLimited
from frontdesk.model.ids import new_id
from frontdesk.model.messages import InboundMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.runtime import Runtime

router = APIRouter(tags=["web chat"])
# One event of the stream, as OpenAPI 3.1 describes a text/event-stream (its `data` is JSON).
_EVENT = {
    "type": "object",
    "properties": {
        "event": {"const": "message"},
        "id": {"type": "string"},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
    "required": ["event", "id", "data"],
}
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "web" / "templates"),
    autoescape=select_autoescape(),
)
_limiter = MovingWindow()


class SessionOut(BaseModel):
    session: str
    visitor_id: str


class MessageIn(BaseModel):
    session: str
    text: str = Field(min_length=1, max_length=4096)
    client_message_id: str | None = Field(default=None, max_length=128)


class MessageAccepted(BaseModel):
    id: int
    conversation_id: str
    duplicate: bool


async def _channel(rt: Runtime, channel_id: str) -> ChannelInfo:
    channel = await rt.cache.channel(channel_id)
    if channel is None or channel.provider != "webchat" or not channel.active:
        raise NotFound(f"web chat channel {channel_id!r} not found")
    return channel


def session_signer(rt: Runtime) -> SessionSigner:
    """The signer of web chat session tokens: one per app (``create_app`` keeps it in its state)."""
    return SessionSigner(rt.secrets.derive("webchat-session"))


async def _signer(request: Request) -> SessionSigner:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool, a hop per request.
    return request.app.state.webchat_signer


@functools.lru_cache(maxsize=8)
def _parsed_limit(text: str) -> tuple[int, float]:
    """(messages, window seconds) of a limit such as "30/minute"."""
    item = parse_limit(text)
    return item.amount, float(item.get_expiry())


@router.post("/webchat/{channel_id}/sessions", status_code=201, response_model=SessionOut)
async def new_session(
    channel_id: str, rt: Runtime = Depends(get_runtime), signer: SessionSigner = Depends(_signer)
) -> SessionOut:
    await _channel(rt, channel_id)
    visitor, token = signer.new_session(channel_id)
    return SessionOut(session=token, visitor_id=visitor)


@router.post("/webchat/{channel_id}/messages", status_code=202, response_model=MessageAccepted)
async def post_message(channel_id: str, body: MessageIn, request: Request) -> JSONResponse:
    # The hot path (``api.fast_paths`` answers it before the framework, with ``accept``): the
    # runtime and the signer straight from the app's state, the answer without a second
    # validation through the response model.
    state = request.app.state
    return JSONResponse(await accept(state.runtime, state.webchat_signer, channel_id, body), status_code=202)


async def accept(rt: Runtime, signer: SessionSigner, channel_id: str, body: MessageIn) -> dict[str, Any]:
    """Store a visitor's message (once per client_message_id) and queue its turn; the 202's body."""
    channel = await _channel(rt, channel_id)
    visitor = signer.visitor(channel_id, body.session)
    amount, window = _parsed_limit(rt.settings.webchat_rate_limit)
    wait = _limiter.hit((channel_id, visitor, amount, window), amount, window)
    if wait is not None:
        raise RateLimited(
            f"too many messages in this chat session (limit {rt.settings.webchat_rate_limit}); slow down",
            retry_after=max(1.0, wait),
        )
    client_id = body.client_message_id or new_id("wc")
    stored = await rt.ingest.message(
        channel, InboundMessage(provider_message_id=f"{visitor}:{client_id}", sender=visitor, text=body.text)
    )
    return {"id": stored.message_id, "conversation_id": stored.conversation_id, "duplicate": stored.duplicate}


@router.get(
    "/webchat/{channel_id}/stream",
    response_class=EventStreamResponse,
    status_code=200,
    responses={
        200: {
            "description": "Server-Sent Events: a `message` event per reply (id, text, created_at, buttons)",
            "content": {"text/event-stream": {"schema": _EVENT}},
        }
    },
)
async def stream(
    channel_id: str,
    request: Request,
    session: str = Query(..., description="the session token from POST /sessions"),
    last_event_id: int | None = Query(None, description="resume after this reply id (or Last-Event-ID)"),
    timeout: float | None = Query(
        None, gt=0, le=3600, description="close the stream after this many seconds"
    ),
    last_event_header: str | None = Header(None, alias="Last-Event-ID"),
    rt: Runtime = Depends(get_runtime),
    signer: SessionSigner = Depends(_signer),
) -> EventStreamResponse:
    channel = await _channel(rt, channel_id)
    visitor = signer.visitor(channel_id, session)
    after = last_event_id or 0
    if last_event_header and last_event_header.strip().isdigit():
        after = max(after, int(last_event_header.strip()))
    # uvicorn has already put X-Forwarded-For of a trusted proxy (FORWARDED_ALLOW_IPS) in client.
    address = request.client.host if request.client else "unknown"
    release = request.app.state.stream_slots.acquire(f"{channel_id}:{visitor}", address)
    events = reply_events(rt, channel, visitor, after, StreamTimes.of(rt.settings, timeout))
    return EventStreamResponse(
        events, send_timeout=rt.settings.webchat_stream_send_timeout_seconds, on_close=release
    )


@router.get("/webchat/{channel_id}", response_class=HTMLResponse, include_in_schema=False)
async def page(channel_id: str, rt: Runtime = Depends(get_runtime)) -> HTMLResponse:
    channel = await _channel(rt, channel_id)
    tenant = await rt.cache.tenant(channel.tenant_id)
    html = _templates.get_template("webchat.html").render(
        channel_id=channel_id, business=(tenant.name if tenant else channel.channel_id)
    )
    return HTMLResponse(html)
