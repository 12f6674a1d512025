"""Provider webhooks: Meta (WhatsApp, Messenger, Instagram) and Twilio messages and statuses.

Each path hands the raw request to its provider's adapter through ``pipeline.receive``; the
seed systems' paths (``/webhook`` for Meta, ``/api/v1/channels/whatsapp/webhook`` for Twilio) are
the same handlers, so providers configured against the old systems keep working.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from frontdesk.api.deps import get_runtime
from frontdesk.channels.base import ChannelAdapter, RawRequest
from frontdesk.pipeline.receive import receive
from frontdesk.runtime import Runtime

router = APIRouter(tags=["webhooks"])
TEXT = {"text/plain": {"schema": {"type": "string"}}}
TWIML = {"application/xml": {"schema": {"type": "string"}}}


def public_url(rt: Runtime, request: Request) -> str:
    """The URL the provider called, as it signed it: behind a proxy that is FRONTDESK_PUBLIC_URL."""
    base = rt.settings.public_url.rstrip("/")
    if not base:
        return str(request.url)
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


async def raw_request(rt: Runtime, request: Request) -> RawRequest:
    body = await request.body()
    form: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return RawRequest(
        method=request.method,
        url=public_url(rt, request),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=body,
        form=form,
    )


async def _handshake(rt: Runtime, adapter: ChannelAdapter, request: Request) -> Response:
    raw = await raw_request(rt, request)
    candidates = [(c, rt.cache.credentials(c)) for c in await rt.cache.active_channels(adapter.provider)]
    answer = adapter.handshake(raw, candidates)  # type: ignore[arg-type]
    return answer if answer is not None else PlainTextResponse("Forbidden", status_code=403)


async def _receive(rt: Runtime, adapter: ChannelAdapter, request: Request) -> dict[str, Any]:
    receipt = await receive(rt, adapter, await raw_request(rt, request))
    return receipt.as_dict()


@router.get(
    "/webhooks/meta",
    response_class=PlainTextResponse,
    summary="Meta subscription handshake",
    responses={
        200: {"description": "hub.challenge, echoed", "content": TEXT},
        403: {"description": "hub.verify_token is no active Meta channel's", "content": TEXT},
    },
)
@router.get("/webhook", response_class=PlainTextResponse, include_in_schema=False)
async def meta_handshake(request: Request, rt: Runtime = Depends(get_runtime)) -> Response:
    return await _handshake(rt, rt.adapters.get("meta"), request)


@router.post("/webhooks/meta", summary="Meta webhooks: WhatsApp Cloud API, Messenger, Instagram")
@router.post("/webhook", include_in_schema=False)
async def meta_webhook(request: Request, rt: Runtime = Depends(get_runtime)) -> dict[str, Any]:
    return await _receive(rt, rt.adapters.get("meta"), request)


@router.post(
    "/webhooks/twilio",
    summary="Twilio messages (SMS, WhatsApp) and status callbacks",
    responses={
        200: {
            "description": "An empty TwiML <Response/> (the receipt as JSON with Accept: application/json)",
            "content": TWIML,
        }
    },
)
@router.post("/api/v1/channels/whatsapp/webhook", include_in_schema=False)
async def twilio_webhook(request: Request, rt: Runtime = Depends(get_runtime)) -> Response:
    result = await _receive(rt, rt.adapters.get("twilio"), request)
    # Twilio reads a TwiML body from message webhooks: an empty <Response/> means "no auto-reply",
    # the agent's answer goes out through the REST API once the turn has run.
    if "json" in request.headers.get("accept", ""):
        return JSONResponse(result)
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', media_type="application/xml")
