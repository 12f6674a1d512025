"""Provider-backed message endpoints: media downloads, proactive sends, mock-mode sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from frontdesk.api.deps import get_principal, get_runtime, scope_tenant
from frontdesk.api.pagination import DB_INT_MAX
from frontdesk.channels.base import media_origin
from frontdesk.errors import BadRequest, ConfigError, NotFound, RetryableDelivery
from frontdesk.model.bsuid import is_bsuid
from frontdesk.model.config import DEFAULT_TENANT
from frontdesk.model.phone import normalize_e164
from frontdesk.model.routing import ChannelInfo
from frontdesk.pipeline.proactive import queue_message
from frontdesk.runtime import Runtime
from frontdesk.security.tokens import Principal
from frontdesk.store import messages, mock_sends, routing

router = APIRouter(tags=["messages"])
MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


@router.get(
    "/api/v1/messages/{message_id}/media",
    summary="Download an inbound message's media",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The media, with the provider's content type",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def message_media(
    message_id: int = Path(ge=1, le=DB_INT_MAX),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> StreamingResponse:
    row = await messages.media(rt.db, message_id)
    if row is None or not principal.can_see(row.tenant_id):
        raise NotFound(f"message {message_id} not found")
    payload = row.payload or {}
    if not payload.get("media"):
        raise NotFound(f"message {message_id} has no media")
    channel = await rt.cache.channel(row.channel_id)
    if channel is None:
        raise NotFound(f"the channel of message {message_id} no longer exists")
    adapter = rt.adapters.get(channel.provider)
    source = await adapter.media_source(payload, channel, rt.cache.credentials(channel), rt.http)
    # A payload names its media URL, and a tenant signs its own webhooks: only the provider's media
    # hosts (guarded, redirects too) or the operator's own base URL are ever fetched.
    http = rt.http if media_origin(source.url, adapter, channel) == "operator" else rt.outbound
    return await _stream(http, source.url, source.headers, source.content_type, rt.settings.max_media_bytes)


async def _stream(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], content_type: str | None, cap: int
) -> StreamingResponse:
    request = http.build_request("GET", url, headers=headers)
    try:
        upstream = await http.send(request, stream=True, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise RetryableDelivery(
            f"the provider's media server could not be reached ({type(exc).__name__})"
        ) from None
    if upstream.status_code >= 400:
        await upstream.aclose()
        raise NotFound(f"the provider answered {upstream.status_code} for this media")
    size = int(upstream.headers.get("content-length") or 0)
    if size > cap:
        await upstream.aclose()
        raise BadRequest(f"the media is {size} bytes, over the {cap}-byte limit (FRONTDESK_MAX_MEDIA_BYTES)")

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for chunk in upstream.aiter_bytes():
                sent += len(chunk)
                if sent > cap:  # the provider sent more than it announced: stop, never buffer it all
                    break
                yield chunk
        finally:
            await upstream.aclose()

    media_type = content_type or upstream.headers.get("content-type", "application/octet-stream")
    return StreamingResponse(body(), media_type=media_type)


class WhatsAppSend(BaseModel):
    to: str = Field(
        description="the customer's number, E.164, or their business-scoped user id (US.1349…) "
        "when they use a WhatsApp username"
    )
    message: str = Field(min_length=1, max_length=4096)
    tenant_id: str | None = None
    channel_id: str | None = Field(
        default=None, description="which WhatsApp channel, if the tenant has several"
    )
    idempotency_key: str | None = Field(default=None, max_length=200)


@router.post("/api/v1/channels/whatsapp/send", summary="Send a proactive WhatsApp message (seed 003)")
async def whatsapp_send(
    body: WhatsAppSend, principal: Principal = Depends(get_principal), rt: Runtime = Depends(get_runtime)
) -> dict[str, Any]:
    tenant_id = scope_tenant(principal, body.tenant_id) or DEFAULT_TENANT
    to = body.to.strip()
    if not is_bsuid(to):
        try:
            to = normalize_e164(to)
        except ValueError as exc:
            raise ConfigError(
                f"{exc}, or a WhatsApp business-scoped user id like US.13491208655302741918"
            ) from None
    channel = await _whatsapp_channel(rt, tenant_id, body.channel_id)
    queued = await queue_message(rt, channel, to, body.message, idempotency_key=body.idempotency_key)
    status, provider_id, reason = await _settled(rt, queued.message_id, wait=5.0)
    return {
        "message_id": queued.message_id,
        "provider_message_id": provider_id,
        "status": status,
        "status_reason": reason,
        "conversation_id": queued.conversation_id,
        "channel_id": channel.channel_id,
        "duplicate": queued.duplicate,
    }


async def _whatsapp_channel(rt: Runtime, tenant_id: str, channel_id: str | None) -> ChannelInfo:
    found = await routing.first_active_channel(rt.db, tenant_id, "whatsapp", channel_id)
    channel = await rt.cache.channel(found) if found else None
    if channel is None:
        which = f"channel {channel_id!r}" if channel_id else "an active WhatsApp channel"
        raise NotFound(f"tenant {tenant_id!r} has no {which} to send from")
    return channel


async def _settled(rt: Runtime, message_id: int, wait: float) -> tuple[str, str | None, str | None]:
    """The message's status once it left the queue (or what it is after ``wait`` seconds)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        row = await messages.delivery(rt.db, message_id)
        if row.status not in ("queued", "sending") or asyncio.get_running_loop().time() > deadline:
            return row.status, row.provider_message_id, row.status_reason
        await asyncio.sleep(0.05)


@router.get("/api/v1/mock/sends", summary="Sends recorded in mock mode (FRONTDESK_MOCK_PROVIDERS=true)")
async def mock_sends_list(
    tenant_id: str | None = None,
    channel_id: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    principal: Principal = Depends(get_principal),
    rt: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    rows = await mock_sends.recent(
        rt.db, tenant_id=scope_tenant(principal, tenant_id), channel_id=channel_id, limit=limit
    )
    items = [
        {
            "id": r.id,
            "tenant_id": r.tenant_id,
            "channel_id": r.channel_id,
            "provider": r.provider,
            "message_id": r.message_id,
            "provider_message_id": r.provider_message_id,
            "to": r.recipient,
            "text": r.text,
            "payload": r.payload,
            "created_at": r.created_at.isoformat() if r.created_at else None,
        }
        for r in rows
    ]
    return {"mock_mode": rt.settings.mock_providers, "items": items}
