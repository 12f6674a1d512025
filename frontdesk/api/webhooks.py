"""Provider webhooks: Meta (WhatsApp, Messenger, Instagram) and Twilio messages and statuses.

Each path hands the raw request to its provider's adapter through ``pipeline.receive``; the
seed systems' paths for the same handlers are in ``api/legacy.py``.

Before anything is read, the request must come as the provider sends it: a content type the
provider posts (415 otherwise; a signed JSON body is only ever read as JSON) and at most one
value of each signature header (400 otherwise: which one would be checked is not for the sender
to choose). What a signature cannot do is said in ``pipeline.admission``: replays are caught by
deduplication on the provider's message id and the message timestamp window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.datastructures import URL, QueryParams
from starlette.types import Scope

from frontdesk.api.deps import get_runtime
from frontdesk.channels.base import ChannelAdapter, RawRequest
from frontdesk.errors import BadRequest, UnsupportedMediaType
from frontdesk.pipeline.receive import receive
from frontdesk.runtime import Runtime

router = APIRouter(tags=["webhooks"])
TEXT = {"text/plain": {"schema": {"type": "string"}}}
TWIML = {"application/xml": {"schema": {"type": "string"}}}


def public_url(rt: Runtime, scope: Scope) -> str:
    """The URL the provider called, as it signed it: behind a proxy that is FRONTDESK_PUBLIC_URL."""
    url = URL(scope=scope)
    base = rt.settings.public_url.rstrip("/")
    if not base:
        return str(url)
    return f"{base}{url.path}" + (f"?{url.query}" if url.query else "")


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def check_envelope(adapter: ChannelAdapter, scope: Scope, headers: Mapping[str, str]) -> None:
    """Refuse a webhook not sent the way its provider sends them (see the module docstring)."""
    accepted = adapter.webhook_content_types
    if accepted and media_type(headers) not in accepted:
        raise UnsupportedMediaType(
            f"{adapter.provider} webhooks must be posted as {' or '.join(accepted)}, "
            f"not {media_type(headers) or 'a body without a content type'!r}"
        )
    for name in adapter.signature_headers:
        key = name.lower().encode("latin-1")
        if len({value for header, value in scope["headers"] if header == key}) > 1:
            raise BadRequest(f"the request carries more than one {name} header; send exactly one")


def build_raw(rt: Runtime, adapter: ChannelAdapter, scope: Scope, body: bytes) -> RawRequest:
    """The webhook as its adapter reads it, once ``check_envelope`` accepts it, from the ASGI scope
    (the routes below and ``api.fast_paths`` both build it here)."""
    # ASGI gives header names lowercased; of a repeated header the last value stands.
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    method = scope["method"]
    if method == "POST":
        check_envelope(adapter, scope, headers)
    form: dict[str, str] = {}
    if media_type(headers) == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return RawRequest(
        method=method,
        url=public_url(rt, scope),
        headers=headers,
        query=dict(QueryParams(query)) if (query := scope["query_string"]) else {},
        body=body,
        form=form,
    )


async def raw_request(rt: Runtime, request: Request, adapter: ChannelAdapter) -> RawRequest:
    return build_raw(rt, adapter, request.scope, await request.body())


def twilio_answer(accept: str, receipt: dict[str, Any]) -> Response:
    """Twilio reads a TwiML body from message webhooks: an empty <Response/> means "no auto-reply",
    the agent's answer goes out through the REST API once the turn has run."""
    if "json" in accept:
        return JSONResponse(receipt)
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', media_type="application/xml")


async def _handshake(rt: Runtime, adapter: ChannelAdapter, request: Request) -> Response:
    raw = await raw_request(rt, request, adapter)
    candidates = [(c, rt.cache.credentials(c)) for c in await rt.cache.active_channels(adapter.provider)]
    answer = adapter.handshake(raw, candidates)
    return answer if answer is not None else PlainTextResponse("Forbidden", status_code=403)


async def _receive(rt: Runtime, adapter: ChannelAdapter, request: Request) -> dict[str, Any]:
    receipt = await receive(rt, adapter, await raw_request(rt, request, adapter))
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
async def meta_handshake(request: Request, rt: Runtime = Depends(get_runtime)) -> Response:
    return await _handshake(rt, rt.adapters.get("meta"), request)


@router.post("/webhooks/meta", summary="Meta webhooks: WhatsApp Cloud API, Messenger, Instagram")
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
async def twilio_webhook(request: Request, rt: Runtime = Depends(get_runtime)) -> Response:
    result = await _receive(rt, rt.adapters.get("twilio"), request)
    return twilio_answer(request.headers.get("accept", ""), result)
