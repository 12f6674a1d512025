"""Phone calls through Twilio Programmable Voice: the HTTP side of ``pipeline.calls``.

Twilio posts each call webhook here and reads back TwiML saying what to say, gather or dial next.
What the call does (greeting, listening, waiting for the agent, handing over) is
``pipeline.calls``; the TwiML is the adapter's (``channels.twiml``); this endpoint makes the action
URLs Twilio posts the call's next webhooks to.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from frontdesk.api.webhooks import TWIML, raw_request
from frontdesk.pipeline import calls
from frontdesk.runtime import Runtime

router = APIRouter(tags=["webhooks"])
PATH = "/webhooks/twilio/voice"


def _action(rt: Runtime, request: Request, **params: object) -> str:
    base = rt.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}{PATH}?{urlencode({k: v for k, v in params.items() if v is not None})}"


@router.post(
    PATH,
    summary="Twilio voice calls: answered with TwiML",
    response_class=Response,
    responses={200: {"description": "TwiML: what to say, gather or dial next", "content": TWIML}},
)
async def voice(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    adapter = rt.adapters.voice("twilio")
    raw = await raw_request(rt, request, adapter)
    step = await calls.next_step(rt, adapter, raw, lambda **params: _action(rt, request, **params))
    return adapter.call_response(step)
