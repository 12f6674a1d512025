"""Phone calls through Twilio Programmable Voice, answered by the channel's agent.

A call is one conversation (thread ``call:<CallSid>``). Each thing the caller says (``SpeechResult``
of a ``<Gather input="speech">``) is ingested like any inbound message; the endpoint then waits for
the agent's reply and speaks it inside the next ``<Gather>``. Twilio waits 15 seconds for TwiML,
so after ``FRONTDESK_VOICE_REPLY_WAIT_SECONDS`` the caller hears a holding phrase and Twilio is
redirected to fetch the reply again. The step and turn number travel in the action URL, which
Twilio signs like any webhook, and make redelivered requests deduplicate.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from frontdesk.api.pagination import DB_INT_MAX
from frontdesk.api.webhooks import TWIML, raw_request
from frontdesk.channels import twiml
from frontdesk.model.messages import InboundMessage
from frontdesk.model.routing import ChannelInfo
from frontdesk.pipeline.receive import route
from frontdesk.runtime import Runtime

router = APIRouter(tags=["webhooks"])
PATH = "/webhooks/twilio/voice"
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
MAX_SILENCES = 2  # reprompt once, then say goodbye
MAX_WAITS = 3  # holding phrases before apologising


def _xml(document: str) -> Response:
    return Response(document, media_type="application/xml")


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
    adapter = rt.adapters.get("twilio")
    raw = await raw_request(rt, request, adapter)
    channels, _ = await route(rt, adapter, raw)
    channel = channels[0]
    adapter.verify(raw, channel, rt.cache.credentials(channel))
    call = adapter.parse_call(raw)  # type: ignore[attr-defined]
    if call.call_status in ENDED:
        return _xml('<?xml version="1.0" encoding="UTF-8"?><Response/>')
    lang = str(channel.settings.get("language") or "en-US")
    step = raw.query.get("step", "start")
    turn = _int(raw.query.get("turn"), 1)
    if step == "start":
        greeting = await _greeting(rt, channel)
        return _xml(twiml.gather(greeting, _action(rt, request, step="gather", turn=1), language=lang))
    if step == "wait":
        conversation_id = raw.query.get("conv", "")
        after = _int(raw.query.get("after"), 0)
        waits = _int(raw.query.get("waits"), 1)
        return await _answer(rt, request, channel, conversation_id, after, turn, waits, lang)
    if not call.speech_result:
        silences = _int(raw.query.get("silences"), 0) + 1
        if silences >= MAX_SILENCES:
            return _xml(twiml.say_and_hangup(_text(channel, "goodbye"), language=lang))
        action = _action(rt, request, step="gather", turn=turn, silences=silences)
        return _xml(twiml.gather(_text(channel, "reprompt"), action, language=lang))
    msg = InboundMessage(
        provider_message_id=f"{call.call_sid}:{turn}",
        sender=call.from_,
        text=call.speech_result,
        payload={"voice": {"call_sid": call.call_sid, "confidence": call.confidence}},
        thread=f"call:{call.call_sid}",
    )
    stored = await rt.ingest.message(channel, msg)
    await rt.channel_health.inbound(channel)
    return await _answer(rt, request, channel, stored.conversation_id, stored.message_id, turn, 0, lang)


async def _answer(
    rt: Runtime,
    request: Request,
    channel: ChannelInfo,
    conversation_id: str,
    after: int,
    turn: int,
    waits: int,
    lang: str,
) -> Response:
    texts, needs_human = await _reply(rt, conversation_id, after, rt.settings.voice_reply_wait_seconds)
    if not texts and not needs_human:
        if waits >= MAX_WAITS:
            return _xml(twiml.say_and_hangup(_text(channel, "sorry"), language=lang))
        url = _action(rt, request, step="wait", turn=turn, conv=conversation_id, after=after, waits=waits + 1)
        return _xml(twiml.say_and_redirect(_text(channel, "holding"), url, language=lang))
    spoken = " ".join(texts)
    human = channel.settings.get("human_number")
    if needs_human and human:
        return _xml(twiml.dial(f"{spoken} {_text(channel, 'transfer')}".strip(), str(human), language=lang))
    return _xml(
        twiml.say_then_gather(spoken, _action(rt, request, step="gather", turn=turn + 1), language=lang)
    )


async def _reply(rt: Runtime, conversation_id: str, after: int, wait: float) -> tuple[list[str], bool]:
    """The agent's reply to the caller's words (outbound rows after ``after``), waiting up to ``wait``."""
    deadline = asyncio.get_running_loop().time() + wait
    with rt.notifier.subscribe(conversation_id) as event:
        while True:
            texts, needs_human, answered = await _load(rt, conversation_id, after)
            if texts or answered:
                return texts, needs_human
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return [], False
            await rt.notifier.wait(event, min(left, 0.5))


async def _load(rt: Runtime, conversation_id: str, after: int) -> tuple[list[str], bool, bool]:
    texts, needs_human, answered = await rt.store.replies.after(conversation_id, after)
    return texts, needs_human and answered, answered


async def _greeting(rt: Runtime, channel: ChannelInfo) -> str:
    agent = await rt.cache.agent_for_channel(channel.channel_id)
    if agent is not None and agent.config.get("greeting"):
        return str(agent.config["greeting"])
    if channel.settings.get("greeting"):
        return str(channel.settings["greeting"])
    tenant = await rt.cache.tenant(channel.tenant_id)
    name = channel.settings.get("business_name") or (tenant.name if tenant else "us")
    return f"Hello, you've reached {name}. How can I help you today?"


PHRASES = {
    "reprompt": "Sorry, I didn't catch that. How can I help you?",
    "goodbye": "I couldn't hear anything, so I'll hang up now. Please call again any time. Goodbye!",
    "holding": "One moment, please.",
    "sorry": "I'm sorry, I can't answer right now. Please call again later. Goodbye!",
    "transfer": "Let me connect you with a person.",
}


def _text(channel: ChannelInfo, name: str) -> str:
    """A fixed phrase of the call, overridable per channel in ``settings.voice_phrases``."""
    custom = channel.settings.get("voice_phrases") or {}
    return str(custom.get(name) or PHRASES[name])


def _int(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return min(max(0, number), DB_INT_MAX)  # compared with message ids: within the database's integers
